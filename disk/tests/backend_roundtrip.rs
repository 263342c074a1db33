//! Reads, writes, end of file and alignment on every backend.

mod common;

use common::{each_backend, page, pattern};
use disk::{AlignedBuf, Error, IoMode};

#[test]
fn written_pages_read_back_on_every_backend() {
    each_backend(|io_mode, file| {
        file.allocate(64 * 1024).unwrap();
        for index in 0..16u64 {
            let offset = index * 4096;
            file.write_at(&pattern(&*file, 4096, offset, 7), offset).unwrap();
        }
        file.write_at_durable(&pattern(&*file, 4096, 65536, 9), 65536).unwrap();
        file.sync_data().unwrap();
        for index in 0..16u64 {
            let offset = index * 4096;
            let mut read = page(&*file, 0);
            file.read_at(&mut read, offset).unwrap();
            assert_eq!(&read[..], &pattern(&*file, 4096, offset, 7)[..], "{io_mode:?} {offset}");
        }
        let mut read = page(&*file, 0);
        file.read_at(&mut read, 65536).unwrap();
        assert_eq!(&read[..], &pattern(&*file, 4096, 65536, 9)[..], "{io_mode:?}");
        assert_eq!(file.size_bytes().unwrap(), 65536 + 4096);
    });
}

#[test]
fn misaligned_requests_are_rejected_before_the_kernel() {
    each_backend(|io_mode, file| {
        file.allocate(16384).unwrap();
        let block = file.info().alignment.offset_bytes as usize;
        let mut buf = AlignedBuf::for_alignment(8192, file.info().alignment);
        let what = |result: disk::Result<()>| match result {
            Err(Error::Misaligned { what, .. }) => what,
            other => panic!("{io_mode:?}: expected a misalignment error, got {other:?}"),
        };
        assert_eq!(what(file.read_at(&mut buf[..4096], 1)), "offset");
        assert_eq!(what(file.read_at(&mut buf[..block + 1], 0)), "length");
        assert_eq!(what(file.read_at(&mut buf[1..block + 1], 0)), "buffer address");
        assert_eq!(what(file.write_at(&buf[..4096], 100)), "offset");
        assert_eq!(what(file.write_at_durable(&buf[..3], 0)), "length");
        // Nothing was written by the rejected requests.
        file.read_at(&mut buf[..4096], 0).unwrap();
        assert!(buf[..4096].iter().all(|&byte| byte == 0), "{io_mode:?}");
    });
}

#[test]
fn reads_past_end_of_file_are_short_reads() {
    each_backend(|io_mode, file| {
        file.write_at(&page(&*file, 1), 0).unwrap();
        let mut two_pages = AlignedBuf::for_alignment(8192, file.info().alignment);
        match file.read_at(&mut two_pages, 0) {
            Err(Error::ShortRead { offset, expected_bytes, got_bytes, path }) => {
                assert_eq!((offset, expected_bytes, got_bytes), (0, 8192, 4096), "{io_mode:?}");
                assert_eq!(path, file.path());
            }
            other => panic!("{io_mode:?}: expected a short read, got {other:?}"),
        }
        let mut beyond = page(&*file, 0);
        assert!(matches!(
            file.read_at(&mut beyond, 1 << 20),
            Err(Error::ShortRead { got_bytes: 0, .. })
        ));
    });
}

#[test]
fn allocate_pre_zeroes_and_keeps_the_partial_last_block() {
    each_backend(|io_mode, file| {
        let block = file.info().alignment.offset_bytes as u64;
        file.write_at(&page(&*file, 0xAB), 0).unwrap();
        file.truncate(4096 + block / 2).unwrap(); // the file now ends inside a block
        file.allocate(3 * 1024 * 1024 + 10).unwrap();
        let size_bytes = file.size_bytes().unwrap();
        assert_eq!(size_bytes, (3 * 1024 * 1024 + 10u64).next_multiple_of(block), "{io_mode:?}");
        let mut read = AlignedBuf::for_alignment(8192, file.info().alignment);
        file.read_at(&mut read, 0).unwrap();
        assert!(read[..4096].iter().all(|&byte| byte == 0xAB), "{io_mode:?}: data kept");
        assert!(read[4096..].iter().all(|&byte| byte == 0), "{io_mode:?}: growth is zero");
        // Allocating less than the size never shrinks the file.
        file.allocate(4096).unwrap();
        assert_eq!(file.size_bytes().unwrap(), size_bytes);
    });
}

#[test]
fn drop_cached_pages_keeps_the_data() {
    each_backend(|io_mode, file| {
        file.write_at(&page(&*file, 0x5A), 0).unwrap();
        file.sync_data().unwrap();
        file.drop_cached_pages().unwrap();
        let mut read = page(&*file, 0);
        file.read_at(&mut read, 0).unwrap();
        assert!(read.iter().all(|&byte| byte == 0x5A), "{io_mode:?}");
    });
}

#[test]
fn mmap_file_is_bounded_by_its_reserve() {
    let directory = tempfile::tempdir().unwrap();
    let options = disk::DiskOptions {
        io_mode: IoMode::Mmap,
        mmap_reserve_bytes: 1 << 20,
        ..disk::DiskOptions::default()
    };
    let disk = disk::RealDisk::new(options);
    let file = disk::Disk::open(&disk, &directory.path().join("data"), disk::OpenOptions::create())
        .unwrap();
    file.allocate(1 << 20).unwrap();
    let error = file.write_at(&page(&*file, 1), 1 << 20).unwrap_err();
    assert!(matches!(error, Error::MappingReserveExceeded { .. }), "{error}");
    assert!(file.allocate(2 << 20).is_err());
}

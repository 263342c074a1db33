//! Batched submission: many requests in one call, one result each, failures kept apart.

mod common;

use std::sync::Arc;

use common::{each_backend, page, pattern};
use disk::{
    AlignedBuf, Disk, DiskOptions, Error, File, IoMode, IoRequest, OpenOptions, RealDisk,
    Submission,
};

const BATCH_COUNT: usize = 64;

#[test]
fn a_batch_of_64_mixed_reads_and_writes_has_one_result_each() {
    each_backend(|io_mode, file| {
        file.allocate((BATCH_COUNT * 4096) as u64).unwrap();
        // Even slots were written earlier and are read now; odd slots are written now.
        for slot in (0..BATCH_COUNT).step_by(2) {
            let offset = (slot * 4096) as u64;
            file.write_at(&pattern(&*file, 4096, offset, 1), offset).unwrap();
        }
        let mut read_bufs: Vec<AlignedBuf> =
            (0..BATCH_COUNT / 2).map(|_| page(&*file, 0xEE)).collect();
        let write_bufs: Vec<AlignedBuf> = (0..BATCH_COUNT / 2)
            .map(|pair| {
                let offset = ((2 * pair + 1) * 4096) as u64;
                pattern(&*file, 4096, offset, 2)
            })
            .collect();
        let mut requests = Vec::new();
        for (pair, (read_buf, write_buf)) in read_bufs.iter_mut().zip(&write_bufs).enumerate() {
            requests.push(IoRequest::Read { offset: (2 * pair * 4096) as u64, buf: read_buf });
            let offset = ((2 * pair + 1) * 4096) as u64;
            requests.push(IoRequest::Write { offset, buf: write_buf, durable: pair % 8 == 0 });
        }
        let results = file.submit(&mut requests);
        drop(requests);
        assert_eq!(results.len(), BATCH_COUNT);
        assert!(results.iter().all(Result::is_ok), "{io_mode:?}: {results:?}");
        for (pair, read_buf) in read_bufs.iter().enumerate() {
            let offset = (2 * pair * 4096) as u64;
            assert_eq!(&read_buf[..], &pattern(&*file, 4096, offset, 1)[..], "{io_mode:?}");
        }
        for slot in (1..BATCH_COUNT).step_by(2) {
            let offset = (slot * 4096) as u64;
            let mut read = page(&*file, 0);
            file.read_at(&mut read, offset).unwrap();
            assert_eq!(&read[..], &pattern(&*file, 4096, offset, 2)[..], "{io_mode:?}");
        }
    });
}

#[test]
fn failing_requests_do_not_hide_the_others() {
    each_backend(|io_mode, file| {
        file.allocate(8 * 4096).unwrap();
        file.write_at(&page(&*file, 3), 4096).unwrap();
        let mut good_read = page(&*file, 0);
        let mut past_end = page(&*file, 0);
        let mut misaligned = AlignedBuf::for_alignment(8192, file.info().alignment);
        let written = page(&*file, 4);
        let mut requests = vec![
            IoRequest::Read { offset: 4096, buf: &mut good_read },
            IoRequest::Read { offset: 1 << 30, buf: &mut past_end }, // fails in the kernel
            IoRequest::Read { offset: 0, buf: &mut misaligned[1..4097] }, // fails the check
            IoRequest::Write { offset: 2 * 4096, buf: &written, durable: false },
        ];
        let results = file.submit(&mut requests);
        drop(requests);
        assert!(results[0].is_ok(), "{io_mode:?}: {results:?}");
        assert!(
            matches!(results[1], Err(Error::ShortRead { got_bytes: 0, .. })),
            "{io_mode:?}: {results:?}"
        );
        assert!(matches!(results[2], Err(Error::Misaligned { .. })), "{io_mode:?}: {results:?}");
        assert!(results[3].is_ok(), "{io_mode:?}: {results:?}");
        assert!(good_read.iter().all(|&byte| byte == 3));
        let mut read = page(&*file, 0);
        file.read_at(&mut read, 2 * 4096).unwrap();
        assert!(
            read.iter().all(|&byte| byte == 4),
            "{io_mode:?}: the write after the failures landed"
        );
    });
}

#[test]
fn batches_larger_than_the_ring_complete() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::new(DiskOptions::default());
    let file = disk.open(&directory.path().join("data"), OpenOptions::create()).unwrap();
    let count = disk::limits::QUEUE_DEPTH_MAX as usize * 2 + 3;
    file.allocate((count * 4096) as u64).unwrap();
    let bufs: Vec<AlignedBuf> =
        (0..count).map(|slot| pattern(&*file, 4096, (slot * 4096) as u64, 5)).collect();
    let mut requests: Vec<IoRequest<'_>> = bufs
        .iter()
        .enumerate()
        .map(|(slot, buf)| IoRequest::Write { offset: (slot * 4096) as u64, buf, durable: false })
        .collect();
    assert!(file.submit(&mut requests).iter().all(Result::is_ok));
    let mut reads: Vec<AlignedBuf> = (0..count).map(|_| page(&*file, 0)).collect();
    let mut requests: Vec<IoRequest<'_>> = reads
        .iter_mut()
        .enumerate()
        .map(|(slot, buf)| IoRequest::Read { offset: (slot * 4096) as u64, buf })
        .collect();
    assert!(file.submit(&mut requests).iter().all(Result::is_ok));
    drop(requests);
    for (slot, read) in reads.iter().enumerate() {
        assert_eq!(&read[..], &bufs[slot][..]);
    }
}

#[test]
fn many_threads_submit_to_one_file() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::new(DiskOptions::default());
    let file: Arc<dyn File> =
        disk.open(&directory.path().join("data"), OpenOptions::create()).unwrap();
    const THREAD_COUNT: usize = 8;
    const PAGES_PER_THREAD: usize = 32;
    file.allocate((THREAD_COUNT * PAGES_PER_THREAD * 4096) as u64).unwrap();
    let threads: Vec<_> = (0..THREAD_COUNT)
        .map(|thread| {
            let file = Arc::clone(&file);
            std::thread::spawn(move || {
                let first = thread * PAGES_PER_THREAD;
                for round in 0..4u8 {
                    let bufs: Vec<AlignedBuf> = (first..first + PAGES_PER_THREAD)
                        .map(|slot| pattern(&*file, 4096, (slot * 4096) as u64, round))
                        .collect();
                    let mut requests: Vec<IoRequest<'_>> = bufs
                        .iter()
                        .enumerate()
                        .map(|(index, buf)| IoRequest::Write {
                            offset: ((first + index) * 4096) as u64,
                            buf,
                            durable: false,
                        })
                        .collect();
                    assert!(file.submit(&mut requests).iter().all(Result::is_ok));
                    for (index, expected) in bufs.iter().enumerate() {
                        let mut read = page(&*file, 0);
                        file.read_at(&mut read, ((first + index) * 4096) as u64).unwrap();
                        assert_eq!(&read[..], &expected[..]);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn direct_files_use_io_uring_unless_told_not_to() {
    let directory = tempfile::tempdir().unwrap();
    if common::is_tmpfs(directory.path()) {
        println!("skipped: the temporary directory is on tmpfs, which has no direct I/O");
        return;
    }
    let path = directory.path().join("data");
    let with_ring =
        RealDisk::new(DiskOptions::default()).open(&path, OpenOptions::create()).unwrap();
    assert_eq!(with_ring.info().io_mode, IoMode::Direct);
    match disk::io_uring_support().unusable_reason() {
        None => assert_eq!(with_ring.info().submission, Submission::IoUring),
        Some(reason) => {
            assert_eq!(with_ring.info().submission, Submission::Syscalls);
            assert!(with_ring.info().fallback_reasons.iter().any(|text| text.contains(&reason)));
        }
    }
    let options = DiskOptions { io_uring: false, ..DiskOptions::default() };
    let without = RealDisk::new(options).open(&path, OpenOptions::existing()).unwrap();
    assert_eq!(without.info().submission, Submission::Syscalls);
    assert!(without.info().fallback_reasons.iter().any(|text| text.contains("io_uring off")));
}

//! Fault scenarios on the simulated disk: injected I/O errors (once and persistent), ENOSPC,
//! misdirected writes, bit flips, misaligned requests, short reads and partly failing batches.

use std::path::Path;
use std::sync::Arc;

use disk::sim::{Fault, LoseAll, Operation, Trigger};
use disk::{AlignedBuf, Disk, Error, File, IoRequest, OpenOptions, SimDisk, SimDiskOptions};

const DIRECTORY: &str = "/db";
const PATH: &str = "/db/data";

fn disk_with_file(options: SimDiskOptions) -> (SimDisk, Arc<dyn File>) {
    let disk = SimDisk::new(options);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    let file = disk.open(Path::new(PATH), OpenOptions::create()).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    (disk, file)
}

fn seeded(seed: u64) -> (SimDisk, Arc<dyn File>) {
    disk_with_file(SimDiskOptions { seed, ..SimDiskOptions::default() })
}

fn filled(length_bytes: usize, fill: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(length_bytes, 4096);
    buf.fill(fill);
    buf
}

/// Asserts `result` is the error a kernel gives for `errno` on `operation` of `PATH`.
fn assert_os_error<T: std::fmt::Debug>(result: disk::Result<T>, operation: &str, errno: i32) {
    match result {
        Err(Error::Io { operation: got_operation, path, source, .. }) => {
            assert_eq!(got_operation, operation);
            assert_eq!(path, Path::new(PATH));
            assert_eq!(source.raw_os_error(), Some(errno), "{source}");
        }
        other => panic!("expected {operation} to fail with errno {errno}, got {other:?}"),
    }
}

/// Runs one operation of `kind` on `file` (with one 4 KiB page already in it).
fn run(kind: Operation, file: &dyn File) -> disk::Result<()> {
    match kind {
        Operation::Read => file.read_at(&mut filled(4096, 0), 0),
        Operation::Write => file.write_at(&filled(4096, 1), 0),
        Operation::Flush => file.sync_data(),
        other => unreachable!("{other:?} is not exercised here"),
    }
}

#[test]
fn an_error_once_fails_one_operation_of_its_kind() {
    for kind in [Operation::Read, Operation::Write, Operation::Flush] {
        let (disk, file) = seeded(1);
        file.write_at(&filled(4096, 1), 0).unwrap();
        let before = disk.operation_counts().get(kind);
        disk.inject(Fault::io_error(kind, Trigger::Once { index: before + 1 }));
        run(kind, &*file).unwrap();
        assert_os_error(run(kind, &*file), kind.name(), libc::EIO);
        run(kind, &*file).unwrap();
        run(kind, &*file).unwrap();
        assert_eq!(disk.operation_counts().get(kind), before + 4, "{kind:?}");
        disk.check_invariants();
    }
}

#[test]
fn a_persistent_error_fails_every_later_operation_of_its_kind() {
    for kind in [Operation::Read, Operation::Write, Operation::Flush] {
        let (disk, file) = seeded(1);
        file.write_at(&filled(4096, 1), 0).unwrap();
        let before = disk.operation_counts().get(kind);
        disk.inject(Fault::io_error(kind, Trigger::From { index: before + 1 }));
        run(kind, &*file).unwrap();
        for _ in 0..3 {
            assert_os_error(run(kind, &*file), kind.name(), libc::EIO);
        }
        for other in [Operation::Read, Operation::Write, Operation::Flush] {
            if other != kind {
                run(other, &*file).unwrap_or_else(|error| panic!("{other:?} failed: {error}"));
            }
        }
        disk.clear_faults();
        run(kind, &*file).unwrap();
    }
}

/// A small workload; returns how many of its steps failed with `EIO` (a step after an
/// injected error may fail for another reason, e.g. `ENOENT` when `mkdir` failed).
fn workload(disk: &SimDisk) -> usize {
    let results: Vec<disk::Result<()>> = vec![
        disk.create_dir_all(Path::new("/db")),
        disk.open(Path::new("/db/log"), OpenOptions::create()).and_then(|file| {
            file.write_at(&filled(4096, 1), 0)?;
            file.sync_data()?;
            file.read_at(&mut filled(4096, 0), 0)
        }),
        disk.sync_dir(Path::new("/db")),
        disk.rename(Path::new("/db/log"), Path::new("/db/log.old")),
        disk.lock(Path::new("/db/LOCK")).map(drop),
    ];
    results
        .iter()
        .filter(|result| matches!(result, Err(error) if error.raw_os_error() == Some(libc::EIO)))
        .count()
}

#[test]
fn an_error_at_every_index_fails_exactly_one_operation() {
    // The harness pattern: count the operations of a clean run, then fail each in turn. Every
    // step of the workload stops at its first error, so each run sees exactly one EIO.
    let clean = SimDisk::with_seed(5);
    assert_eq!(workload(&clean), 0);
    let total = clean.operation_counts().total();
    assert_eq!(total, 8, "mkdir, open, write, fdatasync, read, fsync, rename, flock");
    for index in 0..total {
        let disk = SimDisk::with_seed(5);
        disk.inject(Fault::io_error_on_any(Trigger::Once { index }));
        assert_eq!(workload(&disk), 1, "index {index}");
        disk.check_invariants();
    }
}

#[test]
fn a_failed_write_leaves_its_range_unknown_and_never_durable() {
    let mut unchanged = false;
    let mut partly_or_fully_written = false;
    for seed in 0..100 {
        let (disk, file) = seeded(seed);
        file.write_at(&filled(8192, 1), 0).unwrap();
        file.sync_data().unwrap();
        let writes = disk.operation_counts().get(Operation::Write);
        disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index: writes }));
        assert_os_error(file.write_at(&filled(8192, 2), 0), "write", libc::EIO);
        let mut read_back = filled(8192, 0);
        file.read_at(&mut read_back, 0).unwrap();
        for sector in read_back.chunks(512) {
            assert!(sector.iter().all(|&byte| byte == sector[0]), "a sector is whole");
            assert!(sector[0] == 1 || sector[0] == 2, "only old or new data");
        }
        if read_back.iter().all(|&byte| byte == 1) {
            unchanged = true;
        } else {
            partly_or_fully_written = true;
        }
        file.sync_data().unwrap();
        let durable = disk.durable_content(Path::new(PATH)).unwrap();
        assert!(durable.iter().all(|&byte| byte == 1), "a failed write became durable");
        disk.crash_with(&mut LoseAll);
        assert!(disk.durable_content(Path::new(PATH)).unwrap().iter().all(|&byte| byte == 1));
    }
    assert!(unchanged && partly_or_fully_written);
}

#[test]
fn a_failed_write_never_extends_the_file() {
    let (disk, file) = seeded(1);
    disk.inject(Fault::io_error(Operation::Write, Trigger::From { index: 0 }));
    assert_os_error(file.write_at(&filled(4096, 2), 0), "write", libc::EIO);
    assert_eq!(file.size_bytes().unwrap(), 0);
}

#[test]
fn enospc_when_the_disk_is_full() {
    let options = SimDiskOptions { capacity_bytes: 8192, ..SimDiskOptions::default() };
    let (disk, file) = disk_with_file(options);
    file.write_at(&filled(8192, 1), 0).unwrap();
    let full = file.write_at(&filled(512, 2), 8192);
    assert!(full.as_ref().unwrap_err().is_no_space());
    assert_os_error(full, "write", libc::ENOSPC);
    file.write_at(&filled(4096, 3), 4096).unwrap(); // an overwrite needs no space
    assert_os_error(file.allocate(8704), "fallocate", libc::ENOSPC);
    let other = disk.open(Path::new("/db/other"), OpenOptions::create()).unwrap();
    assert!(other.write_at(&filled(512, 4), 0).unwrap_err().is_no_space(), "space is shared");
    assert_eq!(file.size_bytes().unwrap(), 8192, "nothing was written by the failures");

    disk.set_capacity_bytes(16384);
    file.write_at(&filled(512, 2), 8192).unwrap();
    file.truncate(4096).unwrap();
    other.write_at(&filled(4096, 4), 0).unwrap(); // truncate gave space back
    disk.check_invariants();
}

#[test]
fn an_absurd_offset_is_enospc_not_an_allocation() {
    let (_disk, file) = seeded(1);
    assert_os_error(file.write_at(&filled(512, 1), 1 << 50), "write", libc::ENOSPC);
    assert_os_error(file.truncate(1 << 50), "ftruncate", libc::ENOSPC);
    let short = file.read_at(&mut filled(512, 0), 1 << 50);
    assert!(matches!(short, Err(Error::ShortRead { got_bytes: 0, .. })));
}

#[test]
fn a_misdirected_write_lands_elsewhere_in_the_file() {
    for seed in 0..20 {
        let (disk, file) = seeded(seed);
        file.write_at(&filled(16384, 1), 0).unwrap();
        let writes = disk.operation_counts().get(Operation::Write);
        disk.inject(Fault::misdirected_write(Trigger::Once { index: writes }));
        file.write_at(&filled(4096, 2), 4096).unwrap(); // reported as success
        let mut read_back = filled(4096, 0);
        file.read_at(&mut read_back, 4096).unwrap();
        assert!(read_back.iter().any(|&byte| byte != 2), "the data did not land where asked");
        let mut whole = filled(usize::try_from(file.size_bytes().unwrap()).unwrap(), 0);
        file.read_at(&mut whole, 0).unwrap();
        let landed = whole.windows(4096).any(|window| window.iter().all(|&byte| byte == 2));
        assert!(landed, "seed {seed}: the data landed nowhere");
        disk.check_invariants();
    }
}

#[test]
fn a_bit_flip_on_read_changes_one_bit_of_what_is_returned() {
    let (disk, file) = seeded(9);
    let written = filled(4096, 0x5A);
    file.write_at(&written, 0).unwrap();
    let reads = disk.operation_counts().get(Operation::Read);
    disk.inject(Fault::bit_flip_on_read(Trigger::Once { index: reads }));
    let mut corrupted = filled(4096, 0);
    file.read_at(&mut corrupted, 0).unwrap();
    assert_eq!(differing_bits(&corrupted, &written), 1);
    let mut clean = filled(4096, 0);
    file.read_at(&mut clean, 0).unwrap();
    assert_eq!(differing_bits(&clean, &written), 0, "the stored data is intact");
}

#[test]
fn a_bit_flip_on_write_corrupts_the_stored_data() {
    let (disk, file) = seeded(9);
    disk.inject(Fault::bit_flip_on_write(Trigger::Once { index: 0 }));
    let written = filled(4096, 0x5A);
    file.write_at(&written, 0).unwrap();
    file.sync_data().unwrap();
    let mut read_back = filled(4096, 0);
    file.read_at(&mut read_back, 0).unwrap();
    assert_eq!(differing_bits(&read_back, &written), 1);
    let durable = disk.durable_content(Path::new(PATH)).unwrap();
    assert_eq!(differing_bits(&durable, &written), 1);
}

#[test]
fn flip_bit_corrupts_stored_data_for_good() {
    let (disk, file) = seeded(9);
    let written = filled(4096, 0);
    file.write_at(&written, 0).unwrap();
    disk.flip_bit(Path::new(PATH), 100, 3).unwrap();
    let mut read_back = filled(4096, 0);
    file.read_at(&mut read_back, 0).unwrap();
    assert_eq!(read_back[100], 0b1000);
    file.sync_data().unwrap();
    disk.crash_with(&mut LoseAll);
    assert_eq!(disk.durable_content(Path::new(PATH)).unwrap()[100], 0b1000);
    assert!(disk.flip_bit(Path::new(PATH), 4096, 0).is_err(), "past the end");
    assert!(disk.flip_bit(Path::new("/db/missing"), 0, 0).unwrap_err().is_not_found());
}

fn differing_bits(left: &[u8], right: &[u8]) -> u32 {
    assert_eq!(left.len(), right.len());
    left.iter().zip(right).map(|(a, b)| (a ^ b).count_ones()).sum()
}

#[test]
fn misaligned_requests_are_rejected_before_anything_happens() {
    let options = SimDiskOptions { sector_bytes: 4096, ..SimDiskOptions::default() };
    let (disk, file) = disk_with_file(options);
    let counts = disk.operation_counts();
    let buf = filled(8192, 1);
    let what = |result: disk::Result<()>| match result {
        Err(Error::Misaligned { what, .. }) => what,
        other => panic!("expected Misaligned, got {other:?}"),
    };
    assert_eq!(what(file.write_at(&buf[..4096], 512)), "offset");
    assert_eq!(what(file.write_at(&buf[..512], 0)), "length");
    assert_eq!(what(file.write_at(&buf[512..4608], 0)), "buffer address");
    assert_eq!(what(file.read_at(&mut filled(4096, 0)[..], 512)), "offset");
    assert_eq!(what(file.write_at_durable(&buf[..512], 0)), "length");
    assert_eq!(disk.operation_counts(), counts, "misaligned requests never reach the device");
    assert_eq!(file.size_bytes().unwrap(), 0);
}

#[test]
fn a_read_past_the_end_is_short_and_returns_what_there_is() {
    let (_disk, file) = seeded(1);
    file.write_at(&filled(1024, 7), 0).unwrap();
    let mut buf = filled(2048, 0);
    match file.read_at(&mut buf, 0) {
        Err(Error::ShortRead { path, offset, expected_bytes, got_bytes }) => {
            assert_eq!(path, Path::new(PATH));
            assert_eq!((offset, expected_bytes, got_bytes), (0, 2048, 1024));
        }
        other => panic!("expected a short read, got {other:?}"),
    }
    assert!(buf[..1024].iter().all(|&byte| byte == 7));
    let at_end = file.read_at(&mut filled(512, 0), 4096);
    assert!(matches!(at_end, Err(Error::ShortRead { got_bytes: 0, .. })));
}

#[test]
fn a_batch_reports_each_request_on_its_own() {
    let (disk, file) = seeded(1);
    file.write_at(&filled(4096, 1), 0).unwrap();
    let writes = disk.operation_counts().get(Operation::Write);
    // Fail the second write of the batch; the first and third must still succeed.
    disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index: writes + 1 }));
    let first = filled(512, 2);
    let second = filled(512, 3);
    let third = filled(512, 4);
    let mut past_end = filled(512, 0);
    let mut misaligned = filled(1024, 0);
    let mut requests = [
        IoRequest::Write { offset: 0, buf: &first, durable: false },
        IoRequest::Write { offset: 512, buf: &second, durable: false },
        IoRequest::Read { offset: 8192, buf: &mut past_end },
        IoRequest::Read { offset: 100, buf: &mut misaligned[..512] },
        IoRequest::Write { offset: 1024, buf: &third, durable: true },
    ];
    let results = file.submit(&mut requests);
    assert_eq!(results.len(), 5);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(matches!(results[2], Err(Error::ShortRead { .. })));
    assert!(matches!(results[3], Err(Error::Misaligned { .. })));
    assert!(results[4].is_ok());

    let mut read_back = filled(512, 0);
    file.read_at(&mut read_back, 0).unwrap();
    assert!(read_back.iter().all(|&byte| byte == 2), "the first write landed");
    let durable = disk.durable_content(Path::new(PATH)).unwrap();
    assert!(durable[1024..1536].iter().all(|&byte| byte == 4), "the durable write is durable");
}

#[test]
fn errors_on_namespace_operations_change_nothing() {
    let (disk, _file) = seeded(1);
    disk.inject(Fault::io_error(Operation::Rename, Trigger::Once { index: 0 }));
    disk.inject(Fault::io_error(Operation::SyncDir, Trigger::Once { index: 1 }));
    disk.inject(Fault::io_error(Operation::Open, Trigger::Once { index: 1 }));
    let renamed = disk.rename(Path::new(PATH), Path::new("/db/moved"));
    assert_eq!(renamed.unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(disk.exists(Path::new(PATH)).unwrap());
    let created = disk.open(Path::new("/db/new"), OpenOptions::create());
    assert_eq!(created.unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(!disk.exists(Path::new("/db/new")).unwrap());
    disk.rename(Path::new(PATH), Path::new("/db/moved")).unwrap();
    assert!(disk.sync_dir(Path::new(DIRECTORY)).is_err());
    assert_eq!(disk.pending_namespace().len(), 1, "the failed fsync synced nothing");
}

//! Regressions for five flaws a review of the log found (each was confirmed by an experiment
//! before it was fixed; the boundary panic it also found has its own file, `segment_boundary.rs`).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{
    DIRECTORY, data_bytes, edit_block, fill_segment_zero_exactly,
    log_with_a_batch_torn_in_segment_zero, open, payload, segment_path,
};
use disk::sim::{Fault, Operation, Trigger};
use disk::{Disk, SimDisk};
use wal::{Error, Lsn};

const HEADER_BYTES: u64 = 32;

/// A torn batch reached segment 1; recovery cut the log in segment 0 but left segment 1's file
/// (valid header, stale records) in place. When the log later ended exactly at segment 0's end,
/// the next recovery walked on into segment 1 and replayed records that were never
/// acknowledged. Recovery now retires every segment after the tail's before the log is written.
#[test]
fn segments_after_a_cut_are_retired() {
    let (disk, before_batch_count) = log_with_a_batch_torn_in_segment_zero(41);
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    let kept = records.len();
    assert_eq!(kept, before_batch_count, "the torn batch is cut");
    assert!(!disk.exists(&segment_path(1)).unwrap(), "segment 1 was removed");
    // End the log exactly at segment 0's end, then recover again.
    let room = data_bytes() - log.lsn_next().0;
    log.append_durable(2, &payload(9, usize::try_from(room - HEADER_BYTES).unwrap())).unwrap();
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), kept + 1, "nothing from the torn batch comes back");
    assert_eq!(records.last().unwrap().tag, 2);
}

/// Segment 0 ended exactly at its end (no segment-end record), the log went on in segment 1,
/// and segment 1's header was then damaged. Recovery used to end the log at segment 0's end
/// without a word, dropping acknowledged records; it is now corruption naming segment 1.
#[test]
fn a_damaged_header_after_a_full_segment_is_corruption() {
    let disk = SimDisk::with_seed(42);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    fill_segment_zero_exactly(&log);
    log.append_durable(2, b"acknowledged, in segment 1").unwrap();
    drop(log);
    disk.flip_bit(&segment_path(1), 20, 1).unwrap();
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { path, lsn, .. }) => {
            assert_eq!(path, segment_path(1));
            assert_eq!(lsn, Lsn(data_bytes()));
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

/// With every header unreadable, recovery used to take the directory for a new log and recycle
/// its files. A segment whose data still holds a record at its first LSN is now corruption.
#[test]
fn a_log_whose_only_header_is_damaged_is_not_taken_for_a_new_one() {
    let disk = SimDisk::with_seed(43);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    log.append_durable(1, b"the only record").unwrap();
    drop(log);
    disk.flip_bit(&segment_path(0), 3, 0).unwrap(); // in the magic
    assert!(matches!(open(&disk, Lsn::ZERO), Err(Error::Corruption { .. })));
    assert!(disk.exists(&segment_path(0)).unwrap(), "the segment was not recycled");
}

/// A header of another format version used to read as "never initialised", and a new log was
/// started over the old one. It is now an error, and the file is left as it was: for a newer
/// version, and for the older version 1 (a log without shadows).
#[test]
fn a_segment_of_another_format_version_is_left_alone() {
    for version in [3u32, 1] {
        let disk = SimDisk::with_seed(44);
        let (log, _) = open(&disk, Lsn::ZERO).unwrap();
        log.append_durable(1, b"written by this build").unwrap();
        drop(log);
        edit_block(&disk, &segment_path(0), 0, |block| {
            block[8..12].copy_from_slice(&version.to_le_bytes());
            let crc = crc32c::crc32c(&block[..60]);
            block[60..64].copy_from_slice(&crc.to_le_bytes());
        });
        let before = disk.durable_content(&segment_path(0)).unwrap();
        match open(&disk, Lsn::ZERO) {
            Err(Error::Incompatible { path, reason }) => {
                assert_eq!(path, segment_path(0));
                let expected = format!("version {version}; this build reads 2");
                assert!(reason.contains(&expected), "{reason}");
            }
            other => {
                panic!("expected incompatible, got {:?}", other.map(|(_, records)| records.len()))
            }
        }
        assert_eq!(disk.durable_content(&segment_path(0)).unwrap(), before);
    }
}

/// Plain writes are durable only without the page cache. On files that fell back to buffered
/// I/O the log now uses fdatasync and says why.
#[test]
fn plain_writes_on_buffered_files_become_fdatasync() {
    let directory = tempfile::tempdir().unwrap();
    let options =
        disk::DiskOptions { direct_io: disk::DirectIo::Off, ..disk::DiskOptions::default() };
    let real: Arc<dyn Disk> = Arc::new(disk::RealDisk::new(options));
    let wal_options = wal::WalOptions {
        flush_method: disk::FlushMethod::PlainWrite,
        flush_reason: "forced".into(),
        ..common::small_segments()
    };
    let (log, _) =
        wal::Wal::open(real, directory.path().join("wal"), wal_options, Lsn::ZERO).unwrap();
    let stats = log.stats();
    assert_eq!(stats.flush_method, disk::FlushMethod::Fdatasync);
    assert!(stats.flush_reason.contains("not opened with direct I/O"), "{}", stats.flush_reason);
    log.append_durable(1, b"durable through fdatasync").unwrap();
}

/// A failure while initialising a segment (here the directory fsync) used to be returned once,
/// and a retry could then succeed without the failed work being durable. The log now stops,
/// whether the segment was being initialised ahead of need by a leader or inline by an append.
#[test]
fn a_failure_while_starting_a_segment_stops_the_log() {
    let disk = SimDisk::with_seed(45);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let next = disk.operation_counts().get(Operation::SyncDir);
    disk.inject(Fault::io_error(Operation::SyncDir, Trigger::Once { index: next }));
    let failed = (0..40).find_map(|_| log.append_durable(1, &payload(1, 100_000)).err());
    assert!(matches!(failed, Some(Error::Failed { .. })), "{failed:?}");
    assert!(matches!(log.append(1, b"later"), Err(Error::Failed { .. })));
    assert!(log.stats().failure.unwrap().contains("initialising a log segment"));
    drop(log);
    open(&disk, Lsn::ZERO).unwrap();
}

/// Found by the documentation review after the fix above: the segments after a cut used to be
/// kept as spares with their headers and stale records. When the writer later needed that same
/// index, it renamed the spare back and then failed (or died) before writing the new header;
/// recovery then walked into the old header and replayed the torn batch. They are now removed.
#[test]
fn a_failed_reinitialisation_after_a_cut_replays_nothing() {
    let (disk, _) = log_with_a_batch_torn_in_segment_zero(46);
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    let kept = records.len();
    // End segment 0 exactly, then fail the creation of segment 1 and crash.
    let room = data_bytes() - log.lsn_next().0;
    log.append_durable(2, &payload(9, usize::try_from(room - HEADER_BYTES).unwrap())).unwrap();
    let next = disk.operation_counts().get(Operation::Allocate);
    disk.inject(Fault::io_error(Operation::Allocate, Trigger::Once { index: next }));
    assert!(log.append_durable(2, b"into segment 1").is_err());
    // The process dies here; its renames and writes stay visible (a process crash, not a power
    // loss, so the outcome does not depend on what a simulated power loss keeps).
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), kept + 1, "nothing from the torn batch comes back");
    assert!(records[kept..].iter().all(|record| record.tag == 2));
}

/// Found re-reading recovery: in a directory with no initialised segment, the segment files
/// found (uninitialised, e.g. left by a crash during the very first initialisation) used to be
/// listed as spares under their segment names. With two of them, the writer could later take
/// `wal-0000000000000000.seg` as a "spare" for segment 1 and rename the live segment 0 away.
/// They are now removed when the new log starts.
#[test]
fn uninitialised_segment_files_of_a_new_log_are_never_taken_as_spares() {
    let disk = SimDisk::with_seed(47);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    for index in [0, 5] {
        let file = disk.open(&segment_path(index), disk::OpenOptions::create()).unwrap();
        file.allocate(u64::from(wal::limits::SEGMENT_BYTES_MIN)).unwrap();
    }
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert!(records.is_empty());
    let mut appended = Vec::new();
    while log.lsn_next().0 < 2 * data_bytes() + 100_000 {
        appended.push(log.append_durable(1, &payload(appended.len() as u64, 100_000)).unwrap());
    }
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), appended.len(), "every record of segments 0, 1 and 2 is there");
}

//! A segment file of another format version after the end of the log (left by a newer build,
//! say, that wrote more log before this one was started on the directory): the open refuses
//! with `Error::Incompatible` naming the file, and changes nothing on the disk. Without that
//! check the file would be removed with the other segments after the end of the log.
//!
//! Each case reaches the file along another path through recovery: the walk of later segments
//! after a torn tail, the step into the next segment after a full one, the removal of the
//! segments after the end (the only check on a file past a missing one), and the search for a
//! first valid header.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{
    DIRECTORY, fill_segment_zero_exactly, header_block, log_with_a_batch_torn_in_segment_zero,
    open, payload, put_file, segment_path,
};
use disk::{Disk, SimDisk};
use wal::{Error, Lsn};

const SEGMENT_BYTES: u32 = wal::limits::SEGMENT_BYTES_MIN;

/// Versions other than this build's 2: the older one (no shadows), a newer one, the largest,
/// and zero.
const FOREIGN_VERSIONS: [u32; 4] = [1, 3, u32::MAX, 0];

/// Everything a refused open must leave as it found it: the durable files and their contents,
/// the names as they are now, and nothing pending.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    durable: BTreeMap<PathBuf, Vec<u8>>,
    names: Vec<PathBuf>,
    pending_write_count: usize,
    pending_namespace: Vec<(PathBuf, usize)>,
}

fn snapshot(disk: &SimDisk) -> Snapshot {
    Snapshot {
        durable: disk.durable_image(),
        names: disk.list_dir(Path::new(DIRECTORY)).unwrap(),
        pending_write_count: disk.pending_writes().len(),
        pending_namespace: disk.pending_namespace(),
    }
}

/// Puts a file of `length_bytes` at `path` holding a valid header of `version` for segment
/// `index` of a log of `segment_bytes`, then zeros.
fn put_foreign(disk: &SimDisk, index: u64, version: u32, segment_bytes: u32, length_bytes: usize) {
    let mut content = vec![0u8; length_bytes];
    content[..4096].copy_from_slice(&header_block(index, version, segment_bytes));
    put_file(disk, &segment_path(index), &content);
}

/// Opens the log and expects it to be refused because of segment `index`'s version, with the
/// disk left exactly as it was; then opens it again (still refused).
fn expect_refused(disk: &SimDisk, index: u64, version: u32, context: &str) {
    let before = snapshot(disk);
    for attempt in ["first", "second"] {
        match open(disk, Lsn::ZERO) {
            Err(Error::Incompatible { path, reason }) => {
                assert_eq!(path, segment_path(index), "{context}, {attempt} open: {reason}");
                let expected = format!("segment format version {version}; this build reads 2");
                assert!(reason.contains(&expected), "{context}, {attempt} open: {reason}");
            }
            other => panic!(
                "{context}, {attempt} open: expected incompatible, got {:?}",
                other.map(|(_, records)| records.len())
            ),
        }
        assert!(snapshot(disk) == before, "{context}, {attempt} open changed the disk");
    }
}

/// Removes the foreign file (as an operator who moved it away would) and checks that the log,
/// untouched by the refused opens, recovers `expected_count` records.
fn recover_without(disk: &SimDisk, index: u64, expected_count: usize, context: &str) {
    disk.remove(&segment_path(index)).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    let (_, records) = open(disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: {error}"));
    assert_eq!(records.len(), expected_count, "{context}");
}

/// The log ends at a torn batch in segment 0 whose tail reached segment 1 (so the open would
/// zero the batch's leftovers and remove segment 1), and segment 2 is of another version.
#[test]
fn a_foreign_segment_after_a_torn_tail_is_refused_and_kept() {
    for version in FOREIGN_VERSIONS {
        let context = format!("version {version} after a torn tail");
        let (disk, kept_count) = log_with_a_batch_torn_in_segment_zero(61);
        put_foreign(&disk, 2, version, SEGMENT_BYTES, SEGMENT_BYTES as usize);
        expect_refused(&disk, 2, version, &context);
        recover_without(&disk, 2, kept_count, &context);
    }
}

/// The same with the foreign file as segment 1 itself, and several segment numbers past a gap.
#[test]
fn a_foreign_segment_anywhere_after_the_end_of_the_log_is_refused_and_kept() {
    for index in [1, 2, 7] {
        for version in FOREIGN_VERSIONS {
            let context = format!("version {version} as segment {index}");
            let disk = SimDisk::with_seed(62);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            for number in 0..5 {
                log.append_durable(1, &payload(number, 1000)).unwrap();
            }
            drop(log);
            put_foreign(&disk, index, version, SEGMENT_BYTES, SEGMENT_BYTES as usize);
            expect_refused(&disk, index, version, &context);
            recover_without(&disk, index, 5, &context);
        }
    }
}

/// Segment 0 is full to its last byte, so the log ends at segment 1's first byte if segment 1
/// was never initialised. A foreign segment 1 is met by the scan stepping into it; a foreign
/// segment 2 past a missing segment 1 only by the check before the segments after the end are
/// removed.
#[test]
fn a_foreign_segment_after_a_full_segment_is_refused_and_kept() {
    for index in [1, 2] {
        for version in FOREIGN_VERSIONS {
            let context = format!("version {version} as segment {index} after a full segment 0");
            let disk = SimDisk::with_seed(63);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            fill_segment_zero_exactly(&log);
            let record_count = usize::try_from(log.stats().records_appended).unwrap();
            drop(log);
            // The writer prepared segment 1 ahead of need; take it back to "never created".
            if disk.exists(&segment_path(1)).unwrap() {
                disk.remove(&segment_path(1)).unwrap();
                disk.sync_dir(Path::new(DIRECTORY)).unwrap();
            }
            put_foreign(&disk, index, version, SEGMENT_BYTES, SEGMENT_BYTES as usize);
            expect_refused(&disk, index, version, &context);
            recover_without(&disk, index, record_count, &context);
        }
    }
}

/// A newer build may use another segment size, even one this build does not accept (1 MiB is
/// below its smallest), and its file may be shorter or longer than this log's segments: the
/// version is read before the size, so it is refused all the same.
#[test]
fn a_foreign_segment_of_another_size_is_refused_and_kept() {
    let cases = [(4 << 20, 4 << 20), (1 << 20, 1 << 20), (SEGMENT_BYTES, 4096), (1 << 30, 8192)];
    for (segment_bytes, length_bytes) in cases {
        let context = format!("a {segment_bytes}-byte segment in a {length_bytes}-byte file");
        let disk = SimDisk::with_seed(64);
        let (log, _) = open(&disk, Lsn::ZERO).unwrap();
        log.append_durable(1, &payload(0, 1000)).unwrap();
        drop(log);
        put_foreign(&disk, 1, 3, segment_bytes, length_bytes);
        expect_refused(&disk, 1, 3, &context);
        recover_without(&disk, 1, 1, &context);
    }
}

/// No segment of this build's format is initialised (the first initialisation was cut short),
/// so the directory would be taken for a new log and every segment file removed: a foreign one
/// among them stops the open instead.
#[test]
fn a_foreign_segment_beside_an_uninitialised_first_segment_is_refused_and_kept() {
    for version in FOREIGN_VERSIONS {
        let context = format!("version {version} beside an uninitialised segment 0");
        let disk = SimDisk::with_seed(65);
        disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
        put_file(&disk, &segment_path(0), &vec![0; 8192]);
        put_foreign(&disk, 3, version, SEGMENT_BYTES, SEGMENT_BYTES as usize);
        expect_refused(&disk, 3, version, &context);
        recover_without(&disk, 3, 0, &context);
    }
}

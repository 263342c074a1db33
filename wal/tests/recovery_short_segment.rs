//! A crash while a segment is being prepared (created or renamed from a spare, pre-zeroed, given
//! its header) can leave a segment or spare file shorter than the segment size, or with only
//! part of its header. Open must then recover every acknowledged record, or refuse with a clear
//! error; it must never panic.
//!
//! The simulated disk's `allocate` is atomic, so these files are built by hand: the real disk's
//! `allocate_by_writing` writes zeros in chunks from the file's end and syncs once at the end, so
//! a power loss there leaves any length from the old one up; the header comes only after that
//! sync, so a short file holds at most what the file had before (nothing, or a spare's old
//! contents). A torn header write keeps each sector old or new (the fields share one sector);
//! the header prefixes here go further, to show that no prefix of a header is taken for one.

mod common;

use std::path::{Path, PathBuf};

use common::{
    DIRECTORY, data_bytes, fill_segment_zero_exactly, header_block, open, payload, put_file,
    segment_path,
};
use disk::sim::{Fault, Trigger};
use disk::{Disk, SimDisk};
use wal::{Error, Lsn, Record, Wal};

const SEGMENT_BYTES: u32 = wal::limits::SEGMENT_BYTES_MIN;
const SEGMENT_LENGTH: usize = SEGMENT_BYTES as usize;

/// Lengths a crash can leave a file being pre-zeroed at: empty, one sector, mid-sector, shorter
/// than the header block, the header block alone, into the data area, one block short.
const SHORT_LENGTHS: [usize; 7] =
    [0, 512, 1000, 4095, 4096, 4096 + 512 + 100, SEGMENT_LENGTH - 4096];

/// How a short file starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// Zeros: a new file being pre-zeroed.
    Zeros,
    /// The first `n` bytes of a valid header for the file's index, zeros after.
    HeaderPrefix(usize),
    /// A whole valid header for the file's index, then zeros.
    Header,
}

const STARTS: [Start; 6] = [
    Start::Zeros,
    Start::HeaderPrefix(8),
    Start::HeaderPrefix(12),
    Start::HeaderPrefix(32),
    Start::HeaderPrefix(60),
    Start::Header,
];

/// Whether a file of `length` bytes starting with `start` has a whole, valid header block: no
/// crash leaves that on a short file (see `a_cut_segment_after_a_full_one_is_corruption`).
fn has_header_block(length: usize, start: Start) -> bool {
    matches!(start, Start::Header) && length >= 4096
}

fn contents(index: u64, length: usize, start: Start) -> Vec<u8> {
    let mut content = vec![0u8; length];
    let header = header_block(index, 2, SEGMENT_BYTES);
    let prefix = match start {
        Start::Zeros => 0,
        Start::HeaderPrefix(prefix_bytes) => prefix_bytes,
        Start::Header => header.len(),
    };
    let copied = prefix.min(length);
    content[..copied].copy_from_slice(&header[..copied]);
    content
}

fn spare_path(number: u64) -> PathBuf {
    Path::new(DIRECTORY).join(format!("wal-spare-{number}.seg"))
}

/// Appends `count` durable records of `length_bytes`; returns their payloads.
fn append_durable(log: &Wal, first_number: u64, count: u64, length_bytes: usize) -> Vec<Vec<u8>> {
    (first_number..first_number + count)
        .map(|number| {
            let record = payload(number, length_bytes);
            log.append_durable(1, &record).unwrap();
            record
        })
        .collect()
}

fn check(records: &[Record], expected: &[Vec<u8>], context: &str) {
    assert_eq!(records.len(), expected.len(), "{context}: record count");
    for (index, (record, payload)) in records.iter().zip(expected).enumerate() {
        assert!(record.payload == *payload, "{context}: record {index} differs");
    }
}

/// Opens the log (which must recover `expected`), appends into segment 2, recovers again.
fn recover_and_continue(disk: &SimDisk, mut expected: Vec<Vec<u8>>, context: &str) {
    let (log, records) =
        open(disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: open: {error}"));
    check(&records, &expected, context);
    let first = expected.len() as u64;
    while log.lsn_next().0 < 2 * data_bytes() + 100_000 {
        expected.extend(append_durable(&log, first + expected.len() as u64, 1, 100_000));
    }
    drop(log);
    disk.crash();
    let (_, records) =
        open(disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: reopen: {error}"));
    check(&records, &expected, &format!("{context}, after crossing into segment 2"));
}

/// The log ends in segment 0, past its half (so segment 1 is prepared ahead of need), and a
/// crash during that preparation left segment 1's file short.
#[test]
fn a_short_next_segment_beyond_the_tail_is_removed() {
    for length in SHORT_LENGTHS {
        for start in STARTS {
            let context = format!("segment 1 of {length} bytes starting with {start:?}");
            let disk = SimDisk::with_seed(51);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            let expected = append_durable(&log, 0, 12, 100_000);
            assert!(log.lsn_next().0 > data_bytes() / 2);
            drop(log);
            put_file(&disk, &segment_path(1), &contents(1, length, start));
            let (log, records) =
                open(&disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: {error}"));
            check(&records, &expected, &context);
            assert!(!disk.exists(&segment_path(1)).unwrap(), "{context}: segment 1 is removed");
            drop(log);
            recover_and_continue(&disk, expected, &context);
        }
    }
}

/// Segment 0 is full to its last byte, so segment 1 is initialised by the next append, and a
/// crash during that left it short: the log ends at segment 1's first byte, and the open
/// initialises segment 1 over the short file.
#[test]
fn a_short_segment_after_a_full_one_is_initialised_again() {
    for length in SHORT_LENGTHS {
        for start in STARTS.into_iter().filter(|&start| !has_header_block(length, start)) {
            let context = format!("segment 1 of {length} bytes starting with {start:?}");
            let disk = SimDisk::with_seed(52);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            fill_segment_zero_exactly(&log);
            drop(log);
            let (_, records) = open(&disk, Lsn::ZERO).unwrap();
            let expected: Vec<Vec<u8>> = records.into_iter().map(|record| record.payload).collect();
            put_file(&disk, &segment_path(1), &contents(1, length, start));
            recover_and_continue(&disk, expected, &context);
        }
    }
}

/// The same, with the machine dying at each operation of the open that initialises segment 1
/// over the short file (reading the log, opening the file, growing it, its header, the syncs),
/// and the disk crashing before the next open.
#[test]
fn a_crash_while_initialising_over_a_short_segment_loses_nothing() {
    let mut died_count = 0;
    for death in 0..16 {
        let disk = SimDisk::with_seed(53 + death);
        let (log, _) = open(&disk, Lsn::ZERO).unwrap();
        fill_segment_zero_exactly(&log);
        drop(log);
        let (_, records) = open(&disk, Lsn::ZERO).unwrap();
        let expected: Vec<Vec<u8>> = records.into_iter().map(|record| record.payload).collect();
        put_file(&disk, &segment_path(1), &contents(1, 1 << 20, Start::Zeros));
        let index = disk.operation_counts().total() + death;
        disk.inject(Fault::io_error_on_any(Trigger::From { index }));
        died_count += usize::from(open(&disk, Lsn::ZERO).is_err());
        disk.crash();
        disk.clear_faults();
        recover_and_continue(&disk, expected, &format!("death at operation {death}"));
    }
    assert!(died_count >= 8, "only {died_count} of 16 opens died");
}

/// The very first initialisation was cut short: no segment has a valid header, so the directory
/// holds a new log.
#[test]
fn a_short_first_segment_without_a_header_starts_a_new_log() {
    for length in SHORT_LENGTHS {
        for start in STARTS.into_iter().filter(|start| !matches!(start, Start::Header)) {
            let context = format!("segment 0 of {length} bytes starting with {start:?}");
            let disk = SimDisk::with_seed(54);
            disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
            put_file(&disk, &segment_path(0), &contents(0, length, start));
            recover_and_continue(&disk, Vec::new(), &context);
        }
    }
}

/// A first segment with a valid header but cut short of its size cannot come from a crash (the
/// header is written only after the pre-zeroing is durable): the file was damaged, and the open
/// refuses it, naming it, and leaves it alone.
#[test]
fn a_short_first_segment_with_a_header_is_refused_and_kept() {
    for length in SHORT_LENGTHS.into_iter().filter(|&length| length >= 4096) {
        let disk = SimDisk::with_seed(55);
        disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
        put_file(&disk, &segment_path(0), &contents(0, length, Start::Header));
        let before = disk.durable_image();
        match open(&disk, Lsn::ZERO) {
            Err(Error::Corruption { path, lsn, .. }) => {
                assert_eq!(path, segment_path(0), "{length} bytes");
                assert_eq!(lsn, Lsn::ZERO, "{length} bytes");
            }
            other => panic!("{length} bytes: expected corruption, got {:?}", other.map(|_| ())),
        }
        assert!(disk.durable_image() == before, "{length} bytes: the open changed the disk");
    }
}

/// A short spare (left so by a crash while it was being pre-zeroed by a build that made spares
/// that way, or by anything else) is grown to the segment size when it is taken for a segment.
#[test]
fn a_short_spare_is_grown_before_it_is_used() {
    for length in SHORT_LENGTHS {
        for start in STARTS {
            let context = format!("a spare of {length} bytes starting with {start:?}");
            let disk = SimDisk::with_seed(56);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            let expected = append_durable(&log, 0, 3, 1000);
            drop(log);
            put_file(&disk, &spare_path(0), &contents(1, length, start));
            let (log, records) = open(&disk, Lsn::ZERO).unwrap();
            check(&records, &expected, &context);
            let mut expected = expected;
            while log.lsn_next().0 < data_bytes() + 100_000 {
                expected.extend(append_durable(&log, expected.len() as u64, 1, 100_000));
            }
            assert_eq!(log.stats().segments_recycled, 1, "{context}: the spare was taken");
            drop(log);
            disk.crash();
            recover_and_continue(&disk, expected, &context);
        }
    }
}

/// Segment 0 is full to its last byte, the log went on into segment 1 (or only initialised it),
/// and segment 1's file was then cut short: damage, since no crash leaves a valid header on a
/// short file (the header is written only once the pre-zeroing is durable). Its acknowledged
/// records must not vanish without a word, nor the file be initialised again over them.
///
/// Found by this test: recovery took such a file for one a crash left uninitialised (it judged
/// whether it held records by reading its whole data area, which failed on the short file), so
/// the log ended at segment 0's end, and the open then gave segment 1 a new header.
#[test]
fn a_cut_segment_after_a_full_one_is_corruption() {
    for length in [4096, 4096 + 512 + 100, 1 << 20, SEGMENT_LENGTH - 4096] {
        // With a damaged header too, only the records tell that the file was used, and only
        // if the cut left the first one whole (else nothing is left to tell: two damages can
        // hide, as docs/DURABILITY.md says of the blind spot).
        let mut cases = vec![(0, false), (3, false)];
        if length >= 1 << 20 {
            cases.push((3, true));
        }
        for (record_count, header_damaged) in cases {
            let context = format!(
                "segment 1 cut to {length} bytes with {record_count} records, header damaged: \
                 {header_damaged}"
            );
            let disk = SimDisk::with_seed(57);
            let (log, _) = open(&disk, Lsn::ZERO).unwrap();
            fill_segment_zero_exactly(&log);
            if record_count == 0 {
                drop(log);
                put_file(&disk, &segment_path(1), &contents(1, SEGMENT_LENGTH, Start::Header));
            } else {
                append_durable(&log, 1000, record_count, 1000);
                drop(log);
            }
            let file = disk.open(&segment_path(1), disk::OpenOptions::existing()).unwrap();
            file.truncate(length as u64).unwrap();
            drop(file);
            if header_damaged {
                disk.flip_bit(&segment_path(1), 20, 1).unwrap(); // in the segment index
            }
            let before = disk.durable_image();
            match open(&disk, Lsn::ZERO) {
                Err(Error::Corruption { path, lsn, reason }) => {
                    assert_eq!(path, segment_path(1), "{context}: {reason}");
                    assert_eq!(lsn, Lsn(data_bytes()), "{context}: {reason}");
                }
                other => panic!(
                    "{context}: expected corruption, got {:?}",
                    other.map(|(_, records)| records.len())
                ),
            }
            assert!(disk.durable_image() == before, "{context}: the open changed the disk");
        }
    }
}

//! Regression: a record that ends exactly at a segment's end.
//!
//! The writer used to leave the next segment unopened when a record filled its segment to the
//! last byte, and the next append then looked up the salt of a segment that was not open and
//! panicked. Recovery had the mirror image: after such a record it expected the next segment to
//! be loaded. Both are exercised here: the boundary is hit exactly, the log is reopened with its
//! tail on the boundary, and appends continue into the next segment.

mod common;

use common::{open, payload};
use disk::SimDisk;
use wal::Lsn;

const HEADER_BYTES: u64 = 32;

#[test]
fn a_record_ending_exactly_at_the_segment_end() {
    let disk = SimDisk::with_seed(31);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    let mut count = 0u64;
    while data_bytes - log.lsn_next().0 > 200_000 {
        log.append_durable(1, &payload(count, 100_000)).unwrap();
        count += 1;
    }
    // Fill the rest of segment 0 exactly: two records, the second ending on the boundary.
    let room = data_bytes - log.lsn_next().0;
    let first_payload = usize::try_from(room / 2 / 8 * 8 - HEADER_BYTES).unwrap();
    log.append_durable(1, &payload(count, first_payload)).unwrap();
    let room = data_bytes - log.lsn_next().0;
    let last = log
        .append_durable(1, &payload(count + 1, usize::try_from(room - HEADER_BYTES).unwrap()))
        .unwrap();
    assert_eq!(last.lsn_end, Lsn(data_bytes), "the record ends on the boundary");
    count += 2;
    log.check_invariants();
    drop(log);

    // Reopen with the tail on the boundary, then continue into segment 1.
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, count);
    assert_eq!(log.lsn_next(), Lsn(data_bytes));
    let next = log.append_durable(2, b"next segment").unwrap();
    assert_eq!(next.lsn, Lsn(data_bytes));
    log.check_invariants();
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, count + 1);
    assert_eq!(records.last().unwrap().payload, b"next segment");
}

#[test]
fn appending_right_after_a_boundary_record_without_reopening() {
    let disk = SimDisk::with_seed(32);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    while data_bytes - log.lsn_next().0 > 1_000_000 {
        log.append(1, &payload(0, 500_000)).unwrap();
    }
    let room = data_bytes - log.lsn_next().0;
    log.append(1, &payload(1, usize::try_from(room - HEADER_BYTES).unwrap())).unwrap();
    let next = log.append_durable(2, b"after the boundary").unwrap();
    assert_eq!(next.lsn, Lsn(data_bytes));
    log.check_invariants();
}

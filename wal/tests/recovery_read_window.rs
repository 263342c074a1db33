//! Recovery and replay read segments through a window of `READ_WINDOW_BYTES` (2 MiB), not
//! whole. These tests use 8 MiB segments and records up to the largest, so records straddle
//! window ends, and put the evidence recovery's verdicts hang on (a later durable record, a
//! record of a torn batch) more than a window away from the damage.

mod common;

use std::sync::Arc;

use common::{DIRECTORY, payload};
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use wal::limits::{READ_WINDOW_BYTES, RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES};
use wal::{Error, Lsn, Replay, Wal, WalOptions};

const SEGMENT_BYTES: u32 = 8 << 20;
const DATA_BYTES: u64 = SEGMENT_BYTES as u64 - SEGMENT_HEADER_BYTES as u64;
const _: () = assert!(DATA_BYTES > 2 * READ_WINDOW_BYTES as u64);

fn open(disk: &SimDisk, start: Lsn) -> wal::Result<(Wal, Replay)> {
    let options = WalOptions { segment_bytes: SEGMENT_BYTES, ..WalOptions::default() };
    Wal::open(Arc::new(disk.clone()) as Arc<dyn Disk>, DIRECTORY, options, start)
}

/// The segment file holding `lsn`, and `lsn`'s offset in it.
fn locate(lsn: Lsn) -> (std::path::PathBuf, u64) {
    let index = lsn.0 / DATA_BYTES;
    let path = std::path::Path::new(DIRECTORY).join(format!("wal-{index:016x}.seg"));
    (path, SEGMENT_HEADER_BYTES as u64 + lsn.0 % DATA_BYTES)
}

/// Damages the header of the record at `lsn` (one bit of its checksum).
fn damage_header(disk: &SimDisk, lsn: Lsn) {
    let (path, offset) = locate(lsn);
    disk.flip_bit(&path, offset, 0).unwrap();
}

/// Zeroes the header of the record at `lsn`, as if it had never been written: together with a
/// zeroed payload, a run of zeros longer than a window that the search must cross.
fn zero_header(disk: &SimDisk, lsn: Lsn) {
    let (path, offset) = locate(lsn);
    let file = disk.open(&path, OpenOptions::existing()).unwrap();
    let block_offset = offset / 4096 * 4096;
    let mut blocks = AlignedBuf::zeroed(8192, 4096);
    file.read_at(&mut blocks, block_offset).unwrap();
    let from = usize::try_from(offset - block_offset).unwrap();
    blocks[from..from + 32].fill(0);
    file.write_at(&blocks, block_offset).unwrap();
    file.sync_data().unwrap();
}

#[test]
fn records_larger_than_half_a_window_replay_in_order_across_segments() {
    let disk = SimDisk::with_seed(41);
    let sizes = [RECORD_PAYLOAD_BYTES_MAX, 700_001, 3, 250_000, RECORD_PAYLOAD_BYTES_MAX - 9, 17];
    let (log, replay) = open(&disk, Lsn::ZERO).unwrap();
    assert!(replay.is_empty());
    let mut appended = Vec::new();
    for number in 0..70u64 {
        let bytes = payload(number, sizes[usize::try_from(number).unwrap() % sizes.len()]);
        let at = log.append(1, &bytes).unwrap();
        if number % 3 == 2 {
            log.wait_durable(at.lsn_end).unwrap();
        }
        appended.push((at, bytes));
    }
    log.wait_durable(appended.last().unwrap().0.lsn_end).unwrap();
    assert!(log.lsn_next().0 > 3 * DATA_BYTES, "the log spans at least four segments");
    drop(log);

    let (_log, replay) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(replay.end_lsn(), appended.last().unwrap().0.lsn_end);
    let mut count = 0;
    for (record, (at, bytes)) in replay.zip(&appended) {
        let record = record.unwrap();
        assert_eq!(record.lsn, at.lsn);
        assert!(record.payload == *bytes, "record {} differs", at.lsn);
        count += 1;
    }
    assert_eq!(count, appended.len());

    // From a record in the middle of the log (a checkpoint's LSN), the rest of it.
    let middle = appended[23].0.lsn;
    let (_log, replay) = open(&disk, middle).unwrap();
    let lsns: Vec<Lsn> = replay.map(|record| record.unwrap().lsn).collect();
    let expected: Vec<Lsn> = appended[23..].iter().map(|(at, _)| at.lsn).collect();
    assert_eq!(lsns, expected);
}

/// A damaged record followed by more than a window of zeros (a zeroed payload, a zeroed record)
/// and then a record written after it was durable: the search for that witness has to
/// cross window ends, or the damage would pass for a torn tail and the log would lose records.
#[test]
fn damage_with_its_witness_more_than_a_window_away_is_corruption() {
    let disk = SimDisk::with_seed(42);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let zeros = vec![0u8; RECORD_PAYLOAD_BYTES_MAX];
    log.append_durable(1, &payload(0, 1_000_000)).unwrap();
    log.append_durable(1, &payload(1, 500_000)).unwrap();
    let first_damaged = log.append_durable(1, &zeros).unwrap();
    let second_damaged = log.append_durable(1, &zeros).unwrap();
    let witness = log.append_durable(1, &payload(4, 100)).unwrap();
    drop(log);
    assert!(witness.lsn.0 - first_damaged.lsn.0 > READ_WINDOW_BYTES as u64);
    assert_eq!(witness.lsn.0 / DATA_BYTES, 0, "all in one segment");
    damage_header(&disk, first_damaged.lsn);
    zero_header(&disk, second_damaged.lsn);
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, reason, .. }) => {
            assert_eq!(lsn, first_damaged.lsn, "{reason}");
            assert!(reason.contains(&format!("LSN {}", witness.lsn)), "{reason}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, replay)| replay)),
    }
}

/// A torn batch whose last record lies more than a window beyond the damage: that record is
/// valid under the segment's salt, so recovery must find it and zero it before appending again.
#[test]
fn a_torn_batch_is_zeroed_to_its_last_valid_record_beyond_a_window() {
    let disk = SimDisk::with_seed(43);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let kept = [
        log.append_durable(1, &payload(0, 1_000_000)).unwrap(),
        log.append_durable(1, &payload(1, 800_000)).unwrap(),
    ];
    let zeros = vec![0u8; RECORD_PAYLOAD_BYTES_MAX];
    // One batch: every record carries the durable LSN from before the batch.
    let torn_first = log.append(1, &zeros).unwrap();
    let torn_second = log.append(1, &zeros).unwrap();
    let torn_last = log.append(1, &payload(4, 100)).unwrap();
    log.wait_durable(torn_last.lsn_end).unwrap();
    drop(log);
    assert!(torn_last.lsn.0 - torn_first.lsn.0 > READ_WINDOW_BYTES as u64);
    damage_header(&disk, torn_first.lsn);
    zero_header(&disk, torn_second.lsn);

    let (log, replay) = open(&disk, Lsn::ZERO).unwrap();
    let replayed: Vec<_> = replay.map(Result::unwrap).collect();
    let lsns: Vec<Lsn> = replayed.iter().map(|record| record.lsn).collect();
    assert_eq!(lsns, [kept[0].lsn, kept[1].lsn]);
    assert_eq!(log.lsn_next(), torn_first.lsn, "the log goes on where the torn batch began");
    drop(log);
    let (path, offset) = locate(torn_last.lsn);
    let file = disk.open(&path, OpenOptions::existing()).unwrap();
    let mut block = AlignedBuf::zeroed(8192, 4096);
    let block_offset = offset / 4096 * 4096;
    file.read_at(&mut block, block_offset).unwrap();
    let from = usize::try_from(offset - block_offset).unwrap();
    assert!(
        block[from..from + 32 + 100].iter().all(|&byte| byte == 0),
        "the torn batch's last record was left behind the tail"
    );
}

/// Open judges the log and replay reads it again: a record damaged in between is an error
/// naming its LSN, never a record with other bytes, and the replay ends there.
#[test]
fn a_record_damaged_after_open_fails_the_replay_at_its_lsn() {
    let disk = SimDisk::with_seed(44);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let appended: Vec<_> =
        (0..6).map(|number| log.append_durable(1, &payload(number, 700_000)).unwrap()).collect();
    drop(log);
    let (_log, mut replay) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(replay.next().unwrap().unwrap().lsn, appended[0].lsn);
    let (path, offset) = locate(appended[4].lsn);
    disk.flip_bit(&path, offset + 32 + 1000, 5).unwrap(); // inside the payload
    for expected in &appended[1..4] {
        assert_eq!(replay.next().unwrap().unwrap().lsn, expected.lsn);
    }
    match replay.next() {
        Some(Err(Error::Corruption { lsn, reason, .. })) => {
            assert_eq!(lsn, appended[4].lsn, "{reason}");
            assert!(reason.contains("changed under its replay"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(replay.next().is_none(), "a failed replay ends");
}

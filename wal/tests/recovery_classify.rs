//! Recovery's verdicts: damage to a record the log had made durable is corruption, named by
//! its LSN; damage confined to the last batch is a torn tail; records left by an earlier use of
//! a segment are never replayed.

mod common;

use common::{edit_block, file_offset, open, payload, segment_path};
use disk::SimDisk;
use wal::{Error, Lsn};

const RECORD_COUNT: u64 = 100;
const PAYLOAD_BYTES: usize = 200;

/// A log of `RECORD_COUNT` records, each made durable in its own batch.
fn durable_log(seed: u64) -> (SimDisk, Vec<wal::Appended>) {
    let disk = SimDisk::with_seed(seed);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let appended = (0..RECORD_COUNT)
        .map(|number| log.append_durable(1, &payload(number, PAYLOAD_BYTES)).unwrap())
        .collect();
    drop(log);
    (disk, appended)
}

/// The first record whose bytes reach into `[offset, offset + length)` of segment 0.
fn first_damaged(appended: &[wal::Appended], offset: u64, length: u64) -> wal::Appended {
    *appended
        .iter()
        .find(|record| {
            file_offset(record.lsn_end).1 > offset && file_offset(record.lsn).1 < offset + length
        })
        .expect("the damage hits a record")
}

#[test]
fn a_zeroed_block_mid_log_is_corruption_at_the_first_damaged_record() {
    let (disk, appended) = durable_log(1);
    let block_offset = 4096 * 3; // well inside the log, which spans about 5 blocks
    edit_block(&disk, &segment_path(0), block_offset, |block| block.fill(0));
    let damaged = first_damaged(&appended, block_offset, 4096);
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, path, reason }) => {
            assert_eq!(lsn, damaged.lsn, "{reason}");
            assert_eq!(path, segment_path(0));
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

#[test]
fn a_bit_flip_mid_log_is_corruption_at_the_flipped_record() {
    let (disk, appended) = durable_log(2);
    let victim = appended[40];
    let (_, offset) = file_offset(victim.lsn);
    // A byte inside the payload: only the payload checksum can notice.
    disk.flip_bit(&segment_path(0), offset + 32 + 17, 3).unwrap();
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, .. }) => assert_eq!(lsn, victim.lsn),
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

#[test]
fn damage_confined_to_the_last_batch_is_a_torn_tail() {
    let (disk, appended) = durable_log(3);
    let last = appended[appended.len() - 1];
    let (_, offset) = file_offset(last.lsn);
    let block_offset = (offset + 40) / 4096 * 4096;
    edit_block(&disk, &segment_path(0), block_offset, |block| {
        let from = usize::try_from(offset + 40 - block_offset).unwrap();
        block[from..].fill(0);
    });
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, RECORD_COUNT - 1);
}

/// What remains of the blind spot `docs/DURABILITY.md` names: damage to the last batch that its
/// shadow cannot repair — here two bits of one 512-byte unit before the batch's last block,
/// where the shadow holds only the unit's checksum, which corrects one bit — cannot be told from
/// a torn write of it, because no later record vouches that the batch completed. Recovery cuts
/// the log there. This test pins that behaviour so a change to it is deliberate; a single flip
/// anywhere in the batch is repaired (`recovery_shadow.rs`).
#[test]
fn damage_the_shadow_cannot_repair_in_the_last_batch_reads_as_a_torn_tail() {
    let (disk, appended) = durable_log(4);
    let last = appended[appended.len() - 1];
    let flipped = file_offset(last.lsn).1 + 40;
    // The last record starts at LSN 22,968 and ends at 23,200: the flips (LSN 23,008 and
    // 23,020) lie in the 512-byte block [22,528, 23,040), the batch's last byte in the next one.
    assert_ne!(flipped / 512, (file_offset(last.lsn_end).1 - 1) / 512, "not the last block");
    disk.flip_bit(&segment_path(0), flipped, 0).unwrap();
    disk.flip_bit(&segment_path(0), flipped + 12, 5).unwrap();
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, RECORD_COUNT - 1);
}

/// The last batch's write landed at `landing` instead of its own block: the block keeps what it
/// held before the batch (zeros after the previous record), and `landing` holds the batch.
fn misdirect_the_last_batch(disk: &SimDisk, appended: &[wal::Appended], landing: u64) -> Lsn {
    let last = appended[appended.len() - 1];
    let (_, offset) = file_offset(last.lsn);
    let block_offset = offset / 4096 * 4096;
    assert_eq!(file_offset(last.lsn_end).1.div_ceil(4096), block_offset / 4096 + 1, "one block");
    let mut batch = Vec::new();
    edit_block(disk, &segment_path(0), block_offset, |block| {
        batch = block.to_vec();
        block[usize::try_from(offset - block_offset).unwrap()..].fill(0);
    });
    edit_block(disk, &segment_path(0), landing, |block| block.copy_from_slice(&batch));
    last.lsn
}

/// A misdirected write of the last batch leaves its own place looking torn, with nothing later
/// to vouch for it. Its records land elsewhere in the segment, still under the segment's salt
/// but at positions their LSNs do not name, which no crash leaves: recovery reports the loss
/// instead of cutting the log.
#[test]
fn a_misdirected_write_of_the_last_batch_beyond_the_tail_is_corruption() {
    let (disk, appended) = durable_log(8);
    let lost = misdirect_the_last_batch(&disk, &appended, 64 * 4096);
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, reason, .. }) => {
            assert_eq!(lsn, lost, "{reason}");
            assert!(reason.contains("landed at the wrong place"), "{reason}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

/// The same write landing over acknowledged records earlier in the log: the walk stops at the
/// first record it overwrote, and the misplaced records beyond name the damage.
#[test]
fn a_misdirected_write_of_the_last_batch_over_the_log_is_corruption() {
    let (disk, appended) = durable_log(9);
    misdirect_the_last_batch(&disk, &appended, 4096);
    let damaged = first_damaged(&appended, 4096, 4096);
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, .. }) => assert_eq!(lsn, damaged.lsn),
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

/// The same write landing below the recovery start (over records a checkpoint let go, which
/// recovery does not walk): the search for misplaced headers covers the whole segment.
#[test]
fn a_misdirected_write_of_the_last_batch_below_the_recovery_start_is_corruption() {
    let (disk, appended) = durable_log(10);
    let lost = misdirect_the_last_batch(&disk, &appended, 4096);
    let start = appended[80].lsn;
    assert!(file_offset(start).1 > 2 * 4096, "the landing place lies below the start");
    match open(&disk, start) {
        Err(Error::Corruption { lsn, reason, .. }) => {
            assert_eq!(lsn, lost, "{reason}");
            assert!(reason.contains("landed at the wrong place"), "{reason}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

/// A batch that crossed into segment 1 is torn: its part in segment 0 is lost, its part in
/// segment 1 survived. Recovery cuts the log in segment 0 (the surviving records vouch for
/// nothing later). The writer then refills the same LSNs with records of the same sizes and
/// re-initialises segment 1 with a fresh salt. The fifth record is sized to end on a block
/// boundary, so the old sixth record starts a block the refill never writes, at exactly the LSN
/// the log continues at: only the salt tells it is stale.
#[test]
fn records_of_an_earlier_segment_generation_are_never_replayed() {
    let disk = SimDisk::with_seed(5);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let record_bytes = 64 * 1024;
    let mut number = 0;
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    while log.lsn_next().0 + 3 * (record_bytes as u64 + 64) < data_bytes {
        log.append_durable(1, &payload(number, record_bytes)).unwrap();
        number += 1;
    }
    let durable_count = number;
    // One batch of six records crossing into segment 1; the fifth ends on a block boundary.
    let mut sizes = Vec::new();
    let mut batch = Vec::new();
    for offset in 0..6 {
        let mut size = record_bytes;
        if offset == 4 {
            let end = log.lsn_next().0 + 32 + size as u64;
            size += usize::try_from((4096 - end % 4096) % 4096).unwrap();
        }
        sizes.push(size);
        batch.push(log.append(1, &payload(number + offset, size)).unwrap());
    }
    log.wait_durable(batch[5].lsn_end).unwrap();
    drop(log);
    assert_eq!(batch[4].lsn.0 / data_bytes, 1, "the batch reaches well into segment 1");
    assert_eq!(batch[5].lsn.0 % 4096, 0, "the sixth record starts a block");
    // Tear the batch: everything it wrote in segment 0 is lost.
    let (_, batch_start) = file_offset(batch[0].lsn);
    for block_offset in
        (batch_start / 4096 * 4096..u64::from(wal::limits::SEGMENT_BYTES_MIN)).step_by(4096)
    {
        edit_block(&disk, &segment_path(0), block_offset, |block| {
            let from = usize::try_from(batch_start.saturating_sub(block_offset)).unwrap();
            block[from..].fill(0);
        });
    }
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, durable_count, "the torn batch is cut");
    let refill: Vec<wal::Appended> = sizes[..5]
        .iter()
        .enumerate()
        .map(|(offset, &size)| log.append(2, &payload(1000 + offset as u64, size)).unwrap())
        .collect();
    log.wait_durable(refill[4].lsn_end).unwrap();
    assert_eq!(refill[4].lsn_end, batch[5].lsn, "the log continues where the old record is");
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, durable_count + 5, "the old sixth record is not replayed");
    let refilled = &records[usize::try_from(durable_count).unwrap()..];
    assert!(refilled.iter().all(|record| record.tag == 2));
}

/// Records that cross from segment 0 into segment 1, each made durable in its own batch; returns
/// them. Segment 0 ends with a segment-end record.
fn durable_log_across_segments(seed: u64) -> (SimDisk, Vec<wal::Appended>) {
    let disk = SimDisk::with_seed(seed);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    let mut appended = Vec::new();
    while log.lsn_next().0 < data_bytes + 300_000 {
        appended.push(log.append_durable(1, &payload(appended.len() as u64, 100_000)).unwrap());
    }
    drop(log);
    (disk, appended)
}

/// A segment-end record promises that the log goes on in the next segment; that segment
/// missing is corruption, not the end of the log.
#[test]
fn a_segment_end_into_a_missing_segment_is_corruption() {
    use disk::Disk;
    let (disk, _) = durable_log_across_segments(6);
    disk.remove(&segment_path(1)).unwrap();
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, path, .. }) => {
            assert_eq!(lsn, Lsn(data_bytes));
            assert_eq!(path, segment_path(1));
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

/// Damage to segment 0's segment-end record is vouched for only by records in segment 1:
/// nothing valid follows it in segment 0, and the first record of segment 1 was written in the
/// same batch. The second batch in segment 1 proves the segment end was durable, so recovery
/// must look there and report corruption, not cut the log and drop segment 1's acknowledged
/// records.
#[test]
fn damage_vouched_for_only_by_a_later_segment_is_corruption() {
    let (disk, appended) = durable_log_across_segments(7);
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    let last_in_segment_zero =
        *appended.iter().rev().find(|record| record.lsn.0 < data_bytes).unwrap();
    let segment_end = last_in_segment_zero.lsn_end;
    assert!(segment_end.0 + 32 <= data_bytes, "segment 0 has room for its segment-end record");
    disk.flip_bit(&segment_path(0), file_offset(segment_end).1 + 9, 2).unwrap();
    match open(&disk, Lsn::ZERO) {
        Err(Error::Corruption { lsn, reason, .. }) => {
            assert_eq!(lsn, segment_end);
            assert!(reason.contains("written after this one was durable"), "{reason}");
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, records)| records.len())),
    }
}

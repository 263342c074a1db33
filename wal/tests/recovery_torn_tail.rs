//! A torn last batch, cut at every byte offset of its last block: recovery keeps exactly the
//! records wholly before the cut and never reports corruption.

mod common;

use common::{edit_block, file_offset, open, payload, segment_path};
use disk::SimDisk;
use wal::Lsn;

const EARLIER_RECORD_COUNT: usize = 20;

/// Twenty records made durable one batch at a time, then a last batch of two records. A torn
/// write of that batch leaves each of its bytes either written or as before (zero, in a
/// pre-zeroed segment); bytes of earlier records are the same either way. Here every byte of
/// the last batch from `cut` on is lost, for every `cut` in the last block.
#[test]
fn torn_tail_at_every_byte_offset_of_the_last_block() {
    let disk = SimDisk::with_seed(3);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    for number in 0..EARLIER_RECORD_COUNT as u64 {
        log.append_durable(1, &payload(number, 300)).unwrap();
    }
    let first = log.append(1, &payload(EARLIER_RECORD_COUNT as u64, 1000)).unwrap();
    let last = log.append(1, &payload(EARLIER_RECORD_COUNT as u64 + 1, 1500)).unwrap();
    log.wait_durable(last.lsn_end).unwrap();
    drop(log);

    let (segment, batch_start) = file_offset(first.lsn);
    // Where each record's meaningful bytes end (its zero padding to 8 bytes survives any cut).
    let first_end = file_offset(first.lsn).1 + 32 + 1000;
    let last_end = file_offset(last.lsn).1 + 32 + 1500;
    let block_offset = (last_end - 1) / 4096 * 4096;
    let path = segment_path(segment);
    // Every block the batch wrote: recovery zeroes what a torn batch left, so each cut starts
    // from the batch as written.
    let batch_blocks: Vec<u64> = (batch_start / 4096 * 4096..last_end).step_by(4096).collect();
    let mut originals = Vec::new();
    for &offset in &batch_blocks {
        edit_block(&disk, &path, offset, |block| originals.push(block.to_vec()));
    }

    for cut in 0..4096u64 {
        let lost_from = (block_offset + cut).max(batch_start);
        for (&offset, original) in batch_blocks.iter().zip(&originals) {
            edit_block(&disk, &path, offset, |block| {
                block.copy_from_slice(original);
                let from = usize::try_from(lost_from.saturating_sub(offset)).unwrap().min(4096);
                if lost_from < offset + 4096 {
                    block[from..].fill(0);
                }
            });
        }
        let (reopened, records) =
            open(&disk, Lsn::ZERO).unwrap_or_else(|error| panic!("cut {cut}: {error}"));
        let expected = EARLIER_RECORD_COUNT
            + usize::from(first_end <= lost_from)
            + usize::from(last_end <= lost_from);
        assert_eq!(records.len(), expected, "cut at byte {cut} of the last block");
        for (number, record) in records.iter().enumerate() {
            assert_eq!(record.payload[..8], (number as u64).to_le_bytes(), "cut {cut}");
        }
        reopened.check_invariants();
    }
}

/// The leftovers of a torn batch must never become part of the log. A batch of two records is
/// torn so that the first is damaged and the second survives intact. The first is sized to end
/// on a block boundary, so a new record of the same size ends exactly where the survivor starts,
/// in a block the new batch never rewrites. Only the zeroing at recovery keeps the survivor,
/// never acknowledged, from being replayed after the new record.
#[test]
fn a_surviving_record_of_a_torn_batch_is_never_replayed() {
    let disk = SimDisk::with_seed(4);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    for number in 0..EARLIER_RECORD_COUNT as u64 {
        log.append_durable(1, &payload(number, 300)).unwrap();
    }
    let start = log.lsn_next().0;
    let first_bytes = usize::try_from(3 * 4096 - (start + 32) % 4096).unwrap();
    let first = log.append(1, &payload(100, first_bytes)).unwrap();
    let survivor = log.append(1, &payload(101, 500)).unwrap();
    log.wait_durable(survivor.lsn_end).unwrap();
    drop(log);
    assert_eq!(first.lsn_end, survivor.lsn);
    assert_eq!(survivor.lsn.0 % 4096, 0, "the survivor starts a block");
    // Tear the first record only: its last bytes are lost.
    let (segment, first_end) = file_offset(first.lsn_end);
    edit_block(&disk, &segment_path(segment), first_end - 4096, |block| block[4000..].fill(0));

    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), EARLIER_RECORD_COUNT, "the torn batch is cut");
    let replacement = log.append_durable(2, &payload(200, first_bytes)).unwrap();
    assert_eq!(replacement.lsn_end, survivor.lsn, "the log continues where the survivor lies");
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), EARLIER_RECORD_COUNT + 1, "the survivor is not replayed");
    assert_eq!(records.last().unwrap().tag, 2);
}

//! The shadow of the last batch (`docs/FORMAT.md`, "Shadows"): a bit flipped in the batch after
//! it was acknowledged is repaired, exactly, whether it lies in the batch's last block (restored
//! from the shadow's image, every bit) or before it (corrected with the shadow's unit
//! checksums); a damaged shadow beside an intact batch changes nothing; a torn write of the
//! batch at any set of sectors recovers a prefix of the log; and a shadow that is stale (of an
//! earlier batch, of records a cut discarded, at another position, of another salt) never puts
//! bytes into the log that are not the log's.
//!
//! The simulated disk's block is 512 bytes, so every position below is worked out for 512-byte
//! blocks (and asserted, so a change of layout fails here first).

mod common;

use std::path::Path;

use common::{file_offset, open, payload, segment_path};
use disk::sim::{CrashChoices, Fault, Operation, PendingWrite, Trigger, WriteFate};
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use wal::{Error, Lsn, Record};

const BLOCK_BYTES: u64 = 512;
const EARLIER_RECORD_COUNT: u64 = 20;

/// A log whose last two batches (one record each) share the last block: 20 records of 300
/// bytes (LSN 0..6,720), a filler record to LSN 7,160, then record A (LSN 7,160..7,288, its
/// header straddling into the last block) and record B (7,288..7,528), each acknowledged in its
/// own batch. The last block is [7,168, 7,680): it holds A's last 120 bytes and B, 360 used
/// bytes, and its shadow lies at LSN 7,680.
fn log_with_two_batches_in_the_last_block(seed: u64) -> (SimDisk, Vec<wal::Appended>) {
    let disk = SimDisk::with_seed(seed);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let mut appended: Vec<wal::Appended> = (0..EARLIER_RECORD_COUNT)
        .map(|number| log.append_durable(1, &payload(number, 300)).unwrap())
        .collect();
    appended.push(log.append_durable(1, &payload(20, 408)).unwrap());
    appended.push(log.append_durable(1, &payload(21, 96)).unwrap());
    appended.push(log.append_durable(1, &payload(22, 208)).unwrap());
    drop(log);
    let lsns: Vec<(u64, u64)> =
        appended[20..].iter().map(|record| (record.lsn.0, record.lsn_end.0)).collect();
    assert_eq!(lsns, [(6720, 7160), (7160, 7288), (7288, 7528)]);
    (disk, appended)
}

/// The payload sizes of the records of [`log_with_two_batches_in_the_last_block`].
fn payload_bytes_of(number: u64) -> usize {
    match number {
        0..EARLIER_RECORD_COUNT => 300,
        20 => 408,
        21 => 96,
        _ => 208,
    }
}

fn assert_all_records(records: &[Record], count: u64, context: &str) {
    assert_eq!(records.len() as u64, count, "{context}");
    for (number, record) in (0..).zip(records) {
        assert_eq!(record.payload, payload(number, payload_bytes_of(number)), "{context}");
    }
}

/// Every byte of the last block flipped, one bit each (all eight bits for the bytes of the two
/// record headers there): recovery returns every record exactly, with no error, and writes the
/// repaired block back, so the durable log holds the block as it was written.
#[test]
fn a_flip_anywhere_in_the_last_block_is_restored_from_the_shadow() {
    let (original, _) = log_with_two_batches_in_the_last_block(1);
    let path = segment_path(0);
    let (_, block_offset) = file_offset(Lsn(7168));
    let (_, end_offset) = file_offset(Lsn(7528));
    let before = original.durable_content(&path).unwrap();
    // Bytes 8..32 of A's header and all of B's: every bit of them.
    let header_bytes = |offset: u64| {
        let lsn = offset - 4096;
        (7168..7192).contains(&lsn) || (7288..7320).contains(&lsn)
    };
    for offset in block_offset..block_offset + BLOCK_BYTES {
        let bits = if header_bytes(offset) { 0..8 } else { offset % 8..offset % 8 + 1 };
        for bit in bits {
            let context = format!("bit {bit} of file offset {offset}");
            let disk = original.fork();
            disk.flip_bit(&path, offset, u8::try_from(bit).unwrap()).unwrap();
            let (log, records) = open(&disk, Lsn::ZERO).unwrap_or_else(|error| {
                panic!("{context}: {error}");
            });
            assert_all_records(&records, 23, &context);
            log.check_invariants();
            let after = disk.durable_content(&path).unwrap();
            let used = usize::try_from(block_offset).unwrap()..usize::try_from(end_offset).unwrap();
            assert!(after[used.clone()] == before[used], "{context}: the block written back");
        }
    }
}

/// The shape of seed 1429 of the crash harness: the last batch is one record of 2,500 bytes,
/// over six blocks (LSN 6,720 to 9,256, written from the block [6,656, 7,168)). One bit flipped
/// in it, or in the earlier record's end in its first block, is repaired: from the shadow's
/// image in the last block, with the unit checksums before it. Every byte of the record header
/// and every third byte elsewhere, one bit each (all of them took 20 s).
#[test]
fn a_flip_anywhere_in_a_multi_block_last_batch_is_corrected() {
    let original = SimDisk::with_seed(7);
    let (log, _) = open(&original, Lsn::ZERO).unwrap();
    for number in 0..EARLIER_RECORD_COUNT {
        log.append_durable(1, &payload(number, 300)).unwrap();
    }
    let last = log.append_durable(1, &payload(20, 2500)).unwrap();
    drop(log);
    assert_eq!((last.lsn, last.lsn_end), (Lsn(6720), Lsn(9256)));
    let path = segment_path(0);
    let before = original.durable_content(&path).unwrap();
    let (_, from) = file_offset(Lsn(6656));
    let (_, payload_end) = file_offset(Lsn(6720 + 32 + 2500)); // 4 bytes of padding follow
    // The padding after the earlier record's payload (LSN 6,716..6,720) is not checked on read:
    // a flip there harms nothing and stays.
    let (_, padding) = file_offset(Lsn(6716));
    let (_, header) = file_offset(Lsn(6720));
    let chosen = |offset: &u64| {
        let in_header = (header..header + 32).contains(offset);
        !(padding..padding + 4).contains(offset) && (in_header || offset % 3 == 0)
    };
    for offset in (from..payload_end).filter(chosen) {
        let context = format!("bit {} of file offset {offset}", offset % 8);
        let disk = original.fork();
        disk.flip_bit(&path, offset, u8::try_from(offset % 8).unwrap()).unwrap();
        let (log, records) =
            open(&disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: {error}"));
        assert_eq!(records.len(), 21, "{context}");
        assert_eq!(records[20].payload, payload(20, 2500), "{context}");
        log.check_invariants();
        let range = usize::try_from(from).unwrap()..usize::try_from(payload_end).unwrap();
        let after = disk.durable_content(&path).unwrap();
        assert!(after[range.clone()] == before[range], "{context}: the batch written back");
    }
}

/// `Wal::verify` (behind `Db::check`) reads the log as recovery would, but reports the damage
/// the shadow would repair instead of hiding it.
#[test]
fn verify_reports_a_flip_the_shadow_would_repair() {
    let disk = SimDisk::with_seed(2);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let mut last = log.append_durable(1, &payload(0, 300)).unwrap();
    for number in 1..10 {
        last = log.append_durable(1, &payload(number, 300)).unwrap();
    }
    assert!(log.verify(Lsn::ZERO).is_ok());
    disk.flip_bit(&segment_path(0), file_offset(last.lsn_end).1 - 20, 2).unwrap();
    match log.verify(Lsn::ZERO) {
        Err(Error::Corruption { lsn, reason, .. }) => {
            assert_eq!(lsn, last.lsn, "{reason}");
            assert!(reason.contains("shadow"), "{reason}");
            assert!(reason.contains("durable point"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    drop(log);
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), 10, "recovery restores it");
}

/// The shadow damaged, anywhere, beside an intact last block: every record is recovered and
/// nothing is written (a clean reopen writes nothing, shadow or not).
#[test]
fn a_damaged_shadow_beside_an_intact_block_is_harmless() {
    let (original, _) = log_with_two_batches_in_the_last_block(3);
    let path = segment_path(0);
    let (_, shadow_offset) = file_offset(Lsn(7680));
    // 40 bytes of header and 360 of image (B's batch began in B: no unit checksums).
    for offset in shadow_offset..shadow_offset + 40 + 360 {
        let disk = original.fork();
        disk.flip_bit(&path, offset, u8::try_from(offset % 8).unwrap()).unwrap();
        let before = disk.durable_image();
        let writes = disk.operation_counts().get(Operation::Write);
        let (_, records) = open(&disk, Lsn::ZERO).unwrap();
        assert_all_records(&records, 23, &format!("file offset {offset}"));
        assert_eq!(disk.operation_counts().get(Operation::Write), writes, "offset {offset}");
        assert!(disk.durable_image() == before, "file offset {offset}: nothing changed");
    }
    let writes = original.operation_counts().get(Operation::Write);
    let (_, records) = open(&original, Lsn::ZERO).unwrap();
    assert_all_records(&records, 23, "a clean reopen");
    assert_eq!(original.operation_counts().get(Operation::Write), writes, "a clean reopen");
}

/// A crash that tears the one pending write at 512-byte sectors, keeping those the mask says.
struct TearAt(Vec<bool>);

impl CrashChoices for TearAt {
    fn write_fate(&mut self, write: &PendingWrite) -> WriteFate {
        assert_eq!(write.sector_count(BLOCK_BYTES), self.0.len(), "the batch's write");
        WriteFate::Torn { sector_bytes: BLOCK_BYTES, kept_sectors: self.0.clone() }
    }

    fn namespace_kept_count(&mut self, _directory: &Path, pending_count: usize) -> usize {
        pending_count
    }
}

/// A log whose last batch (`sizes`, after `earlier` acknowledged records of 300 bytes) was
/// written but never made durable (its flush failed): the disk, the batch's records, and its one
/// pending write.
fn log_with_a_pending_batch(
    seed: u64,
    earlier: u64,
    sizes: &[usize],
) -> (SimDisk, Vec<wal::Appended>, PendingWrite) {
    let disk = SimDisk::with_seed(seed);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    for number in 0..earlier {
        log.append_durable(1, &payload(number, 300)).unwrap();
    }
    let flush_index = disk.operation_counts().get(Operation::Flush);
    disk.inject(Fault::io_error(Operation::Flush, Trigger::Once { index: flush_index }));
    let batch: Vec<wal::Appended> = (earlier..)
        .zip(sizes)
        .map(|(number, &size)| log.append(1, &payload(number, size)).unwrap())
        .collect();
    assert!(log.wait_durable(batch.last().unwrap().lsn_end).is_err(), "the flush failed");
    drop(log);
    disk.clear_faults();
    let pending = disk.pending_writes();
    assert_eq!(pending.len(), 1, "the batch's write, all of it in one segment");
    (disk, batch, pending.into_iter().next().unwrap())
}

/// The records recovered must be the acknowledged ones and then a prefix of the batch, each as
/// appended; returns how many of the batch survived.
fn check_prefix(records: &[Record], earlier: u64, sizes: &[usize], context: &str) -> usize {
    assert!(records.len() as u64 >= earlier, "{context}: acknowledged records lost");
    let batch_count = records.len() - usize::try_from(earlier).unwrap();
    assert!(batch_count <= sizes.len(), "{context}: more records than appended");
    for (number, record) in (0..).zip(records) {
        let size =
            if number < earlier { 300 } else { sizes[usize::try_from(number - earlier).unwrap()] };
        assert_eq!(record.payload, payload(number, size), "{context}: record {number}");
    }
    batch_count
}

/// After recovery from a torn batch: a new record appended and acknowledged is the last one
/// recovered, and a bit flipped in it is restored from its own shadow, never from a stale one
/// (a stale shadow would bring back the torn batch's records, or fail the check on the count).
fn check_new_record_after(disk: &SimDisk, recovered: &[Record], context: &str) {
    let (log, _) = open(disk, Lsn::ZERO).unwrap();
    // A payload whose last byte lies in the record's last block: the record fits in the rest
    // of the tail block, or, with less than 40 bytes left there, reaches well into the next.
    let room = BLOCK_BYTES - log.lsn_next().0 % BLOCK_BYTES;
    let size = usize::try_from(if room >= 40 { (room - 32).min(100) } else { room + 100 }).unwrap();
    let new = log.append_durable(2, &payload(999, size)).unwrap();
    drop(log);
    let flipped = file_offset(new.lsn).1 + 32 + size as u64 - 1;
    assert_eq!(flipped / BLOCK_BYTES, (file_offset(new.lsn_end).1 - 1) / BLOCK_BYTES);
    disk.flip_bit(&segment_path(0), flipped, 4).unwrap();
    let (_, records) = open(disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: {error}"));
    assert_eq!(records.len(), recovered.len() + 1, "{context}: the new record is last");
    assert_eq!(records[..recovered.len()], *recovered, "{context}");
    assert_eq!(records.last().unwrap().payload, payload(999, size), "{context}");
}

/// Tears the pending batch of every shape below at every subset of its 512-byte sectors (the
/// batch's blocks and its shadow's): recovery always returns the acknowledged records and a
/// prefix of the batch. Losing only the sectors of the batch's last block restores the whole
/// batch from the shadow, though the batch was never acknowledged: allowed, since the result is
/// still a prefix of what was appended.
#[test]
fn a_torn_batch_recovers_a_prefix_at_every_set_of_kept_sectors() {
    // (earlier records, the batch's payload sizes): a batch inside its tail block (LSN 6,720
    // to 6,812) with a one-block shadow; one over three blocks with a two-block shadow (6,720
    // to 8,184, 8 bytes before its last block's end); one of four records over eight blocks
    // (2,352 to 5,696) with a one-block shadow.
    let shapes: [(u64, &[usize]); 3] =
        [(20, &[60]), (20, &[400, 1000]), (7, &[500, 700, 900, 1100])];
    for (seed, (earlier, sizes)) in (10..).zip(shapes) {
        let (disk, batch, write) = log_with_a_pending_batch(seed, earlier, sizes);
        let sector_count = write.sector_count(BLOCK_BYTES);
        let end = file_offset(batch.last().unwrap().lsn_end).1;
        let last_sector =
            usize::try_from((end - 1) / BLOCK_BYTES - write.offset_bytes / BLOCK_BYTES).unwrap();
        assert!(sector_count <= 10, "{sector_count} sectors: too many subsets to try");
        for mask_bits in 0u32..1 << sector_count {
            let mask: Vec<bool> =
                (0..sector_count).map(|index| mask_bits >> index & 1 == 1).collect();
            let context = format!("shape {sizes:?}, kept sectors {mask:?}");
            let torn = disk.fork();
            torn.crash_with(&mut TearAt(mask.clone()));
            let (_, records) =
                open(&torn, Lsn::ZERO).unwrap_or_else(|error| panic!("{context}: {error}"));
            let survived = check_prefix(&records, earlier, sizes, &context);
            let only_last_block_lost =
                mask.iter().enumerate().all(|(index, &kept)| kept != (index == last_sector));
            if mask.iter().all(|&kept| kept) || only_last_block_lost {
                assert_eq!(survived, sizes.len(), "{context}: the whole batch");
            }
            check_new_record_after(&torn, &records, &context);
        }
    }
}

/// Writes `bytes` at file offset `offset` of `path` durably (any alignment: the enclosing
/// 512-byte sectors are read, patched and written back).
fn put_bytes(disk: &SimDisk, path: &Path, offset: u64, bytes: &[u8]) {
    let file = disk.open(path, OpenOptions::existing()).unwrap();
    let from = offset / BLOCK_BYTES * BLOCK_BYTES;
    let to = (offset + bytes.len() as u64).next_multiple_of(BLOCK_BYTES);
    let mut buf = AlignedBuf::zeroed(usize::try_from(to - from).unwrap(), 4096);
    file.read_at(&mut buf, from).unwrap();
    let start = usize::try_from(offset - from).unwrap();
    buf[start..start + bytes.len()].copy_from_slice(bytes);
    file.write_at(&buf, from).unwrap();
    file.sync_data().unwrap();
}

fn get_bytes(disk: &SimDisk, path: &Path, offset: u64, length: usize) -> Vec<u8> {
    let content = disk.durable_content(path).unwrap();
    let from = usize::try_from(offset).unwrap();
    content[from..from + length].to_vec()
}

/// The shadow an earlier batch wrote of the same block (a torn write of the next batch kept
/// it where the next batch's shadow should be): it holds fewer bytes of the block, all of them
/// the log's. A flip in the records it holds is restored; a flip after its end cuts the log
/// there, since it holds nothing of the damaged record.
#[test]
fn a_shadow_of_an_earlier_batch_restores_only_what_it_holds() {
    let (disk, _) = log_with_two_batches_in_the_last_block(4);
    let path = segment_path(0);
    let salt = salt_of(&disk);
    // B's batch began in B, [7,168, 7,680): no units, 360 used bytes. A's began in [6,656,
    // 7,168): one unit, 120 used bytes.
    let (_, shadow_offset) = file_offset(Lsn(7680));
    let current = get_bytes(&disk, &path, shadow_offset, 40 + 360);
    let units_and_block = get_bytes(&disk, &path, shadow_offset - 1024, 1024);
    let (unit, block) = units_and_block.split_at(512);
    assert_eq!(current, make_shadow(7168, salt, &[], &block[..360]), "the helper is the format");
    let earlier = make_shadow(7168, salt, unit, &block[..120]);
    put_bytes(&disk, &path, shadow_offset, &earlier);
    let rest_offset = shadow_offset + earlier.len() as u64;
    put_bytes(&disk, &path, rest_offset, &vec![0; current.len() - earlier.len()]);

    let flipped_in_a = disk.fork();
    flipped_in_a.flip_bit(&path, file_offset(Lsn(7200)).1, 1).unwrap(); // A's payload
    let (_, records) = open(&flipped_in_a, Lsn::ZERO).unwrap();
    assert_all_records(&records, 23, "a flip in A, restored from A's shadow");

    let flipped_in_b = disk.fork();
    flipped_in_b.flip_bit(&path, file_offset(Lsn(7400)).1, 1).unwrap(); // B's payload
    let (_, records) = open(&flipped_in_b, Lsn::ZERO).unwrap();
    assert_all_records(&records, 22, "a flip in B, past the end of A's shadow: cut");
}

/// The salt in segment 0's header.
fn salt_of(disk: &SimDisk) -> u64 {
    u64::from_le_bytes(get_bytes(disk, &segment_path(0), 24, 8).try_into().unwrap())
}

/// A shadow built by hand as `docs/FORMAT.md` lays it out: of the block at `block_lsn` whose
/// used bytes are `image`, after the batch's `units`, in a segment with `salt`.
fn make_shadow(block_lsn: u64, salt: u64, units: &[u8], image: &[u8]) -> Vec<u8> {
    let mut shadow = b"SHADOW\0\0".to_vec();
    shadow.extend_from_slice(&(!block_lsn).to_le_bytes());
    shadow.extend_from_slice(&salt.to_le_bytes());
    shadow.extend_from_slice(&u32::try_from(image.len()).unwrap().to_le_bytes());
    shadow.extend_from_slice(&(!u32::try_from(units.len() / 512).unwrap()).to_le_bytes());
    shadow.extend_from_slice(&[0; 4]); // the checksum, below
    shadow.extend_from_slice(&u32::MAX.to_le_bytes());
    for unit in units.chunks(512) {
        shadow.extend_from_slice(&crc32c::crc32c(unit).to_le_bytes());
    }
    shadow.resize(shadow.len().next_multiple_of(8), 0xFF);
    shadow.extend(image.iter().map(|&byte| !byte));
    let mut covered = shadow[..32].to_vec();
    covered.extend_from_slice(&shadow[40..]);
    let crc = crc32c::crc32c(&covered);
    shadow[32..36].copy_from_slice(&crc.to_le_bytes());
    shadow
}

/// A batch torn so that its first block is lost and its last block and shadow survive: the
/// walk stops before the last block, the log is cut there, and the shadow — a copy of records
/// the cut discards — is zeroed with the batch's other leftovers, so it can never repair the
/// records the log writes there next.
#[test]
fn the_shadow_of_a_cut_batch_is_zeroed() {
    let sizes: &[usize] = &[400, 1000];
    let (disk, batch, write) = log_with_a_pending_batch(5, 20, sizes);
    let sector_count = write.sector_count(BLOCK_BYTES);
    let mut mask = vec![true; sector_count];
    mask[0] = false; // the tail block, [6,656, 7,168): the batch's first record starts there
    disk.crash_with(&mut TearAt(mask));
    let path = segment_path(0);
    // The batch: LSN 6,720 to 8,184, written from 6,656; B = [7,680, 8,192), 504 used bytes,
    // two units before it. Its shadow takes 40 + 8 + 504 bytes from 8,192.
    assert_eq!(batch[1].lsn_end, Lsn(8184));
    let (_, shadow_offset) = file_offset(Lsn(8192));
    let shadow_bytes = 40 + 8 + 504;
    assert_ne!(get_bytes(&disk, &path, shadow_offset, 8), [0; 8], "the shadow survived");
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    check_prefix(&records, 20, sizes, "torn in its first block");
    assert_eq!(records.len(), 20, "cut before the batch");
    assert!(get_bytes(&disk, &path, shadow_offset, shadow_bytes).iter().all(|&byte| byte == 0));
}

/// A shadow is taken only where its block's shadow lies, under the segment's salt, and only if
/// it agrees with the bytes the walk read before the damage: a valid shadow moved one block
/// on, one under another salt, and one whose image differs from the block before the damaged
/// record are all ignored, and the flip reads as a torn tail, as it did before shadows.
#[test]
fn a_shadow_elsewhere_or_of_another_history_is_never_applied() {
    let (original, _) = log_with_two_batches_in_the_last_block(6);
    let path = segment_path(0);
    let salt = salt_of(&original);
    let (_, shadow_offset) = file_offset(Lsn(7680));
    let current = get_bytes(&original, &path, shadow_offset, 40 + 360);
    let block = get_bytes(&original, &path, shadow_offset - 512, 512);

    // Two blocks on, at LSN 8,704: 8,704 - 7,168 = 1,536 is no block size. (One block on, at
    // 8,192, it would be the shadow of the 1,024-byte block [7,168, 8,192), which it is too: a
    // shadow names its block, and that one holds the same bytes.)
    let moved = original.fork();
    put_bytes(&moved, &path, shadow_offset, &[0; 512]);
    put_bytes(&moved, &path, shadow_offset + 1024, &current);

    let other_salt = original.fork();
    put_bytes(&other_salt, &path, shadow_offset, &make_shadow(7168, salt ^ 1, &[], &block[..360]));

    // The same block with A's bytes changed (another history of the block): B's record, the
    // one the flip damages, follows them.
    let mut rewritten = block[..360].to_vec();
    rewritten[50] ^= 0xFF;
    let other_history = original.fork();
    put_bytes(&other_history, &path, shadow_offset, &make_shadow(7168, salt, &[], &rewritten));

    for (disk, what) in
        [(moved, "moved"), (other_salt, "another salt"), (other_history, "another history")]
    {
        disk.flip_bit(&path, file_offset(Lsn(7400)).1, 6).unwrap(); // B's payload
        let (_, records) = open(&disk, Lsn::ZERO).unwrap_or_else(|error| panic!("{what}: {error}"));
        assert_all_records(&records, 22, what);
    }
}

/// A last batch of three records of 1,000,000 bytes, longer than recovery's 2 MiB read window:
/// a bit flipped near its start (2.9 MB before its last block) is corrected from the unit
/// checksums, and the repaired bytes are written back a chunk at a time.
#[test]
fn a_batch_longer_than_the_read_window_is_repaired() {
    let disk = SimDisk::with_seed(8);
    let options = wal::WalOptions { segment_bytes: 8 << 20, ..wal::WalOptions::default() };
    let open_large = || {
        let shared = std::sync::Arc::new(disk.clone()) as std::sync::Arc<dyn Disk>;
        let (log, replay) = wal::Wal::open(shared, common::DIRECTORY, options.clone(), Lsn::ZERO)
            .unwrap_or_else(|error| panic!("{error}"));
        (log, replay.collect::<wal::Result<Vec<Record>>>().unwrap())
    };
    let (log, _) = open_large();
    log.append_durable(1, &payload(0, 300)).unwrap();
    let batch: Vec<wal::Appended> =
        (1..4).map(|number| log.append(1, &payload(number, 1_000_000)).unwrap()).collect();
    log.wait_durable(batch[2].lsn_end).unwrap();
    drop(log);
    let path = segment_path(0);
    let before = disk.durable_content(&path).unwrap();
    let flipped = 4096 + batch[0].lsn.0 + 5000;
    disk.flip_bit(&path, flipped, 3).unwrap();
    let (log, records) = open_large();
    assert_eq!(records.len(), 4);
    for (number, record) in (1..).zip(&records[1..]) {
        assert!(record.payload == payload(number, 1_000_000), "record {number}");
    }
    log.check_invariants();
    assert!(disk.durable_content(&path).unwrap() == before, "the batch written back");
}

/// The documented limit: a batch whose last byte is in the last block of its segment has no
/// shadow (it would not fit), and a bit flipped in it still reads as a torn tail.
#[test]
fn a_batch_ending_in_the_last_block_of_a_segment_has_no_shadow() {
    let disk = SimDisk::with_seed(9);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    common::fill_segment_zero_exactly(&log);
    let count = log.stats().records_appended;
    drop(log);
    let (_, last_block) = file_offset(Lsn(common::data_bytes() - 512));
    disk.flip_bit(&segment_path(0), last_block + 100, 2).unwrap();
    let (_, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len() as u64, count - 1, "the last record is cut");
}

/// On a disk with 4 KiB sectors the log's block is 4 KiB: the shadow lies at the end of the
/// 4 KiB block holding the batch's last byte, and still checksums 512-byte units. A last batch
/// of three records (LSN 6,720 to 15,456, written from the block [4,096, 8,192)) with a bit
/// flipped in every 61st byte, one at a time, is repaired each time.
#[test]
fn a_flip_is_repaired_on_a_disk_with_4096_byte_blocks() {
    let options = disk::SimDiskOptions { seed: 10, sector_bytes: 4096, ..Default::default() };
    let original = SimDisk::new(options);
    let (log, _) = open(&original, Lsn::ZERO).unwrap();
    for number in 0..EARLIER_RECORD_COUNT {
        log.append_durable(1, &payload(number, 300)).unwrap();
    }
    let batch: Vec<wal::Appended> =
        (20..23).map(|number| log.append(1, &payload(number, 2880)).unwrap()).collect();
    log.wait_durable(batch[2].lsn_end).unwrap();
    drop(log);
    assert_eq!((batch[0].lsn, batch[2].lsn_end), (Lsn(6720), Lsn(15456)));
    let path = segment_path(0);
    // The shadow of [12,288, 16,384): 40 bytes, 16 unit checksums, 3,168 used bytes.
    let (_, shadow_offset) = file_offset(Lsn(16384));
    let shadow = get_bytes(&original, &path, shadow_offset, 8);
    assert_eq!(shadow, b"SHADOW\0\0", "the shadow starts at the block's end");
    let (_, from) = file_offset(Lsn(4096));
    let (_, to) = file_offset(Lsn(15456));
    for offset in (from..to).step_by(61) {
        let disk = original.fork();
        disk.flip_bit(&path, offset, u8::try_from(offset % 8).unwrap()).unwrap();
        let (_, records) = open(&disk, Lsn::ZERO).unwrap();
        assert_eq!(records.len(), 23, "file offset {offset}");
        for (number, record) in (20..).zip(&records[20..]) {
            assert!(record.payload == payload(number, 2880), "file offset {offset}");
        }
    }
}

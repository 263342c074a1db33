//! Helpers shared by the log's scenario tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use wal::{Lsn, Record, Wal, WalOptions};

pub(crate) const DIRECTORY: &str = "/db/wal";

/// Small segments, so tests cross segment boundaries quickly.
pub(crate) fn small_segments() -> WalOptions {
    WalOptions { segment_bytes: wal::limits::SEGMENT_BYTES_MIN, ..WalOptions::default() }
}

/// Opens the log and reads its whole replay.
pub(crate) fn open(disk: &SimDisk, start: Lsn) -> wal::Result<(Wal, Vec<Record>)> {
    let disk = Arc::new(disk.clone()) as Arc<dyn Disk>;
    let (log, replay) = Wal::open(disk, DIRECTORY, small_segments(), start)?;
    Ok((log, replay.collect::<wal::Result<_>>()?))
}

/// A payload that names its record, so a misplaced or altered one is visible.
pub(crate) fn payload(number: u64, length_bytes: usize) -> Vec<u8> {
    let mut bytes = number.to_le_bytes().to_vec();
    bytes.resize(length_bytes.max(8), (number % 251) as u8);
    bytes
}

pub(crate) fn segment_path(index: u64) -> PathBuf {
    Path::new(DIRECTORY).join(format!("wal-{index:016x}.seg"))
}

/// Reads the 4 KiB block at `offset` of `path`, lets `change` edit it, writes it back durably.
pub(crate) fn edit_block(disk: &SimDisk, path: &Path, offset: u64, change: impl FnOnce(&mut [u8])) {
    let file = disk.open(path, OpenOptions::existing()).unwrap();
    let mut block = AlignedBuf::zeroed(4096, 4096);
    file.read_at(&mut block, offset).unwrap();
    change(&mut block);
    file.write_at(&block, offset).unwrap();
    file.sync_data().unwrap();
}

/// Bytes of records one segment of the test log holds.
pub(crate) fn data_bytes() -> u64 {
    u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096
}

/// Fills segment 0 with durable records so that the last one ends exactly at its end: no
/// segment-end record, and segment 1 not yet initialised (the next append initialises it).
pub(crate) fn fill_segment_zero_exactly(log: &Wal) {
    const HEADER_BYTES: u64 = wal::limits::RECORD_HEADER_BYTES as u64;
    let mut number = 0;
    while data_bytes() - log.lsn_next().0 > 200_000 {
        log.append_durable(1, &payload(number, 100_000)).unwrap();
        number += 1;
    }
    let room = data_bytes() - log.lsn_next().0;
    let first = usize::try_from(room / 2 / 8 * 8 - HEADER_BYTES).unwrap();
    log.append_durable(1, &payload(number, first)).unwrap();
    let room = data_bytes() - log.lsn_next().0;
    log.append_durable(1, &payload(number + 1, usize::try_from(room - HEADER_BYTES).unwrap()))
        .unwrap();
    assert_eq!(log.lsn_next(), Lsn(data_bytes()));
}

/// A segment header block as `docs/FORMAT.md` lays it out, built by hand, for segment `index` of
/// a log of `segment_bytes`, claiming format `version`, with a valid checksum.
pub(crate) fn header_block(index: u64, version: u32, segment_bytes: u32) -> Vec<u8> {
    let mut block = vec![0u8; 4096];
    block[0..8].copy_from_slice(b"DDB-WAL\0");
    block[8..12].copy_from_slice(&version.to_le_bytes());
    block[12..16].copy_from_slice(&segment_bytes.to_le_bytes());
    block[16..24].copy_from_slice(&index.to_le_bytes());
    block[24..32].copy_from_slice(&0x5EED_u64.to_le_bytes());
    let first_lsn = index * (u64::from(segment_bytes) - 4096);
    block[32..40].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&block[..60]);
    block[60..64].copy_from_slice(&crc.to_le_bytes());
    block
}

/// Makes the file at `path` hold exactly `content`, durably, name included (`content` may end
/// mid-sector: the file is cut to its length after an aligned write).
pub(crate) fn put_file(disk: &SimDisk, path: &Path, content: &[u8]) {
    let file = disk.open(path, OpenOptions::create()).unwrap();
    file.truncate(0).unwrap();
    if !content.is_empty() {
        let mut buf = AlignedBuf::zeroed(content.len().next_multiple_of(4096), 4096);
        buf[..content.len()].copy_from_slice(content);
        file.write_at(&buf, 0).unwrap();
        file.truncate(content.len() as u64).unwrap();
    }
    file.sync_data().unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
}

/// The file offset of `lsn` in its segment (the test log's geometry).
pub(crate) fn file_offset(lsn: Lsn) -> (u64, u64) {
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    (lsn.0 / data_bytes, 4096 + lsn.0 % data_bytes)
}

/// Runs `thread_count` committers on `log`, each appending `records_per_thread` durable records
/// of `payload_bytes` tagged with its number and carrying its sequence number.
pub(crate) fn run_committers(
    log: &std::sync::Arc<Wal>,
    thread_count: u8,
    records_per_thread: u32,
    payload_bytes: usize,
) {
    let threads: Vec<_> = (0..thread_count)
        .map(|thread| {
            let log = std::sync::Arc::clone(log);
            std::thread::spawn(move || {
                for sequence in 0..records_per_thread {
                    let mut payload = vec![thread; payload_bytes];
                    payload[..4].copy_from_slice(&sequence.to_le_bytes());
                    log.append_durable(thread, &payload).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Checks that `replayed` holds every committer's records, each committer's in its own order.
pub(crate) fn check_committers(replayed: &[Record], thread_count: u8, records_per_thread: u32) {
    assert_eq!(replayed.len(), usize::from(thread_count) * records_per_thread as usize);
    let mut next_sequence = vec![0u32; usize::from(thread_count)];
    for record in replayed {
        let thread = usize::from(record.tag);
        let sequence = u32::from_le_bytes(record.payload[..4].try_into().unwrap());
        assert_eq!(sequence, next_sequence[thread], "thread {thread}'s records out of order");
        assert!(record.payload[4..].iter().all(|&byte| usize::from(byte) == thread));
        next_sequence[thread] += 1;
    }
}

/// A log whose last batch crossed from segment 0 into segment 1 and was torn in segment 0 only
/// (its part in segment 1 survived). Returns the disk and how many records precede the batch.
pub(crate) fn log_with_a_batch_torn_in_segment_zero(seed: u64) -> (SimDisk, usize) {
    let disk = SimDisk::with_seed(seed);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    let mut count = 0;
    while data_bytes - log.lsn_next().0 > 300_000 {
        log.append_durable(1, &payload(count, 100_000)).unwrap();
        count += 1;
    }
    let before_batch = log.lsn_next();
    let batch: Vec<wal::Appended> =
        (0..4).map(|number| log.append(1, &payload(number, 100_000)).unwrap()).collect();
    log.wait_durable(batch[3].lsn_end).unwrap();
    assert!(batch[3].lsn.0 >= data_bytes, "the batch reaches segment 1");
    drop(log);
    let (_, from) = file_offset(before_batch);
    for block in (from / 4096 * 4096..u64::from(wal::limits::SEGMENT_BYTES_MIN)).step_by(4096) {
        edit_block(&disk, &segment_path(0), block, |bytes| {
            bytes[usize::try_from(from.saturating_sub(block)).unwrap()..].fill(0);
        });
    }
    (disk, usize::try_from(count).unwrap())
}

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

pub(crate) fn open(disk: &SimDisk, start: Lsn) -> wal::Result<(Wal, Vec<Record>)> {
    Wal::open(Arc::new(disk.clone()) as Arc<dyn Disk>, DIRECTORY, small_segments(), start)
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

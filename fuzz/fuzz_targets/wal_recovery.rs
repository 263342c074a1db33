//! Recovery of a damaged log never panics: a real log is written through the public API, then
//! bytes chosen by the fuzzer overwrite parts of its segment files (headers, records, the space
//! after the tail), and the log is reopened. Recovery must return records or an error; when it
//! returns records, each is one of those appended, in order, and the reopened log accepts
//! appends.
//!
//! Run: `cargo +nightly fuzz run wal_recovery` (from `fuzz/`).

#![no_main]

use std::path::Path;
use std::sync::Arc;

use arbitrary::Arbitrary;
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use libfuzzer_sys::fuzz_target;
use wal::{Lsn, Wal, WalOptions};

const DIRECTORY: &str = "/db/wal";

#[derive(Debug, Arbitrary)]
struct Patch {
    segment: u8,
    offset: u32,
    bytes: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    record_sizes: Vec<u16>,
    patches: Vec<Patch>,
}

fn options() -> WalOptions {
    WalOptions { segment_bytes: wal::limits::SEGMENT_BYTES_MIN, ..WalOptions::default() }
}

fuzz_target!(|input: Input| {
    let disk = SimDisk::with_seed(1);
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let (log, _) = Wal::open(Arc::clone(&shared), DIRECTORY, options(), Lsn::ZERO).unwrap();
    let mut appended = Vec::new();
    for (number, &size) in input.record_sizes.iter().take(64).enumerate() {
        let payload = vec![number as u8; usize::from(size) * 8];
        log.append_durable(1, &payload).unwrap();
        appended.push(payload);
    }
    drop(log);
    for patch in input.patches.iter().take(8) {
        apply(&disk, patch);
    }
    let Ok((log, replay)) = Wal::open(shared, DIRECTORY, options(), Lsn::ZERO) else { return };
    // Open judged the log; nothing changes it before the replay, so reading it cannot fail.
    let records: Vec<_> = replay.map(|record| record.expect("the replay of an opened log")).collect();
    assert!(records.len() <= appended.len());
    for (record, payload) in records.iter().zip(&appended) {
        assert_eq!(&record.payload, payload, "a recovered record differs from the one appended");
    }
    log.check_invariants();
    let _ = log.append_durable(2, b"after recovery");
});

/// Overwrites part of one 4 KiB block of a segment file with the patch's bytes.
fn apply(disk: &SimDisk, patch: &Patch) {
    let paths = disk.list_dir(Path::new(DIRECTORY)).unwrap();
    let Some(path) = paths.get(usize::from(patch.segment) % paths.len().max(1)) else { return };
    let Ok(file) = disk.open(path, OpenOptions::existing()) else { return };
    let size_bytes = file.size_bytes().unwrap();
    if size_bytes < 4096 {
        return;
    }
    let block_offset = u64::from(patch.offset) % size_bytes / 4096 * 4096;
    let mut block = AlignedBuf::zeroed(4096, 4096);
    file.read_at(&mut block, block_offset).unwrap();
    let start = usize::try_from(u64::from(patch.offset) % 4096).unwrap();
    for (index, &byte) in patch.bytes.iter().enumerate().take(4096 - start) {
        block[start + index] = byte;
    }
    file.write_at(&block, block_offset).unwrap();
    file.sync_data().unwrap();
}

//! The entry point of the `wal_recovery` cargo-fuzz target in `fuzz/` (feature `fuzzing`), kept
//! here so that a stable test can replay the target's corpus through the same code. Not part of
//! the log's API.
//!
//! [`wal_recovery`]: recovery of a damaged log never panics. A real log is written through the
//! public API, then bytes chosen by the fuzzer overwrite parts of its segment files (headers,
//! records, the space after the tail), and the log is reopened. Recovery must return records or
//! an error; when it returns records, each is one of those appended, in order, and the reopened
//! log accepts appends.

use std::path::Path;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};

use crate::{Lsn, Wal, WalOptions};

const DIRECTORY: &str = "/db/wal";
/// Records appended before the damage, at most.
const RECORD_COUNT_MAX: usize = 64;
/// Patches applied, at most.
const PATCH_COUNT_MAX: usize = 8;

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
    WalOptions { segment_bytes: crate::limits::SEGMENT_BYTES_MIN, ..WalOptions::default() }
}

/// Decodes `data` as the fuzzer does (bytes that do not decode are skipped, as libFuzzer's
/// `fuzz_target!` skips them), writes, damages and recovers a log.
pub fn wal_recovery(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let disk = SimDisk::with_seed(1);
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let (log, _) = Wal::open(Arc::clone(&shared), DIRECTORY, options(), Lsn::ZERO)
        .expect("a new log on a healthy disk");
    let mut appended = Vec::new();
    for (number, &size) in input.record_sizes.iter().take(RECORD_COUNT_MAX).enumerate() {
        let fill = u8::try_from(number).expect("at most 64 records");
        let payload = vec![fill; usize::from(size) * 8];
        log.append_durable(1, &payload).expect("a healthy disk");
        appended.push(payload);
    }
    drop(log);
    for patch in input.patches.iter().take(PATCH_COUNT_MAX) {
        apply(&disk, patch);
    }
    let Ok((log, replay)) = Wal::open(shared, DIRECTORY, options(), Lsn::ZERO) else { return };
    // Open judged the log; nothing changes it before the replay, so reading it cannot fail.
    let records: Vec<_> =
        replay.map(|record| record.expect("the replay of an opened log")).collect();
    assert!(records.len() <= appended.len());
    for (record, payload) in records.iter().zip(&appended) {
        assert_eq!(&record.payload, payload, "a recovered record differs from the one appended");
    }
    log.check_invariants();
    let _ = log.append_durable(2, b"after recovery");
}

/// Overwrites part of one 4 KiB block of a segment file with the patch's bytes.
fn apply(disk: &SimDisk, patch: &Patch) {
    let paths = disk.list_dir(Path::new(DIRECTORY)).expect("the log's directory");
    let Some(path) = paths.get(usize::from(patch.segment) % paths.len().max(1)) else { return };
    let Ok(file) = disk.open(path, OpenOptions::existing()) else { return };
    let size_bytes = file.size_bytes().expect("a healthy disk");
    if size_bytes < 4096 {
        return;
    }
    let block_offset = u64::from(patch.offset) % size_bytes / 4096 * 4096;
    let mut block = AlignedBuf::zeroed(4096, 4096);
    file.read_at(&mut block, block_offset).expect("a healthy disk");
    let start = usize::try_from(u64::from(patch.offset) % 4096).expect("below 4096");
    for (index, &byte) in patch.bytes.iter().enumerate().take(4096 - start) {
        block[start + index] = byte;
    }
    file.write_at(&block, block_offset).expect("a healthy disk");
    file.sync_data().expect("a healthy disk");
}

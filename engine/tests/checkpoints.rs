//! Checkpoints triggered by the log's growth, in the background and in the committing thread:
//! either way the log recovery would replay stays within twice `checkpoint_wal_bytes` whenever
//! a commit has returned, and a reopen after them finds every commit.

mod common;

use common::{open_sim, small_options};
use disk::SimDisk;
use engine::Options;

const LIMIT_BYTES: u64 = 256 << 10;
const VALUE_BYTES: usize = 2000;
const COMMIT_COUNT: u32 = 2000;

fn key(number: u32) -> Vec<u8> {
    format!("key{:05}", number % 500).into_bytes()
}

/// Commits about 16 times the limit of log, checking the bound after each commit; returns the
/// checkpoint count.
fn commit_past_the_limit(disk: &SimDisk, background: bool) -> u64 {
    let options = Options {
        checkpoint_wal_bytes: LIMIT_BYTES,
        background_checkpoints: background,
        ..small_options()
    };
    let db = open_sim(disk, &options).unwrap();
    for number in 0..COMMIT_COUNT {
        db.put(&key(number), &vec![u8::try_from(number % 251).unwrap(); VALUE_BYTES]).unwrap();
        let behind = db.stats().log_bytes_since_checkpoint;
        assert!(behind < 2 * LIMIT_BYTES, "commit {number}: {behind} log bytes since a checkpoint");
    }
    let checkpoints = db.stats().checkpoints;
    drop(db);
    let db = open_sim(disk, &options).unwrap();
    for number in COMMIT_COUNT - 500..COMMIT_COUNT {
        let expected = vec![u8::try_from(number % 251).unwrap(); VALUE_BYTES];
        assert_eq!(db.get(&key(number)).unwrap(), Some(expected), "key of commit {number}");
    }
    db.check().unwrap();
    checkpoints
}

#[test]
fn background_checkpoints_keep_the_log_bounded() {
    let written = u64::from(COMMIT_COUNT) * VALUE_BYTES as u64;
    let checkpoints = commit_past_the_limit(&SimDisk::with_seed(1), true);
    // Each checkpoint lets at most twice the limit go by, so at least this many ran.
    assert!(checkpoints >= written / (2 * LIMIT_BYTES), "{checkpoints} checkpoints");
}

#[test]
fn inline_checkpoints_run_in_the_committing_thread() {
    let written = u64::from(COMMIT_COUNT) * VALUE_BYTES as u64;
    let checkpoints = commit_past_the_limit(&SimDisk::with_seed(2), false);
    assert!(checkpoints >= written / (2 * LIMIT_BYTES), "{checkpoints} checkpoints");
}

//! Point reads descend the tree without holding its latch (optimistically, validated against the
//! latch's version afterwards) while a writer splits and merges nodes, grows and shrinks the
//! root, copies pages on write after checkpoints, and the small pool evicts and reuses frames.
//!
//! The model: stable keys, interleaved with the others, are written once before the readers
//! start and never change, so every read of one must find its value, whatever the writer is
//! doing (a descent that followed a stale child pointer across a split or a merge finds the key
//! missing, or another key's value). Churn keys are written and deleted in rounds; their values
//! name the key and the round, so a read finds either nothing or a value written for that key,
//! and never one older than a value the same thread read before (a read never goes back in
//! time). Snapshots read a churn key twice and must see the same answer both times. The
//! assertions hold under any scheduling; nothing here waits for a time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{open_sim, small_options};
use disk::SimDisk;
use engine::{Db, Options};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const KEY_COUNT: u64 = 2400;
/// One key in this many is stable.
const STABLE_EVERY: u64 = 8;
/// Fewer in debug builds, which run the same interleavings about twenty times slower.
const ROUND_COUNT: u64 = if cfg!(debug_assertions) { 8 } else { 30 };
/// Writes per transaction: each apply changes several leaves under one exclusive hold.
const WRITES_PER_TRANSACTION: usize = 8;
const READER_COUNT: u64 = 2;
/// Reads each reader makes at least (and more while the writer is still at work).
const READS_PER_READER_MIN: u64 = 20_000;

/// Long keys make short nodes: 18-odd entries a leaf and 30-odd a branch, three levels.
fn key(index: u64) -> Vec<u8> {
    let mut key = vec![b'k'; 100];
    key.extend_from_slice(format!("{index:06}").as_bytes());
    key
}

fn is_stable(index: u64) -> bool {
    index % STABLE_EVERY == 0
}

/// The value of `index` written in `round` (round 0: the stable keys' only value).
fn value(index: u64, round: u64) -> Vec<u8> {
    let mut value = format!("{index:06}:{round:04}:").into_bytes();
    value.resize(80, b'v');
    value
}

/// The round a value read for `index` was written in, if it is a value written for `index`.
fn round_of(index: u64, bytes: &[u8]) -> Option<u64> {
    if bytes.len() != 80 || bytes[..7] != *format!("{index:06}:").as_bytes() {
        return None;
    }
    std::str::from_utf8(&bytes[7..11]).ok()?.parse().ok()
}

fn options() -> Options {
    Options { pool_size: 96 * 4096, ..small_options() }
}

/// Runs the rounds; `hot` names the key being written, so that readers aim where nodes split
/// and merge (more chances to catch a broken protocol; the assertions do not depend on it).
fn write_rounds(db: &Db, hot: &AtomicU64) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut churn: Vec<u64> = (0..KEY_COUNT).filter(|index| !is_stable(*index)).collect();
    for round in 1..=ROUND_COUNT {
        churn.shuffle(&mut rng);
        for batch in churn.chunks(WRITES_PER_TRANSACTION) {
            hot.store(batch[0], Ordering::Relaxed);
            let mut transaction = db.begin().unwrap();
            for &index in batch {
                transaction.put(&key(index), &value(index, round)).unwrap();
            }
            transaction.commit().unwrap();
        }
        churn.shuffle(&mut rng);
        // Most keys go again: leaves merge and the root shrinks, then the next round grows it.
        let deleted = churn.len() * 7 / 8;
        for batch in churn[..deleted].chunks(WRITES_PER_TRANSACTION) {
            hot.store(batch[0], Ordering::Relaxed);
            let mut transaction = db.begin().unwrap();
            for &index in batch {
                transaction.delete(&key(index)).unwrap();
            }
            transaction.commit().unwrap();
        }
    }
}

fn check_reads(db: &Db, seed: u64, hot: &AtomicU64, writer_done: &AtomicBool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut newest_round_seen = vec![0u64; usize::try_from(KEY_COUNT).unwrap()];
    let mut read_count = 0u64;
    while read_count < READS_PER_READER_MIN || !writer_done.load(Ordering::Acquire) {
        read_count += 1;
        let index = if rng.random_bool(0.5) {
            // A stable key near the one being written: in the leaf that is splitting or merging.
            let near = hot.load(Ordering::Relaxed) / STABLE_EVERY + rng.random_range(0..3);
            (near.saturating_sub(1) * STABLE_EVERY).min(KEY_COUNT - STABLE_EVERY)
        } else {
            rng.random_range(0..KEY_COUNT)
        };
        if rng.random_range(0..16) == 0 {
            let snapshot = db.snapshot().unwrap();
            let first = snapshot.get(&key(index)).unwrap();
            assert_eq!(snapshot.get(&key(index)).unwrap(), first, "a snapshot changed its mind");
            continue;
        }
        let found = db.get(&key(index)).unwrap();
        if is_stable(index) {
            assert_eq!(found, Some(value(index, 0)), "stable key {index} after {read_count} reads");
            continue;
        }
        let Some(bytes) = found else { continue };
        let round = round_of(index, &bytes)
            .unwrap_or_else(|| panic!("key {index} read another key's value: {bytes:?}"));
        let newest = &mut newest_round_seen[usize::try_from(index).unwrap()];
        assert!(round >= *newest, "key {index} went back from round {newest} to {round}");
        *newest = round;
    }
}

#[test]
fn point_reads_see_every_stable_key_while_nodes_split_and_merge() {
    let disk = SimDisk::with_seed(21);
    let db = Arc::new(open_sim(&disk, &options()).unwrap());
    for batch in (0..KEY_COUNT).filter(|index| is_stable(*index)).collect::<Vec<_>>().chunks(64) {
        let mut transaction = db.begin().unwrap();
        for &index in batch {
            transaction.put(&key(index), &value(index, 0)).unwrap();
        }
        transaction.commit().unwrap();
    }
    let writer_done = Arc::new(AtomicBool::new(false));
    let hot = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READER_COUNT)
        .map(|reader| {
            let db = Arc::clone(&db);
            let (hot, writer_done) = (Arc::clone(&hot), Arc::clone(&writer_done));
            std::thread::spawn(move || check_reads(&db, 100 + reader, &hot, &writer_done))
        })
        .collect();
    write_rounds(&db, &hot);
    writer_done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().unwrap();
    }
    for index in (0..KEY_COUNT).filter(|index| is_stable(*index)) {
        assert_eq!(db.get(&key(index)).unwrap(), Some(value(index, 0)));
    }
    // The file's pages bound the tree at its largest: it must have spanned many nodes.
    let report = db.check().unwrap();
    assert!(report.page_count > 200, "the tree stayed small: {report:?}");
}

//! Random operation sequences — single puts and deletes, multi-key transactions committed or
//! rolled back, snapshots read later, range scans from both ends, checkpoints, reopens —
//! against a `BTreeMap` model, on a simulated disk and on a real directory in every I/O mode.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{open_sim, small_options};
use disk::SimDisk;
use engine::{Db, IoMode, Options};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Transaction(Vec<(u8, Option<Vec<u8>>)>, bool),
    SnapshotThenPut(u8, Vec<u8>),
    Range(u8, u8),
    Checkpoint,
    Reopen,
}

fn key(index: u8) -> Vec<u8> {
    format!("key-{index:03}").into_bytes()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), 3000..9000),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), value()).prop_map(|(k, v)| Op::Put(k % 64, v)),
        2 => any::<u8>().prop_map(|k| Op::Delete(k % 64)),
        3 => (proptest::collection::vec((any::<u8>(), proptest::option::of(value())), 1..6), any::<bool>())
            .prop_map(|(writes, commit)| Op::Transaction(writes.into_iter().map(|(k, v)| (k % 64, v)).collect(), commit)),
        1 => (any::<u8>(), value()).prop_map(|(k, v)| Op::SnapshotThenPut(k % 64, v)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Range(a % 64, b % 64)),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

/// Runs `ops` against `open()` and a model; `open` is called again at every `Reopen`.
fn run(ops: &[Op], mut open: impl FnMut() -> Db) -> Result<(), TestCaseError> {
    let mut db = open();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                db.put(&key(*k), v).unwrap();
                model.insert(key(*k), v.clone());
            }
            Op::Delete(k) => {
                db.delete(&key(*k)).unwrap();
                model.remove(&key(*k));
            }
            Op::Transaction(writes, commit) => {
                let mut transaction = db.begin().unwrap();
                let mut staged = model.clone();
                for (k, v) in writes {
                    match v {
                        Some(v) => {
                            transaction.put(&key(*k), v).unwrap();
                            staged.insert(key(*k), v.clone());
                        }
                        None => {
                            transaction.delete(&key(*k)).unwrap();
                            staged.remove(&key(*k));
                        }
                    }
                    prop_assert_eq!(
                        transaction.get(&key(*k)).unwrap(),
                        staged.get(&key(*k)).cloned()
                    );
                }
                if *commit {
                    transaction.commit().unwrap();
                    model = staged;
                }
            }
            Op::SnapshotThenPut(k, v) => {
                let snapshot = db.snapshot().unwrap();
                let before = model.clone();
                db.put(&key(*k), v).unwrap();
                model.insert(key(*k), v.clone());
                prop_assert_eq!(snapshot.get(&key(*k)).unwrap(), before.get(&key(*k)).cloned());
                let all: Vec<_> = snapshot.range(..).unwrap().map(Result::unwrap).collect();
                let expected: Vec<_> = before.into_iter().collect();
                prop_assert_eq!(all, expected, "the snapshot sees exactly the commits before it");
            }
            Op::Range(a, b) => {
                let (low, high) = (key(*a.min(b)), key(*a.max(b)));
                let snapshot = db.snapshot().unwrap();
                let forward: Vec<_> =
                    snapshot.range(&low[..]..&high[..]).unwrap().map(Result::unwrap).collect();
                let expected: Vec<_> = model
                    .range(low.clone()..high.clone())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(&forward, &expected);
                let mut backward: Vec<_> = snapshot
                    .range(&low[..]..=&high[..])
                    .unwrap()
                    .rev()
                    .map(Result::unwrap)
                    .collect();
                backward.reverse();
                let expected: Vec<_> =
                    model.range(low..=high).map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(backward, expected);
            }
            Op::Checkpoint => db.checkpoint().unwrap(),
            Op::Reopen => {
                drop(db);
                db = open();
            }
        }
    }
    let all: Vec<_> = db.snapshot().unwrap().range(..).unwrap().map(Result::unwrap).collect();
    prop_assert_eq!(all, model.clone().into_iter().collect::<Vec<_>>());
    let report = db.check().unwrap();
    prop_assert_eq!(report.key_count, model.len() as u64);
    drop(db);
    let db = open();
    let all: Vec<_> = db.snapshot().unwrap().range(..).unwrap().map(Result::unwrap).collect();
    prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>(), "after a clean reopen");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_btree_map_on_a_simulated_disk(ops in proptest::collection::vec(op(), 1..120)) {
        let disk = SimDisk::with_seed(1);
        run(&ops, || open_sim(&disk, &small_options()).unwrap())?;
    }

    #[test]
    fn matches_a_btree_map_on_every_io_mode(
        ops in proptest::collection::vec(op(), 1..60),
        mode in prop_oneof![Just(IoMode::Direct), Just(IoMode::Buffered), Just(IoMode::Mmap)],
    ) {
        let directory = tempfile::tempdir().unwrap();
        let options = Options { io: mode, ..small_options() };
        run(&ops, || Db::open(directory.path(), options.clone()).unwrap())?;
    }
}

#[test]
fn a_database_is_send_and_sync() {
    fn shared<T: Send + Sync>(_: &T) {}
    let disk = SimDisk::with_seed(2);
    let db = Arc::new(open_sim(&disk, &small_options()).unwrap());
    shared(&db);
}

/// A range iterator reads the tree a leaf at a time: taking the first few entries of a range
/// over the whole database touches a few pages, not every leaf; the back end still works.
#[test]
fn ranges_read_lazily_from_the_front() {
    let disk = SimDisk::with_seed(3);
    let db = open_sim(&disk, &small_options()).unwrap();
    let mut transaction = db.begin().unwrap();
    for index in 0..20_000u32 {
        transaction.put(&key_of(index), &[1; 20]).unwrap();
    }
    transaction.commit().unwrap();
    let snapshot = db.snapshot().unwrap();
    let before = db.stats().pool;
    let first: Vec<_> = snapshot.range(..).unwrap().take(5).map(Result::unwrap).collect();
    let after = db.stats().pool;
    assert_eq!(first.first().map(|(key, _)| key.clone()), Some(key_of(0)));
    let fixes = (after.hits + after.misses) - (before.hits + before.misses);
    assert!(fixes < 40, "five entries took {fixes} page fixes: the range was not lazy");
    let last = snapshot.range(..).unwrap().next_back().unwrap().unwrap();
    assert_eq!(last.0, key_of(19_999));
    let mut transaction = db.begin().unwrap();
    transaction.delete(&key_of(1)).unwrap();
    let mine: Vec<_> =
        transaction.range(..).unwrap().take(2).map(|entry| entry.unwrap().0).collect();
    assert_eq!(mine, vec![key_of(0), key_of(2)], "a transaction's range sees its own delete");
}

fn key_of(index: u32) -> Vec<u8> {
    format!("lazy{index:06}").into_bytes()
}

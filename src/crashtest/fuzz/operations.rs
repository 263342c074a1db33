//! Target `engine_ops_with_crash`: an arbitrary sequence of operations on a database over a
//! [`SimDisk`], checked against a `BTreeMap` model, with the disk dying and the machine
//! crashing where the input says.
//!
//! What is checked:
//!
//! 1. while no commit is in doubt, every read (`get`, a transaction's own reads and ranges, a
//!    snapshot after later commits, a range from either end) returns what the model holds;
//! 2. on a healthy disk (no death injected since the last crash) every operation succeeds;
//! 3. after each crash (and after a clean close), recovery succeeds, `check()` passes, and the
//!    recovered contents are what the oracle allows: every acknowledged commit (commits are
//!    acknowledged only with `Durability::Immediate`, the harness's options) and no partial
//!    or out-of-order one. The recovered contents become the next round's model.
//!
//! The commits, their acknowledgements and the judgement of a recovered state are the crash
//! harness's own ([`Oracle`], [`recover_sim_with_state`]), so the fuzzer and `directdb
//! crashtest` hold the engine to one definition of "nothing acknowledged was lost".

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use disk::SimDisk;
use disk::sim::{Fault, Trigger};
use engine::{Db, Options};

use crate::crashtest::oracle::{Oracle, State, Verdict, Writes, apply};
use crate::crashtest::report::Judged;
use crate::crashtest::verify::{open_sim, recover_sim_with_state};
use crate::crashtest::workload;

/// Distinct keys: few, so that operations overwrite, delete and read each other's work.
const KEY_COUNT: u8 = 24;
/// Operations of one input, at most (each commit costs a log flush on the simulated disk).
const OPERATION_COUNT_MAX: usize = 96;
/// Writes of one transaction, at most.
const TRANSACTION_WRITES_MAX: usize = 8;
/// Bytes of a large value: past a 4 KiB page's inline limit, so it lives in overflow pages.
const LARGE_VALUE_BYTES: usize = 5000;
/// Frames of the small pool (the pool's minimum is 8): pages are evicted between checkpoints.
const SMALL_POOL_FRAMES: usize = 12;

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u8,
    /// A disk without a volatile write cache (every fourth seed of `crashtest --mode sim`).
    write_through: bool,
    /// A pool of a dozen frames, so that dirty pages are written back and evicted early.
    small_pool: bool,
    operations: Vec<Operation>,
}

/// A value: its length (`u8::MAX`: a large value in overflow pages) and its fill byte.
#[derive(Clone, Copy, Debug, Arbitrary)]
struct Value {
    length: u8,
    fill: u8,
}

impl Value {
    fn bytes(self) -> Vec<u8> {
        let length =
            if self.length == u8::MAX { LARGE_VALUE_BYTES } else { usize::from(self.length) };
        vec![self.fill; length]
    }
}

#[derive(Debug, Arbitrary)]
enum Operation {
    /// `Db::put`.
    Put { key: u8, value: Value },
    /// `Db::delete`.
    Delete { key: u8 },
    /// A transaction with several writes, then reads of its own keys and a range over it;
    /// committed or rolled back (dropped).
    Transaction { writes: Vec<(u8, Option<Value>)>, reads: Vec<u8>, commit: bool },
    /// `Db::get`.
    Get { key: u8 },
    /// A range of a snapshot, read from the front or from the back.
    Range { start: u8, end: u8, from_back: bool },
    /// A snapshot taken, a write committed, the snapshot read again: it sees its own time.
    SnapshotRead { key: u8, value: Value },
    /// `Db::checkpoint`.
    Checkpoint,
    /// The disk dies `after` operations from now: every disk operation from then on fails
    /// (the write in flight lands in part) until the next crash.
    DiskDies { after: u8 },
    /// The power goes with the database open; recovery is judged.
    Crash,
    /// A clean close and a reopen; recovery is judged.
    Reopen,
}

/// The database under test and what it must hold.
struct Run {
    disk: SimDisk,
    options: Options,
    db: Option<Db>,
    oracle: Oracle,
    /// The state after every commit issued since the last recovery, acknowledged or not.
    model: State,
    /// A commit failed since the last recovery: the database may or may not hold it.
    in_doubt: bool,
    /// A disk death is injected: errors are expected.
    dying: bool,
}

/// Decodes `data` as the fuzzer does (bytes that do not decode are skipped, as libFuzzer's
/// `fuzz_target!` skips them) and runs its operations, ending with a crash.
pub fn engine_ops_with_crash(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let seed = u64::from(input.seed);
    let disk =
        if input.write_through { SimDisk::write_through(seed) } else { SimDisk::with_seed(seed) };
    let options = if input.small_pool {
        Options { pool_size: SMALL_POOL_FRAMES * 4096, ..workload::options() }
    } else {
        workload::options()
    };
    let db = open_sim(&disk, &options).expect("a new database on a healthy disk");
    let mut run = Run {
        disk,
        options,
        db: Some(db),
        oracle: Oracle::default(),
        model: State::new(),
        in_doubt: false,
        dying: false,
    };
    for operation in input.operations.into_iter().take(OPERATION_COUNT_MAX) {
        run.step(operation);
    }
    run.recover(true);
}

fn key(index: u8) -> Vec<u8> {
    format!("k{:02}", index % KEY_COUNT).into_bytes()
}

impl Run {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("open between operations")
    }

    fn step(&mut self, operation: Operation) {
        match operation {
            Operation::Put { key: index, value } => {
                self.commit(vec![(key(index), Some(value.bytes()))]);
            }
            Operation::Delete { key: index } => self.commit(vec![(key(index), None)]),
            Operation::Transaction { writes, reads, commit } => {
                self.transaction(&writes, &reads, commit);
            }
            Operation::Get { key: index } => {
                let key = key(index);
                let read = self.db().get(&key);
                self.check_read(&format!("get {}", show(&key)), read, self.model.get(&key));
            }
            Operation::Range { start, end, from_back } => self.range(start, end, from_back),
            Operation::SnapshotRead { key: index, value } => self.snapshot_read(index, value),
            Operation::Checkpoint => {
                let result = self.db().checkpoint();
                self.expect_ok("checkpoint", result);
            }
            Operation::DiskDies { after } => {
                let death = self.disk.operation_counts().total() + u64::from(after);
                self.disk.inject(Fault::io_error_on_any(Trigger::From { index: death }));
                self.dying = true;
            }
            Operation::Crash => self.recover(true),
            Operation::Reopen => self.recover(false),
        }
    }

    /// A transaction of `writes` alone (`Db::put`/`Db::delete` are such transactions).
    fn commit(&mut self, writes: Writes) {
        let result = if let [(key, value)] = writes.as_slice() {
            match value {
                Some(value) => self.db().put(key, value),
                None => self.db().delete(key),
            }
        } else {
            workload::commit(self.db(), &writes)
        };
        self.record_commit(writes, result);
    }

    fn record_commit(&mut self, writes: Writes, result: engine::Result<()>) {
        let acknowledged = result.is_ok();
        apply(&mut self.model, &writes);
        self.oracle.push(writes, acknowledged);
        self.in_doubt |= !acknowledged;
        self.expect_ok("commit", result);
    }

    /// Writes, reads its own writes and ranges over them, then commits or rolls back.
    fn transaction(&mut self, writes: &[(u8, Option<Value>)], reads: &[u8], commit: bool) {
        let mut overlay = self.model.clone();
        let mut applied = BTreeMap::new();
        let Some(mut transaction) = self.expect_ok("begin", self.db().begin()) else { return };
        for (index, value) in writes.iter().take(TRANSACTION_WRITES_MAX) {
            let (key, value) = (key(*index), value.map(Value::bytes));
            let result = match &value {
                Some(value) => transaction.put(&key, value),
                None => transaction.delete(&key),
            };
            result.expect("a valid key and value are accepted");
            apply(&mut overlay, &vec![(key.clone(), value.clone())]);
            applied.insert(key, value);
        }
        for &index in reads {
            let key = key(index);
            let read = transaction.get(&key);
            self.check_read(&format!("its own get {}", show(&key)), read, overlay.get(&key));
        }
        let entries =
            transaction.range(..).and_then(|range| range.collect::<engine::Result<State>>());
        self.check_entries("its own range", entries, &overlay);
        if commit {
            let result = transaction.commit();
            self.record_commit(applied.into_iter().collect(), result);
        }
    }

    fn range(&mut self, start: u8, end: u8, from_back: bool) {
        // Ordered as keys, after `key` takes its index modulo the key count.
        let (start, end) = (key(start).min(key(end)), key(start).max(key(end)));
        let expected: State = self
            .model
            .range(start.clone()..end.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let entries = self.db().snapshot().and_then(|snapshot| {
            let range = snapshot.range(&start[..]..&end[..])?;
            if from_back {
                range.rev().collect::<engine::Result<State>>()
            } else {
                range.collect::<engine::Result<State>>()
            }
        });
        let what = format!("range {}..{} (from the back: {from_back})", show(&start), show(&end));
        self.check_entries(&what, entries, &expected);
    }

    fn snapshot_read(&mut self, index: u8, value: Value) {
        let key = key(index);
        let before = self.model.get(&key).cloned();
        let Some(snapshot) = self.expect_ok("snapshot", self.db().snapshot()) else { return };
        let writes = vec![(key.clone(), Some(value.bytes()))];
        let result = workload::commit(self.db(), &writes);
        let read = snapshot.get(&key);
        drop(snapshot);
        self.record_commit(writes, result);
        self.check_read(&format!("snapshot get {}", show(&key)), read, before.as_ref());
    }

    /// The power goes (`crash`) or the database closes cleanly; then recovery is judged by the
    /// oracle, and what it recovered becomes the model.
    fn recover(&mut self, crash: bool) {
        if crash {
            self.disk.crash();
        }
        drop(self.db.take());
        if !crash && self.dying {
            // A close on a dead disk is not clean: what its failed writes left is the crash's
            // to decide, as after any death.
            self.disk.crash();
        }
        self.disk.clear_faults();
        self.dying = false;
        let (judged, state) =
            recover_sim_with_state(&self.disk, &self.options, &self.oracle, false);
        let how = if crash { "a crash" } else { "a clean close" };
        match (judged, state) {
            (Judged::Verdict(Verdict::Matched { .. }), Some(state)) => {
                self.oracle = Oracle::new(state.clone());
                self.model = state;
                self.in_doubt = false;
            }
            (judged, _) => panic!("recovery after {how}: {judged:?}"),
        }
        let db = open_sim(&self.disk, &self.options);
        self.db = Some(db.unwrap_or_else(|error| panic!("reopen after {how}: {error}")));
    }

    /// `result`, or `None` if it failed while the disk was dying (a failure on a healthy disk
    /// is a bug).
    fn expect_ok<T>(&self, what: &str, result: engine::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) if self.dying => {
                assert!(!error.to_string().is_empty(), "an error without a message");
                None
            }
            Err(error) => panic!("{what} failed on a healthy disk: {error}"),
        }
    }

    fn check_read(
        &self,
        what: &str,
        read: engine::Result<Option<Vec<u8>>>,
        expected: Option<&Vec<u8>>,
    ) {
        if let Some(value) = self.expect_ok(what, read)
            && !self.in_doubt
        {
            assert!(
                value.as_ref() == expected,
                "{what} read {:?}, the model holds {:?}",
                value.as_deref().map(show),
                expected.map(|value| show(value)),
            );
        }
    }

    fn check_entries(&self, what: &str, entries: engine::Result<State>, expected: &State) {
        if let Some(entries) = self.expect_ok(what, entries)
            && !self.in_doubt
        {
            assert!(
                entries == *expected,
                "{what} read {} entries, the model holds {}: {}",
                entries.len(),
                expected.len(),
                first_difference(&entries, expected)
            );
        }
    }
}

/// A value or key for a message: its length and first bytes.
fn show(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(8)];
    format!("{}({} bytes)", String::from_utf8_lossy(shown), bytes.len())
}

fn first_difference(found: &State, expected: &State) -> String {
    let keys = found.keys().chain(expected.keys());
    let differs = keys.into_iter().find(|key| found.get(*key) != expected.get(*key));
    differs.map_or_else(String::new, |key| {
        format!(
            "at {}: {:?} instead of {:?}",
            show(key),
            found.get(key).map(|value| show(value)),
            expected.get(key).map(|value| show(value))
        )
    })
}

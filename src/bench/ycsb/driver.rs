//! The load and run phases: threads issuing YCSB operations against one open [`Store`], each
//! timing its own operations into histograms per operation kind.
//!
//! Keys are YCSB's hashed key names: `user` and the FNV hash of the key number, zero-padded to
//! [`KEY_DIGITS`] digits (YCSB does not pad; padding makes every key the same length). Inserts
//! therefore land all over the tree, in the load as in the run, as YCSB's default
//! `insertorder=hashed` has them.
//!
//! **Load** inserts key numbers `0..record_count`, [`LoadSettings::batch_records`] per
//! transaction (one durable commit each), the threads taking batches from one counter.
//!
//! **Run** draws each operation from the workload's mix and its key number from the chooser,
//! below the inserts acknowledged so far ([`InsertSequence`]). A scan of n records reads the n
//! records from its chosen key on, in one consistent view ([`Store::scan`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::bench::kv::Store;
use crate::bench::measure;
use crate::bench::workers::{self, Budget, Run, Stop};

use super::distribution::{KeyChooser, fnv_hash64};
use super::workload::{Mix, OperationKind, scan_length};

/// Prefix of every key, as YCSB's.
pub(crate) const KEY_PREFIX: &str = "user";
/// Digits of the hashed key number: the hash is at most 2^63 = 9223372036854775808.
pub(crate) const KEY_DIGITS: usize = 19;

/// The key of `key_number`.
pub(crate) fn key_of(key_number: u64) -> String {
    format!("{KEY_PREFIX}{:0width$}", fnv_hash64(key_number), width = KEY_DIGITS)
}

/// Key numbers handed to inserts, and the count acknowledged (every key number below it has
/// committed), which is what reads may choose from: YCSB's `AcknowledgedCounterGenerator`.
#[derive(Debug)]
pub(crate) struct InsertSequence {
    next: AtomicU64,
    acknowledged: AtomicU64,
    /// Key numbers committed above a gap (an earlier insert still in flight).
    committed_above: Mutex<BTreeSet<u64>>,
}

impl InsertSequence {
    /// A sequence whose key numbers below `count` are all present.
    pub(crate) fn starting_at(count: u64) -> InsertSequence {
        InsertSequence {
            next: AtomicU64::new(count),
            acknowledged: AtomicU64::new(count),
            committed_above: Mutex::new(BTreeSet::new()),
        }
    }

    /// The key number of a new insert.
    pub(crate) fn allocate(&self) -> u64 {
        self.next.fetch_add(1, Relaxed)
    }

    /// Marks `key_number` committed, moving the acknowledged count over every key number now
    /// committed without a gap.
    pub(crate) fn acknowledge(&self, key_number: u64) {
        let mut committed = self.committed_above.lock().unwrap_or_else(PoisonError::into_inner);
        committed.insert(key_number);
        let mut count = self.acknowledged.load(Relaxed);
        while committed.remove(&count) {
            count += 1;
        }
        self.acknowledged.store(count, Relaxed);
    }

    /// Every key number below this has committed.
    pub(crate) fn limit(&self) -> u64 {
        self.acknowledged.load(Relaxed)
    }
}

/// One thread's latencies per operation kind, and its counters; merged across threads.
#[derive(Debug)]
pub(crate) struct Tally {
    latencies: Vec<Histogram<u64>>,
    /// Reads (and read-modify-writes) of a key number below the acknowledged count that found
    /// no record: a lost record, which a correct engine never shows.
    pub(crate) not_found: u64,
    /// Read-modify-writes retried after `Error::Conflict`.
    pub(crate) conflict_retries: u64,
    /// Records returned by scans.
    pub(crate) records_scanned: u64,
}

impl workers::Tally for Tally {
    fn empty() -> Tally {
        Tally::new()
    }

    fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.latencies.iter_mut().zip(&other.latencies) {
            mine.add(theirs).expect("histograms of the same bounds");
        }
        self.not_found += other.not_found;
        self.conflict_retries += other.conflict_retries;
        self.records_scanned += other.records_scanned;
    }
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            latencies: OperationKind::ALL.iter().map(|_| measure::new_histogram()).collect(),
            not_found: 0,
            conflict_retries: 0,
            records_scanned: 0,
        }
    }

    fn record(&mut self, kind: OperationKind, latency: Duration) {
        measure::record_latency(&mut self.latencies[kind.index()], latency);
    }

    /// The latencies of one operation kind.
    pub(crate) fn latencies(&self, kind: OperationKind) -> &Histogram<u64> {
        &self.latencies[kind.index()]
    }

    /// The latencies of every operation.
    pub(crate) fn all_latencies(&self) -> Histogram<u64> {
        let mut all = measure::new_histogram();
        for histogram in &self.latencies {
            all.add(histogram).expect("histograms of the same bounds");
        }
        all
    }
}

/// What a phase measured: the merged tally, the time from the first thread's start to the
/// last one's end, and the operations done (records, in the load).
pub(crate) type PhaseRun = Run<Tally>;

/// A value of `value_bytes` random bytes, the same length for every record, so a read that
/// returns another length is a damaged record.
fn random_value(rng: &mut SmallRng, value_bytes: usize) -> Vec<u8> {
    let mut value = vec![0; value_bytes];
    rng.fill(&mut value[..]);
    value
}

/// Makes the next write's value differ from the last one (its first 8 bytes).
fn vary(value: &mut [u8], rng: &mut SmallRng) {
    let stamp = rng.random::<u64>().to_le_bytes();
    let length = value.len().min(stamp.len());
    value[..length].copy_from_slice(&stamp[..length]);
}

/// How the load runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadSettings {
    pub(crate) record_count: u64,
    pub(crate) value_bytes: usize,
    pub(crate) thread_count: usize,
    /// Records inserted per transaction.
    pub(crate) batch_records: u64,
    pub(crate) seed: u64,
}

/// Inserts key numbers `0..record_count`; `tick` sees the elapsed time and records inserted.
pub(crate) fn load(
    store: &dyn Store,
    settings: LoadSettings,
    tick: impl Fn(Duration, u64),
) -> Result<PhaseRun, String> {
    assert!(settings.batch_records > 0);
    let next = AtomicU64::new(0);
    let budget = Budget::new(Stop::Operations(settings.record_count));
    let setup = |thread_index: usize| {
        let mut rng = SmallRng::seed_from_u64(settings.seed ^ thread_index as u64);
        let value = random_value(&mut rng, settings.value_bytes);
        (rng, value)
    };
    let work = |(rng, value): &mut (SmallRng, Vec<u8>),
                tally: &mut Tally,
                budget: &Budget|
     -> Result<(), String> {
        loop {
            let first = next.fetch_add(settings.batch_records, Relaxed);
            if first >= settings.record_count {
                return Ok(());
            }
            let end = (first + settings.batch_records).min(settings.record_count);
            let started = Instant::now();
            tally.conflict_retries += u64::from(
                store
                    .transaction(&mut |transaction| {
                        for key_number in first..end {
                            vary(value, rng);
                            transaction.put(key_of(key_number).as_bytes(), value)?;
                        }
                        Ok(())
                    })
                    .map_err(|error| format!("load of key numbers {first}..{end}: {error}"))?,
            );
            tally.record(OperationKind::Insert, started.elapsed());
            budget.add_done(end - first);
        }
    };
    workers::run(settings.thread_count, &budget, setup, work, tick)
}

/// How a run phase runs.
#[derive(Clone, Debug)]
pub(crate) struct RunSettings {
    pub(crate) mix: Mix,
    /// A prepared chooser each thread clones.
    pub(crate) chooser: KeyChooser,
    pub(crate) value_bytes: usize,
    pub(crate) thread_count: usize,
    pub(crate) stop: Stop,
    pub(crate) seed: u64,
}

/// One thread's state in a run.
struct Worker<'a> {
    store: &'a dyn Store,
    sequence: &'a InsertSequence,
    rng: SmallRng,
    chooser: KeyChooser,
    value: Vec<u8>,
    mix: Mix,
}

/// Runs a workload on `db`, whose key numbers below `sequence.limit()` are present; `tick`
/// sees the elapsed time and operations done.
pub(crate) fn run(
    store: &dyn Store,
    sequence: &InsertSequence,
    settings: &RunSettings,
    tick: impl Fn(Duration, u64),
) -> Result<PhaseRun, String> {
    let budget = Budget::new(settings.stop);
    let setup = |thread_index: usize| {
        let mut rng = SmallRng::seed_from_u64(settings.seed ^ ((thread_index as u64 + 1) << 32));
        let value = random_value(&mut rng, settings.value_bytes);
        Worker { store, sequence, rng, chooser: settings.chooser.clone(), value, mix: settings.mix }
    };
    let work =
        |worker: &mut Worker<'_>, tally: &mut Tally, budget: &Budget| -> Result<(), String> {
            let deadline = budget.deadline();
            while budget.claim(deadline) {
                let kind = worker.mix.choose(&mut worker.rng);
                let started = Instant::now();
                worker.perform(kind, tally)?;
                tally.record(kind, started.elapsed());
                budget.add_done(1);
            }
            Ok(())
        };
    workers::run(settings.thread_count, &budget, setup, work, tick)
}

impl Worker<'_> {
    fn perform(&mut self, kind: OperationKind, tally: &mut Tally) -> Result<(), String> {
        match kind {
            OperationKind::Read => self.read(tally),
            OperationKind::Update => self.update(),
            OperationKind::Insert => self.insert(),
            OperationKind::Scan => self.scan(tally),
            OperationKind::ReadModifyWrite => self.read_modify_write(tally),
        }
    }

    fn choose_key(&mut self) -> (u64, String) {
        let key_number = self.chooser.next(&mut self.rng, self.sequence.limit());
        (key_number, key_of(key_number))
    }

    /// Checks a value read back: present, and of the length every record has.
    fn check_value(
        &self,
        key: &str,
        value: Option<&[u8]>,
        tally: &mut Tally,
    ) -> Result<(), String> {
        match value {
            None => tally.not_found += 1,
            Some(bytes) if bytes.len() != self.value.len() => {
                return Err(format!(
                    "read of {key} returned {} bytes; every record has {}",
                    bytes.len(),
                    self.value.len()
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn read(&mut self, tally: &mut Tally) -> Result<(), String> {
        let (_, key) = self.choose_key();
        let value =
            self.store.get(key.as_bytes()).map_err(|error| format!("read of {key}: {error}"))?;
        self.check_value(&key, value.as_deref(), tally)
    }

    fn update(&mut self) -> Result<(), String> {
        let (_, key) = self.choose_key();
        vary(&mut self.value, &mut self.rng);
        self.store
            .put(key.as_bytes(), &self.value)
            .map_err(|error| format!("update of {key}: {error}"))
    }

    fn insert(&mut self) -> Result<(), String> {
        let key_number = self.sequence.allocate();
        let key = key_of(key_number);
        vary(&mut self.value, &mut self.rng);
        self.store
            .put(key.as_bytes(), &self.value)
            .map_err(|error| format!("insert of {key}: {error}"))?;
        self.sequence.acknowledge(key_number);
        Ok(())
    }

    /// Reads `length` records in key order from a chosen key (fewer at the end of the table).
    fn scan(&mut self, tally: &mut Tally) -> Result<(), String> {
        let (_, start_key) = self.choose_key();
        let length = usize::try_from(scan_length(&mut self.rng)).unwrap_or(usize::MAX);
        let expected_bytes = self.value.len();
        let mut damaged = None;
        let found = self
            .store
            .scan(start_key.as_bytes(), length, &mut |key, value| {
                if value.len() != expected_bytes && damaged.is_none() {
                    damaged = Some((String::from_utf8_lossy(key).into_owned(), value.len()));
                }
                Ok(())
            })
            .map_err(|error| format!("scan from {start_key}: {error}"))?;
        if let Some((key, length)) = damaged {
            return Err(format!(
                "scan from {start_key} returned {length} bytes for {key}; every record has \
                 {expected_bytes}"
            ));
        }
        tally.records_scanned += found as u64;
        Ok(())
    }

    fn read_modify_write(&mut self, tally: &mut Tally) -> Result<(), String> {
        let (_, key) = self.choose_key();
        let mut value = std::mem::take(&mut self.value);
        let mut found = None;
        let rng = &mut self.rng;
        let outcome = self.store.transaction(&mut |transaction| {
            found = Some(transaction.get(key.as_bytes())?);
            vary(&mut value, rng);
            transaction.put(key.as_bytes(), &value)
        });
        self.value = value;
        tally.conflict_retries +=
            u64::from(outcome.map_err(|error| format!("read-modify-write of {key}: {error}"))?);
        self.check_value(&key, found.flatten().as_deref(), tally)
    }
}

#[cfg(test)]
mod tests {
    use engine::{Db, Options};

    use super::super::distribution::DistributionKind;
    use super::super::workload::Workload;
    use super::*;

    #[test]
    fn keys_sort_as_their_hashes() {
        assert_eq!(key_of(0), format!("user{:019}", 0x5738_07cd_d7e5_c63bu64));
        assert_eq!(key_of(0).len(), KEY_PREFIX.len() + KEY_DIGITS);
        let mut by_key: Vec<u64> = (0..1000).collect();
        by_key.sort_by_key(|&number| key_of(number));
        let mut by_hash: Vec<u64> = (0..1000).collect();
        by_hash.sort_by_key(|&number| fnv_hash64(number));
        assert_eq!(by_key, by_hash);
    }

    #[test]
    fn the_acknowledged_count_waits_for_the_gap() {
        let sequence = InsertSequence::starting_at(10);
        let (first, second, third) =
            (sequence.allocate(), sequence.allocate(), sequence.allocate());
        assert_eq!((first, second, third), (10, 11, 12));
        sequence.acknowledge(second);
        sequence.acknowledge(third);
        assert_eq!(sequence.limit(), 10, "11 and 12 wait for 10");
        sequence.acknowledge(first);
        assert_eq!(sequence.limit(), 13);
    }

    fn small_db(directory: &std::path::Path) -> Db {
        let options = Options { pool_size: 1 << 20, ..Options::default() };
        Db::open(directory, Options { durability: engine::Durability::None, ..options }).unwrap()
    }

    /// A load, then every workload for a counted run on two threads: every operation is
    /// counted once under its kind, no record is lost, scans return records, and inserts move
    /// the acknowledged count.
    #[test]
    fn every_workload_runs_its_mix_against_a_loaded_database() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let load_settings = LoadSettings {
            record_count: 300,
            value_bytes: 100,
            thread_count: 2,
            batch_records: 7,
            seed: 1,
        };
        let loaded = load(&db, load_settings, |_, _| {}).unwrap();
        assert_eq!(loaded.operation_count, 300);
        assert_eq!(loaded.tally.latencies(OperationKind::Insert).len(), 300u64.div_ceil(7));
        assert_eq!(db.get(key_of(299).as_bytes()).unwrap().map(|value| value.len()), Some(100));
        let sequence = InsertSequence::starting_at(300);
        for workload in Workload::ALL {
            let settings = RunSettings {
                mix: workload.mix(),
                chooser: KeyChooser::new(workload.standard_distribution(), sequence.limit(), 20),
                value_bytes: 100,
                thread_count: 2,
                stop: Stop::Operations(400),
                seed: 2,
            };
            let limit_before = sequence.limit();
            let run = run(&db, &sequence, &settings, |_, _| {}).unwrap();
            assert_eq!(run.operation_count, 400, "{workload:?}");
            assert_eq!(run.tally.all_latencies().len(), 400, "{workload:?}");
            assert_eq!(run.tally.not_found, 0, "{workload:?}");
            for kind in OperationKind::ALL {
                let drawn = run.tally.latencies(kind).len();
                assert_eq!(
                    drawn > 0,
                    workload.mix().proportion(kind) > 0.0,
                    "{workload:?} {kind:?}"
                );
            }
            let inserts = run.tally.latencies(OperationKind::Insert).len();
            assert_eq!(sequence.limit(), limit_before + inserts, "{workload:?}");
            if workload == Workload::E {
                let scans = run.tally.latencies(OperationKind::Scan).len();
                // Scans are 1 to 100 records long, from keys all over a table of 300+.
                assert!(run.tally.records_scanned > scans * 10, "{}", run.tally.records_scanned);
            }
        }
        db.check().unwrap();
    }

    /// A scan returns exactly the records that follow its start key, however few records the
    /// span of its first range held.
    #[test]
    fn a_scan_returns_the_records_after_its_start_key() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let settings = LoadSettings {
            record_count: 200,
            value_bytes: 16,
            thread_count: 1,
            batch_records: 50,
            seed: 3,
        };
        load(&db, settings, |_, _| {}).unwrap();
        let sequence = InsertSequence::starting_at(200);
        let mut worker = Worker {
            store: &db,
            sequence: &sequence,
            rng: SmallRng::seed_from_u64(4),
            chooser: KeyChooser::new(DistributionKind::Uniform, 200, 0),
            value: vec![0; 16],
            mix: Workload::E.mix(),
        };
        let mut sorted: Vec<u64> = (0..200).map(fnv_hash64).collect();
        sorted.sort_unstable();
        let mut expected_total = 0;
        let mut tally = Tally::new();
        for _ in 0..200 {
            let mut probe = worker.rng.clone();
            let key_number = worker.chooser.clone().next(&mut probe, 200);
            let length = scan_length(&mut probe);
            let position = sorted.binary_search(&fnv_hash64(key_number)).unwrap();
            expected_total += length.min(200 - position as u64);
            worker.scan(&mut tally).unwrap();
        }
        assert_eq!(tally.records_scanned, expected_total);
        assert_eq!(tally.not_found, 0);
    }

    #[test]
    fn a_timed_run_stops_at_its_deadline() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let settings = LoadSettings {
            record_count: 50,
            value_bytes: 10,
            thread_count: 1,
            batch_records: 50,
            seed: 5,
        };
        load(&db, settings, |_, _| {}).unwrap();
        let sequence = InsertSequence::starting_at(50);
        let settings = RunSettings {
            mix: Workload::C.mix(),
            chooser: KeyChooser::new(DistributionKind::Zipfian, 50, 0),
            value_bytes: 10,
            thread_count: 2,
            stop: Stop::Seconds(0.05),
            seed: 6,
        };
        let run = run(&db, &sequence, &settings, |_, _| {}).unwrap();
        assert!(run.operation_count > 0);
        assert_eq!(run.tally.all_latencies().len(), run.operation_count);
    }
}

//! The run: one thread per emulated terminal, each bound to a home warehouse (the threads take
//! the warehouses in turn), each drawing transactions from the mix and timing them into a
//! histogram per transaction kind, until the run's transactions or seconds are spent.
//!
//! The thread runner is this module's own rather than `bench ycsb`'s, whose runner is tied to
//! its tally of YCSB operation kinds.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::bench::kv::Store;
use crate::bench::measure;
use crate::bench::ycsb::Stop;

use super::random::NurandConstants;
use super::schema::{Cardinalities, HISTORY_NUMBER_RUN_FIRST, WarehouseId};
use super::transactions::{self, Outcome, Terminal, TransactionKind};

/// How often the progress callback runs.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// How a run runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunSettings {
    pub(crate) cardinalities: Cardinalities,
    /// The run's NURand constants.
    pub(crate) constants: NurandConstants,
    pub(crate) thread_count: usize,
    /// After this many transactions (`Stop::Operations`) or seconds.
    pub(crate) stop: Stop,
    pub(crate) seed: u64,
}

/// What one transaction kind did in a run.
#[derive(Debug)]
pub(crate) struct KindTally {
    /// The latency of each transaction that ended (committed or rolled back), retries included.
    pub(crate) latencies: Histogram<u64>,
    pub(crate) committed: u64,
    pub(crate) rolled_back: u64,
    pub(crate) conflict_retries: u64,
    /// Districts deliveries found nothing to deliver in.
    pub(crate) skipped_districts: u64,
}

impl KindTally {
    fn new() -> KindTally {
        KindTally {
            latencies: measure::new_histogram(),
            committed: 0,
            rolled_back: 0,
            conflict_retries: 0,
            skipped_districts: 0,
        }
    }

    fn merge(&mut self, other: &KindTally) {
        self.latencies.add(&other.latencies).expect("histograms of the same bounds");
        self.committed += other.committed;
        self.rolled_back += other.rolled_back;
        self.conflict_retries += other.conflict_retries;
        self.skipped_districts += other.skipped_districts;
    }

    fn record(&mut self, outcome: Outcome, latency: Duration) {
        let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latencies.saturating_record(latency_ns.clamp(1, measure::LATENCY_NS_MAX));
        if outcome.rolled_back {
            self.rolled_back += 1;
        } else {
            self.committed += 1;
        }
        self.conflict_retries += u64::from(outcome.conflict_retries);
        self.skipped_districts += u64::from(outcome.skipped_districts);
    }

    /// Transactions that ended, committed or rolled back.
    pub(crate) fn count(&self) -> u64 {
        self.committed + self.rolled_back
    }
}

/// What a run did, per transaction kind (in the order of [`TransactionKind::ALL`]).
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) kinds: Vec<KindTally>,
}

impl Tally {
    fn new() -> Tally {
        Tally { kinds: TransactionKind::ALL.iter().map(|_| KindTally::new()).collect() }
    }

    /// The tally of `kind`.
    pub(crate) fn of(&self, kind: TransactionKind) -> &KindTally {
        &self.kinds[kind.index()]
    }

    /// The latencies of every transaction.
    pub(crate) fn all_latencies(&self) -> Histogram<u64> {
        let mut all = measure::new_histogram();
        for kind in &self.kinds {
            all.add(&kind.latencies).expect("histograms of the same bounds");
        }
        all
    }

    /// Transactions that ended, committed or rolled back.
    pub(crate) fn count(&self) -> u64 {
        self.kinds.iter().map(KindTally::count).sum()
    }
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct RunResult {
    pub(crate) tally: Tally,
    /// From the common start to the last thread's end.
    pub(crate) elapsed: Duration,
}

/// The transactions every thread may still start.
#[derive(Debug)]
struct Budget {
    stop: Stop,
    /// Transactions not yet claimed, when the run is counted.
    remaining: AtomicU64,
    done: AtomicU64,
}

impl Budget {
    fn new(stop: Stop) -> Budget {
        let remaining = match stop {
            Stop::Operations(count) => count,
            Stop::Seconds(_) => u64::MAX,
        };
        Budget { stop, remaining: AtomicU64::new(remaining), done: AtomicU64::new(0) }
    }

    fn deadline(&self, started: Instant) -> Option<Instant> {
        match self.stop {
            Stop::Seconds(seconds) => Some(started + Duration::from_secs_f64(seconds)),
            Stop::Operations(_) => None,
        }
    }

    /// Whether the calling thread may start one more transaction.
    fn claim(&self, deadline: Option<Instant>) -> bool {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return false;
        }
        self.remaining.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(1)).is_ok()
    }
}

/// Runs the mix on `store` (loaded at `settings.cardinalities`); `tick` sees the elapsed time
/// and the transactions done, every [`PROGRESS_INTERVAL`].
pub(crate) fn run(
    store: &dyn Store,
    settings: &RunSettings,
    tick: impl Fn(Duration, u64),
) -> Result<RunResult, String> {
    assert!(settings.thread_count > 0);
    let budget = Budget::new(settings.stop);
    let history_numbers = AtomicU64::new(HISTORY_NUMBER_RUN_FIRST);
    let barrier = Barrier::new(settings.thread_count + 1);
    let (results, started) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..settings.thread_count)
            .map(|thread_index| {
                let (barrier, budget, history_numbers) = (&barrier, &budget, &history_numbers);
                scope.spawn(move || {
                    let mut terminal = terminal(settings, thread_index, history_numbers);
                    barrier.wait();
                    let started = Instant::now();
                    let deadline = budget.deadline(started);
                    let (tally, ended) = run_terminal(store, &mut terminal, budget, deadline)?;
                    Ok(ThreadRun { tally, started, ended })
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        while !workers.iter().all(|worker| worker.is_finished()) {
            std::thread::sleep(PROGRESS_INTERVAL);
            tick(started.elapsed(), budget.done.load(Relaxed));
        }
        let results: Vec<Result<ThreadRun, String>> = workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|payload| Err(measure::panic_message(&*payload)))
            })
            .collect();
        (results, started)
    });
    merge(results, started)
}

/// What one thread did, and when it started and ended: the run's time is from the first
/// thread's start to the last one's end, measured by the threads themselves, since on a busy
/// machine the threads may run a short counted run before this thread is scheduled again.
#[derive(Debug)]
struct ThreadRun {
    tally: Tally,
    started: Instant,
    ended: Instant,
}

/// The terminal of thread `thread_index`: home warehouse by turns, its own random generator.
fn terminal<'a>(
    settings: &RunSettings,
    thread_index: usize,
    history_numbers: &'a AtomicU64,
) -> Terminal<'a> {
    let warehouse_count = usize::from(settings.cardinalities.warehouse_count);
    let home_warehouse_id = WarehouseId::try_from(thread_index % warehouse_count + 1)
        .expect("below the warehouse count, a u16");
    Terminal {
        rng: SmallRng::seed_from_u64(settings.seed ^ ((thread_index as u64 + 1) << 32)),
        home_warehouse_id,
        cardinalities: settings.cardinalities,
        constants: settings.constants,
        history_numbers,
    }
}

/// One thread's loop: draw, run, time, until the budget says stop.
fn run_terminal(
    store: &dyn Store,
    terminal: &mut Terminal<'_>,
    budget: &Budget,
    deadline: Option<Instant>,
) -> Result<(Tally, Instant), String> {
    let mut tally = Tally::new();
    while budget.claim(deadline) {
        let kind = TransactionKind::choose(&mut terminal.rng);
        let started = Instant::now();
        let outcome = perform(store, terminal, kind)?;
        tally.kinds[kind.index()].record(outcome, started.elapsed());
        budget.done.fetch_add(1, Relaxed);
    }
    Ok((tally, Instant::now()))
}

/// Draws the input of one transaction of `kind` and runs it.
fn perform(
    store: &dyn Store,
    terminal: &mut Terminal<'_>,
    kind: TransactionKind,
) -> Result<Outcome, String> {
    match kind {
        TransactionKind::NewOrder => transactions::new_order(store, &terminal.new_order()),
        TransactionKind::Payment => transactions::payment(store, &terminal.payment()),
        TransactionKind::OrderStatus => transactions::order_status(store, &terminal.order_status()),
        TransactionKind::Delivery => transactions::delivery(store, &terminal.delivery()),
        TransactionKind::StockLevel => {
            transactions::stock_level(store, &terminal.stock_level()).map(|(outcome, _)| outcome)
        }
    }
}

/// The threads' tallies merged, and the time from the first thread's start (or `started`,
/// if earlier) to the last thread's end; the distinct errors of failed threads, if any.
fn merge(results: Vec<Result<ThreadRun, String>>, started: Instant) -> Result<RunResult, String> {
    let mut tally = Tally::new();
    let (mut started, mut ended) = (started, started);
    let mut errors: Vec<String> = Vec::new();
    for result in results {
        match result {
            Ok(thread) => {
                for (mine, theirs) in tally.kinds.iter_mut().zip(&thread.tally.kinds) {
                    mine.merge(theirs);
                }
                started = started.min(thread.started);
                ended = ended.max(thread.ended);
            }
            Err(error) if !errors.contains(&error) => errors.push(error),
            Err(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(RunResult { tally, elapsed: ended - started })
}

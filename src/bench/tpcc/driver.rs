//! The run: one thread per emulated terminal, each bound to a home warehouse (the threads take
//! the warehouses in turn), each drawing transactions from the mix and timing them into a
//! histogram per transaction kind, until the run's transactions or seconds are spent.
//!
//! The threads, their shared budget and the merge of their tallies are `bench ycsb`'s too
//! ([`workers`]).

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::bench::kv::Store;
use crate::bench::measure;
use crate::bench::workers::{self, Budget, Stop};

use super::random::NurandConstants;
use super::schema::{Cardinalities, HISTORY_NUMBER_RUN_FIRST, WarehouseId};
use super::transactions::{self, Outcome, Terminal, TransactionKind};

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
        measure::record_latency(&mut self.latencies, latency);
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

impl workers::Tally for Tally {
    fn empty() -> Tally {
        Tally { kinds: TransactionKind::ALL.iter().map(|_| KindTally::new()).collect() }
    }

    fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.kinds.iter_mut().zip(&other.kinds) {
            mine.merge(theirs);
        }
    }
}

impl Tally {
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

/// What a run measured: the tally, the time from the first thread's start to the last one's
/// end, and the transactions that ended.
pub(crate) type RunResult = workers::Run<Tally>;

/// Runs the mix on `store` (loaded at `settings.cardinalities`); `tick` sees the elapsed time
/// and the transactions done, every 100 ms.
pub(crate) fn run(
    store: &dyn Store,
    settings: &RunSettings,
    tick: impl Fn(Duration, u64),
) -> Result<RunResult, String> {
    let budget = Budget::new(settings.stop);
    let history_numbers = AtomicU64::new(HISTORY_NUMBER_RUN_FIRST);
    let setup = |thread_index: usize| terminal(settings, thread_index, &history_numbers);
    let work = |terminal: &mut Terminal<'_>, tally: &mut Tally, budget: &Budget| {
        run_terminal(store, terminal, tally, budget)
    };
    workers::run(settings.thread_count, &budget, setup, work, tick)
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
    tally: &mut Tally,
    budget: &Budget,
) -> Result<(), String> {
    let deadline = budget.deadline();
    while budget.claim(deadline) {
        let kind = TransactionKind::choose(&mut terminal.rng);
        let started = Instant::now();
        let outcome = perform(store, terminal, kind)?;
        tally.kinds[kind.index()].record(outcome, started.elapsed());
        budget.add_done(1);
    }
    Ok(())
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

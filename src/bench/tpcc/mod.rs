//! `directdb bench tpcc`: a TPC-C-like order-entry workload on the [`Store`] trait, on each I/O
//! mode in turn, side by side in one run. It is not TPC-C: what it simplifies is listed in
//! [`report::departures`] and in the report itself.
//!
//! For each I/O mode, on a fresh directory `--dir/directdb-tpcc-<mode>`:
//! 1. **Load**: open the database, load the warehouses (`load`), checkpoint, check the
//!    consistency conditions (`consistency`), close.
//! 2. **Run**: reopen (an empty pool), drop the kernel's caches (as root), run the mix for the
//!    transactions or seconds asked (`driver`), check the consistency conditions again,
//!    checkpoint, close; then remove the directory.
//!
//! Each is a phase of the memory limit (`load`, `run`; [`PhaseMeter`]): its limit is set
//! before its open, and its peak measured from there to after its close.
//!
//! Every mode loads the same rows and draws the same inputs (one seed), so the modes differ only
//! in how the engine reaches the file (and in the interleaving of the threads).
//!
//! **Equal memory**, as in `bench ycsb` and with its flags ([`crate::bench::memory_budget`]):
//! each mode's load, run and checks run in a child process of its own ([`crate::bench::child`])
//! under a memory cgroup whose limit counts the page cache: direct I/O's, which runs first, is the
//! budget (`--pool-mb`) plus the headroom (`--memory-headroom-mb`); the other modes', in each
//! phase, what direct I/O's process peaked at in the same phase (`--memory-limit`). Direct I/O
//! gives the whole budget to its pool; buffered I/O and mmap give their pool `--pool-share`
//! percent of it and leave the rest to the page cache. The child sends its mode's report,
//! consistency checks included, back as JSON, each phase with its limit and peak; the parent
//! adds the process's. Without root the modes run unlimited and the report's `memory_budget`
//! says so.
//!
//! Modules: `schema` (keys, row layouts, cardinalities), `random` (NURand, names, strings),
//! `load`, `transactions` (the five transactions and their inputs), `driver` (threads and the
//! mix), `consistency` (clause 3.3.2's conditions), `report`.

mod consistency;
mod driver;
mod load;
mod random;
mod report;
mod schema;
mod transactions;

use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::{DATA_FILE_NAME, Db, Durability, IoMode, Options};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::bench::child::{self, Benchmark, Isolation, durability_serde, io_modes_serde};
use crate::bench::kv::Store;
use crate::bench::memory_budget::{
    self, BudgetReport, MemoryBudget, ModeMemory, PhaseLimits, PhaseMeter,
};
use crate::bench::scratch::RemoveOnDrop;
use crate::bench::workers::{self, Stop};
use crate::bench::ycsb::{self, Progress, Usage, cache};

pub(crate) use consistency::{ConditionReport, ConsistencyReport};
pub(crate) use report::{KindReport, ModeReport, TpccReport};

use consistency::check as check_consistency;
use driver::RunSettings;
use load::LoadSettings;
use random::NurandConstants;
use report::{LoadReport, RunContext, RunReport, Settings};
use schema::Cardinalities;

/// Warehouses of the default run: one is about 100 MB of rows, twice the default budget
/// ([`crate::bench::memory_budget::BUDGET_MB_DEFAULT`]).
pub(crate) const WAREHOUSE_COUNT_DEFAULT: u16 = 1;
/// Seconds of the run: at a few thousand transactions per second, the 4% kinds get enough
/// samples for a p99.
pub(crate) const SECONDS_DEFAULT: f64 = 20.0;
/// Client threads (terminals): enough for group commit to share flushes on a 2-core machine,
/// and fewer than a warehouse's ten districts, so that new-orders do not all queue on one
/// district's D_NEXT_O_ID.
pub(crate) const THREAD_COUNT_DEFAULT: usize = 8;
/// Rows per load transaction: one durable commit per 200 rows (about 40 KB of rows) keeps the
/// load from being a test of the log's flush rate.
pub(crate) const LOAD_BATCH_ROWS: usize = 200;
/// The names of the two phases, in the memory limits of the modes after direct I/O.
const LOAD_PHASE: &str = "load";
const RUN_PHASE: &str = "run";
/// Seed of the load's rows and of every terminal's inputs, the same for every I/O mode.
const SEED: u64 = 0x7470_6363; // "tpcc"

/// What to run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TpccOptions {
    /// Parent of the per-mode database directories.
    pub(crate) directory: PathBuf,
    pub(crate) warehouse_count: u16,
    pub(crate) scale: u32,
    /// Transactions (`Stop::Operations`) or seconds of the run.
    pub(crate) stop: Stop,
    pub(crate) thread_count: usize,
    /// The budget (`--pool-mb`), the headroom and the pool share of every mode.
    pub(crate) memory: MemoryBudget,
    #[serde(with = "durability_serde")]
    pub(crate) durability: Durability,
    pub(crate) page_bytes: usize,
    #[serde(with = "io_modes_serde")]
    pub(crate) io_modes: Vec<IoMode>,
    /// Drop the kernel's caches before each run (as root).
    pub(crate) drop_caches: bool,
    pub(crate) isolation: Isolation,
}

impl TpccOptions {
    /// Checks what came from the command line before anything is written; returns the
    /// cardinalities.
    pub(crate) fn validate(&self) -> Result<Cardinalities, String> {
        let cardinalities = Cardinalities::new(self.warehouse_count, self.scale)?;
        self.stop.check("--transactions")?;
        workers::check_thread_count(self.thread_count)?;
        self.memory.validate()?;
        if self.io_modes.is_empty() {
            return Err("--io: no I/O mode".into());
        }
        Ok(cardinalities)
    }

    /// The pool `io_mode` runs with ([`MemoryBudget::pool_bytes_of`]).
    pub(crate) fn pool_bytes_of(&self, io_mode: IoMode) -> u64 {
        self.memory.pool_bytes_of(io_mode, self.page_bytes)
    }

    /// The engine's options for `io_mode`.
    fn engine_options(&self, io_mode: IoMode) -> Options {
        Options {
            page_size: self.page_bytes,
            pool_size: usize::try_from(self.pool_bytes_of(io_mode)).expect("checked in validate"),
            io: io_mode,
            durability: self.durability,
            ..Options::default()
        }
    }
}

/// The NURand constants of the load and of the run, from the seed.
fn constants() -> (NurandConstants, NurandConstants) {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let load = NurandConstants::for_load(&mut rng);
    (load, NurandConstants::for_run(&load, &mut rng))
}

/// Loads, runs and checks on every I/O mode, in order.
pub(crate) fn run(options: &TpccOptions, progress: Progress) -> Result<TpccReport, String> {
    let started = Instant::now();
    let cardinalities = options.validate()?;
    // A mode that fails (killed by its memory limit, a full disk) costs its own rows, not the
    // others' measurements: the report names it, and the run fails only if every mode did.
    let run_one = |io_mode: IoMode, limits: (PhaseLimits, &'static str)| match options.isolation {
        Isolation::InProcess => {
            run_mode(options, &cardinalities, io_mode, progress, &mut PhaseMeter::unlimited())
        }
        Isolation::ChildProcesses => {
            let request = ModeRequest { options: options.clone(), io_mode: io_mode.name().into() };
            child::run_in_child(Benchmark::Tpcc(request), io_mode.name(), limits, progress)
        }
    };
    let (modes, failures) = memory_budget::run_targets(
        options.io_modes.clone(),
        options.memory,
        |target, error| progress.failed(target, error),
        run_one,
    )?;
    let (load_constants, run_constants) = constants();
    Ok(TpccReport {
        settings: Settings {
            directory: options.directory.clone(),
            cardinalities,
            load_constants,
            run_constants,
            thread_count: options.thread_count,
            stop: options.stop,
            pool_bytes: options.memory.budget_bytes,
            page_bytes: options.page_bytes,
            durability: ycsb::durability_name(options.durability).into(),
            load_batch_rows: LOAD_BATCH_ROWS,
            io_modes: options.io_modes.iter().map(|mode| mode.name().to_string()).collect(),
        },
        consistent: modes.iter().all(ModeReport::consistent),
        memory_budget: BudgetReport::of(
            &options.memory,
            modes.iter().map(|mode| (mode.io_mode.as_str(), &mode.memory)),
        ),
        cache_policy: cache::policy(options.drop_caches),
        departures_from_tpcc: report::departures(),
        comparisons: report::Comparison::of(&modes),
        modes,
        failures,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a child process runs of `bench tpcc` ([`Benchmark::Tpcc`]): one I/O mode, with the
/// run's options.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModeRequest {
    pub(crate) options: TpccOptions,
    /// The I/O mode's name ([`IoMode::name`]).
    pub(crate) io_mode: String,
}

impl ModeRequest {
    /// Runs the mode in this process, consistency checks included, each phase metered by
    /// `meter`: the child's side of [`child::run_in_child`].
    pub(crate) fn run(
        &self,
        progress: Progress,
        meter: &mut PhaseMeter,
    ) -> Result<ModeReport, String> {
        let cardinalities = self.options.validate()?;
        let io_mode: IoMode = self.io_mode.parse()?;
        run_mode(&self.options, &cardinalities, io_mode, progress, meter)
    }
}

/// The load, the run and both checks on one I/O mode, in a fresh directory removed afterwards.
/// `meter` sets each phase's memory limit before the phase opens the database and reads its
/// peak after the phase has closed it (the phase's functions drop it).
fn run_mode(
    options: &TpccOptions,
    cardinalities: &Cardinalities,
    io_mode: IoMode,
    progress: Progress,
    meter: &mut PhaseMeter,
) -> Result<ModeReport, String> {
    let directory = options.directory.join(format!("directdb-tpcc-{}", io_mode.name()));
    let _remove = RemoveOnDrop::fresh_directory(&directory)?;
    meter.begin(LOAD_PHASE)?;
    let (mut load, consistency_after_load, free_pages) =
        load_phase(options, cardinalities, io_mode, &directory, progress)?;
    load.memory = meter.end();
    let file = ycsb::file_facts(&directory, io_mode, free_pages)?;
    meter.begin(RUN_PHASE)?;
    let (mut run, consistency_after_run) =
        run_phase(options, cardinalities, io_mode, &directory, progress)?;
    run.memory = meter.end();
    Ok(ModeReport {
        io_mode: io_mode.name().into(),
        file,
        memory: ModeMemory {
            peak_bytes: meter.process_peak_bytes(),
            ..ModeMemory::in_process(options.pool_bytes_of(io_mode))
        },
        load,
        consistency_after_load,
        run,
        consistency_after_run,
    })
}

fn open(options: &TpccOptions, io_mode: IoMode, directory: &Path) -> Result<Db, String> {
    Db::open(directory, options.engine_options(io_mode))
        .map_err(|error| format!("opening {}: {error}", directory.display()))
}

/// Loads a fresh database, checkpoints it and checks it; returns the load's report, the check's
/// and the free pages after the load.
fn load_phase(
    options: &TpccOptions,
    cardinalities: &Cardinalities,
    io_mode: IoMode,
    directory: &Path,
    progress: Progress,
) -> Result<(LoadReport, ConsistencyReport, usize), String> {
    let db = open(options, io_mode, directory)?;
    progress.step(&format!(
        "{}: load of {} warehouse(s) at scale {}",
        io_mode.name(),
        cardinalities.warehouse_count,
        cardinalities.scale
    ));
    let settings = LoadSettings {
        cardinalities: *cardinalities,
        constants: constants().0,
        thread_count: options.thread_count,
        batch_rows: LOAD_BATCH_ROWS,
        seed: SEED,
        now_seconds: transactions::now_seconds(),
    };
    let usage_before = Usage::now()?;
    let started = Instant::now();
    let counts = {
        let bar = progress.bar(load::unit_count(cardinalities), "items, stock, customers, orders");
        load::load(&db, &settings, |done| bar.set(done))?
    };
    // The load's pages reach the file in the checkpoint; its time and I/O are the load's.
    let (checkpoint_seconds, _) = ycsb::checkpoint(&db)?;
    let seconds = started.elapsed().as_secs_f64();
    let usage = Usage::now()?.since(&usage_before);
    let report = LoadReport::new(&counts, seconds, checkpoint_seconds, &usage);
    progress.step(&format!("{}: consistency check after the load", io_mode.name()));
    let consistency = check_consistency(&db, cardinalities)?;
    let free_pages = Store::stats(&db).map_or(0, |stats| stats.free_pages);
    Ok((report, consistency, free_pages))
}

/// Reopens the loaded database, runs the mix, checks the database and checkpoints it.
fn run_phase(
    options: &TpccOptions,
    cardinalities: &Cardinalities,
    io_mode: IoMode,
    directory: &Path,
    progress: Progress,
) -> Result<(RunReport, ConsistencyReport), String> {
    let opened = Instant::now();
    let db = open(options, io_mode, directory)?;
    let open_seconds = opened.elapsed().as_secs_f64();
    // After the open, whose walk of the tree would otherwise leave the file cached.
    let caches_before = cache::drop_kernel_caches(options.drop_caches);
    let resident_bytes_at_start = cache::resident_bytes(&[directory.join(DATA_FILE_NAME)]);
    let settings = RunSettings {
        cardinalities: *cardinalities,
        constants: constants().1,
        thread_count: options.thread_count,
        stop: options.stop,
        seed: SEED,
    };
    progress.step(&format!("{}: run of the mix", io_mode.name()));
    let (usage_before, stats_before) = (Usage::now()?, Store::stats(&db));
    let run = {
        let (length, unit) = match options.stop {
            Stop::Operations(count) => (count, "transactions"),
            Stop::Seconds(seconds) => (ycsb::seconds_to_millis(seconds), "ms"),
        };
        let bar = progress.bar(length, unit);
        driver::run(&db, &settings, |elapsed, done| match options.stop {
            Stop::Operations(_) => bar.set(done),
            Stop::Seconds(_) => bar.set(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)),
        })?
    };
    let (usage_after, stats_after) = (Usage::now()?, Store::stats(&db));
    let context = RunContext {
        open_seconds,
        caches_before,
        resident_bytes_at_start,
        usage: usage_after.since(&usage_before),
        stats_before: stats_before.as_ref(),
        stats_after: stats_after.as_ref(),
    };
    let mut report = RunReport::new(context, &run);
    progress.step(&format!("{}: consistency check after the run", io_mode.name()));
    let consistency = check_consistency(&db, cardinalities)?;
    (report.checkpoint_seconds, _) = ycsb::checkpoint(&db)?;
    Ok((report, consistency))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use super::schema::{CustomerId, DISTRICTS_PER_WAREHOUSE, HISTORY_NUMBER_RUN_FIRST, Table};
    use super::transactions::{
        CustomerSelector, LineInput, NewOrderInput, Outcome, PaymentInput, TransactionKind,
    };
    use super::*;
    use crate::bench::memory_budget;

    fn small_db(directory: &Path) -> Db {
        let options =
            Options { pool_size: 2 << 20, durability: Durability::None, ..Options::default() };
        Db::open(directory, options).unwrap()
    }

    fn load_small(db: &Db, cardinalities: &Cardinalities) -> load::LoadCounts {
        let settings = LoadSettings {
            cardinalities: *cardinalities,
            constants: constants().0,
            thread_count: 2,
            batch_rows: 50,
            seed: SEED,
            now_seconds: 1_700_000_000,
        };
        load::load(db, &settings, |_| {}).unwrap()
    }

    fn assert_consistent(report: &ConsistencyReport) {
        for condition in &report.conditions {
            assert_eq!(condition.violation_count, 0, "{condition:#?}");
        }
        assert!(report.consistent);
    }

    /// Every condition had something to check (condition 3 has nothing in a district without
    /// new-orders).
    fn assert_every_condition_checked(report: &ConsistencyReport) {
        for condition in &report.conditions {
            assert!(condition.checked > 0, "condition {} checked nothing", condition.condition);
        }
    }

    /// D_NEXT_O_ID - 1 summed over the districts: the orders the database holds.
    fn order_count(db: &Db, cardinalities: &Cardinalities) -> u64 {
        cardinalities
            .districts()
            .map(|(warehouse, district)| {
                let key = schema::district_key(Table::District, warehouse, district);
                let bytes = Store::get(db, &key).unwrap().unwrap();
                let district = <schema::District as schema::Row>::decode(&bytes).unwrap();
                u64::from(district.next_order_id - 1)
            })
            .sum()
    }

    fn history_count(db: &Db, cardinalities: &Cardinalities) -> u64 {
        cardinalities
            .districts()
            .map(|(warehouse, district)| {
                let prefix = schema::district_key(Table::History, warehouse, district);
                consistency::scan_prefix(db, &prefix, &mut |_, _| Ok(())).unwrap()
            })
            .sum()
    }

    /// Two warehouses at scale 100, loaded and run on two threads for a counted run: the load
    /// and the run leave every consistency condition holding, every committed new-order added
    /// one order and every payment one history row, and 1% or so of new-orders rolled back.
    #[test]
    fn a_small_load_and_run_stay_consistent() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let cardinalities = Cardinalities::new(2, 100).unwrap();
        let counts = load_small(&db, &cardinalities);
        assert_eq!(counts.conflict_retries, 0, "load tasks write disjoint rows");
        let after_load = check_consistency(&db, &cardinalities).unwrap();
        assert_consistent(&after_load);
        assert_every_condition_checked(&after_load);
        let orders_loaded = order_count(&db, &cardinalities);
        assert_eq!(orders_loaded, 20 * 30);
        let history_loaded = history_count(&db, &cardinalities);
        assert_eq!(history_loaded, 20 * 30);

        let settings = RunSettings {
            cardinalities,
            constants: constants().1,
            thread_count: 2,
            stop: Stop::Operations(3_000),
            seed: SEED,
        };
        let run = driver::run(&db, &settings, |_, _| {}).unwrap();
        assert_eq!(run.tally.count(), 3_000);
        assert_eq!(run.tally.all_latencies().len(), 3_000);
        for kind in TransactionKind::ALL {
            assert!(run.tally.of(kind).count() > 30, "{kind:?} ran");
        }
        let new_orders = run.tally.of(TransactionKind::NewOrder);
        assert!(new_orders.rolled_back > 0 && new_orders.rolled_back < 60, "{new_orders:?}");
        let payments = run.tally.of(TransactionKind::Payment);
        assert_eq!(order_count(&db, &cardinalities), orders_loaded + new_orders.committed);
        assert_eq!(history_count(&db, &cardinalities), history_loaded + payments.committed);
        let after_run = check_consistency(&db, &cardinalities).unwrap();
        assert_consistent(&after_run);
        assert_every_condition_checked(&after_run);
        db.check().unwrap();
    }

    fn payment(db: &Db, district_id: u8, customer: CustomerSelector, amount_cents: i64) -> Outcome {
        let input = PaymentInput {
            warehouse_id: 1,
            district_id,
            customer_warehouse_id: 1,
            customer_district_id: district_id,
            customer,
            amount_cents,
            history_number: HISTORY_NUMBER_RUN_FIRST + u64::from(district_id),
            date_seconds: 5,
        };
        transactions::payment(db, &input).unwrap()
    }

    /// A new-order with an unused item id rolls back: counted as a rollback, and nothing of it
    /// stays (the district's next order id, the stock it touched before the bad line).
    #[test]
    fn an_unused_item_rolls_a_new_order_back() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let cardinalities = Cardinalities::new(1, 300).unwrap();
        load_small(&db, &cardinalities);
        let before = order_count(&db, &cardinalities);
        let stock_key = schema::stock_key(1, 7);
        let stock_before = Store::get(&db, &stock_key).unwrap();
        let line = |item_id| LineInput { item_id, supply_warehouse_id: 1, quantity: 3 };
        let mut input = NewOrderInput {
            warehouse_id: 1,
            district_id: 4,
            customer_id: 2,
            lines: vec![line(7); 5],
            entry_seconds: 9,
            item_count: cardinalities.item_count,
        };
        input.lines[4] = line(cardinalities.item_count + 1);
        let outcome = transactions::new_order(&db, &input).unwrap();
        assert!(outcome.rolled_back);
        assert_eq!(order_count(&db, &cardinalities), before);
        assert_eq!(Store::get(&db, &stock_key).unwrap(), stock_before);
        input.lines[4] = line(8);
        assert!(!transactions::new_order(&db, &input).unwrap().rolled_back);
        assert_eq!(order_count(&db, &cardinalities), before + 1);
        assert_consistent(&check_consistency(&db, &cardinalities).unwrap());
    }

    /// Payments by id and by last name, then deliveries until every district runs dry: the
    /// consistency conditions hold throughout, and a drained district is skipped.
    #[test]
    fn payments_and_deliveries_keep_the_books_balanced() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let cardinalities = Cardinalities::new(1, 300).unwrap();
        load_small(&db, &cardinalities);
        payment(&db, 1, CustomerSelector::Id(3), 12_345);
        let name = schema::text(&random::last_name(2));
        payment(&db, 2, CustomerSelector::LastName(name), 99);
        let input =
            transactions::DeliveryInput { warehouse_id: 1, carrier_id: 4, delivery_seconds: 77 };
        let per_district = u64::from(cardinalities.new_orders_per_district);
        for _ in 0..per_district {
            assert_eq!(transactions::delivery(&db, &input).unwrap().skipped_districts, 0);
        }
        let drained = transactions::delivery(&db, &input).unwrap();
        assert_eq!(drained.skipped_districts, u32::from(DISTRICTS_PER_WAREHOUSE));
        assert_consistent(&check_consistency(&db, &cardinalities).unwrap());
    }

    /// Stock-level over a loaded district reads the lines of its last 20 orders and no others:
    /// with a threshold above every stock quantity (the load's are 10 to 100) it counts each
    /// distinct item of those lines, read here line by line; with a threshold of 10, none.
    #[test]
    fn stock_level_counts_the_items_of_the_last_twenty_orders() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let cardinalities = Cardinalities::new(2, 100).unwrap();
        load_small(&db, &cardinalities);
        let (warehouse_id, district_id) = (2, 3);
        let mut items = std::collections::BTreeSet::new();
        let orders = cardinalities.orders_per_district();
        for order_id in orders - 19..=orders {
            for line in 1..=schema::ORDER_LINES_MAX {
                let key = schema::order_line_key(warehouse_id, district_id, order_id, line);
                if let Some(bytes) = Store::get(&db, &key).unwrap() {
                    let row = <schema::OrderLine as schema::Row>::decode(&bytes).unwrap();
                    items.insert(row.item_id);
                }
            }
        }
        assert!(items.len() > 20, "{} items", items.len());
        for (threshold, expected) in [(101, items.len()), (10, 0)] {
            let input = transactions::StockLevelInput { warehouse_id, district_id, threshold };
            let (_, low_count) = transactions::stock_level(&db, &input).unwrap();
            assert_eq!(low_count, expected, "threshold {threshold}");
        }
    }

    /// Payments to ten customers of one district from two threads at once: every payment reads
    /// and writes W_YTD, so they conflict, the losers run again, and no update is lost (W_YTD
    /// is the load's plus every payment, and the conditions hold).
    #[test]
    fn concurrent_payments_conflict_and_retry() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let cardinalities = Cardinalities::new(1, 300).unwrap();
        load_small(&db, &cardinalities);
        let numbers = AtomicU64::new(HISTORY_NUMBER_RUN_FIRST);
        let retries: u32 = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        (0..200)
                            .map(|index: CustomerId| {
                                let input = PaymentInput {
                                    warehouse_id: 1,
                                    district_id: 1,
                                    customer_warehouse_id: 1,
                                    customer_district_id: 1,
                                    customer: CustomerSelector::Id(index % 10 + 1),
                                    amount_cents: 100,
                                    history_number: numbers.fetch_add(1, Relaxed),
                                    date_seconds: 1,
                                };
                                transactions::payment(&db, &input).unwrap().conflict_retries
                            })
                            .sum::<u32>()
                    })
                })
                .collect();
            threads.into_iter().map(|thread| thread.join().unwrap()).sum()
        });
        assert_consistent(&check_consistency(&db, &cardinalities).unwrap());
        let key = schema::warehouse_key(Table::WarehouseYtd, 1);
        let ytd =
            schema::Ytd::decode(Table::WarehouseYtd, &Store::get(&db, &key).unwrap().unwrap());
        let loaded_cents = 10 * 10 * load::LOAD_PAYMENT_CENTS;
        assert_eq!(ytd.unwrap().cents, loaded_cents + 400 * 100, "after {retries} retries");
    }

    /// One warehouse at scale 300 (333 items, 10 customers per district), 400 transactions on
    /// two threads, a 4 MiB budget (direct's pool; buffered's is 1 MiB), in this process.
    fn tiny_options(directory: &Path) -> TpccOptions {
        TpccOptions {
            directory: directory.to_path_buf(),
            warehouse_count: 1,
            scale: 300,
            stop: Stop::Operations(400),
            thread_count: 2,
            memory: MemoryBudget {
                budget_bytes: 4 << 20,
                headroom_bytes: memory_budget::headroom_mb_default(2) << 20,
                pool_share_percent: memory_budget::POOL_SHARE_PERCENT_DEFAULT,
                limit_rule: memory_budget::LimitRule::SameAsDirect,
            },
            durability: Durability::None,
            page_bytes: 4096,
            io_modes: vec![IoMode::Direct, IoMode::Buffered],
            drop_caches: false,
            isolation: Isolation::InProcess,
        }
    }

    /// The whole benchmark on two I/O modes, tiny: both checks pass on both modes, every
    /// transaction is counted, each mode has its pool of the budget, the modes are compared,
    /// and nothing is left behind. In this process, the budget is reported as not enforced.
    #[test]
    fn a_tiny_benchmark_reports_every_mode() {
        let directory = tempfile::tempdir().unwrap();
        let options = tiny_options(directory.path());
        let report = run(&options, Progress::off()).unwrap();
        assert!(report.consistent);
        assert_eq!(report.modes.len(), 2);
        for mode in &report.modes {
            assert_eq!(mode.run.transaction_count, 400);
            assert_eq!(mode.run.kinds.iter().map(|kind| kind.count).sum::<u64>(), 400);
            assert!(mode.load.row_count > 0 && mode.load.commit_count > 0);
            assert!(mode.consistent());
            assert!(!mode.memory.enforced && mode.memory.limit_bytes.is_none(), "{mode:?}");
        }
        let pools: Vec<u64> = report.modes.iter().map(|mode| mode.memory.pool_bytes).collect();
        assert_eq!(pools, [4 << 20, 1 << 20], "the budget, and 25% of it");
        assert_eq!(report.memory_budget.limit_bytes, (4 + 36) << 20);
        assert!(!report.memory_budget.enforced);
        assert!(report.memory_budget.note.contains("NOT enforced"), "{:?}", report.memory_budget);
        assert_eq!(report.comparisons.len(), 3);
        assert!(report.comparisons.iter().all(|row| row.direct_over_buffered.is_some()));
        let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// The child's side of a mode run in a child process, here in this process (no cgroup to
    /// join): the request goes through JSON to [`child::serve`], which loads, runs and checks
    /// the mode it names and answers with the mode's report as JSON, consistency checks
    /// included. The request reads back as it was sent, and the report reads back whole: parsed
    /// and written again it is the JSON the child wrote, so no field is lost on the way.
    #[test]
    fn a_child_request_and_its_report_round_trip_through_json() {
        let directory = tempfile::tempdir().unwrap();
        let options = tiny_options(directory.path());
        let mode = ModeRequest { options: options.clone(), io_mode: "mmap".into() };
        let request = child::ChildRequest {
            benchmark: Benchmark::Tpcc(mode),
            cgroup_procs: None,
            limits: PhaseLimits::uniform(u64::MAX),
            progress: false,
        };
        let json = serde_json::to_string(&request).unwrap();
        let read_back: child::ChildRequest = serde_json::from_str(&json).unwrap();
        let Benchmark::Tpcc(mode) = read_back.benchmark else { panic!("not tpcc: {json}") };
        assert_eq!(mode.io_mode, "mmap");
        let as_value = |options: &TpccOptions| serde_json::to_value(options).unwrap();
        assert_eq!(as_value(&mode.options), as_value(&options));

        let answer = child::serve(&json).unwrap();
        let report: ModeReport = serde_json::from_str(&answer).unwrap();
        assert_eq!(report.io_mode, "mmap");
        assert_eq!(report.run.transaction_count, 400);
        assert!(report.consistent());
        assert_every_condition_checked(&report.consistency_after_load);
        assert_eq!(report.consistency_after_run.conditions.len(), 12);
        assert_eq!(report.memory, ModeMemory::in_process(options.pool_bytes_of(IoMode::Mmap)));
        let written: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(serde_json::to_value(&report).unwrap(), written);
        let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn options_from_the_command_line_are_checked() {
        let good = TpccOptions {
            scale: 1,
            stop: Stop::Seconds(1.0),
            thread_count: 1,
            io_modes: vec![IoMode::Direct],
            ..tiny_options(Path::new("/nonexistent"))
        };
        assert!(good.validate().is_ok());
        let no_share = MemoryBudget { pool_share_percent: 0, ..good.memory };
        let cases: [(TpccOptions, &str); 7] = [
            (TpccOptions { memory: no_share, ..good.clone() }, "--pool-share"),
            (TpccOptions { warehouse_count: 0, ..good.clone() }, "--warehouses"),
            (TpccOptions { scale: 0, ..good.clone() }, "--scale"),
            (TpccOptions { stop: Stop::Operations(0), ..good.clone() }, "--transactions"),
            (TpccOptions { stop: Stop::Seconds(-1.0), ..good.clone() }, "--seconds"),
            (TpccOptions { thread_count: 0, ..good.clone() }, "--threads"),
            (TpccOptions { io_modes: Vec::new(), ..good.clone() }, "--io"),
        ];
        for (options, flag) in cases {
            assert!(options.validate().unwrap_err().contains(flag), "{flag}");
        }
    }
}

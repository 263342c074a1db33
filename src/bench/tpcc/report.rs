//! What `bench tpcc` reports: per I/O mode, the load, the run (throughput, the transactions of
//! each kind, latency, the cost per transaction) and the consistency checks after each; then
//! the modes' throughput side by side.

use crate::bench::memory_budget::Failure;
use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::{DbStats, IoMode};

use crate::bench::memory_budget::{BudgetReport, MemoryReport, ModeMemory, PhaseMemory};
use crate::bench::ycsb::{FileFacts, PerOperation, Percentiles, Stop, Totals, Usage};

use super::consistency::ConsistencyReport;
use super::driver::RunResult;
use super::load::LoadCounts;
use super::random::NurandConstants;
use super::schema::Cardinalities;
use super::transactions::TransactionKind;

/// The load on one I/O mode.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadReport {
    /// From the first row to the end of the checkpoint that puts every row in the data file.
    pub(crate) seconds: f64,
    pub(crate) checkpoint_seconds: f64,
    pub(crate) row_count: u64,
    pub(crate) rows_per_second: f64,
    pub(crate) commit_count: u64,
    pub(crate) conflict_retries: u64,
    pub(crate) device_read_bytes: u64,
    pub(crate) device_write_bytes: u64,
    pub(crate) cpu_seconds: f64,
    /// The memory limit of the process during the load phase (the load, its checkpoint and the
    /// consistency check after it) and its peak, from before the open to after the close.
    pub(crate) memory: PhaseMemory,
}

impl LoadReport {
    pub(crate) fn new(
        counts: &LoadCounts,
        seconds: f64,
        checkpoint_seconds: f64,
        usage: &Usage,
    ) -> LoadReport {
        LoadReport {
            seconds,
            checkpoint_seconds,
            row_count: counts.row_count,
            rows_per_second: counts.row_count as f64 / seconds.max(1e-9),
            commit_count: counts.commit_count,
            conflict_retries: counts.conflict_retries,
            device_read_bytes: usage.read_bytes,
            device_write_bytes: usage.write_bytes,
            cpu_seconds: usage.cpu_seconds,
            memory: PhaseMemory::default(),
        }
    }
}

/// One transaction kind of a run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct KindReport {
    pub(crate) kind: TransactionKind,
    /// Transactions that ended: committed and rolled back.
    pub(crate) count: u64,
    /// Its share of every transaction of the run.
    pub(crate) share: f64,
    pub(crate) committed: u64,
    /// Rolled back on purpose (new-order's unused item id).
    pub(crate) rolled_back: u64,
    /// Times a body ran again after losing to a concurrent transaction.
    pub(crate) conflict_retries: u64,
    /// Of each transaction, from the first run of its body to its commit or rollback.
    pub(crate) latency_us: Percentiles,
}

/// The run on one I/O mode.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunReport {
    /// Seconds `Db::open` took before the run (recovery and the free-space rebuild).
    pub(crate) open_seconds: f64,
    /// What was done to the kernel's caches before the run (after the open).
    pub(crate) caches_before: String,
    /// Bytes of the data file in the page cache as the run started (`fincore`), if known.
    pub(crate) resident_bytes_at_start: Option<u64>,
    pub(crate) elapsed_seconds: f64,
    pub(crate) transaction_count: u64,
    pub(crate) transactions_per_second: f64,
    /// Committed new-orders per minute: TPC-C's throughput metric, measured here without the
    /// rules that make a tpmC (no think or keying times, no terminals, no audit).
    pub(crate) new_orders_per_minute: f64,
    pub(crate) rollback_count: u64,
    pub(crate) conflict_retries: u64,
    /// Districts deliveries found no undelivered order in.
    pub(crate) skipped_deliveries: u64,
    pub(crate) latency_us: Percentiles,
    pub(crate) kinds: Vec<KindReport>,
    /// Costs divided by the run's transactions.
    pub(crate) per_transaction: PerOperation,
    pub(crate) totals: Totals,
    /// Pool hits over hits and misses (mmap's in-place reads are in neither); none when there
    /// were neither.
    pub(crate) pool_hit_ratio: Option<f64>,
    /// The checkpoint after the run, outside the timed window and the costs.
    pub(crate) checkpoint_seconds: f64,
    /// The memory limit of the process during the run phase (the run, the consistency check
    /// and the checkpoint after it) and its peak, from before the open to after the close.
    pub(crate) memory: PhaseMemory,
}

/// What [`RunReport::new`] needs besides the run.
#[derive(Debug)]
pub(crate) struct RunContext<'a> {
    pub(crate) open_seconds: f64,
    pub(crate) caches_before: String,
    pub(crate) resident_bytes_at_start: Option<u64>,
    pub(crate) usage: Usage,
    pub(crate) stats_before: Option<&'a DbStats>,
    pub(crate) stats_after: Option<&'a DbStats>,
}

impl RunReport {
    pub(crate) fn new(context: RunContext<'_>, run: &RunResult) -> RunReport {
        let totals = Totals::between(&context.usage, context.stats_before, context.stats_after);
        let elapsed_seconds = run.elapsed.as_secs_f64().max(1e-9);
        let transaction_count = run.tally.count();
        let kinds: Vec<KindReport> = TransactionKind::ALL
            .into_iter()
            .map(|kind| {
                let tally = run.tally.of(kind);
                KindReport {
                    kind,
                    count: tally.count(),
                    share: tally.count() as f64 / transaction_count.max(1) as f64,
                    committed: tally.committed,
                    rolled_back: tally.rolled_back,
                    conflict_retries: tally.conflict_retries,
                    latency_us: Percentiles::of(&tally.latencies),
                }
            })
            .collect();
        let accesses = totals.pool_hits + totals.pool_misses;
        RunReport {
            open_seconds: context.open_seconds,
            caches_before: context.caches_before,
            resident_bytes_at_start: context.resident_bytes_at_start,
            elapsed_seconds,
            transaction_count,
            transactions_per_second: transaction_count as f64 / elapsed_seconds,
            new_orders_per_minute: run.tally.of(TransactionKind::NewOrder).committed as f64 * 60.0
                / elapsed_seconds,
            rollback_count: kinds.iter().map(|kind| kind.rolled_back).sum(),
            conflict_retries: kinds.iter().map(|kind| kind.conflict_retries).sum(),
            skipped_deliveries: run.tally.of(TransactionKind::Delivery).skipped_districts,
            latency_us: Percentiles::of(&run.tally.all_latencies()),
            kinds,
            per_transaction: totals.per_operation(transaction_count),
            pool_hit_ratio: (accesses != 0).then(|| totals.pool_hits as f64 / accesses as f64),
            totals,
            checkpoint_seconds: 0.0,
            memory: PhaseMemory::default(),
        }
    }
}

/// Everything measured on one I/O mode, on its own fresh directory (in a child process of its
/// own, which sends it back as JSON, when the memory budget is enforced).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModeReport {
    pub(crate) io_mode: String,
    pub(crate) file: FileFacts,
    /// Its pool, and its process's limit and peak.
    pub(crate) memory: ModeMemory,
    pub(crate) load: LoadReport,
    pub(crate) consistency_after_load: ConsistencyReport,
    pub(crate) run: RunReport,
    pub(crate) consistency_after_run: ConsistencyReport,
}

impl ModeReport {
    /// Both consistency checks passed.
    pub(crate) fn consistent(&self) -> bool {
        self.consistency_after_load.consistent && self.consistency_after_run.consistent
    }
}

impl MemoryReport for ModeReport {
    fn memory(&self) -> &ModeMemory {
        &self.memory
    }

    fn memory_mut(&mut self) -> &mut ModeMemory {
        &mut self.memory
    }

    fn phase_memories(&self) -> Vec<(&str, PhaseMemory)> {
        vec![(super::LOAD_PHASE, self.load.memory), (super::RUN_PHASE, self.run.memory)]
    }
}

/// One measure on every I/O mode, and direct I/O's over the others'.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Comparison {
    pub(crate) measure: &'static str,
    pub(crate) by_mode: BTreeMap<String, f64>,
    pub(crate) direct_over_buffered: Option<f64>,
    pub(crate) direct_over_mmap: Option<f64>,
}

/// How a [`Comparison`]'s measure is read from a mode's report.
type Measure = fn(&ModeReport) -> f64;

impl Comparison {
    /// Transactions per second, new-orders per minute and load rows per second, per mode.
    pub(crate) fn of(modes: &[ModeReport]) -> Vec<Comparison> {
        let measures: [(&'static str, Measure); 3] = [
            ("transactions_per_second", |mode| mode.run.transactions_per_second),
            ("new_orders_per_minute", |mode| mode.run.new_orders_per_minute),
            ("load_rows_per_second", |mode| mode.load.rows_per_second),
        ];
        measures
            .into_iter()
            .map(|(measure, value)| {
                let by_mode: BTreeMap<String, f64> =
                    modes.iter().map(|mode| (mode.io_mode.clone(), value(mode))).collect();
                let over = |other: IoMode| {
                    let direct = by_mode.get(IoMode::Direct.name())?;
                    let other = by_mode.get(other.name())?;
                    (*other > 0.0).then(|| direct / other)
                };
                Comparison {
                    measure,
                    direct_over_buffered: over(IoMode::Buffered),
                    direct_over_mmap: over(IoMode::Mmap),
                    by_mode,
                }
            })
            .collect()
    }
}

/// The settings a report was measured with.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Settings {
    pub(crate) directory: PathBuf,
    pub(crate) cardinalities: Cardinalities,
    /// The NURand constants C of the load and of the run.
    pub(crate) load_constants: NurandConstants,
    pub(crate) run_constants: NurandConstants,
    pub(crate) thread_count: usize,
    /// Transactions (`operations`) or seconds of the run.
    pub(crate) stop: Stop,
    /// The memory budget (`--pool-mb`): direct I/O's pool.
    pub(crate) pool_bytes: u64,
    pub(crate) page_bytes: usize,
    pub(crate) durability: String,
    pub(crate) load_batch_rows: usize,
    pub(crate) io_modes: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct TpccReport {
    pub(crate) settings: Settings,
    /// Every consistency check of every mode passed.
    pub(crate) consistent: bool,
    /// How the memory given to each mode was bounded.
    pub(crate) memory_budget: BudgetReport,
    /// What is done to the kernel's caches before each run.
    pub(crate) cache_policy: String,
    /// Where TPC-C's rules are not followed, and why.
    pub(crate) departures_from_tpcc: Vec<&'static str>,
    pub(crate) modes: Vec<ModeReport>,
    pub(crate) comparisons: Vec<Comparison>,
    /// The I/O modes that failed, which have no rows (the command fails after the report).
    pub(crate) failures: Vec<Failure>,
    pub(crate) elapsed_seconds: f64,
}

/// Where this workload departs from TPC-C, for the report's reader.
pub(crate) fn departures() -> Vec<&'static str> {
    vec![
        "not an audited TPC-C: new_orders_per_minute is tpmC-like, measured without keying or \
         think times, terminals or the 2-hour measurement interval",
        "no keying or think time: each thread starts its next transaction when the last ends",
        "the mix is drawn per transaction with weights 45/43/4/4/4, not dealt from a deck",
        "--scale divides items, stock, customers, orders and new-orders per warehouse (and \
         D_YTD and W_YTD with them); NURand keeps the specification's A",
        "W_YTD and D_YTD live in rows of their own (vertical partitioning, visible to the \
         transactions), so new-order does not conflict with payment under optimistic concurrency",
        "a last-name index row, a customer's-newest-order row and a delivery-cursor row stand in \
         for range reads, which the store's transactions do not have",
        "delivery marks a new-order row delivered instead of deleting it (the store has no \
         delete), runs in the terminal's thread rather than deferred, and covers the ten \
         districts in one transaction",
        "stock-level's reads are separate committed reads and one Store::scan, not one \
         transaction (read committed, as clause 3.4 allows for stock-level)",
        "no terminal output is formatted; transactions read what they would display",
    ]
}

//! What `bench ycsb` reports: one [`PhaseReport`] per load and per workload run, for each I/O
//! mode, and the throughput ratios between the modes, measured side by side in one run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::{DbStats, IoMode};
use hdrhistogram::Histogram;

use super::distribution::DistributionKind;
use super::driver::PhaseRun;
use super::usage::Usage;
use super::workload::OperationKind;
#[cfg(test)]
use crate::bench::memory_budget::LimitRule;
use crate::bench::memory_budget::{BudgetReport, MemoryReport, ModeMemory, PhaseMemory};
use crate::bench::workers::Stop;

/// Latency percentiles, in microseconds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Percentiles {
        let micros = |quantile| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        Percentiles { p50: micros(0.5), p99: micros(0.99), p999: micros(0.999), max: micros(1.0) }
    }
}

/// One operation kind of a phase.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct OperationRow {
    pub(crate) kind: OperationKind,
    pub(crate) count: u64,
    pub(crate) latency_us: Percentiles,
}

/// Costs divided by the phase's operations (records, in the load).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct PerOperation {
    /// Bytes the process made the block layer read (`/proc/self/io` `read_bytes`).
    pub(crate) device_read_bytes: f64,
    /// Bytes the process made the block layer write (`/proc/self/io` `write_bytes`): data
    /// pages and the log.
    pub(crate) device_write_bytes: f64,
    /// Pages the buffer pool read from the data file (misses and prefetches).
    pub(crate) pool_pages_read: f64,
    /// Pages the buffer pool wrote back.
    pub(crate) pool_pages_written: f64,
    /// Pages read in place from the mapping (mmap mode), without a frame.
    pub(crate) pool_in_place_reads: f64,
    /// Bytes the log wrote.
    pub(crate) wal_bytes_written: f64,
    /// CPU time of every thread of the process (`utime` + `stime`).
    pub(crate) cpu_us: f64,
    /// Page faults that waited for the device.
    pub(crate) major_faults: f64,
}

/// Counter differences over a phase.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Totals {
    pub(crate) device_read_bytes: u64,
    pub(crate) device_write_bytes: u64,
    pub(crate) cpu_seconds: f64,
    pub(crate) major_faults: u64,
    pub(crate) pool_hits: u64,
    pub(crate) pool_misses: u64,
    pub(crate) pool_pages_read: u64,
    pub(crate) pool_pages_written: u64,
    pub(crate) pool_in_place_reads: u64,
    pub(crate) pool_evictions: u64,
    pub(crate) wal_bytes_written: u64,
    pub(crate) wal_batches_written: u64,
    pub(crate) commits: u64,
    pub(crate) conflicts: u64,
}

impl Totals {
    /// The differences over a phase; the engine's counters when it has them (`before` and
    /// `after` are both there or both missing).
    pub(crate) fn between(
        usage: &Usage,
        before: Option<&DbStats>,
        after: Option<&DbStats>,
    ) -> Totals {
        let process = Totals {
            device_read_bytes: usage.read_bytes,
            device_write_bytes: usage.write_bytes,
            cpu_seconds: usage.cpu_seconds,
            major_faults: usage.major_faults,
            ..Totals::default()
        };
        let (Some(before), Some(after)) = (before, after) else { return process };
        let (pool_before, pool_after) = (&before.pool, &after.pool);
        Totals {
            pool_hits: pool_after.hits - pool_before.hits,
            pool_misses: pool_after.misses - pool_before.misses,
            pool_pages_read: pool_after.pages_read - pool_before.pages_read,
            pool_pages_written: pool_after.pages_written - pool_before.pages_written,
            pool_in_place_reads: pool_after.in_place_reads - pool_before.in_place_reads,
            pool_evictions: pool_after.evictions - pool_before.evictions,
            wal_bytes_written: after.wal.bytes_written - before.wal.bytes_written,
            wal_batches_written: after.wal.batches_written - before.wal.batches_written,
            commits: after.commits - before.commits,
            conflicts: after.conflicts - before.conflicts,
            ..process
        }
    }

    pub(crate) fn per_operation(&self, operation_count: u64) -> PerOperation {
        let per = |total: u64| total as f64 / operation_count.max(1) as f64;
        PerOperation {
            device_read_bytes: per(self.device_read_bytes),
            device_write_bytes: per(self.device_write_bytes),
            pool_pages_read: per(self.pool_pages_read),
            pool_pages_written: per(self.pool_pages_written),
            pool_in_place_reads: per(self.pool_in_place_reads),
            wal_bytes_written: per(self.wal_bytes_written),
            cpu_us: self.cpu_seconds * 1e6 / operation_count.max(1) as f64,
            major_faults: per(self.major_faults),
        }
    }
}

/// One phase (the load, or one workload's run) on one I/O mode.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PhaseReport {
    /// `load`, or the workload's letter.
    pub(crate) phase: String,
    pub(crate) io_mode: String,
    /// The request distribution (none for the load).
    pub(crate) distribution: Option<DistributionKind>,
    pub(crate) thread_count: usize,
    /// Operations done (records inserted, in the load).
    pub(crate) operation_count: u64,
    pub(crate) elapsed_seconds: f64,
    pub(crate) ops_per_second: f64,
    /// What one latency sample is: one operation, or one load transaction.
    pub(crate) latency_of: String,
    pub(crate) latency_us: Percentiles,
    /// Per operation kind (the kinds the phase ran).
    pub(crate) operations: Vec<OperationRow>,
    pub(crate) per_operation: PerOperation,
    pub(crate) totals: Totals,
    /// Pool hits over hits and misses (frames only: in mmap mode unchanged pages are read in
    /// place and are in neither count); none when there were neither (another engine, which
    /// reports no pool counters).
    pub(crate) pool_hit_ratio: Option<f64>,
    pub(crate) conflict_retries: u64,
    /// Reads that found no record (a correct engine never has any).
    pub(crate) not_found: u64,
    pub(crate) records_scanned: u64,
    /// What was done to the kernel's caches before the phase (after the open).
    pub(crate) caches_before: String,
    /// Bytes of the data file in the kernel's page cache when the phase started (`fincore`;
    /// none for the load, whose file is new, or where `fincore` is missing).
    pub(crate) resident_bytes_at_start: Option<u64>,
    /// Seconds `Db::open` took before the phase (recovery and the free-space rebuild, which
    /// reads every page of the tree).
    pub(crate) open_seconds: f64,
    /// The checkpoint closing the phase: its duration and the pages it wrote, outside the
    /// timed window and the per-operation costs (inside them for the load).
    pub(crate) checkpoint_seconds: f64,
    pub(crate) checkpoint_pages_written: u64,
    /// The memory limit of the process during the phase and its peak, from before the open to
    /// after the close.
    pub(crate) memory: PhaseMemory,
}

/// What [`PhaseReport::new`] needs besides the run itself.
#[derive(Debug)]
pub(crate) struct PhaseContext<'a> {
    pub(crate) phase: String,
    /// The target's label (the I/O mode, or the other engine's name).
    pub(crate) label: String,
    pub(crate) distribution: Option<DistributionKind>,
    pub(crate) thread_count: usize,
    pub(crate) latency_of: String,
    pub(crate) caches_before: String,
    pub(crate) resident_bytes_at_start: Option<u64>,
    pub(crate) usage: Usage,
    /// The engine's counters, when it has them (directdb).
    pub(crate) stats_before: Option<&'a DbStats>,
    pub(crate) stats_after: Option<&'a DbStats>,
}

impl PhaseReport {
    pub(crate) fn new(context: PhaseContext<'_>, run: &PhaseRun) -> PhaseReport {
        let totals = Totals::between(&context.usage, context.stats_before, context.stats_after);
        let accesses = totals.pool_hits + totals.pool_misses;
        let elapsed_seconds = run.elapsed.as_secs_f64();
        let operations = OperationKind::ALL
            .into_iter()
            .filter(|&kind| !run.tally.latencies(kind).is_empty())
            .map(|kind| OperationRow {
                kind,
                count: run.tally.latencies(kind).len(),
                latency_us: Percentiles::of(run.tally.latencies(kind)),
            })
            .collect();
        PhaseReport {
            phase: context.phase,
            io_mode: context.label,
            distribution: context.distribution,
            thread_count: context.thread_count,
            operation_count: run.operation_count,
            elapsed_seconds,
            ops_per_second: run.operation_count as f64 / elapsed_seconds.max(1e-9),
            latency_of: context.latency_of,
            latency_us: Percentiles::of(&run.tally.all_latencies()),
            operations,
            per_operation: totals.per_operation(run.operation_count),
            pool_hit_ratio: (accesses != 0).then(|| totals.pool_hits as f64 / accesses as f64),
            totals,
            conflict_retries: run.tally.conflict_retries,
            not_found: run.tally.not_found,
            records_scanned: run.tally.records_scanned,
            caches_before: context.caches_before,
            resident_bytes_at_start: context.resident_bytes_at_start,
            open_seconds: 0.0,
            checkpoint_seconds: 0.0,
            checkpoint_pages_written: 0,
            memory: PhaseMemory::default(),
        }
    }
}

/// The data file as the I/O mode opened it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileFacts {
    pub(crate) path: PathBuf,
    pub(crate) file_system: String,
    /// The I/O path in use (buffered when direct I/O fell back).
    pub(crate) io_mode_used: String,
    pub(crate) fallback_reasons: Vec<String>,
    /// The data file's size after the load.
    pub(crate) size_bytes_after_load: u64,
    /// Pages of it listed free after the load's checkpoint (the rest hold the tree).
    pub(crate) free_pages_after_load: usize,
}

/// Everything measured on one I/O mode, on its own fresh directory.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModeReport {
    /// The column's label: directdb's I/O mode, or the other engine's name.
    pub(crate) io_mode: String,
    /// `directdb`, or the other engine's name.
    pub(crate) engine: String,
    /// What another engine says about its version, cache and durability as applied.
    pub(crate) engine_notes: Vec<String>,
    pub(crate) file: FileFacts,
    pub(crate) memory: ModeMemory,
    pub(crate) load: PhaseReport,
    pub(crate) runs: Vec<PhaseReport>,
}

impl MemoryReport for ModeReport {
    fn memory(&self) -> &ModeMemory {
        &self.memory
    }

    fn memory_mut(&mut self) -> &mut ModeMemory {
        &mut self.memory
    }

    fn phase_memories(&self) -> Vec<(&str, PhaseMemory)> {
        std::iter::once(&self.load)
            .chain(&self.runs)
            .map(|phase| (phase.phase.as_str(), phase.memory))
            .collect()
    }
}

/// One phase's throughput on every I/O mode, and direct I/O's over the others'.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Comparison {
    pub(crate) phase: String,
    pub(crate) ops_per_second: BTreeMap<String, f64>,
    pub(crate) direct_over_buffered: Option<f64>,
    pub(crate) direct_over_mmap: Option<f64>,
    /// directdb on direct I/O over every other column (other engines included).
    pub(crate) direct_over: BTreeMap<String, f64>,
}

impl Comparison {
    /// The comparisons of every phase the modes ran, in the order the first mode ran them.
    pub(crate) fn of(modes: &[ModeReport]) -> Vec<Comparison> {
        let Some(first) = modes.first() else { return Vec::new() };
        let phases = std::iter::once(&first.load).chain(&first.runs).map(|row| row.phase.clone());
        phases
            .map(|phase| {
                let ops_per_second: BTreeMap<String, f64> = modes
                    .iter()
                    .flat_map(|mode| std::iter::once(&mode.load).chain(&mode.runs))
                    .filter(|row| row.phase == phase)
                    .map(|row| (row.io_mode.clone(), row.ops_per_second))
                    .collect();
                let over = |other: &str| {
                    let direct = ops_per_second.get(IoMode::Direct.name())?;
                    let other = ops_per_second.get(other)?;
                    (*other > 0.0).then(|| direct / other)
                };
                let direct_over = ops_per_second
                    .keys()
                    .filter(|label| *label != IoMode::Direct.name())
                    .filter_map(|label| Some((label.clone(), over(label)?)))
                    .collect();
                Comparison {
                    direct_over_buffered: over(IoMode::Buffered.name()),
                    direct_over_mmap: over(IoMode::Mmap.name()),
                    direct_over,
                    phase,
                    ops_per_second,
                }
            })
            .collect()
    }
}

/// The settings a report was measured with.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Settings {
    pub(crate) directory: PathBuf,
    pub(crate) workloads: Vec<String>,
    pub(crate) record_count: u64,
    pub(crate) value_bytes: usize,
    pub(crate) key_bytes: usize,
    /// Record count times value bytes.
    pub(crate) dataset_bytes: u64,
    pub(crate) pool_bytes: u64,
    /// The dataset over the pool.
    pub(crate) dataset_over_pool: f64,
    pub(crate) page_bytes: usize,
    pub(crate) thread_count: usize,
    pub(crate) stop: Stop,
    /// `--distribution`, when given (otherwise each workload's standard one).
    pub(crate) distribution: Option<DistributionKind>,
    pub(crate) durability: String,
    /// directdb checkpoints in a background thread (`false`: `--inline-checkpoints`).
    pub(crate) background_checkpoints: bool,
    pub(crate) load_batch_records: u64,
    pub(crate) io_modes: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct YcsbReport {
    pub(crate) settings: Settings,
    pub(crate) memory_budget: BudgetReport,
    /// What is done to the kernel's caches before each phase.
    pub(crate) cache_policy: String,
    /// Where each per-operation number comes from.
    pub(crate) sources: BTreeMap<&'static str, &'static str>,
    pub(crate) modes: Vec<ModeReport>,
    pub(crate) comparisons: Vec<Comparison>,
    /// The targets that failed, which have no column (the command fails after the report).
    pub(crate) failures: Vec<Failure>,
    pub(crate) elapsed_seconds: f64,
}

pub(crate) use crate::bench::memory_budget::Failure;

/// Where each per-operation number comes from, for the report and its reader.
pub(crate) fn sources() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "device_read_bytes",
            "/proc/self/io read_bytes: bytes every thread of the process made the block layer \
             read (page-cache hits excluded)",
        ),
        (
            "device_write_bytes",
            "/proc/self/io write_bytes: bytes every thread made the block layer write, data \
             pages and the log (buffered/mmap: counted when the page is dirtied)",
        ),
        ("pool_pages_read", "buffer pool stats: pages read from the data file (misses, prefetch)"),
        ("pool_pages_written", "buffer pool stats: pages written back"),
        ("wal_bytes_written", "log stats: bytes the log wrote"),
        (
            "resident_bytes_at_start",
            "fincore (mincore): bytes of the data file in the page cache as the phase starts, \
             after the caches were dropped",
        ),
        ("cpu_us", "/proc/self/stat utime + stime of every thread, clock-tick resolution"),
        ("major_faults", "/proc/self/stat majflt: page faults that read from the device (mmap)"),
        (
            "pool_hit_ratio",
            "buffer pool hits / (hits + misses); in mmap mode unchanged pages are read in place \
             from the mapping and are in neither count",
        ),
    ])
}

#[cfg(test)]
impl YcsbReport {
    /// A report of made-up numbers for the code that draws or prints reports: one mode per
    /// label, each with the first phase as its load and the others as runs. Throughput and
    /// latency grow with the label's and the phase's positions so every value differs: label
    /// `l`, phase `p` (from 0) runs `1000 (l + 1) (p + 1)` ops/s at a p50 of `10 (l + 1)` µs,
    /// a p99 ten times that and a p99.9 a hundred times.
    pub(crate) fn synthetic(labels: &[&str], phases: &[&str]) -> YcsbReport {
        assert!(!phases.is_empty(), "every mode has a load");
        let modes: Vec<ModeReport> = labels
            .iter()
            .enumerate()
            .map(|(label_index, label)| {
                let mut rows = phases.iter().enumerate().map(|(phase_index, phase)| {
                    let scale = (label_index + 1) as f64;
                    synthetic_phase(label, phase, scale * (phase_index + 1) as f64, 10.0 * scale)
                });
                let load = rows.next().expect("phases is not empty");
                ModeReport {
                    io_mode: (*label).to_string(),
                    engine: (*label).to_string(),
                    engine_notes: Vec::new(),
                    file: FileFacts {
                        path: PathBuf::from(format!("/nonexistent/{label}/data")),
                        file_system: "tmpfs".into(),
                        io_mode_used: (*label).to_string(),
                        fallback_reasons: Vec::new(),
                        size_bytes_after_load: 1 << 20,
                        free_pages_after_load: 0,
                    },
                    memory: ModeMemory {
                        how: "not enforced: made up".into(),
                        ..ModeMemory::in_process(1 << 20)
                    },
                    load,
                    runs: rows.collect(),
                }
            })
            .collect();
        YcsbReport {
            settings: Settings {
                directory: PathBuf::from("/nonexistent"),
                workloads: phases.iter().skip(1).map(|phase| (*phase).to_string()).collect(),
                record_count: 1000,
                value_bytes: 100,
                key_bytes: 16,
                dataset_bytes: 100_000,
                pool_bytes: 1 << 20,
                dataset_over_pool: 100_000.0 / f64::from(1 << 20),
                page_bytes: 4096,
                thread_count: 2,
                stop: Stop::Operations(1000),
                distribution: None,
                durability: "none".into(),
                background_checkpoints: true,
                load_batch_records: 10,
                io_modes: labels.iter().map(|label| (*label).to_string()).collect(),
            },
            memory_budget: BudgetReport {
                budget_bytes: 1 << 20,
                headroom_bytes: 1 << 20,
                limit_bytes: 2 << 20,
                limit_rule: LimitRule::SameAsDirect,
                pool_share_percent: 25,
                enforced: false,
                note: "made up".into(),
            },
            cache_policy: "synthetic".into(),
            sources: sources(),
            comparisons: Comparison::of(&modes),
            modes,
            failures: Vec::new(),
            elapsed_seconds: 1.0,
        }
    }
}

#[cfg(test)]
fn synthetic_phase(label: &str, phase: &str, thousands: f64, p50_us: f64) -> PhaseReport {
    PhaseReport {
        phase: phase.into(),
        io_mode: label.into(),
        distribution: None,
        thread_count: 2,
        operation_count: 1000,
        elapsed_seconds: 1.0 / thousands,
        ops_per_second: 1000.0 * thousands,
        latency_of: "one operation".into(),
        latency_us: Percentiles {
            p50: p50_us,
            p99: 10.0 * p50_us,
            p999: 100.0 * p50_us,
            max: 1000.0 * p50_us,
        },
        operations: Vec::new(),
        per_operation: PerOperation::default(),
        totals: Totals::default(),
        pool_hit_ratio: Some(1.0),
        conflict_retries: 0,
        not_found: 0,
        records_scanned: 0,
        caches_before: "synthetic".into(),
        resident_bytes_at_start: None,
        open_seconds: 0.0,
        checkpoint_seconds: 0.0,
        checkpoint_pages_written: 0,
        memory: PhaseMemory::default(),
    }
}

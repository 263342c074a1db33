//! `directdb bench ycsb` (and plain `directdb bench`): the YCSB core workloads on the public
//! `Db` API, on each I/O mode in turn, side by side in one run.
//!
//! For each I/O mode, on a fresh directory `--dir/directdb-ycsb-<mode>`:
//! 1. **Load**: open the database, insert the records (`driver::load`), checkpoint, close.
//! 2. **Run**, per workload: reopen the database (an empty pool), drop the kernel's caches (as
//!    root), run the workload for the operations or seconds asked (`driver::run`), checkpoint
//!    (outside the timed window), close. Inserts of D and E carry over to later workloads, as
//!    they do in a YCSB session that runs workloads one after another on one database.
//!
//! Each is a phase of the memory limit ([`PhaseMeter`]): its limit is set before its open, and
//! its peak measured from there to after its close.
//!
//! Every mode runs the same key sequences (one seed), so the modes differ only in how the
//! engine reaches the file. What each number is and where it comes from is in
//! [`report::sources`].
//!
//! **Equal memory.** Every mode gets the same memory, as the limit of a memory cgroup that
//! counts the page cache too, with each mode in a child process of its own
//! ([`crate::bench::child`]): direct I/O, which runs first, the budget (`--pool-mb`) plus a
//! headroom for its heap (`--memory-headroom-mb`); every later mode, phase by phase, what
//! direct I/O's process peaked at in the same phase (`--memory-limit`,
//! [`crate::bench::memory_budget`]). Direct I/O gives the whole budget to its pool; buffered
//! I/O and mmap give their pool `--pool-share` percent of it and leave the rest to the kernel's
//! page cache, which the limit holds to what is left. Without root (no cgroup) the modes still
//! run in child processes, unlimited, and the report's [`BudgetReport`] says the budget was not
//! enforced. The budget and the child process are shared with `bench tpcc`
//! ([`crate::bench::memory_budget`], [`crate::bench::child`]).
//!
//! Modules: `workload` (the mixes), `distribution` (zipfian, scrambled zipfian, uniform, latest),
//! `driver` (threads, load, run, operations), `target` (directdb on an I/O mode, or another
//! engine), `usage` (`/proc/self` readings), `report` (what is reported), `plot` (the report as
//! an SVG), `cache` (the kernel's page cache), `progress` (stderr).

pub(crate) mod cache;
mod distribution;
mod driver;
mod plot;
mod progress;
mod report;
mod target;
pub(crate) mod usage;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::{Durability, IoMode, Options};

use crate::bench::child::{self, Benchmark, Isolation, durability_serde, io_modes_serde};
use crate::bench::kv::Store;
use crate::bench::memory_budget::{
    self, BudgetReport, MemoryBudget, ModeMemory, PhaseLimits, PhaseMeter,
};
use crate::bench::scratch::RemoveOnDrop;
use crate::bench::workers;

pub(crate) use crate::bench::workers::Stop;
pub(crate) use distribution::DistributionKind;
pub(crate) use plot::write_svg;
pub(crate) use progress::Progress;
pub(crate) use report::{
    Comparison, Failure, FileFacts, ModeReport, PerOperation, Percentiles, PhaseReport, Totals,
    YcsbReport,
};
pub(crate) use target::{DIRECTDB, parse_engines};
pub(crate) use usage::Usage;
pub(crate) use workload::Workload;

use driver::{InsertSequence, LoadSettings, RunSettings};
use report::{PhaseContext, Settings};
use target::Target;

/// Records of the default suite: 200,000 records of 1000 bytes are 191 MiB of values, 4.0
/// times the default pool (the B+tree's leaves hold about two 1 KB records per 4 KiB page, so
/// the file is about 10 times the pool). With the loads and the reopens, 250,000 records took
/// the default suite to 5 minutes on a 2-vCPU machine; this leaves a margin.
pub(crate) const RECORD_COUNT_DEFAULT: u64 = 200_000;
/// Bytes of each value: YCSB's ten fields of 100 bytes, as one value.
pub(crate) const VALUE_BYTES_DEFAULT: usize = 1000;
/// Seconds of each run phase of the default suite: 3 modes x 4 workloads x 10 s, with the
/// loads and reopens, stays under 5 minutes on a 2-vCPU machine.
pub(crate) const SECONDS_DEFAULT: f64 = 10.0;
/// Client threads: enough for group commit to share flushes and for misses to overlap on a
/// 2-core machine.
pub(crate) const THREAD_COUNT_DEFAULT: usize = 8;
/// Records per load transaction: one durable commit per 100 records keeps the load from being
/// a test of the log's flush rate (about 5K flushes/s on this machine kind).
pub(crate) const LOAD_BATCH_RECORDS_DEFAULT: u64 = 100;
/// The default workloads.
pub(crate) const WORKLOADS_DEFAULT: &str = "a,b,c,f";
/// Fewest records: the zipfian generators need two items.
pub(crate) const RECORD_COUNT_MIN: u64 = 2;
/// Most records: 10^10 is the scrambled zipfian's item space, past which keys stop spreading.
pub(crate) const RECORD_COUNT_MAX: u64 = distribution::SCRAMBLED_ITEM_COUNT;
/// Most records per load transaction (the whole batch is held in memory until commit).
pub(crate) const LOAD_BATCH_RECORDS_MAX: u64 = 10_000;
/// The name of the load phase, in the report and in the memory limits of the modes after direct
/// I/O (a workload's phase is named by its letter).
const LOAD_PHASE: &str = "load";
/// Seed of every thread's random generator (each thread and workload derives its own), the
/// same for every I/O mode so they run the same key sequences.
const SEED: u64 = 0x7963_7362; // "ycsb"

/// What to run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct YcsbOptions {
    /// Parent of the per-mode database directories.
    pub(crate) directory: PathBuf,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) record_count: u64,
    pub(crate) stop: Stop,
    pub(crate) thread_count: usize,
    /// The budget (`--pool-mb`), the headroom and the pool share of every mode.
    pub(crate) memory: MemoryBudget,
    pub(crate) value_bytes: usize,
    /// Overrides every workload's standard distribution when given.
    pub(crate) distribution: Option<DistributionKind>,
    #[serde(with = "durability_serde")]
    pub(crate) durability: Durability,
    pub(crate) page_bytes: usize,
    /// directdb checkpoints in a background thread (the default) rather than in the committing
    /// thread that takes the log past the checkpoint size (`--inline-checkpoints`).
    pub(crate) background_checkpoints: bool,
    #[serde(with = "io_modes_serde")]
    pub(crate) io_modes: Vec<IoMode>,
    /// `directdb` (on each of `io_modes`) and other engines' names, in run order.
    pub(crate) engines: Vec<String>,
    pub(crate) load_batch_records: u64,
    /// Drop the kernel's caches before each phase (as root); tests and shared machines may not
    /// want a system-wide drop.
    pub(crate) drop_caches: bool,
    pub(crate) isolation: Isolation,
}

impl YcsbOptions {
    /// Checks what came from the command line before anything is written.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(RECORD_COUNT_MIN..=RECORD_COUNT_MAX).contains(&self.record_count) {
            return Err(format!(
                "--records must be from {RECORD_COUNT_MIN} to {RECORD_COUNT_MAX}, not {}",
                self.record_count
            ));
        }
        self.stop.check("--operations")?;
        workers::check_thread_count(self.thread_count)?;
        if !(1..=engine::VALUE_BYTES_MAX).contains(&self.value_bytes) {
            return Err(format!(
                "--value-bytes must be from 1 to {}, not {}",
                engine::VALUE_BYTES_MAX,
                self.value_bytes
            ));
        }
        if !(1..=LOAD_BATCH_RECORDS_MAX).contains(&self.load_batch_records) {
            return Err(format!(
                "--load-batch must be from 1 to {LOAD_BATCH_RECORDS_MAX}, not {}",
                self.load_batch_records
            ));
        }
        self.memory.validate()?;
        if self.workloads.is_empty() || self.io_modes.is_empty() {
            return Err("--workloads and --io each need at least one entry".into());
        }
        if Target::all(self).is_empty() {
            return Err("--engines names no engine".into());
        }
        Ok(())
    }

    /// The pool `io_mode` runs with ([`MemoryBudget::pool_bytes_of`]).
    pub(crate) fn pool_bytes_of(&self, io_mode: IoMode) -> u64 {
        self.memory.pool_bytes_of(io_mode, self.page_bytes)
    }

    /// The engine's options for `io_mode` (the page size and pool are checked by `Db::open`).
    pub(crate) fn engine_options(&self, io_mode: IoMode) -> Options {
        Options {
            page_size: self.page_bytes,
            pool_size: usize::try_from(self.pool_bytes_of(io_mode)).expect("checked in validate"),
            io: io_mode,
            durability: self.durability,
            background_checkpoints: self.background_checkpoints,
            ..Options::default()
        }
    }

    /// The distribution `workload` runs with.
    fn distribution_of(&self, workload: Workload) -> DistributionKind {
        self.distribution.unwrap_or(workload.standard_distribution())
    }

    /// Inserts a run of `workload` is expected to make, for the scrambled key space (YCSB's
    /// `expectednewkeys`: twice the operations times the insert share; a timed run counts as
    /// many operations as records).
    fn expected_insert_count(&self, workload: Workload) -> u64 {
        let operations = match self.stop {
            Stop::Operations(count) => count,
            Stop::Seconds(_) => self.record_count,
        };
        let share = workload.mix().proportion(workload::OperationKind::Insert);
        #[expect(clippy::cast_possible_truncation, reason = "non-negative, below 2^64 operations")]
        let expected = (operations as f64 * share * 2.0).ceil() as u64;
        expected
    }
}

/// Parses `--durability`.
pub(crate) fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "immediate" => Ok(Durability::Immediate),
        "eventual" => Ok(Durability::Eventual),
        "none" => Ok(Durability::None),
        other => Err(format!("--durability: {other:?}: expected immediate, eventual or none")),
    }
}

/// The name `--durability` takes for `durability`.
pub(crate) fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Immediate => "immediate",
        Durability::Eventual => "eventual",
        _ => "none",
    }
}

/// Runs the load and the workloads on every target, direct I/O first (its memory peak in each
/// phase sets the others' limit in that phase, [`memory_budget::Limits`]), then in the order
/// asked. A target that fails (an engine killed by its memory limit, a full disk) costs its own
/// column, not the others' measurements: the report names it, and the run fails only if every
/// target did.
pub(crate) fn run(options: &YcsbOptions, progress: Progress) -> Result<YcsbReport, String> {
    let started = Instant::now();
    options.validate()?;
    let (modes, failures) =
        run_targets(Target::all(options), options.memory, progress, |target, limit| match options
            .isolation
        {
            Isolation::InProcess => {
                run_mode(options, target, progress, &mut PhaseMeter::unlimited())
            }
            Isolation::ChildProcesses => {
                let request =
                    ModeRequest { options: options.clone(), target: target.name().into() };
                child::run_in_child(Benchmark::Ycsb(request), target.name(), limit, progress)
            }
        })?;
    Ok(YcsbReport {
        settings: settings(options),
        memory_budget: BudgetReport::of(
            &options.memory,
            modes.iter().map(|mode| (mode.io_mode.as_str(), &mode.memory)),
        ),
        cache_policy: cache::policy(options.drop_caches),
        sources: report::sources(),
        comparisons: Comparison::of(&modes),
        modes,
        failures,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// [`memory_budget::run_targets`] over ycsb's targets and reports.
fn run_targets(
    targets: Vec<Target>,
    memory: MemoryBudget,
    progress: Progress,
    run_one: impl FnMut(Target, (PhaseLimits, &'static str)) -> Result<ModeReport, String>,
) -> Result<(Vec<ModeReport>, Vec<Failure>), String> {
    let failed = |target: &str, error: &str| progress.failed(target, error);
    memory_budget::run_targets(targets, memory, failed, run_one)
}

fn settings(options: &YcsbOptions) -> Settings {
    let dataset_bytes = options.record_count.saturating_mul(options.value_bytes as u64);
    Settings {
        directory: options.directory.clone(),
        workloads: options.workloads.iter().map(|workload| workload.name().to_string()).collect(),
        record_count: options.record_count,
        value_bytes: options.value_bytes,
        key_bytes: driver::KEY_PREFIX.len() + driver::KEY_DIGITS,
        dataset_bytes,
        pool_bytes: options.memory.budget_bytes,
        dataset_over_pool: dataset_bytes as f64 / options.memory.budget_bytes.max(1) as f64,
        page_bytes: options.page_bytes,
        thread_count: options.thread_count,
        stop: options.stop,
        distribution: options.distribution,
        durability: durability_name(options.durability).into(),
        background_checkpoints: options.background_checkpoints,
        load_batch_records: options.load_batch_records,
        io_modes: options.io_modes.iter().map(|mode| mode.name().to_string()).collect(),
    }
}

/// What a child process runs of `bench ycsb` ([`Benchmark::Ycsb`]): one target, with the run's
/// options.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModeRequest {
    pub(crate) options: YcsbOptions,
    /// The target's name ([`Target::name`]).
    pub(crate) target: String,
}

impl ModeRequest {
    /// Runs the target in this process, each phase metered by `meter`: the child's side of
    /// [`child::run_in_child`].
    pub(crate) fn run(
        &self,
        progress: Progress,
        meter: &mut PhaseMeter,
    ) -> Result<ModeReport, String> {
        let target = Target::parse(&self.target)?;
        run_mode(&self.options, target, progress, meter)
    }
}

/// The load and every workload on one target (an engine on an I/O path), in a fresh directory
/// removed afterwards. `meter` sets each phase's memory limit before the phase opens the store
/// and reads its peak after the phase has closed it (the phase's functions drop it).
pub(crate) fn run_mode(
    options: &YcsbOptions,
    target: Target,
    progress: Progress,
    meter: &mut PhaseMeter,
) -> Result<ModeReport, String> {
    let directory = options.directory.join(format!("directdb-ycsb-{}", target.name()));
    let _remove = RemoveOnDrop::fresh_directory(&directory)?;
    meter.begin(LOAD_PHASE)?;
    let (mut load, free_pages) = load_phase(options, target, &directory, progress)?;
    load.memory = meter.end();
    let file = target.file_facts(&directory, free_pages)?;
    let sequence = InsertSequence::starting_at(options.record_count);
    let mut runs = Vec::new();
    for (index, &workload) in options.workloads.iter().enumerate() {
        meter.begin(workload.name())?;
        let mut run = run_phase(options, target, &directory, workload, index, &sequence, progress)?;
        run.memory = meter.end();
        runs.push(run);
    }
    let memory = ModeMemory {
        peak_bytes: meter.process_peak_bytes(),
        ..ModeMemory::in_process(target.cache_bytes(options))
    };
    Ok(ModeReport {
        io_mode: target.name().into(),
        engine: target.engine().into(),
        engine_notes: target.notes(options),
        file,
        memory,
        load,
        runs,
    })
}

/// Opens the store; returns it and the seconds the open took (recovery included, and for
/// directdb the free-space rebuild).
fn open_timed(
    options: &YcsbOptions,
    target: Target,
    directory: &Path,
) -> Result<(Box<dyn Store>, f64), String> {
    let started = Instant::now();
    let store = target.open(options, directory)?;
    Ok((store, started.elapsed().as_secs_f64()))
}

fn load_phase(
    options: &YcsbOptions,
    target: Target,
    directory: &Path,
    progress: Progress,
) -> Result<(PhaseReport, usize), String> {
    let caches_before = cache::drop_kernel_caches(options.drop_caches);
    let (db, open_seconds) = open_timed(options, target, directory)?;
    let db = &*db;
    progress.step(&format!("{}: load of {} records", target.name(), options.record_count));
    let settings = LoadSettings {
        record_count: options.record_count,
        value_bytes: options.value_bytes,
        thread_count: options.thread_count,
        batch_records: options.load_batch_records,
        seed: SEED,
    };
    let (usage_before, stats_before) = (Usage::now()?, db.stats());
    let run = {
        let bar = progress.bar(options.record_count, "records");
        driver::load(db, settings, |_, done| bar.set(done))?
    };
    // The load's pages reach the file in the checkpoint; its I/O is the load's.
    let (checkpoint_seconds, checkpoint_pages_written) = checkpoint(db)?;
    let (usage_after, stats_after) = (Usage::now()?, db.stats());
    let context = PhaseContext {
        phase: LOAD_PHASE.into(),
        label: target.name().into(),
        distribution: None,
        thread_count: options.thread_count,
        latency_of: format!("one transaction of {} inserts", options.load_batch_records),
        caches_before,
        resident_bytes_at_start: None,
        usage: usage_after.since(&usage_before),
        stats_before: stats_before.as_ref(),
        stats_after: stats_after.as_ref(),
    };
    let mut report = PhaseReport::new(context, &run);
    (report.checkpoint_seconds, report.checkpoint_pages_written) =
        (checkpoint_seconds, checkpoint_pages_written);
    report.open_seconds = open_seconds;
    Ok((report, stats_after.map_or(0, |stats| stats.free_pages)))
}

fn run_phase(
    options: &YcsbOptions,
    target: Target,
    directory: &Path,
    workload: Workload,
    workload_index: usize,
    sequence: &InsertSequence,
    progress: Progress,
) -> Result<PhaseReport, String> {
    let (db, open_seconds) = open_timed(options, target, directory)?;
    let db = &*db;
    // After the open, and after the load phase's writes, which would otherwise start
    // buffered and mmap runs with much of the file in the page cache.
    let caches_before = cache::drop_kernel_caches(options.drop_caches);
    let distribution = options.distribution_of(workload);
    let settings = RunSettings {
        mix: workload.mix(),
        chooser: distribution::KeyChooser::new(
            distribution,
            sequence.limit(),
            options.expected_insert_count(workload),
        ),
        value_bytes: options.value_bytes,
        thread_count: options.thread_count,
        stop: options.stop,
        seed: SEED ^ workload_index as u64,
    };
    let resident_bytes_at_start = cache::resident_bytes(&target.data_files(directory));
    progress.step(&format!("{}: workload {}", target.name(), workload.name()));
    let (usage_before, stats_before) = (Usage::now()?, db.stats());
    let run = {
        let (length, unit) = match options.stop {
            Stop::Operations(count) => (count, "operations"),
            Stop::Seconds(seconds) => (seconds_to_millis(seconds), "ms"),
        };
        let bar = progress.bar(length, unit);
        driver::run(db, sequence, &settings, |elapsed, done| match options.stop {
            Stop::Operations(_) => bar.set(done),
            Stop::Seconds(_) => bar.set(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)),
        })?
    };
    let (usage_after, stats_after) = (Usage::now()?, db.stats());
    let context = PhaseContext {
        phase: workload.name().into(),
        label: target.name().into(),
        distribution: Some(distribution),
        thread_count: options.thread_count,
        latency_of: "one operation".into(),
        caches_before,
        resident_bytes_at_start,
        usage: usage_after.since(&usage_before),
        stats_before: stats_before.as_ref(),
        stats_after: stats_after.as_ref(),
    };
    let mut report = PhaseReport::new(context, &run);
    (report.checkpoint_seconds, report.checkpoint_pages_written) = checkpoint(db)?;
    report.open_seconds = open_seconds;
    Ok(report)
}

/// Milliseconds of a timed run, for a progress bar.
pub(crate) fn seconds_to_millis(seconds: f64) -> u64 {
    #[expect(clippy::cast_possible_truncation, reason = "at most SECONDS_MAX * 1000")]
    let millis = (seconds * 1000.0).ceil() as u64;
    millis
}

/// Runs a checkpoint; returns its duration and the pages it wrote (when the store counts them).
pub(crate) fn checkpoint(store: &dyn Store) -> Result<(f64, u64), String> {
    let pages_written = || store.stats().map_or(0, |stats| stats.pool.pages_written);
    let started = Instant::now();
    let before = pages_written();
    store.checkpoint().map_err(|error| format!("checkpoint: {error}"))?;
    Ok((started.elapsed().as_secs_f64(), pages_written() - before))
}

/// The data file as directdb on `io_mode` opens it: its file system, and whether direct I/O
/// fell back.
pub(crate) fn file_facts(
    directory: &Path,
    io_mode: IoMode,
    free_pages: usize,
) -> Result<FileFacts, String> {
    Target::Directdb(io_mode).file_facts(directory, free_pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn tiny_options(directory: PathBuf) -> YcsbOptions {
        YcsbOptions {
            directory,
            workloads: Workload::ALL.to_vec(),
            record_count: 200,
            stop: Stop::Operations(300),
            thread_count: 2,
            memory: MemoryBudget {
                budget_bytes: 1 << 20,
                headroom_bytes: memory_budget::headroom_mb_default(2) << 20,
                pool_share_percent: memory_budget::POOL_SHARE_PERCENT_DEFAULT,
                limit_rule: memory_budget::LimitRule::SameAsDirect,
            },
            value_bytes: 100,
            distribution: None,
            durability: Durability::None,
            page_bytes: 4096,
            background_checkpoints: true,
            io_modes: vec![IoMode::Direct, IoMode::Buffered],
            engines: vec![DIRECTDB.into()],
            load_batch_records: 10,
            drop_caches: false,
            isolation: Isolation::InProcess,
        }
    }

    /// Direct I/O runs first whatever the order asked; the modes after it get its peak in each
    /// phase as their limit in that phase (its whole process's where it has none); a failure
    /// is recorded and the others still run; only all failing is an error.
    #[test]
    fn targets_run_direct_first_under_its_peak_and_survive_a_failure() {
        let options = tiny_options(PathBuf::from("/nonexistent"));
        let targets = [IoMode::Mmap, IoMode::Buffered, IoMode::Direct].map(Target::Directdb);
        let (direct_peak, direct_c_peak) = (3 << 20, 2 << 20);
        let mut limits = Vec::new();
        let (modes, failures) =
            run_targets(targets.to_vec(), options.memory, Progress::off(), |target, limit| {
                limits.push((target.name(), limit.clone()));
                if target == Target::Directdb(IoMode::Buffered) {
                    return Err("killed".into());
                }
                let mut mode =
                    YcsbReport::synthetic(&[target.name()], &["load", "c", "a"]).modes.remove(0);
                mode.memory = ModeMemory {
                    limit_bytes: Some(limit.0.process_bytes),
                    peak_bytes: Some(direct_peak),
                    enforced: true,
                    ..mode.memory
                };
                mode.load.memory.peak_bytes = Some(direct_peak);
                mode.runs[0].memory.peak_bytes = Some(direct_c_peak);
                Ok(mode)
            })
            .unwrap();
        let limit = options.memory.limit_bytes();
        let slack = memory_budget::IN_FLIGHT_SLACK_MB << 20;
        let later = PhaseLimits {
            process_bytes: direct_peak + slack,
            phase_bytes: [("load", direct_peak + slack), ("c", direct_c_peak + slack)]
                .map(|(phase, bytes)| (phase.to_string(), bytes))
                .into(),
        };
        assert_eq!(later.of("a"), direct_peak + slack, "a: no peak, the process's");
        assert_eq!(
            limits,
            [
                ("direct", (PhaseLimits::uniform(limit), "--memory-headroom-mb")),
                ("mmap", (later.clone(), "--memory-limit headroom")),
                ("buffered", (later, "--memory-limit headroom")),
            ]
        );
        let labels: Vec<&str> = modes.iter().map(|mode| mode.io_mode.as_str()).collect();
        assert_eq!(labels, ["direct", "mmap"]);
        assert_eq!(failures.len(), 1);
        assert_eq!(
            (failures[0].target.as_str(), failures[0].error.as_str()),
            ("buffered", "killed")
        );

        let headroom =
            MemoryBudget { limit_rule: memory_budget::LimitRule::Headroom, ..options.memory };
        let mut limits = Vec::new();
        let (modes, failures) =
            run_targets(targets.to_vec(), headroom, Progress::off(), |target, limit| {
                limits.push(limit.0);
                let mut mode = YcsbReport::synthetic(&[target.name()], &["load"]).modes.remove(0);
                mode.memory =
                    ModeMemory { peak_bytes: Some(direct_peak), enforced: true, ..mode.memory };
                mode.load.memory.peak_bytes = Some(direct_peak);
                Ok(mode)
            })
            .unwrap();
        assert_eq!((modes.len(), failures.len()), (3, 0));
        let expected = [limit; 3].map(PhaseLimits::uniform);
        assert_eq!(limits, expected, "--memory-limit headroom: budget + headroom for every mode");

        let error = run_targets(targets.to_vec(), options.memory, Progress::off(), |target, _| {
            Err(format!("{} broke", target.name()))
        })
        .unwrap_err();
        assert_eq!(error, "direct: direct broke; mmap: mmap broke; buffered: buffered broke");
    }

    #[test]
    fn options_from_the_command_line_are_checked() {
        let good = tiny_options(PathBuf::from("/nonexistent"));
        assert_eq!(good.validate(), Ok(()));
        let no_share = MemoryBudget { pool_share_percent: 0, ..good.memory };
        let cases: [(YcsbOptions, &str); 9] = [
            (YcsbOptions { memory: no_share, ..good.clone() }, "--pool-share"),
            (YcsbOptions { record_count: 1, ..good.clone() }, "--records"),
            (YcsbOptions { stop: Stop::Operations(0), ..good.clone() }, "--operations"),
            (YcsbOptions { stop: Stop::Seconds(f64::NAN), ..good.clone() }, "--seconds"),
            (
                YcsbOptions { stop: Stop::Seconds(workers::SECONDS_MAX + 1.0), ..good.clone() },
                "--seconds",
            ),
            (YcsbOptions { thread_count: 0, ..good.clone() }, "--threads"),
            (YcsbOptions { value_bytes: 0, ..good.clone() }, "--value-bytes"),
            (YcsbOptions { load_batch_records: 0, ..good.clone() }, "--load-batch"),
            (YcsbOptions { io_modes: Vec::new(), ..good.clone() }, "--io"),
        ];
        for (options, flag) in cases {
            assert!(options.validate().unwrap_err().contains(flag), "{flag}");
        }
        assert_eq!(parse_durability("eventual"), Ok(Durability::Eventual));
        assert!(parse_durability("sometimes").unwrap_err().contains("expected"));
    }

    #[test]
    fn expected_inserts_are_twice_the_insert_share_of_the_operations() {
        let options = tiny_options(PathBuf::from("/nonexistent"));
        assert_eq!(options.expected_insert_count(Workload::D), 30);
        assert_eq!(options.expected_insert_count(Workload::A), 0);
        let timed = YcsbOptions { stop: Stop::Seconds(1.0), ..options };
        assert_eq!(timed.expected_insert_count(Workload::E), 20);
    }

    /// The child's side of a mode run in a child process, here in this process: the request
    /// goes through JSON to [`child::serve`], which runs the target it names and answers with
    /// its report as JSON, which reads back as that target's report (the memory is the
    /// in-process one until the parent fills in the cgroup's).
    #[test]
    fn a_child_request_and_its_report_round_trip_through_json() {
        let directory = tempfile::tempdir().unwrap();
        let options = YcsbOptions {
            workloads: vec![Workload::C],
            ..tiny_options(directory.path().to_path_buf())
        };
        let pool_bytes = options.pool_bytes_of(IoMode::Buffered);
        let request = child::ChildRequest {
            benchmark: Benchmark::Ycsb(ModeRequest { options, target: "buffered".into() }),
            cgroup_procs: None,
            limits: PhaseLimits::uniform(u64::MAX),
            progress: false,
        };
        let answer = child::serve(&serde_json::to_string(&request).unwrap()).unwrap();
        let report: ModeReport = serde_json::from_str(&answer).unwrap();
        assert_eq!(report.io_mode, "buffered");
        assert_eq!(report.load.operation_count, 200);
        let phases: Vec<&str> = report.runs.iter().map(|run| run.phase.as_str()).collect();
        assert_eq!(phases, ["c"]);
        assert_eq!(report.runs[0].operation_count, 300);
        assert_eq!(report.memory, ModeMemory::in_process(pool_bytes));
        assert_eq!(report.runs[0].memory, memory_budget::PhaseMemory::default(), "no cgroup");
        let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// The whole benchmark on two I/O modes, tiny: every phase ran and counted its operations,
    /// no record went missing, the modes are compared, and nothing is left behind.
    #[test]
    fn a_tiny_run_reports_every_phase_of_every_mode() {
        let directory = tempfile::tempdir().unwrap();
        let options = tiny_options(directory.path().to_path_buf());
        let report = run(&options, Progress::off()).unwrap();
        assert_eq!(report.modes.len(), 2);
        for mode in &report.modes {
            assert_eq!(mode.load.operation_count, 200);
            assert_eq!(mode.load.totals.commits, 20, "one commit per batch of 10");
            assert!(mode.file.size_bytes_after_load > 0);
            let phases: Vec<&str> = mode.runs.iter().map(|run| run.phase.as_str()).collect();
            assert_eq!(phases, ["a", "b", "c", "d", "e", "f"]);
            for run in &mode.runs {
                assert_eq!(run.operation_count, 300, "{}", run.phase);
                assert_eq!(run.not_found, 0, "{}", run.phase);
                let counted: u64 = run.operations.iter().map(|row| row.count).sum();
                assert_eq!(counted, 300, "{}", run.phase);
            }
        }
        assert_eq!(report.comparisons.len(), 7, "the load and six workloads");
        assert!(report.comparisons.iter().all(|row| row.direct_over_buffered.is_some()));
        assert!(report.comparisons.iter().all(|row| row.direct_over_mmap.is_none()));
        let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

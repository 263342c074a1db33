//! The memory budget of a workload benchmark (`bench ycsb`, `bench tpcc`): every I/O mode gets
//! the same memory in every phase, and the report says how much each had and whether the limit
//! held.
//!
//! The budget (`--pool-mb`) is what the engine may cache: direct I/O, which has no other cache,
//! gives all of it to its pool; buffered I/O and mmap give their pool `--pool-share` percent of
//! it and leave the rest to the kernel's page cache. Direct I/O runs first, under a limit of
//! the budget plus a headroom for its heap (`--memory-headroom-mb`), and its process measures
//! its peak in each phase (the load, each workload or run: from before the phase's open to
//! after its close). The modes after it run each phase under the memory direct I/O's process
//! actually peaked at in the same phase, plus a little room for pages being written
//! ([`IN_FLIGHT_SLACK_MB`]) ([`LimitRule::SameAsDirect`], the default): the kernel's page cache
//! grows into whatever memory is left, and direct I/O's pool cannot, so a limit of budget +
//! headroom would give page-cache modes the part of the headroom direct I/O's heap left unused,
//! and one limit for the whole process would give a read-only phase the heap direct I/O's load
//! needed (its committed versions) as page cache. They run the same engine code with a smaller
//! pool, so their heap fits where direct I/O's did. A phase direct I/O has no peak for (on
//! cgroup v2, whose peak cannot be reset on every kernel) gets what direct I/O's process peaked
//! at over its whole life ([`PhaseLimits`]). `--memory-limit headroom` gives every mode the
//! budget and the headroom in every phase instead. The limit itself is a memory cgroup
//! ([`crate::bench::memory_limit`]), made by the parent of the mode's process
//! ([`crate::bench::child`]) with the most any phase may get, and set before each phase by the
//! process in it ([`PhaseMeter`]).

use std::collections::BTreeMap;

use engine::IoMode;

use crate::bench::memory_limit::CgroupFiles;
use crate::bench::ycsb::usage::Usage;

/// MiB of the default budget, the same for `bench ycsb` and `bench tpcc`, whose default data
/// sets are sized against it (4 and 2 times it).
pub(crate) const BUDGET_MB_DEFAULT: u64 = 48;
/// MiB of memory each mode's process may use besides the budget (its heap), before the part
/// that grows with the client threads ([`HEADROOM_MB_PER_THREAD`]). Measured with direct I/O
/// (cgroup peak minus the 48 MiB pool): 30 MiB over `bench ycsb`'s default suite at 8 threads,
/// 70 MiB for workload A with durable commits at 32 threads; `bench tpcc`'s default peaked 34
/// MiB over the pool. Those heaps are mostly committed values the version store keeps until its
/// next collection, the client threads' buffers and latency histograms. (The headroom was 64
/// MiB while log recovery held whole 16 MiB segments at an open, a spike to 62 MiB over the
/// pool, and latency histograms took 1 MiB per thread; recovery now reads through a 2 MiB
/// window and histograms grow as needed.) 32 + 2 per thread leaves 18 MiB of margin at 8
/// threads and 26 at 32. What the heap leaves of the headroom is page cache for buffered and
/// mmap runs, which direct I/O's pool cannot use: the report gives each mode's peak so the
/// reader can see it.
pub(crate) const HEADROOM_MB_BASE: u64 = 32;
/// MiB of headroom per client thread: its stack, its transaction's buffers and the versions
/// its commits leave, and its latency histograms (measured: 1.7 MiB per thread from 8 to 32).
pub(crate) const HEADROOM_MB_PER_THREAD: u64 = 2;
/// Percent of the budget buffered and mmap runs give their pool; the kernel's page cache gets
/// the rest. Their pool holds the pages being changed and the hottest ones (a hit there costs
/// no system call); the page cache serves the rest without a device read when it can.
pub(crate) const POOL_SHARE_PERCENT_DEFAULT: u64 = 25;
/// The smallest pool a buffered or mmap run is given, in pages: enough for every client
/// thread's descent and the writer's batches.
const POOL_PAGES_MIN: u64 = 256;

/// The default headroom for `thread_count` client threads: 48 MiB for the default 8.
pub(crate) fn headroom_mb_default(thread_count: usize) -> u64 {
    HEADROOM_MB_BASE + HEADROOM_MB_PER_THREAD * thread_count as u64
}

/// The memory limit of the modes that run after direct I/O (`--memory-limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LimitRule {
    /// In each phase, what direct I/O's process peaked at in that phase (its pool, heap and any
    /// page cache it had) plus [`IN_FLIGHT_SLACK_MB`], when it ran under a limit; what it
    /// peaked at over its whole life plus the slack in a phase it has no peak for; budget +
    /// headroom when it ran under no limit.
    SameAsDirect,
    /// Budget + headroom for every mode.
    Headroom,
}

impl LimitRule {
    /// The name on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LimitRule::SameAsDirect => "same-as-direct",
            LimitRule::Headroom => "headroom",
        }
    }

    /// The inverse of [`LimitRule::name`].
    pub(crate) fn parse(name: &str) -> Result<LimitRule, String> {
        [LimitRule::SameAsDirect, LimitRule::Headroom]
            .into_iter()
            .find(|rule| rule.name() == name)
            .ok_or_else(|| format!("--memory-limit {name:?}: expected same-as-direct or headroom"))
    }
}

/// What every mode of a run gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct MemoryBudget {
    /// `--pool-mb`: direct I/O's pool; buffered and mmap's pool and page cache.
    pub(crate) budget_bytes: u64,
    /// `--memory-headroom-mb`: what each mode's process may use besides the budget.
    pub(crate) headroom_bytes: u64,
    /// `--pool-share`: percent of the budget buffered and mmap runs give their pool.
    pub(crate) pool_share_percent: u64,
    /// `--memory-limit`: the limit of the modes after direct I/O.
    pub(crate) limit_rule: LimitRule,
}

impl MemoryBudget {
    /// Checks what came from the command line.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if usize::try_from(self.budget_bytes).is_err() {
            return Err(format!("--pool-mb: {} bytes do not fit in memory", self.budget_bytes));
        }
        if !(1..=100).contains(&self.pool_share_percent) {
            return Err(format!(
                "--pool-share must be from 1 to 100 (percent), not {}",
                self.pool_share_percent
            ));
        }
        if self.budget_bytes.checked_add(self.headroom_bytes).is_none() {
            return Err("--pool-mb plus --memory-headroom-mb overflows".into());
        }
        Ok(())
    }

    /// The memory limit of direct I/O's process (and of every mode's under
    /// [`LimitRule::Headroom`]): the budget and the headroom.
    pub(crate) fn limit_bytes(&self) -> u64 {
        self.budget_bytes.saturating_add(self.headroom_bytes)
    }

    /// The pool `io_mode` runs with: the whole budget for direct I/O, which has no other cache;
    /// `pool_share_percent` of it for buffered I/O and mmap, whose page cache takes the rest,
    /// but never fewer than [`POOL_PAGES_MIN`] pages of `page_bytes` nor more than the budget.
    pub(crate) fn pool_bytes_of(&self, io_mode: IoMode, page_bytes: usize) -> u64 {
        if io_mode == IoMode::Direct {
            return self.budget_bytes;
        }
        // Divided first so that no budget that fits in memory overflows the product.
        let share = self.budget_bytes / 100 * self.pool_share_percent
            + self.budget_bytes % 100 * self.pool_share_percent / 100;
        share.max(POOL_PAGES_MIN * page_bytes as u64).min(self.budget_bytes)
    }
}

/// MiB a mode after direct I/O gets besides direct I/O's peak under [`LimitRule::SameAsDirect`]
/// at most: room for page-cache pages being written (the log's and the data file's), which
/// reclaim cannot drop until they are on the device. A memory cgroup v1 does not throttle a
/// group's dirty pages, so a limit with no room for them kills a buffered run whose page-cache
/// share is small (seen with a 1 MiB budget, where buffered I/O's pool is the whole budget). A
/// phase gets no more room than direct I/O's process wrote in it (a read-only phase, YCSB C,
/// whose open and close write a few hundred KiB, has few such pages), but never less than
/// [`PEAK_NOISE_SLACK_MB`].
pub(crate) const IN_FLIGHT_SLACK_MB: u64 = 4;

/// MiB a mode after direct I/O gets besides direct I/O's peak in every phase, however little
/// direct I/O wrote in it: the same code's peak differs from run to run. A peak read from the
/// memory cgroup counts the charges the kernel takes ahead per CPU (64 pages each, 512 KiB on
/// 2 CPUs), and the heap depends on when the threads allocate (the allocator's arenas, when the
/// version store collects). With no more room than direct I/O's writes, 8 of 90 tiny runs
/// (`bench ycsb --pool-mb 1`, three at once) had a buffered or mmap phase killed under a limit
/// of 3.4 to 3.8 MiB, direct I/O's peak + 8 to 100 KiB.
pub(crate) const PEAK_NOISE_SLACK_MB: u64 = 1;

/// The limits of one mode's phases, which its process sets before each phase's open
/// ([`PhaseMeter`]). Phases are matched by name (`load`, a workload's letter, `run`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PhaseLimits {
    /// The limit of the process: that of every phase not in `phase_bytes`, and the most any
    /// phase gets.
    pub(crate) process_bytes: u64,
    /// The limit of each phase direct I/O measured.
    pub(crate) phase_bytes: BTreeMap<String, u64>,
}

impl PhaseLimits {
    /// `bytes` for every phase.
    pub(crate) fn uniform(bytes: u64) -> PhaseLimits {
        PhaseLimits { process_bytes: bytes, phase_bytes: BTreeMap::new() }
    }

    /// The limit of `phase`.
    pub(crate) fn of(&self, phase: &str) -> u64 {
        let bytes = self.phase_bytes.get(phase).copied().unwrap_or(self.process_bytes);
        assert!(bytes <= self.process_bytes, "{phase}: {bytes} over the process's limit");
        bytes
    }
}

/// The limits of a run's modes as they run one after another: direct I/O's first, then each
/// later mode's, phase by phase, from what direct I/O's process peaked at ([`LimitRule`]).
#[derive(Debug)]
pub(crate) struct Limits {
    budget: MemoryBudget,
    direct_peak_bytes: Option<u64>,
    /// Direct I/O's peak in each phase it measured, by the phase's name, and the bytes its
    /// process wrote to the block layer in the phase (`None`: not known).
    direct_phase_peak_bytes: BTreeMap<String, (u64, Option<u64>)>,
}

impl Limits {
    pub(crate) fn new(budget: MemoryBudget) -> Limits {
        Limits { budget, direct_peak_bytes: None, direct_phase_peak_bytes: BTreeMap::new() }
    }

    /// The limits of the next mode's phases, and the flag that raises them if the mode is
    /// killed for going over one. Each is a peak of direct I/O's plus [`IN_FLIGHT_SLACK_MB`]
    /// (or what direct I/O wrote in the phase, if less, but at least [`PEAK_NOISE_SLACK_MB`]),
    /// never above budget + headroom: the phase's own peak where direct I/O measured one, its
    /// whole process's peak otherwise.
    pub(crate) fn next(&self) -> (PhaseLimits, &'static str) {
        let cap_bytes = self.budget.limit_bytes();
        let (LimitRule::SameAsDirect, Some(peak)) =
            (self.budget.limit_rule, self.direct_peak_bytes)
        else {
            return (PhaseLimits::uniform(cap_bytes), "--memory-headroom-mb");
        };
        let with_slack = |peak: u64, written: Option<u64>| {
            let slack = written.map_or(IN_FLIGHT_SLACK_MB << 20, |written| {
                written.clamp(PEAK_NOISE_SLACK_MB << 20, IN_FLIGHT_SLACK_MB << 20)
            });
            peak.saturating_add(slack).min(cap_bytes)
        };
        let process_bytes = with_slack(peak, None);
        let phase_bytes = self
            .direct_phase_peak_bytes
            .iter()
            // The whole process's peak is at least each phase's; `min` keeps that so should a
            // reading disagree.
            .map(|(phase, &(peak, written))| {
                (phase.clone(), with_slack(peak, written).min(process_bytes))
            })
            .collect();
        (PhaseLimits { process_bytes, phase_bytes }, "--memory-limit headroom")
    }

    /// Notes what a mode had: direct I/O's peaks, under a limit, set the later modes' limits.
    pub(crate) fn ran(&mut self, io_mode: Option<IoMode>, report: &impl MemoryReport) {
        let memory = report.memory();
        if io_mode != Some(IoMode::Direct) || !memory.enforced {
            return;
        }
        self.direct_peak_bytes = memory.peak_bytes;
        self.direct_phase_peak_bytes = report
            .phase_memories()
            .into_iter()
            .filter_map(|(phase, memory)| {
                Some((phase.to_string(), (memory.peak_bytes?, memory.written_bytes)))
            })
            .collect();
    }
}

/// A mode's report as the limits read it and its process fills it in: the memory of the
/// process and of each phase.
pub(crate) trait MemoryReport {
    fn memory(&self) -> &ModeMemory;
    fn memory_mut(&mut self) -> &mut ModeMemory;
    /// Each phase's name and memory, in the order they ran.
    fn phase_memories(&self) -> Vec<(&str, PhaseMemory)>;
}

/// Puts direct I/O first among `items` (its peak sets the others' limit), the others in their
/// order.
pub(crate) fn direct_first<T>(items: &mut [T], io_mode: impl Fn(&T) -> Option<IoMode>) {
    items.sort_by_key(|item| io_mode(item) != Some(IoMode::Direct));
}

/// What a benchmark runs one after another, each in its own process under its own limit: an
/// I/O mode of directdb, or another engine.
pub(crate) trait BenchTarget: Copy {
    /// Its name, as in `--io` or `--engines`.
    fn name(self) -> &'static str;
    /// directdb's I/O mode, `None` for another engine.
    fn io_mode(self) -> Option<IoMode>;
}

impl BenchTarget for IoMode {
    fn name(self) -> &'static str {
        IoMode::name(self)
    }

    fn io_mode(self) -> Option<IoMode> {
        Some(self)
    }
}

/// A target whose run failed: the others still run, and the command fails after the report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Failure {
    /// Its name, as in `--io` or `--engines`.
    pub(crate) target: String,
    pub(crate) error: String,
}

/// Runs `run_one` on every target, direct I/O first, each with its phases' memory limits and
/// the flag that raises them ([`Limits`]). Returns the reports of those that ran and the
/// failures of the others (`failed` hears of each as it happens), or an error naming every
/// failure if none ran.
pub(crate) fn run_targets<T: BenchTarget, R: MemoryReport>(
    mut targets: Vec<T>,
    budget: MemoryBudget,
    mut failed: impl FnMut(&str, &str),
    mut run_one: impl FnMut(T, (PhaseLimits, &'static str)) -> Result<R, String>,
) -> Result<(Vec<R>, Vec<Failure>), String> {
    direct_first(&mut targets, |target| target.io_mode());
    let mut limits = Limits::new(budget);
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for target in targets {
        match run_one(target, limits.next()) {
            Ok(report) => {
                limits.ran(target.io_mode(), &report);
                reports.push(report);
            }
            Err(error) => {
                failed(target.name(), &error);
                failures.push(Failure { target: target.name().into(), error });
            }
        }
    }
    if reports.is_empty() {
        let errors: Vec<String> = failures
            .iter()
            .map(|failure| format!("{}: {}", failure.target, failure.error))
            .collect();
        return Err(errors.join("; "));
    }
    Ok((reports, failures))
}

/// The memory one I/O mode had.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ModeMemory {
    /// Its pool.
    pub(crate) pool_bytes: u64,
    /// The limit of its process, page cache included, when enforced: the most any of its
    /// phases got (each phase's own is in the phase's report).
    pub(crate) limit_bytes: Option<u64>,
    /// The most its process had charged at once over its whole life (heap, pool and page
    /// cache), when limited.
    pub(crate) peak_bytes: Option<u64>,
    /// Its process measured its peak in every phase (cgroup v1; v2's peak cannot be reset on
    /// every kernel).
    pub(crate) peak_per_phase: bool,
    pub(crate) enforced: bool,
    /// How the limit was set, or why it was not.
    pub(crate) how: String,
}

impl ModeMemory {
    /// A mode run in the benchmark's own process, which no limit of its own can hold.
    pub(crate) fn in_process(pool_bytes: u64) -> ModeMemory {
        ModeMemory {
            pool_bytes,
            limit_bytes: None,
            peak_bytes: None,
            peak_per_phase: false,
            enforced: false,
            how: "not enforced: run in the benchmark's own process".into(),
        }
    }
}

/// The memory one phase of a mode had (the load, a workload, a run): the limit in force and
/// the most its process charged, from before the phase's open to after its close.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PhaseMemory {
    /// The limit of the process during the phase, page cache included, when enforced.
    pub(crate) limit_bytes: Option<u64>,
    /// The most the process had charged at once during the phase, when measured (under a
    /// cgroup v1 limit).
    pub(crate) peak_bytes: Option<u64>,
    /// Bytes the process wrote to the block layer (or dirtied in the page cache) during the
    /// phase, `write_bytes` of `/proc/self/io`, when measured (under a cgroup).
    #[serde(default)]
    pub(crate) written_bytes: Option<u64>,
}

/// Sets each phase's limit and measures its peak, in the process a mode runs in:
/// [`PhaseMeter::begin`] before the phase's open, [`PhaseMeter::end`] after its close. Without
/// a cgroup (a mode run in the benchmark's own process) it sets and measures nothing.
#[derive(Debug)]
pub(crate) struct PhaseMeter {
    cgroup: Option<CgroupFiles>,
    limits: PhaseLimits,
    /// A limit the kernel answers busy to may be retried after a drop of the kernel's caches,
    /// which is system-wide (`--keep-caches` says no).
    drop_caches: bool,
    /// A phase has begun and not ended.
    phase_begun: bool,
    /// The limit of the phase begun.
    phase_limit_bytes: Option<u64>,
    /// The most the process had charged at once, over every reading of the cgroup's peak so
    /// far (each reset forgets the cgroup's).
    process_peak_bytes: Option<u64>,
    /// The process's `write_bytes` as the phase begun began.
    phase_write_bytes_at_begin: Option<u64>,
}

impl PhaseMeter {
    /// The meter of a process under no limit.
    pub(crate) fn unlimited() -> PhaseMeter {
        PhaseMeter::in_cgroup(None, PhaseLimits::uniform(u64::MAX), false)
    }

    /// The meter of a process in `cgroup`, whose phases get `limits`.
    pub(crate) fn in_cgroup(
        cgroup: Option<CgroupFiles>,
        limits: PhaseLimits,
        drop_caches: bool,
    ) -> PhaseMeter {
        PhaseMeter {
            cgroup,
            limits,
            drop_caches,
            phase_begun: false,
            phase_limit_bytes: None,
            process_peak_bytes: None,
            phase_write_bytes_at_begin: None,
        }
    }

    /// Before `phase`'s open: sets its limit (lowering it makes the kernel reclaim page cache
    /// first), then starts its peak at the usage that is left.
    pub(crate) fn begin(&mut self, phase: &str) -> Result<(), String> {
        assert!(!self.phase_begun, "{phase} begins before the phase before it ended");
        self.phase_begun = true;
        let Some(cgroup) = &self.cgroup else { return Ok(()) };
        // The peak since the last reading (the gap between two phases), before a reset
        // forgets it.
        self.process_peak_bytes = self.process_peak_bytes.max(cgroup.peak_bytes());
        let limit_bytes = self.limits.of(phase);
        cgroup.set_limit(limit_bytes, self.drop_caches)?;
        if cgroup.peak_resets() {
            cgroup.reset_peak()?;
        }
        self.phase_limit_bytes = Some(limit_bytes);
        self.phase_write_bytes_at_begin = written_so_far();
        Ok(())
    }

    /// After the phase's close: its limit and its peak (none on cgroup v2, whose peak is the
    /// whole process's).
    pub(crate) fn end(&mut self) -> PhaseMemory {
        assert!(self.phase_begun, "a phase ends that did not begin");
        self.phase_begun = false;
        let limit_bytes = self.phase_limit_bytes.take();
        let Some(cgroup) = &self.cgroup else { return PhaseMemory::default() };
        let peak_bytes = cgroup.peak_bytes();
        self.process_peak_bytes = self.process_peak_bytes.max(peak_bytes);
        let written_bytes = self
            .phase_write_bytes_at_begin
            .take()
            .zip(written_so_far())
            .map(|(begin, end)| end.saturating_sub(begin));
        PhaseMemory {
            limit_bytes,
            peak_bytes: peak_bytes.filter(|_| cgroup.peak_resets()),
            written_bytes,
        }
    }

    /// The most the process had charged at once up to the last reading (the parent, which
    /// reads the cgroup after the process exits, adds what came after it).
    pub(crate) fn process_peak_bytes(&self) -> Option<u64> {
        self.process_peak_bytes
    }
}

/// Bytes the process has written to the block layer so far, if the kernel counts them.
fn written_so_far() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    Usage::parse_io(&io).map(|(_, write_bytes)| write_bytes)
}

/// How the memory given to each I/O mode was bounded: the report's `memory_budget`.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct BudgetReport {
    /// The budget: direct I/O's pool; buffered and mmap's pool and page cache.
    pub(crate) budget_bytes: u64,
    /// What each mode's process may use besides the budget (its heap).
    pub(crate) headroom_bytes: u64,
    /// The limit of direct I/O's process: budget plus headroom; each mode's own limit is in
    /// its memory, and each phase's in the phase's report.
    pub(crate) limit_bytes: u64,
    /// `--memory-limit`: the limit of the modes after direct I/O.
    pub(crate) limit_rule: LimitRule,
    /// Percent of the budget buffered and mmap runs give their pool.
    pub(crate) pool_share_percent: u64,
    /// Every mode ran under the limit (a memory cgroup, which counts the page cache).
    pub(crate) enforced: bool,
    pub(crate) note: String,
}

impl BudgetReport {
    /// The report of `budget` over `modes`, each a (label, memory) pair: enforced when every
    /// mode was, otherwise naming each mode that was not and why.
    pub(crate) fn of<'a>(
        budget: &MemoryBudget,
        modes: impl IntoIterator<Item = (&'a str, &'a ModeMemory)>,
    ) -> BudgetReport {
        let modes: Vec<(&str, &ModeMemory)> = modes.into_iter().collect();
        let enforced = !modes.is_empty() && modes.iter().all(|(_, memory)| memory.enforced);
        let note = if enforced {
            match budget.limit_rule {
                LimitRule::SameAsDirect => same_as_direct_note(&modes),
                LimitRule::Headroom => {
                    "every mode ran in its own process under one memory cgroup limit (budget + \
                     headroom) in every phase, which counts the page cache: buffered and mmap \
                     runs cache in their pool and the page cache at most what the limit leaves \
                     beside their heap, which is more than direct I/O's pool by whatever of the \
                     headroom direct I/O's heap left unused (compare the peaks)"
                        .to_string()
                }
            }
        } else {
            let reasons: Vec<String> = modes
                .iter()
                .filter(|(_, memory)| !memory.enforced)
                .map(|(label, memory)| format!("{label}: {}", memory.how))
                .collect();
            format!(
                "the budget was NOT enforced ({}), so the kernel's page cache may have given \
                 buffered and mmap runs more memory than direct I/O's pool: compare them with \
                 that in mind",
                reasons.join("; ")
            )
        };
        BudgetReport {
            budget_bytes: budget.budget_bytes,
            headroom_bytes: budget.headroom_bytes,
            limit_bytes: budget.limit_bytes(),
            limit_rule: budget.limit_rule,
            pool_share_percent: budget.pool_share_percent,
            enforced,
            note,
        }
    }
}

/// The note of an enforced [`LimitRule::SameAsDirect`] budget, which says when direct I/O's
/// peaks per phase were not measured and the whole-process rule stood in for them.
fn same_as_direct_note(modes: &[(&str, &ModeMemory)]) -> String {
    let mut note = "every mode ran in its own process under a memory cgroup limit that counts the \
                    page cache, set before each phase (the load, each workload or run): direct \
                    I/O under budget + headroom, the others under what direct I/O's process \
                    peaked at in the same phase (+ what direct I/O wrote in the phase, from 1 \
                    to 4 MiB, for pages being written and the peak's noise), so that the page \
                    cache cannot grow into memory direct I/O's pool could not use in that phase: \
                    buffered and mmap runs cache in their pool and the page cache what the limit \
                    leaves beside their heap"
        .to_string();
    let direct = modes.iter().find(|(label, _)| *label == IoMode::Direct.name());
    if direct.is_some_and(|(_, memory)| !memory.peak_per_phase) {
        note.push_str(
            "; direct I/O's peak per phase was NOT measured (a cgroup v2's memory.peak cannot \
             be reset on every kernel), so the others ran every phase under what direct I/O's \
             process peaked at over its whole life (+ 4 MiB)",
        );
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn budget(budget_mb: u64, pool_share_percent: u64) -> MemoryBudget {
        MemoryBudget {
            budget_bytes: budget_mb * MIB,
            headroom_bytes: headroom_mb_default(8) * MIB,
            pool_share_percent,
            limit_rule: LimitRule::SameAsDirect,
        }
    }

    /// Direct I/O gets the budget; buffered and mmap their share, at least 256 pages (1 MiB of
    /// 4 KiB pages) and at most the budget.
    #[test]
    fn the_pool_is_the_budget_or_a_share_of_it() {
        let default = budget(BUDGET_MB_DEFAULT, POOL_SHARE_PERCENT_DEFAULT);
        assert_eq!(default.pool_bytes_of(IoMode::Direct, 4096), 48 * MIB);
        assert_eq!(default.pool_bytes_of(IoMode::Buffered, 4096), 12 * MIB);
        assert_eq!(default.pool_bytes_of(IoMode::Mmap, 4096), 12 * MIB);
        assert_eq!(default.limit_bytes(), 96 * MIB);
        assert_eq!(budget(2, 25).pool_bytes_of(IoMode::Buffered, 4096), MIB, "256 pages");
        assert_eq!(budget(2, 25).pool_bytes_of(IoMode::Buffered, 16384), 2 * MIB, "the budget");
        assert_eq!(budget(48, 100).pool_bytes_of(IoMode::Mmap, 4096), 48 * MIB);
    }

    #[test]
    fn flags_from_the_command_line_are_checked() {
        assert_eq!(budget(48, 25).validate(), Ok(()));
        assert!(budget(48, 0).validate().unwrap_err().contains("--pool-share"));
        assert!(budget(48, 101).validate().unwrap_err().contains("--pool-share"));
        let overflowing = MemoryBudget { headroom_bytes: u64::MAX, ..budget(48, 25) };
        assert!(overflowing.validate().unwrap_err().contains("--memory-headroom-mb"));
    }

    /// The limit of phase `phase` of the next mode.
    fn next_phase_bytes(limits: &Limits, phase: &str) -> u64 {
        limits.next().0.of(phase)
    }

    /// A finished mode as [`Limits`] reads it.
    struct Ran {
        memory: ModeMemory,
        phases: Vec<(&'static str, PhaseMemory)>,
    }

    impl MemoryReport for Ran {
        fn memory(&self) -> &ModeMemory {
            &self.memory
        }

        fn memory_mut(&mut self) -> &mut ModeMemory {
            &mut self.memory
        }

        fn phase_memories(&self) -> Vec<(&str, PhaseMemory)> {
            self.phases.clone()
        }
    }

    /// A mode that ran under a cgroup limit of `limit_bytes` and peaked at `peak_bytes` over
    /// its life, and at each of `phase_peaks` (MiB, none where not measured) in its phases.
    fn limited(
        limit_bytes: u64,
        peak_bytes: u64,
        phase_peaks: &[(&'static str, Option<u64>)],
    ) -> Ran {
        let phases = phase_peaks
            .iter()
            .map(|&(phase, peak_mb)| {
                let memory = PhaseMemory {
                    limit_bytes: Some(limit_bytes),
                    peak_bytes: peak_mb.map(|mb| mb * MIB),
                    written_bytes: None,
                };
                (phase, memory)
            })
            .collect();
        let memory = ModeMemory {
            pool_bytes: 48 * MIB,
            limit_bytes: Some(limit_bytes),
            peak_bytes: Some(peak_bytes),
            peak_per_phase: phase_peaks.iter().all(|(_, peak)| peak.is_some()),
            enforced: true,
            how: "cgroup".into(),
        };
        Ran { memory, phases }
    }

    /// Without peaks per phase, later modes get direct I/O's whole-process peak in every phase,
    /// capped at budget + headroom, only when direct I/O ran under a limit; another mode's peak
    /// changes nothing.
    #[test]
    fn later_limits_follow_direct_io_peak_under_a_limit() {
        let budget = budget(48, 25);
        let cap = budget.limit_bytes();
        let mut limits = Limits::new(budget);
        assert_eq!(limits.next(), (PhaseLimits::uniform(96 * MIB), "--memory-headroom-mb"));
        limits.ran(Some(IoMode::Buffered), &limited(cap, 70 * MIB, &[("load", Some(70))]));
        limits.ran(None, &limited(cap, 70 * MIB, &[("load", Some(70))]));
        assert_eq!(
            limits.next().0,
            PhaseLimits::uniform(96 * MIB),
            "only direct I/O's peak counts"
        );
        let in_process = Ran { memory: ModeMemory::in_process(48 * MIB), phases: Vec::new() };
        limits.ran(Some(IoMode::Direct), &in_process);
        assert_eq!(limits.next().0.process_bytes, 96 * MIB, "a peak without a limit is no measure");
        limits.ran(Some(IoMode::Direct), &limited(cap, 78 * MIB, &[("load", None)]));
        let expected = (PhaseLimits::uniform(82 * MIB), "--memory-limit headroom");
        assert_eq!(limits.next(), expected, "the peak + 4 MiB");
        assert_eq!(next_phase_bytes(&limits, "load"), 82 * MIB);
        limits.ran(Some(IoMode::Direct), &limited(cap, 200 * MIB, &[]));
        assert_eq!(next_phase_bytes(&limits, "load"), 96 * MIB, "never above budget + headroom");

        let mut limits = Limits::new(MemoryBudget { limit_rule: LimitRule::Headroom, ..budget });
        limits.ran(Some(IoMode::Direct), &limited(cap, 78 * MIB, &[("load", Some(78))]));
        assert_eq!(limits.next(), (PhaseLimits::uniform(96 * MIB), "--memory-headroom-mb"));
        assert_eq!(LimitRule::parse("headroom"), Ok(LimitRule::Headroom));
        assert_eq!(LimitRule::parse("same-as-direct"), Ok(LimitRule::SameAsDirect));
        assert!(LimitRule::parse("half").unwrap_err().contains("--memory-limit"));
    }

    /// With peaks per phase, each phase of a later mode gets direct I/O's peak in the phase of
    /// the same name + 4 MiB: the read-only phase less than the load, whose heap held the
    /// committed versions. A phase direct I/O did not measure, or did not run, gets its whole
    /// process's peak + 4 MiB; nothing gets more than budget + headroom; under
    /// `--memory-limit headroom` every phase gets budget + headroom.
    #[test]
    fn each_later_phase_gets_direct_io_peak_in_the_phase_of_its_name() {
        let budget = budget(24, 25);
        let cap = budget.limit_bytes();
        assert_eq!(cap, 72 * MIB);
        let direct = limited(cap, 50 * MIB, &[("load", Some(50)), ("c", Some(44)), ("a", None)]);
        let mut limits = Limits::new(budget);
        limits.ran(Some(IoMode::Direct), &direct);
        assert_eq!(next_phase_bytes(&limits, "load"), 54 * MIB);
        assert_eq!(next_phase_bytes(&limits, "c"), 48 * MIB, "matched by name");
        assert_eq!(next_phase_bytes(&limits, "a"), 54 * MIB, "not measured: the process's peak");
        assert_eq!(next_phase_bytes(&limits, "f"), 54 * MIB, "not run: the process's peak");
        let (phase_limits, raise_with) = limits.next();
        assert_eq!(phase_limits.process_bytes, 54 * MIB, "the most any phase gets");
        assert_eq!(raise_with, "--memory-limit headroom");

        let heavy = limited(cap, 90 * MIB, &[("load", Some(90)), ("c", Some(70)), ("b", Some(30))]);
        limits.ran(Some(IoMode::Direct), &heavy);
        assert_eq!(next_phase_bytes(&limits, "load"), cap, "the cap");
        assert_eq!(next_phase_bytes(&limits, "c"), cap, "70 + 4 MiB, capped");
        assert_eq!(next_phase_bytes(&limits, "b"), 34 * MIB);

        let mut limits = Limits::new(MemoryBudget { limit_rule: LimitRule::Headroom, ..budget });
        limits.ran(Some(IoMode::Direct), &direct);
        for phase in ["load", "c", "a"] {
            assert_eq!(next_phase_bytes(&limits, phase), cap, "{phase} under the headroom rule");
        }
    }

    /// The room for pages being written is at most what direct I/O's process wrote in the
    /// phase, and at least the peak's noise: 1 MiB in a phase that wrote nothing or 1 MiB
    /// (YCSB C's open and close write a few hundred KiB), 2 MiB in a phase that wrote 2 MiB,
    /// 4 MiB in a phase that wrote more or whose writes were not measured.
    #[test]
    fn a_phase_gets_room_for_what_direct_io_wrote_between_the_noise_and_the_slack() {
        let budget = budget(24, 25);
        let cap = budget.limit_bytes();
        let phases = [
            ("load", Some(50)),
            ("c", Some(44)),
            ("a", Some(46)),
            ("b", Some(40)),
            ("d", Some(42)),
        ];
        let mut direct = limited(cap, 50 * MIB, &phases);
        for (phase, memory) in &mut direct.phases {
            memory.written_bytes = match *phase {
                "load" => Some(300 * MIB),
                "c" => Some(0),
                "b" => Some(MIB),
                "d" => Some(2 * MIB),
                _ => None,
            };
        }
        let mut limits = Limits::new(budget);
        limits.ran(Some(IoMode::Direct), &direct);
        assert_eq!(next_phase_bytes(&limits, "c"), 45 * MIB, "wrote nothing: the noise's room");
        assert_eq!(next_phase_bytes(&limits, "b"), 41 * MIB, "wrote 1 MiB: 1 MiB of room");
        assert_eq!(next_phase_bytes(&limits, "d"), 44 * MIB, "wrote 2 MiB: 2 MiB of room");
        assert_eq!(next_phase_bytes(&limits, "load"), 54 * MIB, "wrote: + 4 MiB");
        assert_eq!(next_phase_bytes(&limits, "a"), 50 * MIB, "not known: + 4 MiB");
        assert_eq!(limits.next().0.process_bytes, 54 * MIB);
    }

    /// The writes of a phase are read from `/proc/self/io`, as the tables' are.
    #[test]
    fn written_bytes_are_write_bytes_of_proc_self_io() {
        let io = "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 8192\nwrite_bytes: 12288\n";
        assert_eq!(Usage::parse_io(io), Some((8192, 12288)));
        assert_eq!(Usage::parse_io("rchar: 1\n"), None, "no I/O accounting: not known");
        if std::path::Path::new("/proc/self/io").exists() {
            assert!(written_so_far().is_some());
        }
    }

    /// Phase limits travel to the child process as JSON and read back the same.
    #[test]
    fn phase_limits_round_trip_through_json() {
        let limits = PhaseLimits {
            process_bytes: 54 * MIB,
            phase_bytes: BTreeMap::from([("load".to_string(), 54 * MIB), ("c".into(), 48 * MIB)]),
        };
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(serde_json::from_str::<PhaseLimits>(&json).unwrap(), limits);
    }

    /// A process under no cgroup measures nothing in its phases; phases begin and end in turn.
    #[test]
    fn an_unlimited_meter_measures_nothing() {
        let mut meter = PhaseMeter::unlimited();
        for phase in ["load", "c"] {
            meter.begin(phase).unwrap();
            assert_eq!(meter.end(), PhaseMemory::default());
        }
        assert_eq!(meter.process_peak_bytes(), None);
    }

    #[test]
    #[should_panic(expected = "c begins before the phase before it ended")]
    fn a_phase_begins_only_after_the_last_one_ended() {
        let mut meter = PhaseMeter::unlimited();
        meter.begin("load").unwrap();
        let _ = meter.begin("c");
    }

    /// One mode without a limit makes the whole budget not enforced, and the note says which
    /// and why.
    #[test]
    fn the_budget_is_enforced_only_if_every_mode_was() {
        let limited = ModeMemory {
            pool_bytes: MIB,
            limit_bytes: Some(2 * MIB),
            peak_bytes: Some(MIB),
            peak_per_phase: true,
            enforced: true,
            how: "cgroup".into(),
        };
        let unlimited = ModeMemory::in_process(MIB);
        let budget = budget(1, 25);
        let report = BudgetReport::of(&budget, [("direct", &limited), ("buffered", &limited)]);
        assert!(report.enforced, "{report:?}");
        assert!(report.note.contains("peaked at in the same phase"), "{report:?}");
        assert!(!report.note.contains("NOT"), "{report:?}");
        let whole_life = ModeMemory { peak_per_phase: false, ..limited.clone() };
        let report = BudgetReport::of(&budget, [("direct", &whole_life), ("buffered", &limited)]);
        assert!(report.note.contains("peak per phase was NOT measured"), "{report:?}");
        let report = BudgetReport::of(&budget, [("direct", &limited), ("mmap", &unlimited)]);
        assert!(!report.enforced);
        assert!(report.note.contains("NOT enforced (mmap: not enforced: run in"), "{report:?}");
        assert!(!BudgetReport::of(&budget, []).enforced, "no mode, nothing enforced");
    }
}

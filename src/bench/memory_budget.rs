//! The memory budget of a workload benchmark (`bench ycsb`, `bench tpcc`): every I/O mode gets
//! the same memory, and the report says how much each had and whether the limit held.
//!
//! The budget (`--pool-mb`) is what the engine may cache: direct I/O, which has no other cache,
//! gives all of it to its pool; buffered I/O and mmap give their pool `--pool-share` percent of
//! it and leave the rest to the kernel's page cache. Direct I/O runs first, under a limit of
//! the budget plus a headroom for its heap (`--memory-headroom-mb`). The modes after it run
//! under the memory direct I/O's process actually peaked at, plus a little room for pages being
//! written ([`IN_FLIGHT_SLACK_MB`]) ([`LimitRule::SameAsDirect`], the default): the kernel's page cache grows into whatever memory is left, and direct I/O's pool
//! cannot, so a limit of budget + headroom would give page-cache modes the part of the
//! headroom direct I/O's heap left unused. They run the same engine code with a smaller pool,
//! so their heap fits where direct I/O's did. `--memory-limit headroom` gives every mode
//! budget + headroom instead. The limit itself is a memory cgroup
//! ([`crate::bench::memory_limit`]), set by the parent of the mode's process
//! ([`crate::bench::child`]).

use engine::IoMode;

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
    /// What direct I/O's process peaked at (its pool, heap and any page cache it had) plus
    /// [`IN_FLIGHT_SLACK_MB`], when it ran under a limit; budget + headroom otherwise.
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

/// MiB a mode after direct I/O gets besides direct I/O's peak under [`LimitRule::SameAsDirect`]:
/// room for page-cache pages being written (the log's and the data file's), which reclaim cannot
/// drop until they are on the device. A memory cgroup v1 does not throttle a group's dirty
/// pages, so a limit with no room for them kills a buffered run whose page-cache share is
/// small (seen with a 1 MiB budget, where buffered I/O's pool is the whole budget).
pub(crate) const IN_FLIGHT_SLACK_MB: u64 = 4;

/// The limits of a run's modes as they run one after another: direct I/O's first, then each
/// later mode's from what direct I/O's process peaked at ([`LimitRule`]).
#[derive(Debug)]
pub(crate) struct Limits {
    budget: MemoryBudget,
    direct_peak_bytes: Option<u64>,
}

impl Limits {
    pub(crate) fn new(budget: MemoryBudget) -> Limits {
        Limits { budget, direct_peak_bytes: None }
    }

    /// The limit of the next mode's process, and the flag that raises it if the mode is
    /// killed for going over it.
    pub(crate) fn next(&self) -> (u64, &'static str) {
        match (self.budget.limit_rule, self.direct_peak_bytes) {
            (LimitRule::SameAsDirect, Some(peak)) => {
                let slack = IN_FLIGHT_SLACK_MB << 20;
                (
                    peak.saturating_add(slack).min(self.budget.limit_bytes()),
                    "--memory-limit headroom",
                )
            }
            _ => (self.budget.limit_bytes(), "--memory-headroom-mb"),
        }
    }

    /// Notes what a mode had: direct I/O's peak, under a limit, sets the later modes' limit.
    pub(crate) fn ran(&mut self, io_mode: Option<IoMode>, memory: &ModeMemory) {
        if io_mode == Some(IoMode::Direct) && memory.enforced {
            self.direct_peak_bytes = memory.peak_bytes;
        }
    }
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

/// Runs `run_one` on every target, direct I/O first, each with its memory limit and the flag
/// that raises it ([`Limits`]); `memory` says what a finished run had. Returns the reports of
/// those that ran and the failures of the others (`failed` hears of each as it happens), or an
/// error naming every failure if none ran.
pub(crate) fn run_targets<T: BenchTarget, R>(
    mut targets: Vec<T>,
    budget: MemoryBudget,
    memory: impl Fn(&R) -> &ModeMemory,
    mut failed: impl FnMut(&str, &str),
    mut run_one: impl FnMut(T, (u64, &'static str)) -> Result<R, String>,
) -> Result<(Vec<R>, Vec<Failure>), String> {
    direct_first(&mut targets, |target| target.io_mode());
    let mut limits = Limits::new(budget);
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for target in targets {
        match run_one(target, limits.next()) {
            Ok(report) => {
                limits.ran(target.io_mode(), memory(&report));
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
    /// The limit of its process, page cache included, when enforced.
    pub(crate) limit_bytes: Option<u64>,
    /// The most its process had charged at once (heap, pool and page cache), when limited.
    pub(crate) peak_bytes: Option<u64>,
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
            enforced: false,
            how: "not enforced: run in the benchmark's own process".into(),
        }
    }
}

/// How the memory given to each I/O mode was bounded: the report's `memory_budget`.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct BudgetReport {
    /// The budget: direct I/O's pool; buffered and mmap's pool and page cache.
    pub(crate) budget_bytes: u64,
    /// What each mode's process may use besides the budget (its heap).
    pub(crate) headroom_bytes: u64,
    /// The limit of direct I/O's process: budget plus headroom; each mode's own limit is in
    /// its memory.
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
                LimitRule::SameAsDirect => {
                    "every mode ran in its own process under a memory cgroup limit that counts \
                     the page cache: direct I/O under budget + headroom, the others under what \
                     direct I/O's process peaked at (+ 4 MiB for pages being written), so that the page cache cannot grow into \
                     headroom direct I/O's pool could not use: buffered and mmap runs cache in \
                     their pool and the page cache what the limit leaves beside their heap"
                }
                LimitRule::Headroom => {
                    "every mode ran in its own process under one memory cgroup limit (budget + \
                     headroom) that counts the page cache: buffered and mmap runs cache in \
                     their pool and the page cache at most what the limit leaves beside their \
                     heap, which is more than direct I/O's pool by whatever of the headroom \
                     direct I/O's heap left unused (compare the peaks)"
                }
            }
            .to_string()
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

    /// Later modes get direct I/O's peak, capped at budget + headroom, only when direct I/O ran
    /// under a limit; another mode's peak changes nothing.
    #[test]
    fn later_limits_follow_direct_io_peak_under_a_limit() {
        let budget = budget(48, 25);
        let limited = |peak_bytes| ModeMemory {
            pool_bytes: 48 * MIB,
            limit_bytes: Some(budget.limit_bytes()),
            peak_bytes: Some(peak_bytes),
            enforced: true,
            how: "cgroup".into(),
        };
        let mut limits = Limits::new(budget);
        assert_eq!(limits.next(), (96 * MIB, "--memory-headroom-mb"));
        limits.ran(Some(IoMode::Buffered), &limited(70 * MIB));
        limits.ran(None, &limited(70 * MIB));
        assert_eq!(limits.next().0, 96 * MIB, "only direct I/O's peak counts");
        limits.ran(Some(IoMode::Direct), &ModeMemory::in_process(48 * MIB));
        assert_eq!(limits.next().0, 96 * MIB, "a peak without a limit is no measure");
        limits.ran(Some(IoMode::Direct), &limited(78 * MIB));
        assert_eq!(limits.next(), (82 * MIB, "--memory-limit headroom"), "the peak + 4 MiB");
        limits.ran(Some(IoMode::Direct), &limited(200 * MIB));
        assert_eq!(limits.next().0, 96 * MIB, "never above budget + headroom");

        let mut limits = Limits::new(MemoryBudget { limit_rule: LimitRule::Headroom, ..budget });
        limits.ran(Some(IoMode::Direct), &limited(78 * MIB));
        assert_eq!(limits.next(), (96 * MIB, "--memory-headroom-mb"));
        assert_eq!(LimitRule::parse("headroom"), Ok(LimitRule::Headroom));
        assert_eq!(LimitRule::parse("same-as-direct"), Ok(LimitRule::SameAsDirect));
        assert!(LimitRule::parse("half").unwrap_err().contains("--memory-limit"));
    }

    /// One mode without a limit makes the whole budget not enforced, and the note says which
    /// and why.
    #[test]
    fn the_budget_is_enforced_only_if_every_mode_was() {
        let limited = ModeMemory {
            pool_bytes: MIB,
            limit_bytes: Some(2 * MIB),
            peak_bytes: Some(MIB),
            enforced: true,
            how: "cgroup".into(),
        };
        let unlimited = ModeMemory::in_process(MIB);
        let budget = budget(1, 25);
        let report = BudgetReport::of(&budget, [("direct", &limited), ("buffered", &limited)]);
        assert!(report.enforced, "{report:?}");
        let report = BudgetReport::of(&budget, [("direct", &limited), ("mmap", &unlimited)]);
        assert!(!report.enforced);
        assert!(report.note.contains("NOT enforced (mmap: not enforced: run in"), "{report:?}");
        assert!(!BudgetReport::of(&budget, []).enforced, "no mode, nothing enforced");
    }
}

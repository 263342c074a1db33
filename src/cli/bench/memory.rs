//! The memory budget's flags, the same names, meanings and defaults for `bench ycsb` and
//! `bench tpcc` (what they mean is in `src/bench/memory_budget.rs`), and the lines of their
//! tables that say what data file and memory each mode had.

use std::fmt::Write as _;

use crate::bench::memory_budget::{
    self, BudgetReport, LimitRule, MemoryBudget, ModeMemory, PhaseMemory,
};
use crate::bench::ycsb::FileFacts;

use super::mib_to_bytes;

/// `--pool-mb`, `--memory-headroom-mb` and `--pool-share`.
#[derive(Debug, clap::Args)]
pub(super) struct MemoryArgs {
    /// MiB of the memory budget: direct I/O's pool; buffered and mmap runs split it between
    /// their pool (--pool-share) and the kernel's page cache, held to it by a memory cgroup
    /// (as root).
    #[arg(long, default_value_t = memory_budget::BUDGET_MB_DEFAULT)]
    pool_mb: u64,
    /// MiB each mode's process may use besides the budget (its heap); the memory limit of
    /// every mode is the budget plus this [default: 32 + 2 per client thread].
    #[arg(long)]
    memory_headroom_mb: Option<u64>,
    /// Percent of the budget buffered and mmap runs give their pool (the page cache gets the
    /// rest under the limit).
    #[arg(long, default_value_t = memory_budget::POOL_SHARE_PERCENT_DEFAULT)]
    pool_share: u64,
    /// The memory limit of the modes after direct I/O (which runs first, under budget +
    /// headroom): same-as-direct (in each phase, what direct I/O's process peaked at in that
    /// phase, so the page cache cannot grow into memory direct I/O's pool could not use) or
    /// headroom (budget + headroom for every mode and phase).
    #[arg(long, default_value = "same-as-direct", value_parser = LimitRule::parse)]
    memory_limit: LimitRule,
}

impl MemoryArgs {
    /// The budget of a run with `thread_count` client threads (the default headroom grows with
    /// them).
    pub(super) fn budget(&self, thread_count: usize) -> Result<MemoryBudget, String> {
        let headroom_mb = self
            .memory_headroom_mb
            .unwrap_or_else(|| memory_budget::headroom_mb_default(thread_count));
        Ok(MemoryBudget {
            budget_bytes: mib_to_bytes("--pool-mb", self.pool_mb)?,
            headroom_bytes: mib_to_bytes("--memory-headroom-mb", headroom_mb)?,
            pool_share_percent: self.pool_share,
            limit_rule: self.memory_limit,
        })
    }
}

/// The lines of what `label`'s mode had: its data file after the load, its pool, peak and
/// limit (or why it had none), and why the I/O mode asked for was not the one used, if so.
pub(super) fn render_mode(text: &mut String, label: &str, file: &FileFacts, memory: &ModeMemory) {
    let _ = writeln!(
        text,
        "{label}: {} ({}, {} I/O), {:.0} MiB after the load, {} pages of it free",
        file.path.display(),
        file.file_system,
        file.io_mode_used,
        mib(file.size_bytes_after_load),
        file.free_pages_after_load
    );
    let peak =
        memory.peak_bytes.map_or_else(String::new, |bytes| format!(", peak {:.0} MiB", mib(bytes)));
    let _ = writeln!(
        text,
        "{label}: pool (cache) {:.0} MiB{peak}; limit: {}",
        mib(memory.pool_bytes),
        memory.how
    );
    for reason in &file.fallback_reasons {
        let _ = writeln!(text, "note: {label}: {reason}");
    }
}

/// One line of the budget every mode had, and whether it was enforced.
pub(super) fn render_budget(text: &mut String, budget: &BudgetReport) {
    let _ = writeln!(
        text,
        "memory: budget {:.0} MiB + headroom {:.0} MiB; --memory-limit {}; buffered/mmap pool \
         {}% of the budget; {}",
        mib(budget.budget_bytes),
        mib(budget.headroom_bytes),
        budget.limit_rule.name(),
        budget.pool_share_percent,
        budget.note
    );
}

/// A phase's memory as one table cell, `peak/limit` in MiB (`-` for what is unknown; `-` alone
/// when there was no limit).
pub(super) fn phase_cell(memory: &PhaseMemory) -> String {
    let Some(limit_bytes) = memory.limit_bytes else { return "-".into() };
    let peak = memory.peak_bytes.map_or_else(|| "-".into(), |bytes| format!("{:.1}", mib(bytes)));
    format!("{peak}/{:.1}", mib(limit_bytes))
}

/// The width of a [`phase_cell`] column: `123.4/123.4`.
pub(super) const PHASE_CELL_WIDTH: usize = 11;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_cell_is_its_peak_over_its_limit() {
        let memory = PhaseMemory {
            limit_bytes: Some(53 << 20),
            peak_bytes: Some(47 << 19),
            written_bytes: None,
        };
        assert_eq!(phase_cell(&memory), "23.5/53.0");
        let v2 = PhaseMemory { peak_bytes: None, ..memory };
        assert_eq!(phase_cell(&v2), "-/53.0", "a limit without a peak per phase");
        assert_eq!(phase_cell(&PhaseMemory::default()), "-", "no limit");
        let widest = PhaseMemory {
            limit_bytes: Some(999 << 20),
            peak_bytes: Some(999 << 20),
            written_bytes: None,
        };
        assert_eq!(phase_cell(&widest).len(), PHASE_CELL_WIDTH);
    }
}

//! `directdb bench tpcc`: the arguments and the human-readable report (the measuring is in
//! `src/bench/tpcc/`). A failed consistency check is a failed command, after the report.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::bench::child::Isolation;
use crate::bench::tpcc::{
    self, ConditionReport, ConsistencyReport, KindReport, ModeReport, SECONDS_DEFAULT,
    THREAD_COUNT_DEFAULT, TpccOptions, TpccReport, WAREHOUSE_COUNT_DEFAULT,
};
use crate::bench::ycsb::{self, Progress, Stop};

use super::super::{CliError, Format, output};
use super::aligned_line;
use super::memory::{self, MemoryArgs};

/// `directdb bench tpcc`.
#[derive(Debug, clap::Args)]
pub(crate) struct TpccArgs {
    /// Warehouses loaded (each is about 100 MB of rows at scale 1).
    #[arg(long, default_value_t = WAREHOUSE_COUNT_DEFAULT)]
    warehouses: u16,
    /// Divides the per-warehouse cardinalities (100,000 items and stock rows, 3,000 customers
    /// and orders and 900 new-orders per district) for small machines and tests.
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// Transactions of the run, over all threads (instead of --seconds).
    #[arg(long, conflicts_with = "seconds")]
    transactions: Option<u64>,
    /// Seconds of the run [default: 20].
    #[arg(long)]
    seconds: Option<f64>,
    /// Client threads (terminals, bound to the warehouses in turn), in the load and the run.
    #[arg(long, default_value_t = THREAD_COUNT_DEFAULT)]
    threads: usize,
    #[command(flatten)]
    memory: MemoryArgs,
    /// When commits are acknowledged: immediate (durable), eventual (durable within 10 ms) or
    /// none (durable at checkpoints and a clean close).
    #[arg(long, default_value = "immediate")]
    durability: String,
    /// Page size of the database in bytes (a power of two from 4096 to 65536).
    #[arg(long, default_value_t = 4096)]
    page_size: usize,
    /// I/O modes, comma-separated, each on a fresh database in turn: direct, buffered, mmap.
    #[arg(long, default_value = "direct,buffered,mmap")]
    io: String,
    /// Directory for the databases (one subdirectory per I/O mode, removed afterwards).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Do not drop the kernel's caches before each run (by default they are dropped, as root,
    /// so buffered and mmap runs start cold; the drop is system-wide).
    #[arg(long)]
    keep_caches: bool,
}

impl TpccArgs {
    fn options(self) -> Result<TpccOptions, String> {
        let stop = Stop::from_flags(self.transactions, self.seconds, SECONDS_DEFAULT);
        Ok(TpccOptions {
            directory: self.dir,
            warehouse_count: self.warehouses,
            scale: self.scale,
            stop,
            thread_count: self.threads,
            memory: self.memory.budget(self.threads)?,
            durability: ycsb::parse_durability(&self.durability)?,
            page_bytes: self.page_size,
            io_modes: crate::bench::pool::parse_io_modes(&self.io)?,
            drop_caches: !self.keep_caches,
            isolation: Isolation::ChildProcesses,
        })
    }
}

/// Runs `bench tpcc`: progress on stderr (when a person reads the table), the report, then a
/// failure if a consistency check failed.
pub(super) fn run(args: TpccArgs, format: Format) -> Result<(), CliError> {
    let options = args.options()?;
    let report = tpcc::run(&options, Progress::new(format.is_human()))?;
    output::emit(format, &report, render)?;
    if !report.consistent {
        return Err(CliError::Bench(
            "a TPC-C consistency condition failed (see consistency_after_load and \
             consistency_after_run in the report)"
                .into(),
        ));
    }
    if !report.failures.is_empty() {
        return Err(super::targets_failed("I/O modes", &report.failures, report.modes.len()));
    }
    Ok(())
}

/// The columns of the run table.
const COLUMNS: [(&str, usize); 12] = [
    ("io", 8),
    ("transaction", 12),
    ("count", 8),
    ("share %", 7),
    ("tx/s", 8),
    ("rollbacks", 9),
    ("retries", 7),
    ("p50 µs", 9),
    ("p99 µs", 9),
    ("p99.9 µs", 9),
    ("rd KB/tx", 8),
    ("wr KB/tx", 8),
];

/// The columns of the per-mode summary.
const MODE_COLUMNS: [(&str, usize); 13] = [
    ("io", 8),
    ("load s", 7),
    ("rows/s", 8),
    ("tx/s", 8),
    ("tpmC-like", 9),
    ("rd KB/tx", 8),
    ("wr KB/tx", 8),
    ("CPU µs/tx", 9),
    ("hit %", 6),
    ("cached MiB", 10),
    ("load mem MiB", memory::PHASE_CELL_WIDTH + 1),
    ("run mem MiB", memory::PHASE_CELL_WIDTH),
    ("consistent", 10),
];

/// The columns of the comparison table.
const RATIO_COLUMNS: [(&str, usize); 6] = [
    ("measure", 23),
    ("direct", 9),
    ("buffered", 9),
    ("mmap", 9),
    ("direct/buffered", 15),
    ("direct/mmap", 11),
];

fn headers(columns: &[(&str, usize)]) -> Vec<String> {
    columns.iter().map(|(name, _)| (*name).to_string()).collect()
}

/// One row of the run table: a transaction kind, or the run's total (`kind` none).
fn kind_cells(mode: &ModeReport, kind: Option<&KindReport>) -> Vec<String> {
    let run = &mode.run;
    let per = &run.per_transaction;
    let (name, count, share, rollbacks, retries, latency) = match kind {
        Some(kind) => (
            kind.kind.name(),
            kind.count,
            kind.share,
            kind.rolled_back,
            kind.conflict_retries,
            &kind.latency_us,
        ),
        None => (
            "all",
            run.transaction_count,
            1.0,
            run.rollback_count,
            run.conflict_retries,
            &run.latency_us,
        ),
    };
    let (read_kb, write_kb) = match kind {
        Some(_) => ("".into(), "".into()),
        None => (
            format!("{:.2}", per.device_read_bytes / 1024.0),
            format!("{:.2}", per.device_write_bytes / 1024.0),
        ),
    };
    vec![
        mode.io_mode.clone(),
        name.into(),
        count.to_string(),
        format!("{:.1}", 100.0 * share),
        format!("{:.0}", count as f64 / run.elapsed_seconds),
        rollbacks.to_string(),
        retries.to_string(),
        format!("{:.1}", latency.p50),
        format!("{:.1}", latency.p99),
        format!("{:.1}", latency.p999),
        read_kb,
        write_kb,
    ]
}

fn mode_cells(mode: &ModeReport) -> Vec<String> {
    let run = &mode.run;
    let per = &run.per_transaction;
    vec![
        mode.io_mode.clone(),
        format!("{:.1}", mode.load.seconds),
        format!("{:.0}", mode.load.rows_per_second),
        format!("{:.0}", run.transactions_per_second),
        format!("{:.0}", run.new_orders_per_minute),
        format!("{:.2}", per.device_read_bytes / 1024.0),
        format!("{:.2}", per.device_write_bytes / 1024.0),
        format!("{:.1}", per.cpu_us),
        run.pool_hit_ratio.map_or("-".into(), |ratio| format!("{:.1}", 100.0 * ratio)),
        run.resident_bytes_at_start
            .map_or("-".into(), |bytes| format!("{:.0}", bytes as f64 / f64::from(1 << 20))),
        memory::phase_cell(&mode.load.memory),
        memory::phase_cell(&run.memory),
        mode.consistent().to_string(),
    ]
}

/// The human-readable report: the setting, the modes' summary, the transactions of each mode,
/// the ratios between the modes, the consistency checks, then what the columns are.
fn render(report: &TpccReport) -> String {
    let mut text = String::new();
    render_settings(&mut text, report);
    let _ = writeln!(text, "\n{}", aligned_line(&MODE_COLUMNS, &headers(&MODE_COLUMNS)));
    for mode in &report.modes {
        let _ = writeln!(text, "{}", aligned_line(&MODE_COLUMNS, &mode_cells(mode)));
    }
    let _ = writeln!(text, "\n{}", aligned_line(&COLUMNS, &headers(&COLUMNS)));
    for mode in &report.modes {
        for kind in &mode.run.kinds {
            let _ = writeln!(text, "{}", aligned_line(&COLUMNS, &kind_cells(mode, Some(kind))));
        }
        let _ = writeln!(text, "{}", aligned_line(&COLUMNS, &kind_cells(mode, None)));
    }
    render_comparisons(&mut text, report);
    for failure in &report.failures {
        let _ = writeln!(text, "FAILED {}: {}", failure.target, failure.error);
    }
    render_consistency(&mut text, report);
    render_notes(&mut text, report);
    text
}

fn render_settings(text: &mut String, report: &TpccReport) {
    let settings = &report.settings;
    let cardinalities = &settings.cardinalities;
    let stop = match settings.stop {
        Stop::Operations(count) => format!("{count} transactions"),
        Stop::Seconds(seconds) => format!("{seconds} s"),
    };
    let _ = writeln!(
        text,
        "bench tpcc: {} warehouse(s) at scale {} ({} items, {} customers and orders and {} \
         new-orders per district); {} threads; run of {stop}",
        cardinalities.warehouse_count,
        cardinalities.scale,
        cardinalities.item_count,
        cardinalities.customers_per_district,
        cardinalities.new_orders_per_district,
        settings.thread_count,
    );
    let _ = writeln!(
        text,
        "{} MiB memory budget; durability {}; {} B pages; load: {} rows per transaction; mix \
         45/43/4/4/4, no keying or think time",
        settings.pool_bytes >> 20,
        settings.durability,
        settings.page_bytes,
        settings.load_batch_rows
    );
    for mode in &report.modes {
        memory::render_mode(text, &mode.io_mode, &mode.file, &mode.memory);
    }
    let _ = writeln!(text, "caches: {}", report.cache_policy);
    memory::render_budget(text, &report.memory_budget);
}

fn render_comparisons(text: &mut String, report: &TpccReport) {
    if report.modes.len() < 2 {
        return;
    }
    let _ = writeln!(text, "\nside by side:");
    let _ = writeln!(text, "{}", aligned_line(&RATIO_COLUMNS, &headers(&RATIO_COLUMNS)));
    for comparison in &report.comparisons {
        let mode = |name: &str| {
            comparison.by_mode.get(name).map_or("-".into(), |value| format!("{value:.0}"))
        };
        let ratio = |ratio: Option<f64>| ratio.map_or("-".into(), |ratio| format!("{ratio:.2}"));
        let cells = [
            comparison.measure.to_string(),
            mode("direct"),
            mode("buffered"),
            mode("mmap"),
            ratio(comparison.direct_over_buffered),
            ratio(comparison.direct_over_mmap),
        ];
        let _ = writeln!(text, "{}", aligned_line(&RATIO_COLUMNS, &cells));
    }
}

/// One line per mode and check; the violated conditions with their first examples.
fn render_consistency(text: &mut String, report: &TpccReport) {
    let _ = writeln!(
        text,
        "\nconsistency (clause 3.3.2 conditions 1-10 and 12, and directdb's own rows):"
    );
    for mode in &report.modes {
        let checks = [
            ("after the load", &mode.consistency_after_load),
            ("after the run", &mode.consistency_after_run),
        ];
        for (when, check) in checks {
            let _ = writeln!(text, "  {} {when}: {}", mode.io_mode, summary(check));
            for condition in violated(check) {
                let _ = writeln!(
                    text,
                    "    condition {} ({}): {} of {} violated, e.g. {}",
                    condition.condition,
                    condition.rule,
                    condition.violation_count,
                    condition.checked,
                    condition.examples.join("; ")
                );
            }
        }
    }
    let _ = writeln!(text, "consistent: {}", report.consistent);
}

fn violated(check: &ConsistencyReport) -> impl Iterator<Item = &ConditionReport> {
    check.conditions.iter().filter(|condition| condition.violation_count > 0)
}

fn summary(check: &ConsistencyReport) -> String {
    match violated(check).count() {
        0 => format!("all {} conditions hold", check.conditions.len()),
        count => format!("{count} of {} conditions violated", check.conditions.len()),
    }
}

fn render_notes(text: &mut String, report: &TpccReport) {
    let _ = writeln!(
        text,
        "\ntpmC-like: committed new-orders per minute of the run; NOT an audited tpmC (no keying \
         or think times, see departures_from_tpcc in --json);\nrd/wr KB/tx: /proc/self/io \
         read_bytes/write_bytes per transaction (block-layer bytes of every thread: data file \
         and log);\nCPU µs/tx: utime+stime of every thread per transaction; hit %: pool \
         hits/(hits+misses); cached MiB: the data file in the page cache as the run starts;\n\
         load/run mem MiB: the process's peak/limit in the phase, page cache included (memory \
         cgroup, from before the open to after the close; the load's includes its consistency \
         check, the run's its check and checkpoint);\n\
         retries: transactions run again after a conflict; rollbacks: new-orders rolled back \
         on an unused item (1%), counted in tx/s, not in tpmC-like;\nload s: load and its \
         checkpoint; rows/s: rows of every table loaded per second."
    );
    let _ = writeln!(text, "elapsed: {:.0} s", report.elapsed_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_line_up_under_their_headers() {
        for columns in [&COLUMNS[..], &MODE_COLUMNS[..], &RATIO_COLUMNS[..]] {
            let header = aligned_line(columns, &headers(columns));
            let cells: Vec<String> = columns.iter().map(|_| "9".to_string()).collect();
            assert_eq!(header.chars().count(), aligned_line(columns, &cells).chars().count());
        }
    }

    #[test]
    fn the_defaults_parse_to_a_valid_run() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(["directdb", "bench", "tpcc"]).unwrap();
        let crate::cli::Command::Bench(bench) = cli.command else { panic!("not bench") };
        let Some(super::super::BenchCommand::Tpcc(args)) = bench.command else {
            panic!("not tpcc")
        };
        let options = args.options().unwrap();
        assert_eq!(options.stop, Stop::Seconds(SECONDS_DEFAULT));
        let budget_mb = crate::bench::memory_budget::BUDGET_MB_DEFAULT;
        assert_eq!(options.memory.budget_bytes, budget_mb << 20);
        assert_eq!(options.memory.headroom_bytes, 48 << 20, "32 + 2 per thread");
        assert_eq!(options.isolation, Isolation::ChildProcesses);
        assert_eq!(options.io_modes.len(), 3);
        assert!(options.validate().is_ok());
    }
}

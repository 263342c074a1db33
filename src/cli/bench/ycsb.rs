//! `directdb bench ycsb` and plain `directdb bench`: the arguments and the human-readable
//! report (the measuring is in `src/bench/ycsb/`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bench::child::Isolation;
use crate::bench::ycsb::{
    self, DistributionKind, LOAD_BATCH_RECORDS_DEFAULT, PhaseReport, Progress,
    RECORD_COUNT_DEFAULT, SECONDS_DEFAULT, Stop, THREAD_COUNT_DEFAULT, VALUE_BYTES_DEFAULT,
    WORKLOADS_DEFAULT, Workload, YcsbOptions, YcsbReport,
};

use super::super::{CliError, Format, output};
use super::aligned_line;
use super::memory::{self, MemoryArgs};

/// `directdb bench ycsb`.
#[derive(Debug, clap::Args)]
pub(crate) struct YcsbArgs {
    /// Workloads, comma-separated, run in this order: a (50% read, 50% update), b (95/5),
    /// c (read only), d (read latest, 5% insert), e (scans of 1-100 records, 5% insert),
    /// f (50% read, 50% read-modify-write).
    #[arg(long, default_value = WORKLOADS_DEFAULT)]
    workloads: String,
    /// Records loaded before the runs.
    #[arg(long, default_value_t = RECORD_COUNT_DEFAULT)]
    records: u64,
    /// Operations of each workload run, over all threads (instead of --seconds).
    #[arg(long, conflicts_with = "seconds")]
    operations: Option<u64>,
    /// Seconds of each workload run [default: 10].
    #[arg(long)]
    seconds: Option<f64>,
    /// Client threads, in the load and in every run.
    #[arg(long, default_value_t = THREAD_COUNT_DEFAULT)]
    threads: usize,
    #[command(flatten)]
    memory: MemoryArgs,
    /// Bytes of each record's value (YCSB's 10 fields of 100 bytes, as one value).
    #[arg(long, default_value_t = VALUE_BYTES_DEFAULT)]
    value_bytes: usize,
    /// Request distribution of every workload: zipfian (0.99, scrambled keys as YCSB's),
    /// uniform or latest [default: each workload's own: latest for d, zipfian for the others].
    #[arg(long)]
    distribution: Option<DistributionKind>,
    /// When commits are acknowledged: immediate (durable), eventual (durable within 10 ms) or
    /// none (durable at checkpoints and a clean close).
    #[arg(long, default_value = "immediate")]
    durability: String,
    /// Page size of the database in bytes (a power of two from 4096 to 65536).
    #[arg(long, default_value_t = 4096)]
    page_size: usize,
    /// Run directdb's checkpoints in the committing thread that takes the log past the
    /// checkpoint size, instead of in a background thread (to compare the two).
    #[arg(long)]
    inline_checkpoints: bool,
    /// I/O modes, comma-separated, each on a fresh database in turn: direct, buffered, mmap.
    #[arg(long, default_value = "direct,buffered,mmap")]
    io: String,
    /// Engines, comma-separated, run in this order with the same driver, budget and
    /// durability: directdb (on each of --io) and, in a build with the `peers` feature, lmdb,
    /// sqlite, redb, fjall (and rocksdb with the `peer-rocksdb` feature).
    #[arg(long, default_value = ycsb::DIRECTDB)]
    engines: String,
    /// Directory for the databases (one subdirectory per I/O mode, removed afterwards).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Records per transaction in the load phase.
    #[arg(long, default_value_t = LOAD_BATCH_RECORDS_DEFAULT)]
    load_batch: u64,
    /// Do not drop the kernel's caches before each phase (by default they are dropped, as
    /// root, so buffered and mmap runs start cold; the drop is system-wide).
    #[arg(long)]
    keep_caches: bool,
    /// Write the throughput and latency plot of the run to FILE (SVG) and name it on the last
    /// line of the table [default: a bare `directdb bench` writes DIR/directdb-bench.svg;
    /// `bench ycsb` plots only when asked].
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Write no plot (for a bare `directdb bench`, which writes one by default).
    #[arg(long, conflicts_with = "plot")]
    no_plot: bool,
}

/// Where the plot goes when `--plot` is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DefaultPlot {
    /// Nowhere: `bench ycsb` plots only when asked.
    Nowhere,
    /// [`DEFAULT_PLOT_FILE_NAME`] in `--dir`: the bare `directdb bench` suite.
    InDirectory,
}

/// The plot's file name in `--dir` for a bare `directdb bench`.
const DEFAULT_PLOT_FILE_NAME: &str = "directdb-bench.svg";

impl YcsbArgs {
    /// The file the plot goes to, if any.
    fn plot_path(&self, default: DefaultPlot) -> Option<PathBuf> {
        if self.no_plot {
            return None;
        }
        match (&self.plot, default) {
            (Some(path), _) => Some(path.clone()),
            (None, DefaultPlot::InDirectory) => Some(self.dir.join(DEFAULT_PLOT_FILE_NAME)),
            (None, DefaultPlot::Nowhere) => None,
        }
    }

    fn options(self) -> Result<YcsbOptions, String> {
        let stop = Stop::from_flags(self.operations, self.seconds, SECONDS_DEFAULT);
        Ok(YcsbOptions {
            directory: self.dir,
            workloads: Workload::parse_list(&self.workloads)?,
            record_count: self.records,
            stop,
            thread_count: self.threads,
            memory: self.memory.budget(self.threads)?,
            value_bytes: self.value_bytes,
            distribution: self.distribution,
            durability: ycsb::parse_durability(&self.durability)?,
            page_bytes: self.page_size,
            background_checkpoints: !self.inline_checkpoints,
            io_modes: crate::bench::pool::parse_io_modes(&self.io)?,
            engines: ycsb::parse_engines(&self.engines)?,
            load_batch_records: self.load_batch,
            drop_caches: !self.keep_caches,
            isolation: Isolation::ChildProcesses,
        })
    }
}

/// Runs `bench ycsb`: progress on stderr (when a person reads the table), the plot when one
/// is asked for, then the report, whose last line names the plot. A plot that cannot be written
/// does not cost the measurements: the report is printed without the line, then the error
/// returned.
pub(super) fn run(
    args: YcsbArgs,
    format: Format,
    default_plot: DefaultPlot,
) -> Result<(), CliError> {
    let plot_path = args.plot_path(default_plot);
    if args.plot.is_none() && plot_path.is_some() {
        // The default plot goes in `--dir`, which the run creates anyway.
        std::fs::create_dir_all(&args.dir)
            .map_err(|error| format!("--dir {}: {error}", args.dir.display()))?;
    }
    if let Some(path) = &plot_path {
        check_plot_directory(path)?;
    }
    let options = args.options()?;
    let report = ycsb::run(&options, Progress::new(format.is_human()))?;
    let plotted = match &plot_path {
        Some(path) => ycsb::write_svg(&report, path).map(|()| Some(path.as_path())),
        None => Ok(None),
    };
    let plot_written = plotted.as_ref().ok().copied().flatten();
    output::emit(format, &report, |report| render(report, plot_written))?;
    plotted.map(drop).map_err(CliError::Bench)?;
    if report.failures.is_empty() {
        return Ok(());
    }
    Err(super::targets_failed("targets", &report.failures, report.modes.len()))
}

/// Fails before a run of minutes when the plot's directory does not exist: the likely typo is
/// found before the measurements rather than after them.
fn check_plot_directory(path: &Path) -> Result<(), String> {
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    let directory = directory.unwrap_or(Path::new("."));
    if directory.is_dir() {
        Ok(())
    } else {
        Err(format!("--plot {}: no directory {}", path.display(), directory.display()))
    }
}

/// The columns of the phase table.
const COLUMNS: [(&str, usize); 15] = [
    ("io", 8),
    ("phase", 5),
    ("ops/s", 9),
    ("p50 µs", 8),
    ("p99 µs", 8),
    ("p99.9 µs", 9),
    ("rd KB/op", 8),
    ("wr KB/op", 8),
    ("pg rd/op", 8),
    ("pg wr/op", 8),
    ("CPU µs/op", 9),
    ("majflt/op", 9),
    ("hit %", 6),
    ("cached MiB", 10),
    ("mem MiB", memory::PHASE_CELL_WIDTH),
];

fn line(cells: &[String]) -> String {
    aligned_line(&COLUMNS, cells)
}

fn headers(columns: &[(&str, usize)]) -> Vec<String> {
    columns.iter().map(|(name, _)| (*name).to_string()).collect()
}

fn phase_cells(row: &PhaseReport) -> Vec<String> {
    let per = &row.per_operation;
    vec![
        row.io_mode.clone(),
        row.phase.clone(),
        format!("{:.0}", row.ops_per_second),
        format!("{:.1}", row.latency_us.p50),
        format!("{:.1}", row.latency_us.p99),
        format!("{:.1}", row.latency_us.p999),
        format!("{:.2}", per.device_read_bytes / 1024.0),
        format!("{:.2}", per.device_write_bytes / 1024.0),
        format!("{:.3}", per.pool_pages_read),
        format!("{:.3}", per.pool_pages_written),
        format!("{:.1}", per.cpu_us),
        format!("{:.3}", per.major_faults),
        row.pool_hit_ratio.map_or("-".into(), |ratio| format!("{:.1}", 100.0 * ratio)),
        row.resident_bytes_at_start
            .map_or("-".into(), |bytes| format!("{:.0}", bytes as f64 / f64::from(1 << 20))),
        memory::phase_cell(&row.memory),
    ]
}

/// The human-readable report: the setting, one line per phase and mode, the throughput
/// ratios between the modes, what each column is, and last the plot's path when one was
/// written.
fn render(report: &YcsbReport, plot: Option<&Path>) -> String {
    let mut text = String::new();
    render_settings(&mut text, report);
    let _ = writeln!(text, "\n{}", line(&headers(&COLUMNS)));
    for mode in &report.modes {
        for row in std::iter::once(&mode.load).chain(&mode.runs) {
            let _ = writeln!(text, "{}", line(&phase_cells(row)));
        }
    }
    render_comparisons(&mut text, report);
    for failure in &report.failures {
        let _ = writeln!(text, "FAILED {}: {}", failure.target, failure.error);
    }
    render_anomalies(&mut text, report);
    render_notes(&mut text, report);
    if let Some(path) = plot {
        let _ = writeln!(text, "plot: {}", path.display());
    }
    text
}

fn render_settings(text: &mut String, report: &YcsbReport) {
    let settings = &report.settings;
    let stop = match settings.stop {
        Stop::Operations(count) => format!("{count} operations per run"),
        Stop::Seconds(seconds) => format!("{seconds} s per run"),
    };
    let distribution = settings
        .distribution
        .map_or("each workload's own (latest for d, zipfian 0.99 scrambled otherwise)", |kind| {
            kind.name()
        });
    let _ = writeln!(
        text,
        "bench ycsb: workloads {}; {} records of {} B ({:.0} MiB, {:.1}x the {} MiB pool); {} \
         threads; {stop}",
        settings.workloads.join(","),
        settings.record_count,
        settings.value_bytes,
        settings.dataset_bytes as f64 / f64::from(1 << 20),
        settings.dataset_over_pool,
        settings.pool_bytes >> 20,
        settings.thread_count,
    );
    let _ = writeln!(
        text,
        "durability {}; {} B pages; distribution: {distribution}; load: {} records per \
         transaction",
        settings.durability, settings.page_bytes, settings.load_batch_records
    );
    for mode in &report.modes {
        memory::render_mode(text, &mode.io_mode, &mode.file, &mode.memory);
        for note in &mode.engine_notes {
            let _ = writeln!(text, "{}: {note}", mode.io_mode);
        }
    }
    let _ = writeln!(text, "caches: {}", report.cache_policy);
    memory::render_budget(text, &report.memory_budget);
}

fn render_comparisons(text: &mut String, report: &YcsbReport) {
    if report.modes.len() < 2 {
        return;
    }
    let labels: Vec<&str> = report.modes.iter().map(|mode| mode.io_mode.as_str()).collect();
    let has_direct = labels.contains(&"direct");
    let ratio_labels: Vec<&str> =
        labels.iter().copied().filter(|label| has_direct && *label != "direct").collect();
    let ratio_headers: Vec<String> =
        ratio_labels.iter().map(|label| format!("direct/{label}")).collect();
    let mut columns: Vec<(&str, usize)> = vec![("phase", 5)];
    columns.extend(labels.iter().map(|label| (*label, label.len().max(9))));
    columns.extend(ratio_headers.iter().map(|header| (header.as_str(), header.len().max(6))));
    let _ = writeln!(text, "\nthroughput (ops/s; the load in records/s), side by side:");
    let _ = writeln!(text, "{}", aligned_line(&columns, &headers(&columns)));
    for comparison in &report.comparisons {
        let mut cells = vec![comparison.phase.clone()];
        cells.extend(labels.iter().map(|label| {
            comparison.ops_per_second.get(*label).map_or("-".into(), |ops| format!("{ops:.0}"))
        }));
        cells.extend(ratio_labels.iter().map(|label| {
            comparison.direct_over.get(*label).map_or("-".into(), |ratio| format!("{ratio:.2}"))
        }));
        let _ = writeln!(text, "{}", aligned_line(&columns, &cells));
    }
}

/// Lines for what should not happen or needs a second look: lost records, runs that started
/// with more of the file cached than the budget, conflicts.
fn render_anomalies(text: &mut String, report: &YcsbReport) {
    let pool_bytes = report.settings.pool_bytes;
    for row in report.modes.iter().flat_map(|mode| std::iter::once(&mode.load).chain(&mode.runs)) {
        if row.not_found > 0 {
            let _ = writeln!(
                text,
                "WARNING: {} {}: {} reads found no record (a record was lost)",
                row.io_mode, row.phase, row.not_found
            );
        }
        if let Some(resident_bytes) =
            row.resident_bytes_at_start.filter(|&bytes| bytes > pool_bytes)
        {
            let _ = writeln!(
                text,
                "WARNING: {} {}: started with {} MiB of the data file in the page cache, above the \
                 {} MiB budget{}",
                row.io_mode,
                row.phase,
                resident_bytes >> 20,
                pool_bytes >> 20,
                if row.io_mode == "mmap" {
                    " (pages the process maps survive drop_caches)"
                } else {
                    ""
                }
            );
        }
        if row.conflict_retries > 0 {
            let _ = writeln!(
                text,
                "{} {}: {} read-modify-writes retried after a conflict",
                row.io_mode, row.phase, row.conflict_retries
            );
        }
    }
}

fn render_notes(text: &mut String, report: &YcsbReport) {
    let _ = writeln!(
        text,
        "\nrd/wr KB/op: /proc/self/io read_bytes/write_bytes per operation (block-layer bytes of \
         every thread: data file and log);\npg rd/op, pg wr/op: buffer pool pages read/written \
         per operation; CPU µs/op: utime+stime of every thread;\nmajflt/op: page faults that \
         read the device (mmap); hit %: pool hits/(hits+misses), mmap's in-place reads in \
         neither;\ncached MiB: the data file's bytes in the page cache as the run starts (fincore);\nmem \
         MiB: the process's peak/limit in the phase, page cache included (memory cgroup, from \
         before the open to after the close);\nload rows: per record, latency per transaction of {} inserts, I/O including \
         the checkpoint that ends the load.",
        report.settings.load_batch_records
    );
    let _ = writeln!(text, "elapsed: {:.0} s", report.elapsed_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare `directdb bench` parses to the suite's defaults.
    #[test]
    fn bare_bench_runs_the_default_suite() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(["directdb", "bench"]).unwrap();
        let crate::cli::Command::Bench(bench) = cli.command else { panic!("not bench") };
        assert!(bench.command.is_none());
        let args = bench.suite;
        assert_eq!(args.workloads, "a,b,c,f");
        assert_eq!(args.io, "direct,buffered,mmap");
        let options = args.options().unwrap();
        assert_eq!(options.stop, Stop::Seconds(SECONDS_DEFAULT));
        let budget_mb = crate::bench::memory_budget::BUDGET_MB_DEFAULT;
        assert_eq!(options.memory.budget_bytes, budget_mb << 20);
        assert_eq!(options.memory.headroom_bytes, 48 << 20, "32 + 2 per thread");
        assert_eq!(options.record_count, RECORD_COUNT_DEFAULT);
        assert!(options.background_checkpoints);
        assert_eq!(options.validate(), Ok(()));
        let inline = crate::cli::Cli::try_parse_from(["directdb", "bench", "--inline-checkpoints"]);
        let crate::cli::Command::Bench(bench) = inline.unwrap().command else { panic!("bench") };
        let options = bench.suite.options().unwrap();
        assert!(!options.background_checkpoints);
        assert!(!options.engine_options(engine::IoMode::Direct).background_checkpoints);
    }

    fn parse(arguments: &[&str]) -> (Option<PathBuf>, Option<PathBuf>) {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(arguments).unwrap();
        let crate::cli::Command::Bench(bench) = cli.command else { panic!("not bench") };
        let suite = bench.suite.plot_path(DefaultPlot::InDirectory);
        let ycsb = match bench.command {
            Some(super::super::BenchCommand::Ycsb(args)) => args.plot_path(DefaultPlot::Nowhere),
            _ => None,
        };
        (suite, ycsb)
    }

    /// A bare `bench` plots into --dir unless told otherwise; `bench ycsb` only when asked.
    #[test]
    fn the_plot_goes_where_the_flags_say() {
        let default = Some(PathBuf::from("/data").join(DEFAULT_PLOT_FILE_NAME));
        assert_eq!(parse(&["directdb", "bench", "--dir", "/data"]).0, default);
        assert_eq!(parse(&["directdb", "bench", "--no-plot"]).0, None);
        assert_eq!(parse(&["directdb", "bench", "--plot", "a.svg"]).0, Some("a.svg".into()));
        assert_eq!(parse(&["directdb", "bench", "ycsb"]).1, None);
        let asked = parse(&["directdb", "bench", "ycsb", "--plot", "b.svg"]);
        assert_eq!(asked.1, Some("b.svg".into()));
        use clap::Parser as _;
        let both = ["directdb", "bench", "--plot", "a.svg", "--no-plot"];
        assert!(crate::cli::Cli::try_parse_from(both).is_err(), "--plot and --no-plot conflict");
    }

    #[test]
    fn the_last_line_names_the_plot() {
        let report = YcsbReport::synthetic(&["direct", "buffered"], &["load", "a"]);
        let text = render(&report, Some(Path::new("/tmp/x.svg")));
        assert_eq!(text.lines().last(), Some("plot: /tmp/x.svg"));
        assert!(!render(&report, None).contains("plot:"));
    }

    /// A failed target has a line of its own; a phase without pool counters (another engine's)
    /// shows no hit ratio rather than 100%.
    #[test]
    fn failures_and_missing_hit_ratios_are_shown_as_such() {
        let mut report = YcsbReport::synthetic(&["direct", "lmdb"], &["load", "a"]);
        report
            .failures
            .push(crate::bench::ycsb::Failure { target: "fjall".into(), error: "killed".into() });
        report.modes[1].load.pool_hit_ratio = None;
        let text = render(&report, None);
        assert!(text.contains("FAILED fjall: killed"), "{text}");
        let lmdb_load =
            text.lines().find(|line| line.split_whitespace().take(2).eq(["lmdb", "load"]));
        let cells: Vec<&str> = lmdb_load.expect("lmdb's load row").split_whitespace().collect();
        assert_eq!(cells[cells.len() - 3], "-", "hit %: {cells:?}");
    }

    #[test]
    fn a_plot_into_a_missing_directory_is_refused_before_the_run() {
        let error = check_plot_directory(Path::new("/nonexistent/dir/x.svg")).unwrap_err();
        assert!(error.contains("/nonexistent/dir"), "{error}");
        assert_eq!(check_plot_directory(Path::new("x.svg")), Ok(()));
    }

    /// Each phase's row ends with its process's peak over its limit in that phase.
    #[test]
    fn each_phase_row_shows_its_memory_peak_and_limit() {
        let mut report = YcsbReport::synthetic(&["direct", "buffered"], &["load", "c"]);
        let memory = |peak_mb: u64, limit_mb: u64| crate::bench::memory_budget::PhaseMemory {
            limit_bytes: Some(limit_mb << 20),
            peak_bytes: Some(peak_mb << 20),
            written_bytes: None,
        };
        report.modes[1].load.memory = memory(50, 54);
        report.modes[1].runs[0].memory = memory(43, 47);
        let text = render(&report, None);
        let row = |label: &str, phase: &str| {
            let line = text.lines().find(|line| line.split_whitespace().take(2).eq([label, phase]));
            line.unwrap_or_else(|| panic!("no {label} {phase} row in\n{text}")).to_string()
        };
        assert!(row("buffered", "load").ends_with(" 50.0/54.0"), "{text}");
        assert!(row("buffered", "c").ends_with(" 43.0/47.0"), "{text}");
        assert!(row("direct", "c").ends_with(" -"), "no limit: {text}");
    }

    #[test]
    fn phase_cells_line_up_under_their_headers() {
        let header = line(&headers(&COLUMNS));
        let cells: Vec<String> = COLUMNS.iter().map(|_| "9".to_string()).collect();
        assert_eq!(header.chars().count(), line(&cells).chars().count());
    }
}

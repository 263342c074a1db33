//! `directdb bench …`: the benchmarks. A bare `bench` is the default OLTP suite (YCSB A, B, C
//! and F on direct, buffered and mmap I/O, `bench ycsb` with its defaults); `bench ycsb` has
//! every knob; `bench tpcc` runs a TPC-C-like mix; `bench io`, `bench wal` and `bench pool`
//! measure the layers below the engine.

mod memory;
mod pool;
mod tpcc;
mod ycsb;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::bench::io::{self, Backend, IoBenchOptions, IoReport, IoRow};
use crate::bench::memory_budget::Failure;
use crate::bench::timed_disk::IoTimes;
use crate::bench::wal::{self, FlushChoice, WalBenchOptions, WalReport};
use crate::bench::{fio, measure};

use super::{CliError, Format, output};

/// `directdb bench`: with no subcommand, the default suite: `bench ycsb`, whose flags it takes,
/// and a plot in `--dir` unless `--plot` or `--no-plot` says otherwise.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    suite: Box<ycsb::YcsbArgs>,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// YCSB core workloads (a-f) on the Db API: a load phase, then each workload, on each I/O
    /// mode in turn, with throughput, latency percentiles, device bytes, CPU time and pool hit
    /// ratio per operation, and the modes' throughput side by side.
    Ycsb(ycsb::YcsbArgs),
    /// A TPC-C-like order-entry workload (new-order, payment, order-status, delivery,
    /// stock-level at 45/43/4/4/4, no keying or think time) on each I/O mode in turn: the load,
    /// the run, and TPC-C's consistency conditions after each; throughput, new-orders per
    /// minute (tpmC-like, not audited), latency per transaction, device bytes and CPU time per
    /// transaction, and the modes side by side. Exits non-zero if a consistency check fails.
    Tpcc(tpcc::TpccArgs),
    /// The raw device table: 4 KiB random reads at QD1 and QD32, random writes, sequential
    /// 1 MiB, and write + durable flush latency, per backend, with fio as the reference.
    Io(IoArgs),
    /// Durable commit latency and throughput of the write-ahead log for 1..64 committers,
    /// against the raw 4 KiB write + flush of the same flush method, in the same directory.
    Wal(WalArgs),
    /// Buffer pool hit-path cost (optimistic read, shared and exclusive fix) against a plain
    /// arena read, and miss-path pages/s against raw 4 KiB random reads of the same file, per
    /// I/O mode, with the resident set against the pool's memory bound.
    Pool(pool::PoolArgs),
}

/// `directdb bench io`.
#[derive(Debug, clap::Args)]
struct IoArgs {
    /// Directory for the test file (it is created and, unless --keep-file, removed).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Size of the test file in GiB (the file is fully written once, never sparse).
    #[arg(long, default_value_t = 2.0)]
    size_gb: f64,
    /// Seconds for each row of the table.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Backends: direct (both submission paths), direct/io_uring, direct/pread, buffered, mmap.
    #[arg(long, default_value = "direct,buffered,mmap")]
    backends: String,
    /// The high queue depth: that many threads, one request in flight each.
    #[arg(long, default_value_t = 32)]
    queue_depth: usize,
    /// Skip the fio reference (it is skipped anyway when fio is not installed).
    #[arg(long)]
    no_fio: bool,
    /// Keep the test file so the next run does not write it again.
    #[arg(long)]
    keep_file: bool,
}

/// `directdb bench wal`.
#[derive(Debug, clap::Args)]
struct WalArgs {
    /// Directory for the reference file and the log (both are removed afterwards).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Seconds for the reference and for each committer count.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Committer counts, comma-separated: one log run each.
    #[arg(long, default_value = "1,4,16,64")]
    committers: String,
    /// Payload bytes of each appended record.
    #[arg(long, default_value_t = 100)]
    payload_bytes: usize,
    /// How commits are made durable: auto (what `directdb probe` chooses for --dir),
    /// fdatasync, dsync (RWF_DSYNC writes) or plain (no flush: durable only on a write-through
    /// cache).
    #[arg(long, default_value = "auto")]
    flush_method: FlushChoice,
}

/// The fio comparison: directdb's direct backend and fio, alternating on the same file.
#[derive(Debug, serde::Serialize)]
struct Reference {
    queue_depth: usize,
    directdb_iops: Vec<f64>,
    fio_iops: Vec<f64>,
    /// Mean directdb IOPS over mean fio IOPS.
    ratio: f64,
    fio_command: String,
}

/// Rounds of (directdb, fio) pairs in the reference section.
const REFERENCE_ROUND_COUNT: usize = 3;

/// Runs the chosen benchmark.
pub(crate) fn run(args: Args, format: Format) -> Result<(), CliError> {
    match args.command {
        Some(BenchCommand::Io(io_args)) => run_io(io_args, &format),
        Some(BenchCommand::Wal(wal_args)) => run_wal(wal_args, format),
        Some(BenchCommand::Pool(pool_args)) => pool::run(pool_args, format),
        Some(BenchCommand::Ycsb(ycsb_args)) => {
            ycsb::run(ycsb_args, format, ycsb::DefaultPlot::Nowhere)
        }
        Some(BenchCommand::Tpcc(tpcc_args)) => tpcc::run(tpcc_args, format),
        None => ycsb::run(*args.suite, format, ycsb::DefaultPlot::InDirectory),
    }
}

fn run_io(args: IoArgs, format: &Format) -> Result<(), CliError> {
    let json = !format.is_human();
    if !(args.size_gb > 0.0 && args.seconds > 0.0 && args.queue_depth > 0) {
        return Err(CliError::Bench(
            "--size-gb, --seconds and --queue-depth must be positive".into(),
        ));
    }
    let options = IoBenchOptions {
        directory: args.dir.clone(),
        size_bytes: gib_to_bytes(args.size_gb),
        seconds_per_test: args.seconds,
        backends: Backend::parse_list(&args.backends)?,
        queue_depth: args.queue_depth,
        keep_file: true, // removed below, after the fio reference has used it
    };
    if !json {
        println!(
            "bench io: {} GiB file in {}, {} s per row",
            args.size_gb,
            args.dir.display(),
            args.seconds
        );
        print_header();
    }
    let report = io::run(&options, |row| {
        if !json {
            print_row(row);
        }
    })?;
    let references = if args.no_fio || !fio::available() {
        if !json {
            println!(
                "\nfio reference skipped ({})",
                if args.no_fio { "--no-fio" } else { "fio not installed" }
            );
        }
        Vec::new()
    } else {
        run_references(&options, !json)?
    };
    if !args.keep_file {
        let _ = std::fs::remove_file(io::file_path(&options.directory));
    }
    let value = serde_json::json!({ "io": report, "fio_reference": references });
    match format {
        Format::Json => output::emit(Format::Json, &value, |_| String::new()),
        Format::Human => {
            print_footer(&report);
            Ok(())
        }
        Format::HumanAndJsonFile(path) => {
            print_footer(&report);
            output::write_json_file(path, &value)
        }
    }
}

fn run_references(options: &IoBenchOptions, verbose: bool) -> Result<Vec<Reference>, String> {
    if verbose {
        println!(
            "\nreference: directdb direct/io_uring vs fio (io_uring, O_DIRECT, 1 job), 4 KiB random read, alternating on the same file"
        );
    }
    let path = io::file_path(&options.directory);
    let mut references = Vec::new();
    for queue_depth in [1, options.queue_depth] {
        let mut reference = Reference {
            queue_depth,
            directdb_iops: Vec::new(),
            fio_iops: Vec::new(),
            ratio: 0.0,
            fio_command: String::new(),
        };
        for _ in 0..REFERENCE_ROUND_COUNT {
            reference.directdb_iops.push(directdb_random_read(options, queue_depth)?);
            let fio_result =
                fio::random_read(&path, options.size_bytes, queue_depth, options.seconds_per_test)?;
            reference.fio_iops.push(fio_result.iops);
            reference.fio_command = fio_result.command;
        }
        reference.ratio = mean(&reference.directdb_iops) / mean(&reference.fio_iops);
        if verbose {
            println!(
                "  QD{queue_depth:<3} directdb {:>9.0} IOPS   fio {:>9.0} IOPS   ratio {:.3}",
                mean(&reference.directdb_iops),
                mean(&reference.fio_iops),
                reference.ratio
            );
        }
        references.push(reference);
    }
    Ok(references)
}

fn directdb_random_read(options: &IoBenchOptions, queue_depth: usize) -> Result<f64, String> {
    let single =
        IoBenchOptions { backends: vec![Backend::DirectIoUring], queue_depth, ..options.clone() };
    let measurement: measure::Measurement = io::random_read_once(&single, queue_depth)?;
    Ok(measurement.ops_per_second)
}

/// GiB (possibly fractional) to bytes, rounded up to whole MiB.
fn gib_to_bytes(gib: f64) -> u64 {
    let mib = (gib * 1024.0).ceil();
    #[expect(clippy::cast_possible_truncation, reason = "positive and far below 2^64 MiB")]
    let mib = mib as u64;
    mib << 20
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn print_header() {
    println!(
        "{:<16} {:<22} {:>4} {:>10} {:>9} {:>9} {:>9}",
        "backend", "test", "QD", "IOPS", "MB/s", "p50 µs", "p99 µs"
    );
}

fn print_row(row: &IoRow) {
    println!(
        "{:<16} {:<22} {:>4} {:>10.0} {:>9.1} {:>9.1} {:>9.1}",
        row.backend,
        row.test,
        row.queue_depth,
        row.iops,
        row.mb_per_second,
        row.latency_us_p50,
        row.latency_us_p99
    );
}

fn print_footer(report: &IoReport) {
    println!(
        "\nfile: {} ({}), cold reads: {}",
        report.file.display(),
        report.file_system,
        report.cold_cache_method
    );
    for (backend, info) in &report.backends {
        for reason in &info.fallback_reasons {
            println!("note: {backend}: {reason}");
        }
    }
}

/// Runs `bench wal`: progress on stderr (table format only), then the report on stdout.
fn run_wal(args: WalArgs, format: Format) -> Result<(), CliError> {
    let options = WalBenchOptions {
        directory: args.dir,
        seconds_per_run: args.seconds,
        committer_counts: wal::parse_committer_counts(&args.committers)?,
        payload_bytes: args.payload_bytes,
        flush_choice: args.flush_method,
    };
    let report = wal::run(&options, |step| {
        if format.is_human() {
            // Progress is a courtesy on stderr: a closed stderr must not stop the benchmark.
            let _ = writeln!(std::io::stderr(), "running {step}");
        }
    })?;
    output::emit(format, &report, render_wal)
}

/// The columns of the `bench wal` table, each with its width (the first is left-aligned).
const WAL_COLUMNS: [(&str, usize); 14] = [
    ("run", 26),
    ("committers", 10),
    ("ops/s", 9),
    ("p50 µs", 8),
    ("p99 µs", 8),
    ("batches", 8),
    ("rec/batch", 9),
    ("B/commit", 8),
    ("write µs", 8),
    ("sync µs", 8),
    ("dev busy", 8),
    ("gap µs", 7),
    ("p50/raw", 7),
    ("tput x1", 7),
];

/// One table line: the first cell left-aligned, the others right-aligned, to [`WAL_COLUMNS`].
fn wal_line(cells: &[String]) -> String {
    aligned_line(&WAL_COLUMNS, cells)
}

/// `mb` MiB of the flag `flag` in bytes, or an error naming the flag when that overflows.
fn mib_to_bytes(flag: &str, mb: u64) -> Result<u64, String> {
    mb.checked_mul(1 << 20).ok_or_else(|| format!("{flag} {mb} overflows"))
}

/// The error a run ends with when some of its targets failed (`noun` names what they are), each
/// named with its error: the report on stdout has the same, but a reader of stderr alone (a log,
/// a test's failure message cut short) learns why without it.
fn targets_failed(noun: &str, failures: &[Failure], succeeded: usize) -> CliError {
    let reasons: Vec<String> =
        failures.iter().map(|failure| format!("{}: {}", failure.target, failure.error)).collect();
    CliError::Bench(format!(
        "{} of {} {noun} failed ({}); the report above has the others",
        failures.len(),
        failures.len() + succeeded,
        reasons.join("; ")
    ))
}

/// One table line: the first cell left-aligned, the others right-aligned, each to its column's
/// width.
fn aligned_line(columns: &[(&str, usize)], cells: &[String]) -> String {
    let mut line = String::new();
    for (index, (cell, &(_, width))) in cells.iter().zip(columns).enumerate() {
        if index == 0 {
            let _ = write!(line, "{cell:<width$}");
        } else {
            let _ = write!(line, " {cell:>width$}");
        }
    }
    line.trim_end().to_string()
}

/// Mean duration of one write call, plain or `RWF_DSYNC`, whichever the run made.
fn write_us_mean(io: &IoTimes) -> f64 {
    let count = io.write_count + io.durable_write_count;
    let total = io.write_us_mean * io.write_count as f64
        + io.durable_write_us_mean * io.durable_write_count as f64;
    if count == 0 { 0.0 } else { total / count as f64 }
}

/// The human-readable report: the setting, one line per run, then the two target ratios.
fn render_wal(report: &WalReport) -> String {
    let mut text = String::new();
    let file = &report.file;
    let _ = writeln!(
        text,
        "bench wal: {} s per run, {}-byte payloads, in {} ({}, {} I/O)",
        report.seconds_per_run,
        report.payload_bytes,
        report.directory.display(),
        file.file_system,
        file.io_mode.name()
    );
    let _ =
        writeln!(text, "flush method: {} ({})", report.flush_method, report.flush_method_source);
    let _ = writeln!(text, "flush reason: {}", report.flush_reason);
    for reason in &file.fallback_reasons {
        let _ = writeln!(text, "note: {reason}");
    }
    let headers: Vec<String> = WAL_COLUMNS.iter().map(|(name, _)| (*name).to_string()).collect();
    let _ = writeln!(text, "\n{}", wal_line(&headers));
    let raw = &report.raw;
    let raw_elapsed_us = (raw.elapsed_seconds * 1e6).max(1.0);
    let raw_operations = (raw.operation_count as f64).max(1.0);
    let raw_cells = [
        format!("raw {}", raw.test),
        "1".into(),
        format!("{:.0}", raw.ops_per_second),
        format!("{:.1}", raw.latency_us_p50),
        format!("{:.1}", raw.latency_us_p99),
        raw.operation_count.to_string(),
        "1.00".into(),
        raw.block_bytes.to_string(),
        format!("{:.1}", write_us_mean(&raw.io)),
        format!("{:.1}", raw.io.sync_us_mean),
        format!("{:.0}%", 100.0 * raw.io.device_us_total / raw_elapsed_us),
        format!("{:.1}", (raw_elapsed_us - raw.io.device_us_total).max(0.0) / raw_operations),
        "1.00".into(),
        "-".into(),
    ];
    let _ = writeln!(text, "{}", wal_line(&raw_cells));
    for row in &report.runs {
        let cells = [
            "wal append_durable".to_string(),
            row.committer_count.to_string(),
            format!("{:.0}", row.commits_per_second),
            format!("{:.1}", row.latency_us_p50),
            format!("{:.1}", row.latency_us_p99),
            row.batches_written.to_string(),
            format!("{:.2}", row.records_per_batch),
            format!("{:.0}", row.bytes_written_per_commit),
            format!("{:.1}", write_us_mean(&row.io)),
            format!("{:.1}", row.io.sync_us_mean),
            format!("{:.0}%", 100.0 * row.device_busy_fraction),
            format!("{:.1}", row.device_idle_us_per_batch),
            format!("{:.2}", row.latency_p50_over_raw),
            row.throughput_over_one_committer.map_or("-".into(), |ratio| format!("{ratio:.1}")),
        ];
        let _ = writeln!(text, "{}", wal_line(&cells));
    }
    render_targets(&mut text, report);
    text
}

/// The two ratios the log is held to, each with its target and whether it was met.
fn render_targets(text: &mut String, report: &WalReport) {
    let targets = &report.targets;
    let verdict = |met: Option<bool>| match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    };
    let value = |ratio: Option<f64>| ratio.map_or("-".to_string(), |ratio| format!("{ratio:.2}"));
    let _ = writeln!(
        text,
        "\nlatency:    p50 at 1 committer / raw p50 = {} (target <= {}: {})",
        value(targets.latency_p50_ratio),
        targets.latency_p50_ratio_max,
        verdict(targets.latency_target_met)
    );
    let _ = writeln!(
        text,
        "throughput: commits/s at {} committers / at 1 = {} (target >= {}: {})",
        targets.throughput_committer_count,
        value(targets.throughput_ratio),
        targets.throughput_ratio_min,
        verdict(targets.throughput_target_met)
    );
    let _ = writeln!(
        text,
        "write µs / sync µs: mean device call; dev busy: share of the run with a device call in \
         flight; gap µs: time per batch with none in flight; B/commit: log bytes written per commit"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command's error names each failed target with its reason, so stderr alone says why.
    #[test]
    fn failed_targets_are_named_with_their_errors() {
        let failure =
            |target: &str, error: &str| Failure { target: target.into(), error: error.into() };
        let failures = [failure("mmap", "killed at 3.4 MiB"), failure("buffered", "disk full")];
        let CliError::Bench(message) = targets_failed("targets", &failures, 1) else {
            panic!("a bench error");
        };
        assert_eq!(
            message,
            "2 of 3 targets failed (mmap: killed at 3.4 MiB; buffered: disk full); the report \
             above has the others"
        );
    }

    #[test]
    fn wal_table_cells_line_up_under_their_headers() {
        let headers: Vec<String> =
            WAL_COLUMNS.iter().map(|(name, _)| (*name).to_string()).collect();
        let cells: Vec<String> = WAL_COLUMNS.iter().map(|_| "9".to_string()).collect();
        let (header_line, cell_line) = (wal_line(&headers), wal_line(&cells));
        assert_eq!(header_line.chars().count(), cell_line.chars().count());
        // Right-aligned columns end where their headers end.
        let ends = |line: &str| -> Vec<usize> {
            let characters: Vec<char> = line.chars().collect();
            (1..=characters.len())
                .filter(|&end| {
                    characters[end - 1] != ' '
                        && characters.get(end).is_none_or(|&next| next == ' ')
                })
                .collect()
        };
        let cell_ends = ends(&cell_line);
        assert_eq!(cell_ends.len(), WAL_COLUMNS.len());
        assert!(
            cell_ends[1..].iter().all(|end| ends(&header_line).contains(end)),
            "{header_line}\n{cell_line}"
        );
    }

    #[test]
    fn write_mean_weighs_plain_and_durable_writes_by_their_counts() {
        let io = IoTimes {
            write_count: 3,
            write_us_mean: 10.0,
            durable_write_count: 1,
            durable_write_us_mean: 50.0,
            ..IoTimes::default()
        };
        assert_eq!(write_us_mean(&io), 20.0);
        assert_eq!(write_us_mean(&IoTimes::default()), 0.0);
    }
}

//! `directdb bench …`: the benchmarks. Today `bench io`; the OLTP suite (the default `bench`)
//! arrives with the engine.

use std::path::PathBuf;

use crate::bench::io::{self, Backend, IoBenchOptions, IoReport, IoRow};
use crate::bench::{fio, measure};

use super::{CliError, Format};

/// `directdb bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<BenchCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// The raw device table: 4 KiB random reads at QD1 and QD32, random writes, sequential
    /// 1 MiB, and write + durable flush latency, per backend, with fio as the reference.
    Io(IoArgs),
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
        Some(BenchCommand::Io(io_args)) => Ok(run_io(io_args, format == Format::Json)?),
        None => Err(CliError::Bench("the default OLTP suite (YCSB on direct, buffered and mmap I/O) needs the \
                     engine, which is not built yet; `directdb bench io` measures the device \
                     layer today"
            .into())),
    }
}

fn run_io(args: IoArgs, json: bool) -> Result<(), String> {
    if !(args.size_gb > 0.0 && args.seconds > 0.0 && args.queue_depth > 0) {
        return Err("--size-gb, --seconds and --queue-depth must be positive".into());
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
    if json {
        print_json(&report, &references)
    } else {
        print_footer(&report);
        Ok(())
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

fn print_json(report: &IoReport, references: &[Reference]) -> Result<(), String> {
    let value = serde_json::json!({ "io": report, "fio_reference": references });
    let text = serde_json::to_string_pretty(&value).map_err(|error| error.to_string())?;
    println!("{text}");
    Ok(())
}

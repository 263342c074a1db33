//! `directdb bench wal`: durable commit latency and throughput of the write-ahead log for 1..N
//! committers, against the raw 4 KiB write + flush of the same flush method, on the same
//! directory, in the same run.
//!
//! The reference is what a log without group commit could do at best: one thread overwriting
//! 4 KiB blocks, round and round a pre-zeroed region (as the log overwrites its pre-zeroed
//! segments), each write made durable the way the log's flush method does it. Two ratios come
//! out of the pair:
//! - the log's p50 commit latency at one committer over the raw p50: what the log's own code
//!   (encoding, the group-commit hand-off) adds to one flush; target at most
//!   [`LATENCY_RATIO_TARGET_MAX`];
//! - commits per second at N committers over commits per second at one: how well group commit
//!   shares a flush; target at least [`THROUGHPUT_RATIO_TARGET_MIN`] at
//!   [`THROUGHPUT_TARGET_COMMITTER_COUNT`] committers.
//!
//! Both the log and the reference reach the disk through a [`TimedDisk`], so each row also says
//! how long the device calls took and how busy the device was: the numbers that explain a missed
//! target.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use disk::{AlignedBuf, Disk, DiskOptions, FileInfo, FlushMethod, IoMode, OpenOptions, RealDisk};
use wal::{Lsn, Wal, WalOptions, WalStats};

use crate::bench::measure::{Measurement, run_threads};
use crate::bench::scratch::RemoveOnDrop;
use crate::bench::timed_disk::{IoTimes, TimedDisk};

/// Most committer threads in one run: each is an OS thread with its own stack, and beyond this
/// the run measures the scheduler rather than the log.
pub(crate) const COMMITTER_COUNT_MAX: usize = 1024;
/// Longest run accepted for one row (an hour): a typo such as `--seconds 5000000` should be an
/// error, not a week-long benchmark.
pub(crate) const SECONDS_PER_RUN_MAX: f64 = 3600.0;
/// Bytes of one raw reference write: one page, the unit a log without batching would write.
const RAW_BLOCK_BYTES: usize = 4096;
/// The raw reference overwrites this much of its file, round and round, as a log does its
/// segments: pre-zeroed space, so no file-system metadata is committed per write.
const RAW_REGION_BYTES: u64 = 64 << 20;
/// The raw reference's file, inside `--dir`.
const RAW_FILE_NAME: &str = "directdb-bench-wal-raw.dat";
/// The log's directory, inside `--dir`; made fresh for each run and removed after it.
const LOG_DIRECTORY_NAME: &str = "directdb-bench-wal.log";
/// The record tag the committers append with (the log does not interpret it).
const RECORD_TAG: u8 = 1;
/// Fill byte of the written blocks and payloads: non-zero, so no layer can skip it as a hole.
const FILL_BYTE: u8 = 0xA5;
/// Target: p50 commit latency at one committer over the raw p50.
pub(crate) const LATENCY_RATIO_TARGET_MAX: f64 = 1.2;
/// Target: commits per second at [`THROUGHPUT_TARGET_COMMITTER_COUNT`] committers over one.
pub(crate) const THROUGHPUT_RATIO_TARGET_MIN: f64 = 15.0;
/// The committer count the throughput target is stated for.
pub(crate) const THROUGHPUT_TARGET_COMMITTER_COUNT: usize = 64;

/// How the flush method is chosen: from the device probe, or forced on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushChoice {
    /// What `directdb probe` would choose for the directory.
    Auto,
    /// This method, whatever the device does (a forced `plain` on a volatile cache is fast and
    /// not durable: the point of forcing it is to see that cost).
    Forced(FlushMethod),
}

impl FromStr for FlushChoice {
    type Err = String;

    /// `auto`, or a [`FlushMethod`] name: `fdatasync`, `dsync`, `plain`.
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "auto" {
            return Ok(FlushChoice::Auto);
        }
        text.parse::<FlushMethod>().map(FlushChoice::Forced).map_err(|_| {
            format!("unknown flush method {text:?} (expected auto, fdatasync, dsync or plain)")
        })
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct WalBenchOptions {
    /// Directory for the reference file and the log (created if missing).
    pub(crate) directory: PathBuf,
    /// Duration of each run: the reference and each committer count.
    pub(crate) seconds_per_run: f64,
    /// Committer counts, one log run each, in this order.
    pub(crate) committer_counts: Vec<usize>,
    /// Payload of each appended record.
    pub(crate) payload_bytes: usize,
    /// How the flush method is chosen.
    pub(crate) flush_choice: FlushChoice,
}

impl WalBenchOptions {
    /// The duration of one run, or why `seconds_per_run` cannot be one.
    fn run_duration(&self) -> Result<Duration, String> {
        let seconds = self.seconds_per_run;
        if !(seconds > 0.0 && seconds <= SECONDS_PER_RUN_MAX) {
            return Err(format!(
                "--seconds must be above 0 and at most {SECONDS_PER_RUN_MAX}, not {seconds}"
            ));
        }
        Duration::try_from_secs_f64(seconds)
            .map_err(|error| format!("--seconds {seconds}: {error}"))
    }

    /// Checks everything that came from the command line, before anything is written.
    fn validate(&self) -> Result<Duration, String> {
        let limit_bytes = wal::limits::RECORD_PAYLOAD_BYTES_MAX;
        if self.payload_bytes > limit_bytes {
            return Err(format!(
                "--payload-bytes {} is above the log's record limit of {limit_bytes}",
                self.payload_bytes
            ));
        }
        if self.committer_counts.is_empty() {
            return Err("--committers lists no committer count".into());
        }
        self.run_duration()
    }
}

/// Parses `--committers`: comma-separated counts from 1 to [`COMMITTER_COUNT_MAX`], each once.
/// Spaces and empty entries are ignored (`"1, 4,"` is `[1, 4]`); the order is kept.
pub(crate) fn parse_committer_counts(text: &str) -> Result<Vec<usize>, String> {
    let mut counts = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        let count: usize =
            entry.parse().map_err(|_| format!("--committers: {entry:?} is not a whole number"))?;
        if !(1..=COMMITTER_COUNT_MAX).contains(&count) {
            return Err(format!(
                "--committers: {count} is outside 1 to {COMMITTER_COUNT_MAX} committers"
            ));
        }
        if counts.contains(&count) {
            return Err(format!("--committers: {count} is listed twice"));
        }
        counts.push(count);
    }
    if counts.is_empty() {
        return Err(format!("--committers: no committer count in {text:?}"));
    }
    Ok(counts)
}

/// The raw reference row.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct RawRow {
    /// What was measured, e.g. "write+fdatasync 4KiB".
    pub(crate) test: String,
    /// Bytes of each write.
    pub(crate) block_bytes: usize,
    /// Bytes of the region the writes go round.
    pub(crate) region_bytes: u64,
    /// Durable writes per second.
    pub(crate) ops_per_second: f64,
    /// Median latency of one durable write.
    pub(crate) latency_us_p50: f64,
    /// 99th-percentile latency of one durable write.
    pub(crate) latency_us_p99: f64,
    /// Durable writes completed.
    pub(crate) operation_count: u64,
    /// Wall-clock time of the run.
    pub(crate) elapsed_seconds: f64,
    /// Time spent in the device calls (write, sync) per durable write.
    pub(crate) device_us_per_operation: f64,
    /// The device calls of the run.
    pub(crate) io: IoTimes,
}

/// One log run: `committer_count` threads appending durably.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct WalRow {
    /// Committer threads.
    pub(crate) committer_count: usize,
    /// Durable commits per second, over all committers.
    pub(crate) commits_per_second: f64,
    /// Median latency of one `append_durable`.
    pub(crate) latency_us_p50: f64,
    /// 99th-percentile latency of one `append_durable`.
    pub(crate) latency_us_p99: f64,
    /// Commits completed.
    pub(crate) commit_count: u64,
    /// Wall-clock time of the run.
    pub(crate) elapsed_seconds: f64,
    /// Batches the log wrote (one per group commit).
    pub(crate) batches_written: u64,
    /// Records appended over batches written: how many commits shared each flush.
    pub(crate) records_per_batch: f64,
    /// Bytes the log wrote over records appended (tail blocks are rewritten by the next batch,
    /// so this is above the record size at low batch sizes).
    pub(crate) bytes_written_per_commit: f64,
    /// Time spent in the device calls (writes, syncs) per batch.
    pub(crate) device_us_per_batch: f64,
    /// Fraction of the run's wall-clock time the log had a device call in flight (one batch is
    /// in flight at a time, so 1.0 means the device, not the log's code, is the limit).
    pub(crate) device_busy_fraction: f64,
    /// Wall-clock time per batch with no device call in flight: the hand-off from one batch to
    /// the next (publishing the durable point, waking the committers, a new leader taking the
    /// next batch), which group commit cannot overlap with a flush.
    pub(crate) device_idle_us_per_batch: f64,
    /// This row's p50 over the raw reference's p50.
    pub(crate) latency_p50_over_raw: f64,
    /// This row's commits per second over the one-committer row's (absent without one).
    pub(crate) throughput_over_one_committer: Option<f64>,
    /// The device calls of the run (segment initialisation at open excluded).
    pub(crate) io: IoTimes,
    /// The log's own counters at the end of the run.
    pub(crate) wal_stats: WalStats,
}

/// The two ratios the log is held to, with their targets.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Targets {
    /// p50 commit latency at one committer over the raw p50 (absent without a one-committer
    /// run).
    pub(crate) latency_p50_ratio: Option<f64>,
    /// The most that ratio should be.
    pub(crate) latency_p50_ratio_max: f64,
    /// Whether it is at most that.
    pub(crate) latency_target_met: Option<bool>,
    /// The committer count the throughput ratio is taken at.
    pub(crate) throughput_committer_count: usize,
    /// Commits per second at that count over commits per second at one (absent without both).
    pub(crate) throughput_ratio: Option<f64>,
    /// The least that ratio should be.
    pub(crate) throughput_ratio_min: f64,
    /// Whether it is at least that.
    pub(crate) throughput_target_met: Option<bool>,
}

/// The whole report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct WalReport {
    /// Where the reference file and the log were.
    pub(crate) directory: PathBuf,
    /// How the reference file was opened (file system, direct or not, alignment, fallbacks):
    /// the log's segments are opened the same way.
    pub(crate) file: FileInfo,
    /// Duration of each run.
    pub(crate) seconds_per_run: f64,
    /// Payload of each record.
    pub(crate) payload_bytes: usize,
    /// The flush method of the reference and of the log.
    pub(crate) flush_method: FlushMethod,
    /// Why that method (the log's `flush_reason`).
    pub(crate) flush_reason: String,
    /// "probed" or "forced".
    pub(crate) flush_method_source: &'static str,
    /// The raw reference.
    pub(crate) raw: RawRow,
    /// One row per committer count, in the order asked for.
    pub(crate) runs: Vec<WalRow>,
    /// The ratios and their targets.
    pub(crate) targets: Targets,
}

/// A disk that opens files the way the log opens its segments (direct I/O, preferred).
fn real_disk() -> Arc<dyn Disk> {
    Arc::new(RealDisk::new(DiskOptions::default()))
}

/// Runs the reference, then one log run per committer count. `progress` is told what is about
/// to run.
pub(crate) fn run(
    options: &WalBenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<WalReport, String> {
    let duration = options.validate()?;
    real_disk().create_dir_all(&options.directory).map_err(|error| error.to_string())?;
    let (wal_options, flush_method_source) = wal_options(options)?;
    let flush_method = wal_options.flush_method;
    progress(&format!("raw {} ({} s)", raw_test_name(flush_method), options.seconds_per_run));
    let (raw, file) = run_raw(&options.directory, flush_method, duration)?;
    let mut runs = Vec::new();
    let mut flush_reason = wal_options.flush_reason.clone();
    for &committer_count in &options.committer_counts {
        progress(&format!("wal, {committer_count} committers ({} s)", options.seconds_per_run));
        let row = run_log(options, &wal_options, committer_count, duration, &raw)?;
        flush_reason.clone_from(&row.wal_stats.flush_reason);
        runs.push(row);
    }
    fill_throughput_ratios(&mut runs);
    let targets = targets(&runs);
    Ok(WalReport {
        directory: options.directory.clone(),
        file,
        seconds_per_run: options.seconds_per_run,
        payload_bytes: options.payload_bytes,
        flush_method,
        flush_reason,
        flush_method_source,
        raw,
        runs,
        targets,
    })
}

/// The log's options: the probed flush method, or the forced one.
fn wal_options(options: &WalBenchOptions) -> Result<(WalOptions, &'static str), String> {
    match options.flush_choice {
        FlushChoice::Auto => {
            let probed = WalOptions::probed(&options.directory).map_err(|error| {
                format!("probing {} for a flush method: {error}", options.directory.display())
            })?;
            Ok((probed, "probed"))
        }
        FlushChoice::Forced(flush_method) => {
            let flush_reason = format!("forced by --flush-method {flush_method}");
            Ok((WalOptions { flush_method, flush_reason, ..WalOptions::default() }, "forced"))
        }
    }
}

/// The reference's name in the table: what one operation is.
pub(crate) fn raw_test_name(flush_method: FlushMethod) -> String {
    let kilobytes = RAW_BLOCK_BYTES / 1024;
    match flush_method {
        FlushMethod::Fdatasync => format!("write+fdatasync {kilobytes}KiB"),
        FlushMethod::DsyncWrite => format!("write RWF_DSYNC {kilobytes}KiB"),
        FlushMethod::PlainWrite => format!("write {kilobytes}KiB"),
    }
}

/// The raw reference: one thread, 4 KiB durable writes round a pre-zeroed region. Returns the
/// row and how the file was opened.
fn run_raw(
    directory: &Path,
    flush_method: FlushMethod,
    duration: Duration,
) -> Result<(RawRow, FileInfo), String> {
    let timed = TimedDisk::new(real_disk());
    let path = directory.join(RAW_FILE_NAME);
    let _remove = RemoveOnDrop(path.clone());
    let open_options =
        OpenOptions { create: true, io_mode: Some(IoMode::Direct), ..OpenOptions::default() };
    let file = timed.open(&path, open_options).map_err(|error| error.to_string())?;
    file.allocate(RAW_REGION_BYTES).map_err(|error| error.to_string())?;
    timed.reset();
    let block_count = RAW_REGION_BYTES / RAW_BLOCK_BYTES as u64;
    let alignment = file.info().alignment;
    let setup = |_thread_index: usize| {
        let mut block = AlignedBuf::for_alignment(RAW_BLOCK_BYTES, alignment);
        block.fill(FILL_BYTE);
        (block, 0u64)
    };
    let operation = |(block, block_index): &mut (AlignedBuf, u64)| -> Result<bool, String> {
        let offset = (*block_index % block_count) * RAW_BLOCK_BYTES as u64;
        *block_index += 1;
        flush_method.write_durably(&*file, block, offset).map_err(|error| error.to_string())?;
        Ok(true)
    };
    let measurement = run_threads(1, duration, setup, operation)?;
    let io = timed.io_times();
    let row = RawRow {
        test: raw_test_name(flush_method),
        block_bytes: RAW_BLOCK_BYTES,
        region_bytes: RAW_REGION_BYTES,
        ops_per_second: measurement.ops_per_second,
        latency_us_p50: measurement.latency_us_p50,
        latency_us_p99: measurement.latency_us_p99,
        operation_count: measurement.operation_count,
        elapsed_seconds: measurement.elapsed_seconds,
        device_us_per_operation: per(io.device_us_total, measurement.operation_count),
        io,
    };
    Ok((row, file.info().clone()))
}

/// `total / count`, or 0 when there was nothing to divide among.
fn per(total: f64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { total / count as f64 }
}

/// One log run: a fresh log, `committer_count` threads each looping `append_durable`.
fn run_log(
    options: &WalBenchOptions,
    wal_options: &WalOptions,
    committer_count: usize,
    duration: Duration,
    raw: &RawRow,
) -> Result<WalRow, String> {
    let directory = options.directory.join(LOG_DIRECTORY_NAME);
    // A log left by an interrupted run would be recovered and appended to: start empty.
    let _remove = RemoveOnDrop::fresh_directory(&directory)?;
    let timed = Arc::new(TimedDisk::new(real_disk()));
    let disk: Arc<dyn Disk> = Arc::clone(&timed) as Arc<dyn Disk>;
    let (log, replayed) = Wal::open(disk, &directory, wal_options.clone(), Lsn::ZERO)
        .map_err(|error| format!("opening the log in {}: {error}", directory.display()))?;
    if !replayed.is_empty() {
        return Err(format!("the fresh log in {} was not empty", directory.display()));
    }
    // Opening initialised the first segment (pre-zeroing it): not part of the commits' cost.
    timed.reset();
    let payload = vec![FILL_BYTE; options.payload_bytes];
    let operation = |payload: &mut Vec<u8>| -> Result<bool, String> {
        log.append_durable(RECORD_TAG, payload).map_err(|error| error.to_string())?;
        Ok(true)
    };
    let measurement = run_threads(committer_count, duration, |_| payload.clone(), operation)?;
    let io = timed.io_times();
    let wal_stats = log.stats();
    log.check_invariants();
    drop(log);
    Ok(log_row(committer_count, &measurement, io, wal_stats, raw))
}

/// Derives a log row's figures from what the run measured.
fn log_row(
    committer_count: usize,
    measurement: &Measurement,
    io: IoTimes,
    wal_stats: WalStats,
    raw: &RawRow,
) -> WalRow {
    let batches_written = wal_stats.batches_written;
    let records_appended = wal_stats.records_appended;
    let elapsed_us = measurement.elapsed_seconds * 1e6;
    WalRow {
        committer_count,
        commits_per_second: measurement.ops_per_second,
        latency_us_p50: measurement.latency_us_p50,
        latency_us_p99: measurement.latency_us_p99,
        commit_count: measurement.operation_count,
        elapsed_seconds: measurement.elapsed_seconds,
        batches_written,
        records_per_batch: per(records_appended as f64, batches_written),
        bytes_written_per_commit: per(wal_stats.bytes_written as f64, records_appended),
        device_us_per_batch: per(io.device_us_total, batches_written),
        device_busy_fraction: if elapsed_us > 0.0 { io.device_us_total / elapsed_us } else { 0.0 },
        device_idle_us_per_batch: per((elapsed_us - io.device_us_total).max(0.0), batches_written),
        latency_p50_over_raw: ratio(measurement.latency_us_p50, raw.latency_us_p50),
        throughput_over_one_committer: None,
        io,
        wal_stats,
    }
}

/// `numerator / denominator`, or 0 when the denominator is not positive.
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 { numerator / denominator } else { 0.0 }
}

/// Sets each row's throughput over the one-committer row's, when there is one.
fn fill_throughput_ratios(runs: &mut [WalRow]) {
    let Some(one) = runs.iter().find(|row| row.committer_count == 1) else { return };
    let one_per_second = one.commits_per_second;
    for row in runs {
        row.throughput_over_one_committer = Some(ratio(row.commits_per_second, one_per_second));
    }
}

/// The two target ratios, from the rows that have them.
fn targets(runs: &[WalRow]) -> Targets {
    let row_of = |count: usize| runs.iter().find(|row| row.committer_count == count);
    let latency_p50_ratio = row_of(1).map(|row| row.latency_p50_over_raw);
    let throughput_ratio =
        row_of(THROUGHPUT_TARGET_COMMITTER_COUNT).and_then(|row| row.throughput_over_one_committer);
    Targets {
        latency_p50_ratio,
        latency_p50_ratio_max: LATENCY_RATIO_TARGET_MAX,
        latency_target_met: latency_p50_ratio.map(|value| value <= LATENCY_RATIO_TARGET_MAX),
        throughput_committer_count: THROUGHPUT_TARGET_COMMITTER_COUNT,
        throughput_ratio,
        throughput_ratio_min: THROUGHPUT_RATIO_TARGET_MIN,
        throughput_target_met: throughput_ratio.map(|value| value >= THROUGHPUT_RATIO_TARGET_MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committer_counts_are_parsed_in_order_ignoring_spaces_and_empty_entries() {
        assert_eq!(parse_committer_counts("1,4,16,64").unwrap(), vec![1, 4, 16, 64]);
        assert_eq!(parse_committer_counts(" 8 , 2,,").unwrap(), vec![8, 2]);
        assert_eq!(parse_committer_counts("1024").unwrap(), vec![COMMITTER_COUNT_MAX]);
    }

    #[test]
    fn bad_committer_counts_are_refused_with_the_reason() {
        let refused = |text: &str| parse_committer_counts(text).unwrap_err();
        assert!(refused("").contains("no committer count"));
        assert!(refused(" , ").contains("no committer count"));
        assert!(refused("0").contains("outside 1 to 1024"));
        assert!(refused("1025").contains("outside 1 to 1024"));
        assert!(refused("-1").contains("not a whole number"));
        assert!(refused("1,x").contains("\"x\" is not a whole number"));
        assert!(refused("99999999999999999999999").contains("not a whole number"));
        assert!(refused("4,1,4").contains("4 is listed twice"));
    }

    #[test]
    fn flush_choice_is_auto_or_a_method_name() {
        assert_eq!("auto".parse::<FlushChoice>(), Ok(FlushChoice::Auto));
        for method in FlushMethod::ALL {
            assert_eq!(method.name().parse::<FlushChoice>(), Ok(FlushChoice::Forced(method)));
        }
        let error = "fsync".parse::<FlushChoice>().unwrap_err();
        assert!(error.contains("expected auto, fdatasync, dsync or plain"), "{error}");
    }

    fn options(seconds_per_run: f64, payload_bytes: usize) -> WalBenchOptions {
        WalBenchOptions {
            directory: PathBuf::from("/nonexistent"),
            seconds_per_run,
            committer_counts: vec![1],
            payload_bytes,
            flush_choice: FlushChoice::Auto,
        }
    }

    #[test]
    fn options_from_the_command_line_are_checked_without_panicking() {
        assert_eq!(options(0.2, 100).validate().unwrap(), Duration::from_millis(200));
        for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY, SECONDS_PER_RUN_MAX + 1.0] {
            assert!(options(seconds, 100).validate().unwrap_err().contains("--seconds"));
        }
        let too_large = wal::limits::RECORD_PAYLOAD_BYTES_MAX + 1;
        assert!(options(1.0, too_large).validate().unwrap_err().contains("--payload-bytes"));
        assert!(options(1.0, 0).validate().is_ok());
        let none = WalBenchOptions { committer_counts: Vec::new(), ..options(1.0, 1) };
        assert!(none.validate().unwrap_err().contains("--committers"));
    }

    fn row(committer_count: usize, commits_per_second: f64, latency_us_p50: f64) -> WalRow {
        let measurement = Measurement {
            operation_count: 10,
            elapsed_seconds: 1.0,
            ops_per_second: commits_per_second,
            latency_us_p50,
            latency_us_p99: latency_us_p50 * 2.0,
        };
        let raw = RawRow {
            test: raw_test_name(FlushMethod::Fdatasync),
            block_bytes: RAW_BLOCK_BYTES,
            region_bytes: RAW_REGION_BYTES,
            ops_per_second: 5000.0,
            latency_us_p50: 200.0,
            latency_us_p99: 400.0,
            operation_count: 5000,
            elapsed_seconds: 1.0,
            device_us_per_operation: 190.0,
            io: IoTimes::default(),
        };
        let (log, _) = Wal::open(
            Arc::new(disk::SimDisk::with_seed(3)),
            "/log",
            WalOptions::default(),
            Lsn::ZERO,
        )
        .unwrap();
        log_row(committer_count, &measurement, IoTimes::default(), log.stats(), &raw)
    }

    #[test]
    fn ratios_are_taken_against_the_one_committer_run_and_the_raw_reference() {
        let mut runs =
            vec![row(4, 16_000.0, 230.0), row(1, 4_000.0, 220.0), row(64, 64_000.0, 900.0)];
        fill_throughput_ratios(&mut runs);
        assert_eq!(runs[0].throughput_over_one_committer, Some(4.0));
        assert_eq!(runs[2].throughput_over_one_committer, Some(16.0));
        assert!((runs[1].latency_p50_over_raw - 1.1).abs() < 1e-9);
        let targets = targets(&runs);
        assert_eq!(targets.throughput_ratio, Some(16.0));
        assert_eq!(targets.throughput_target_met, Some(true));
        assert_eq!(targets.latency_target_met, Some(true));

        let mut slow = vec![row(1, 4_000.0, 260.0), row(64, 40_000.0, 900.0)];
        fill_throughput_ratios(&mut slow);
        let targets = super::targets(&slow);
        assert_eq!(targets.latency_target_met, Some(false));
        assert_eq!(targets.throughput_target_met, Some(false));
    }

    #[test]
    fn without_a_one_committer_run_the_ratios_are_absent_not_invented() {
        let mut runs = vec![row(4, 16_000.0, 230.0), row(64, 64_000.0, 900.0)];
        fill_throughput_ratios(&mut runs);
        assert!(runs.iter().all(|row| row.throughput_over_one_committer.is_none()));
        let targets = targets(&runs);
        assert_eq!(targets.latency_p50_ratio, None);
        assert_eq!(targets.throughput_ratio, None);
        assert_eq!(targets.throughput_target_met, None);
    }

    #[test]
    fn empty_counters_give_zeros_not_nan() {
        // A run that committed nothing (the end-to-end run is `tests/cli_bench_wal.rs`).
        let empty = row(1, 0.0, 0.0);
        assert_eq!(empty.records_per_batch, 0.0);
        assert_eq!(empty.bytes_written_per_commit, 0.0);
        assert_eq!(empty.device_us_per_batch, 0.0);
        assert_eq!(per(10.0, 0), 0.0);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }
}

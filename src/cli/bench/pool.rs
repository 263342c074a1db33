//! `directdb bench pool`: the arguments and the human-readable report (the measuring is in
//! `src/bench/pool.rs`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use crate::bench::pool::{
    self, Access, DATA_MULTIPLE_DEFAULT, HitRow, MISS_ROUNDS_DEFAULT, MissReport, Order,
    PoolBenchOptions, PoolReport, PoolRow, RawRow,
};

use super::super::{CliError, Format, output};
use super::aligned_line;

/// `directdb bench pool`.
#[derive(Debug, clap::Args)]
pub(crate) struct PoolArgs {
    /// Directory for the data file (created, and removed afterwards unless --keep-file).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// MiB of pool frames (4 KiB pages).
    #[arg(long, default_value_t = 64)]
    pool_mb: u64,
    /// MiB of data the miss path reads at random (default: 8 times the pool).
    #[arg(long)]
    data_mb: Option<u64>,
    /// Seconds for each row of the tables.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// I/O modes of the miss path, comma-separated: direct, buffered, mmap.
    #[arg(long, default_value = "direct,buffered,mmap")]
    io: String,
    /// Reader threads of the concurrent miss row, and the raw reference's queue depth beside it.
    #[arg(long, default_value_t = 32)]
    readers: usize,
    /// Rounds of the miss path at each depth: its raw and pool rows run in turn this many times,
    /// and each row reports its median round.
    #[arg(long, default_value_t = MISS_ROUNDS_DEFAULT)]
    rounds: usize,
    /// Keep the data file, so the next run with the same sizes does not write it again.
    #[arg(long)]
    keep_file: bool,
}

/// Runs `bench pool`: progress on stderr (table format only), then the report on stdout.
pub(super) fn run(args: PoolArgs, format: Format) -> Result<(), CliError> {
    let mib = |count: u64| {
        count.checked_mul(1 << 20).ok_or_else(|| "a size in MiB overflows".to_string())
    };
    let pool_bytes = mib(args.pool_mb)?;
    let data_bytes =
        mib(args.data_mb.unwrap_or(args.pool_mb.saturating_mul(DATA_MULTIPLE_DEFAULT)))?;
    let options = PoolBenchOptions {
        directory: args.dir,
        pool_bytes,
        data_bytes,
        seconds_per_row: args.seconds,
        io_modes: pool::parse_io_modes(&args.io)?,
        reader_count: args.readers,
        miss_rounds: args.rounds,
        keep_file: args.keep_file,
    };
    let report = pool::run(&options, |step| {
        if format.is_human() {
            // Progress is a courtesy on stderr: a closed stderr must not stop the benchmark.
            let _ = writeln!(std::io::stderr(), "running {step}");
        }
    })?;
    output::emit(format, &report, render)
}

const MIB: f64 = (1u64 << 20) as f64;

/// The columns of the hit table.
const HIT_COLUMNS: [(&str, usize); 8] = [
    ("order", 8),
    ("access", 22),
    ("threads", 7),
    ("ns p50", 8),
    ("ns mean", 8),
    ("M acc/s", 8),
    ("x raw", 6),
    ("target", 7),
];

/// The columns of the miss table.
const MISS_COLUMNS: [(&str, usize); 12] = [
    ("mode", 9),
    ("row", 20),
    ("QD/thr", 6),
    ("reads/s", 8),
    ("dev rd/s", 8),
    ("fixes/s", 8),
    ("p50 µs", 7),
    ("p99 µs", 7),
    ("hit ratio", 9),
    ("evictions", 9),
    ("x raw", 6),
    ("target", 7),
];

/// The columns of the memory table.
const MEMORY_COLUMNS: [(&str, usize); 6] = [
    ("mode", 9),
    ("VmRSS MiB", 9),
    ("anon MiB", 9),
    ("file MiB", 9),
    ("anon before pool", 16),
    ("bound", 7),
];

fn header(columns: &[(&str, usize)]) -> String {
    let names: Vec<String> = columns.iter().map(|(name, _)| (*name).to_string()).collect();
    aligned_line(columns, &names)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The human-readable report: the setting, the hit table, the miss table, memory, targets.
fn render(report: &PoolReport) -> String {
    let mut text = String::new();
    let data = &report.data_file;
    let _ = writeln!(
        text,
        "bench pool: {:.0} MiB pool ({} frames of {} B), {} s per row; data file {:.0} MiB in {} \
         ({}, {} in {:.1} s)",
        report.pool_bytes as f64 / MIB,
        report.frame_count,
        report.page_bytes,
        report.seconds_per_row,
        data.size_bytes as f64 / MIB,
        report.directory.display(),
        data.file_system,
        if data.written { "written through the pool" } else { "kept from an earlier run, checked" },
        data.prepare_seconds
    );
    render_hit(&mut text, report);
    render_miss(&mut text, report);
    render_memory(&mut text, report);
    render_targets(&mut text, report);
    let _ = writeln!(text, "\ntotal {:.0} s", report.elapsed_seconds);
    text
}

fn render_hit(text: &mut String, report: &PoolReport) {
    let hit = &report.hit;
    let _ = writeln!(
        text,
        "\nhit path: {} resident pages, 8 bytes at body offset {} per access, timed in batches \
         of {}",
        hit.set_pages, hit.value_offset_bytes, hit.batch_accesses
    );
    let _ = writeln!(
        text,
        "  chase: each page names the next (dependent, a descent); scatter: the next page comes \
         from a list (independent, a multi-get)"
    );
    let _ = writeln!(text, "{}", header(&HIT_COLUMNS));
    for row in &hit.rows {
        let _ = writeln!(text, "{}", aligned_line(&HIT_COLUMNS, &hit_cells(row)));
    }
    let _ = writeln!(
        text,
        "pool during the hit rows: {} hits, {} misses, {} optimistic retries",
        hit.pool_hits, hit.pool_misses, hit.optimistic_retries
    );
}

fn hit_cells(row: &HitRow) -> Vec<String> {
    vec![
        row.order.name().to_string(),
        row.access.name().to_string(),
        row.thread_count.to_string(),
        format!("{:.1}", row.ns_per_access_p50),
        format!("{:.1}", row.ns_per_access_mean),
        format!("{:.2}", row.accesses_per_second / 1e6),
        format!("{:.2}", row.over_raw_p50),
        row.target_met.map_or(String::new(), |met| verdict(met).to_string()),
    ]
}

fn render_miss(text: &mut String, report: &PoolReport) {
    let data = &report.data_file;
    let _ = writeln!(
        text,
        "\nmiss path: uniformly random fix_shared over {} pages ({:.1}x the pool), pool full \
         before each run, kernel cache dropped; x raw = pool reads that reached the device per \
         second (the smaller of reads/s and dev rd/s) over the fastest raw row of the same round",
        data.page_count,
        data.size_bytes as f64 / report.pool_bytes as f64
    );
    let _ = writeln!(
        text,
        "  {} round(s) per depth, each the raw rows then the pool row; each row is its median \
         round",
        report.miss_rounds
    );
    let _ = writeln!(text, "{}", header(&MISS_COLUMNS));
    for mode in &report.miss {
        for depth in [1, report.reader_count] {
            for raw in mode.raw.iter().filter(|raw| raw.queue_depth == depth) {
                let _ = writeln!(text, "{}", aligned_line(&MISS_COLUMNS, &raw_cells(mode, raw)));
            }
            for row in mode.pool.iter().filter(|row| row.thread_count == depth) {
                let _ = writeln!(text, "{}", aligned_line(&MISS_COLUMNS, &pool_cells(mode, row)));
            }
        }
        if report.miss_rounds > 1 {
            for row in &mode.pool {
                let rounds: Vec<String> =
                    row.round_over_raw.iter().map(|ratio| format!("{ratio:.2}")).collect();
                let _ = writeln!(
                    text,
                    "{}, {} reader(s): x raw by round {}",
                    mode.io_mode.name(),
                    row.thread_count,
                    rounds.join(" ")
                );
            }
        }
        for reason in &mode.file.fallback_reasons {
            let _ = writeln!(text, "note: {}: {reason}", mode.io_mode.name());
        }
    }
}

fn device_cell(reads_per_second: Option<f64>) -> String {
    reads_per_second.map_or("-".into(), |reads| format!("{reads:.0}"))
}

fn raw_cells(mode: &MissReport, raw: &RawRow) -> Vec<String> {
    vec![
        mode.io_mode.name().to_string(),
        format!("raw {}", raw.backend),
        raw.queue_depth.to_string(),
        format!("{:.0}", raw.reads_per_second),
        device_cell(raw.device_reads_per_second),
        "-".into(),
        format!("{:.1}", raw.latency_us_p50),
        format!("{:.1}", raw.latency_us_p99),
        "-".into(),
        "-".into(),
        String::new(),
        String::new(),
    ]
}

fn pool_cells(mode: &MissReport, row: &PoolRow) -> Vec<String> {
    vec![
        mode.io_mode.name().to_string(),
        "pool fix_shared".to_string(),
        row.thread_count.to_string(),
        format!("{:.0}", row.pages_read_per_second),
        device_cell(row.device_reads_per_second),
        format!("{:.0}", row.fixes_per_second),
        format!("{:.1}", row.latency_us_p50),
        format!("{:.1}", row.latency_us_p99),
        format!("{:.3}", row.counters.hit_ratio),
        row.counters.evictions.to_string(),
        format!("{:.2}", row.over_raw),
        verdict(row.target_met).to_string(),
    ]
}

fn render_memory(text: &mut String, report: &PoolReport) {
    let bound_bytes = report.targets.memory_bound_bytes;
    let _ = writeln!(
        text,
        "\nmemory: resident set after each {}-reader miss run, its pool open (the largest over \
         its rounds); bound {:.0} MiB + 5% + 16 MiB = {:.1} MiB",
        report.reader_count,
        report.pool_bytes as f64 / MIB,
        bound_bytes as f64 / MIB
    );
    let _ = writeln!(text, "{}", header(&MEMORY_COLUMNS));
    for mode in &report.miss {
        let memory = &mode.memory;
        let cells = [
            mode.io_mode.name().to_string(),
            format!("{:.1}", memory.vm_rss_bytes as f64 / MIB),
            format!("{:.1}", memory.rss_anon_bytes as f64 / MIB),
            format!("{:.1}", memory.rss_file_bytes as f64 / MIB),
            mode.pool.last().map_or("-".into(), |row| {
                format!("{:.1}", row.rss_anon_before_pool_bytes as f64 / MIB)
            }),
            verdict(memory.within_bound).to_string(),
        ];
        let _ = writeln!(text, "{}", aligned_line(&MEMORY_COLUMNS, &cells));
    }
}

/// The three targets, each with its worst row, and what explains a miss where the report
/// shows it.
fn render_targets(text: &mut String, report: &PoolReport) {
    let targets = &report.targets;
    let _ = writeln!(text, "\ntargets:");
    for order in Order::ALL {
        let worst = report
            .hit
            .rows
            .iter()
            .filter(|row| row.order == order && row.target_met.is_some())
            .max_by(|left, right| left.over_raw_p50.total_cmp(&right.over_raw_p50));
        let met = match order {
            Order::Chase => targets.hit_chase_met,
            Order::Scatter => targets.hit_scatter_met,
        };
        if let Some(worst) = worst {
            let _ = writeln!(
                text,
                "  hit, {:<7}  pool / raw arena (median ns) <= {}: {} (worst {:.2}x: {}, {} \
                 thread(s))",
                order.name(),
                targets.hit_ratio_max,
                verdict(met),
                worst.over_raw_p50,
                worst.access.name(),
                worst.thread_count
            );
        }
    }
    let worst_miss = report
        .miss
        .iter()
        .flat_map(|mode| mode.pool.iter().map(move |row| (mode, row)))
        .min_by(|(_, left), (_, right)| left.over_raw.total_cmp(&right.over_raw));
    if let Some((mode, worst)) = worst_miss {
        let _ = writeln!(
            text,
            "  miss          pool reads/s / raw reads/s >= {}: {} (worst {:.2}: {}, {} \
             reader(s), against raw {})",
            targets.miss_ratio_min,
            verdict(targets.miss_met),
            worst.over_raw,
            mode.io_mode.name(),
            worst.thread_count,
            worst.raw_backend
        );
    }
    let _ = writeln!(
        text,
        "  memory        VmRSS <= {:.1} MiB: {}",
        targets.memory_bound_bytes as f64 / MIB,
        verdict(targets.memory_met)
    );
    for note in notes(report) {
        let _ = writeln!(text, "  - {note}");
    }
}

/// Explanations of missed targets, each from figures in the report.
fn notes(report: &PoolReport) -> Vec<String> {
    let mut notes = Vec::new();
    notes.extend(latch_notes(report));
    if report.hit.pool_misses > 0 {
        notes.push(format!(
            "the hit rows missed {} times: the set did not stay resident, so their figures \
             include reads",
            report.hit.pool_misses
        ));
    }
    for mode in &report.miss {
        for row in mode.pool.iter().filter(|row| !row.target_met) {
            notes.push(miss_note(mode, row));
        }
        let memory = &mode.memory;
        if !memory.within_bound {
            let cause = if memory.anon_within_bound {
                "anonymous memory is within it; the rest is file pages mapped into the process \
                 (the mmap backend's reads), which the page cache can reclaim"
            } else {
                "anonymous memory alone is above it"
            };
            notes.push(format!(
                "{}: VmRSS {:.1} MiB is above the bound: {cause}",
                mode.io_mode.name(),
                memory.vm_rss_bytes as f64 / MIB
            ));
        }
    }
    notes
}

/// For each hit row over the target that takes a latch, how it compares with the arena read
/// under a counter (the reference that writes shared memory as a latch does).
fn latch_notes(report: &PoolReport) -> Vec<String> {
    let rows = &report.hit.rows;
    rows.iter()
        .filter(|row| row.target_met == Some(false))
        .filter(|row| matches!(row.access, Access::FixShared | Access::FixExclusive))
        .filter_map(|row| {
            let counted = rows.iter().find(|counted| {
                counted.access == Access::RawArenaCounted
                    && counted.order == row.order
                    && counted.thread_count == row.thread_count
            })?;
            Some(format!(
                "hit, {}, {}, {} thread(s): {:.1} ns is {:.2}x the raw read under a counter \
                 ({:.1} ns, itself {:.2}x the raw read): a fix writes the frame's latch, a locked \
                 write that the next access's reads wait for (and, with threads on other cores, \
                 a cache line that moves between them); the optimistic read writes nothing",
                row.order.name(),
                row.access.name(),
                row.thread_count,
                row.ns_per_access_p50,
                row.ns_per_access_p50 / counted.ns_per_access_p50.max(1e-9),
                counted.ns_per_access_p50,
                counted.over_raw_p50
            ))
        })
        .collect()
}

fn miss_note(mode: &MissReport, row: &PoolRow) -> String {
    let mut note = format!(
        "{}, {} reader(s): the pool read {:.0} pages/s, raw {} {:.0}/s in the same round",
        mode.io_mode.name(),
        row.thread_count,
        row.pages_read_per_second,
        row.raw_backend,
        row.raw_reads_per_second
    );
    if row.raw_backend == "direct/io_uring" && row.thread_count > 1 {
        note.push_str(
            " (one thread keeping a queue full; the pool's misses are one blocking read_at per \
             thread)",
        );
        let same_model = mode
            .raw
            .iter()
            .find(|raw| raw.backend == "direct/pread" && raw.queue_depth == row.thread_count);
        if let Some(pread) = same_model {
            let _ = write!(
                note,
                "; against raw direct/pread, {} threads each blocking in one read as the \
                 pool's readers do, {:.2} (median rounds)",
                pread.queue_depth,
                row.device_pages_read_per_second / pread.reads_per_second.max(1e-9)
            );
        }
    }
    let core_count = std::thread::available_parallelism().map_or(1, usize::from);
    if row.thread_count > core_count {
        let _ = write!(note, "; {} reader threads share {core_count} cores", row.thread_count);
    }
    if row.counters.foreground_evictions > 0 {
        let _ = write!(
            note,
            "; readers found no free frame {} times and evicted themselves",
            row.counters.foreground_evictions
        );
    }
    let served_by_kernel =
        1.0 - row.device_pages_read_per_second / row.pages_read_per_second.max(1e-9);
    if served_by_kernel > 0.05 {
        let _ = write!(
            note,
            "; the kernel's page cache served {:.0}% of the pool's reads (pages the pool evicted \
             and read again), which the ratio leaves out",
            100.0 * served_by_kernel
        );
    }
    if let Some(device) = row.device_reads_per_second {
        if device > row.pages_read_per_second * 1.1 {
            let _ = write!(
                note,
                "; the device read {:.2} blocks per pool read (kernel readahead or page faults \
                 of more than a page)",
                device / row.pages_read_per_second.max(1e-9)
            );
        }
    }
    note
}

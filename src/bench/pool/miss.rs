//! The miss path of `bench pool`: uniformly random `fix_shared`s over a data file several times
//! the pool, against raw 4 KiB random reads of the same file on the same backend.
//!
//! For each queue depth (1, then `--readers`), the raw rows come first — each backend of the I/O
//! mode (`direct` is io_uring and `pread`), reading each block at most once in a random order,
//! cold, as `bench io` does — then the pool row with as many threads. That is one round; a depth
//! runs `--rounds` of them in turn, so that the device's drift over seconds falls on raw and pool
//! rows alike, and each row reports its median round (the pool's: the round with the median
//! ratio against that round's fastest raw row). The pool row opens a fresh
//! pool with its background writer, fills it with a random sample of the file (prefetch
//! batches), drops the kernel's cached pages of the file (buffered and mmap), and then runs: in
//! steady state about `pool / data` of the fixes hit and every other one evicts a clean page and
//! reads one.
//!
//! The ratio is taken on pages read from the device: the pool's misses per second over the best
//! raw row's reads per second at the same depth. Device reads per second (from `/proc/self/io`)
//! are reported beside both. On buffered and mmap files a page the pool evicted and reads again
//! may come from the kernel's page cache instead of the device (the double caching those modes
//! pay for); such reads do not count toward the ratio, which takes the smaller of the pool's
//! reads and the device's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bufferpool::{BufferPool, NoLog, PREFETCH_PAGES_MAX, PageId, PoolStats};
use disk::{Disk, File, FileInfo, IoMode, OpenOptions, RealDisk};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::memory::{MemoryRow, device_read_bytes};
use super::{MISS_RATIO_TARGET_MIN, PAGE_BYTES, PoolBenchOptions, VALUE_OFFSET};
use crate::bench::io::{self, Backend};
use crate::bench::measure::{Measurement, run_threads};

/// Seed of the readers' page choices (each thread adds its index) and of the warm-up sample.
const READER_SEED: u64 = 0x5eed_b001;

/// One raw reference row.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct RawRow {
    /// The backend, as `bench io` names it.
    pub(crate) backend: &'static str,
    /// Requests in flight (threads, or one thread's io_uring queue for direct/io_uring).
    pub(crate) queue_depth: usize,
    /// 4 KiB reads per second.
    pub(crate) reads_per_second: f64,
    /// Median read latency.
    pub(crate) latency_us_p50: f64,
    /// 99th-percentile read latency.
    pub(crate) latency_us_p99: f64,
    /// Reads made.
    pub(crate) read_count: u64,
    /// 4 KiB the block layer read per second for this process (`None`: not accounted here).
    pub(crate) device_reads_per_second: Option<f64>,
    /// Reads per second in each round, in the order they ran; the row is the median round's.
    pub(crate) round_reads_per_second: Vec<f64>,
}

/// The pool's counters over one timed run.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct CounterDelta {
    /// Fixes served from a frame.
    pub(crate) hits: u64,
    /// Fixes that read their page.
    pub(crate) misses: u64,
    /// Hits over all fixes.
    pub(crate) hit_ratio: f64,
    /// Pages read from the file into frames.
    pub(crate) pages_read: u64,
    /// Pages read in place in the file's mapping (mmap mode): each may or may not have made the
    /// kernel read the device.
    pub(crate) in_place_reads: u64,
    /// Pages evicted.
    pub(crate) evictions: u64,
    /// Times a reader found no free frame and evicted itself (the background writer fell
    /// behind).
    pub(crate) foreground_evictions: u64,
    /// Frames free at the end.
    pub(crate) frames_free: usize,
}

impl CounterDelta {
    fn between(before: &PoolStats, after: &PoolStats) -> CounterDelta {
        let hits = after.hits - before.hits;
        let misses = after.misses - before.misses;
        let fixes = hits + misses;
        CounterDelta {
            hits,
            misses,
            hit_ratio: if fixes == 0 { 0.0 } else { hits as f64 / fixes as f64 },
            pages_read: after.pages_read - before.pages_read,
            in_place_reads: after.in_place_reads - before.in_place_reads,
            evictions: after.evictions - before.evictions,
            foreground_evictions: after.foreground_evictions - before.foreground_evictions,
            frames_free: after.frames_free,
        }
    }
}

/// One pool row: `thread_count` readers fixing uniformly random pages.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct PoolRow {
    /// Reader threads.
    pub(crate) thread_count: usize,
    /// `fix_shared` calls per second (hits and misses).
    pub(crate) fixes_per_second: f64,
    /// Pages the pool read per second (its misses).
    pub(crate) pages_read_per_second: f64,
    /// 4 KiB the block layer read per second for this process (`None`: not accounted here).
    pub(crate) device_reads_per_second: Option<f64>,
    /// The pool's reads per second that reached the device: the smaller of the two above (the
    /// rest came from the kernel's page cache).
    pub(crate) device_pages_read_per_second: f64,
    /// Median `fix_shared` latency (hits included).
    pub(crate) latency_us_p50: f64,
    /// 99th-percentile `fix_shared` latency.
    pub(crate) latency_us_p99: f64,
    /// The pool's counters over the run.
    pub(crate) counters: CounterDelta,
    /// The raw row the ratio is taken against: the fastest at this queue depth.
    pub(crate) raw_backend: &'static str,
    /// Its reads per second.
    pub(crate) raw_reads_per_second: f64,
    /// `device_pages_read_per_second` over `raw_reads_per_second`.
    pub(crate) over_raw: f64,
    /// Whether that is at least [`MISS_RATIO_TARGET_MIN`].
    pub(crate) target_met: bool,
    /// `over_raw` in each round, in the order they ran; the row is the median round's.
    pub(crate) round_over_raw: Vec<f64>,
    /// Time spent filling the pool before the run (prefetch batches).
    pub(crate) warm_up_seconds: f64,
    /// `RssAnon` just before the pool was opened: what the process held besides the pool.
    pub(crate) rss_anon_before_pool_bytes: u64,
    /// The resident set right after the run, the pool still open.
    pub(crate) memory: MemoryRow,
}

/// The miss path on one I/O mode.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct MissReport {
    /// The I/O mode.
    pub(crate) io_mode: IoMode,
    /// How the pool's file was opened (direct or not, submission, any fallback).
    pub(crate) file: FileInfo,
    /// Raw rows, by queue depth then backend.
    pub(crate) raw: Vec<RawRow>,
    /// Pool rows, one per thread count.
    pub(crate) pool: Vec<PoolRow>,
    /// The resident set after the `--readers`-thread run, the largest over its rounds (the
    /// bound is stated for it).
    pub(crate) memory: MemoryRow,
}

/// The backends whose raw reads stand beside the pool on `io_mode`; the first is the one the
/// pool's file is opened with.
fn backends_of(io_mode: IoMode) -> &'static [Backend] {
    match io_mode {
        IoMode::Direct => &[Backend::DirectIoUring, Backend::DirectSyscalls],
        IoMode::Buffered => &[Backend::Buffered],
        IoMode::Mmap => &[Backend::Mmap],
    }
}

fn open(path: &Path, backend: Backend) -> Result<Arc<dyn File>, String> {
    RealDisk::new(backend.disk_options())
        .open(path, OpenOptions::existing())
        .map_err(|error| error.to_string())
}

/// Runs the raw and pool rows of one I/O mode.
pub(super) fn run(
    options: &PoolBenchOptions,
    io_mode: IoMode,
    path: &Path,
    duration: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<MissReport, String> {
    let backends = backends_of(io_mode);
    let rounds = options.miss_rounds;
    let mut raw = Vec::new();
    let mut pool = Vec::new();
    let mut memory: Option<MemoryRow> = None;
    for depth in [1, options.reader_count] {
        let mut raw_rounds = vec![Vec::with_capacity(rounds); backends.len()];
        let mut pool_rounds = Vec::with_capacity(rounds);
        for round in 1..=rounds {
            let mode = io_mode.name();
            for (&backend, backend_rounds) in backends.iter().zip(&mut raw_rounds) {
                let backend_name = backend.name();
                progress(&format!(
                    "miss path, {mode}: raw {backend_name} QD{depth}, {round}/{rounds}"
                ));
                backend_rounds.push(raw_row(options, path, backend, depth, duration)?);
            }
            let best = raw_rounds
                .iter()
                .filter_map(|backend_rounds| backend_rounds.last())
                .max_by(|left, right| left.reads_per_second.total_cmp(&right.reads_per_second))
                .expect("every mode has a backend");
            progress(&format!("miss path, {mode}: pool, {depth} reader(s), {round}/{rounds}"));
            pool_rounds.push(pool_row(options, path, backends[0], depth, duration, best)?);
        }
        for backend_rounds in raw_rounds {
            let round_reads_per_second: Vec<f64> =
                backend_rounds.iter().map(|row| row.reads_per_second).collect();
            let median = median_round(&round_reads_per_second);
            let row = backend_rounds.into_iter().nth(median).expect("a round per index");
            raw.push(RawRow { round_reads_per_second, ..row });
        }
        if depth == options.reader_count {
            // The bound must hold in every round, so the largest resident set stands for them.
            memory = pool_rounds
                .iter()
                .map(|row| row.memory.clone())
                .max_by_key(|memory| memory.vm_rss_bytes);
        }
        let round_over_raw: Vec<f64> = pool_rounds.iter().map(|row| row.over_raw).collect();
        let median = median_round(&round_over_raw);
        let row = pool_rounds.into_iter().nth(median).expect("a round per index");
        pool.push(PoolRow { round_over_raw, ..row });
    }
    let file = open(path, backends[0])?.info().clone();
    let memory = memory.expect("a round at every depth");
    Ok(MissReport { io_mode, file, raw, pool, memory })
}

/// The index of the median of `values` (the lower of the two middle ones for an even count),
/// so that a row reported is one that ran.
fn median_round(values: &[f64]) -> usize {
    assert!(!values.is_empty(), "at least one round");
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&left, &right| values[left].total_cmp(&values[right]));
    order[(values.len() - 1) / 2]
}

/// 4 KiB random reads of the data file at `queue_depth`, through `bench io`'s code.
fn raw_row(
    options: &PoolBenchOptions,
    path: &Path,
    backend: Backend,
    queue_depth: usize,
    duration: Duration,
) -> Result<RawRow, String> {
    let file = open(path, backend)?;
    let device_before = device_read_bytes();
    let measurement =
        io::random_read_file(&file, backend, options.data_bytes, queue_depth, duration)?;
    Ok(RawRow {
        backend: backend.name(),
        queue_depth,
        reads_per_second: measurement.ops_per_second,
        latency_us_p50: measurement.latency_us_p50,
        latency_us_p99: measurement.latency_us_p99,
        read_count: measurement.operation_count,
        device_reads_per_second: device_reads_per_second(device_before, &measurement),
        round_reads_per_second: vec![measurement.ops_per_second],
    })
}

/// 4 KiB blocks the block layer read per second since `before` (bytes), over the run.
fn device_reads_per_second(before: Option<u64>, measurement: &Measurement) -> Option<f64> {
    let read_bytes = device_read_bytes()?.checked_sub(before?)?;
    Some(read_bytes as f64 / PAGE_BYTES as f64 / measurement.elapsed_seconds.max(1e-9))
}

/// A fresh pool on `backend`, filled, then `thread_count` readers fixing uniformly random
/// pages for `duration`.
fn pool_row(
    options: &PoolBenchOptions,
    path: &Path,
    backend: Backend,
    thread_count: usize,
    duration: Duration,
    raw: &RawRow,
) -> Result<PoolRow, String> {
    let file = open(path, backend)?;
    let rss_anon_before_pool_bytes = MemoryRow::now(options.pool_bytes)?.rss_anon_bytes;
    let pool = BufferPool::open(Arc::clone(&file), options.pool_options(true), Arc::new(NoLog))
        .map_err(|error| format!("opening a pool on {}: {error}", path.display()))?;
    let warm_up_started = Instant::now();
    fill(&pool, options.data_pages())?;
    let warm_up_seconds = warm_up_started.elapsed().as_secs_f64();
    if file.info().io_mode != IoMode::Direct {
        // The fill read through the kernel's cache; the readers must not find it there.
        io::make_cold(&*file)?;
    }
    let before = pool.stats();
    let device_before = device_read_bytes();
    let measurement = read_randomly(&pool, options.data_pages(), thread_count, duration)?;
    let device_reads_per_second = device_reads_per_second(device_before, &measurement);
    let memory = MemoryRow::now(options.pool_bytes)?;
    let counters = CounterDelta::between(&before, &pool.stats());
    let elapsed_seconds = measurement.elapsed_seconds.max(1e-9);
    // In mmap mode the pool reads pages in place; the kernel decides which of those reach the
    // device, so they count as the pool's reads here, bounded by what the device did.
    let pages_read_per_second =
        (counters.pages_read + counters.in_place_reads) as f64 / elapsed_seconds;
    let device_pages_read_per_second = device_reads_per_second
        .map_or(pages_read_per_second, |device| device.min(pages_read_per_second));
    let over_raw = if raw.reads_per_second > 0.0 {
        device_pages_read_per_second / raw.reads_per_second
    } else {
        0.0
    };
    Ok(PoolRow {
        thread_count,
        fixes_per_second: measurement.ops_per_second,
        pages_read_per_second,
        device_reads_per_second,
        device_pages_read_per_second,
        latency_us_p50: measurement.latency_us_p50,
        latency_us_p99: measurement.latency_us_p99,
        counters,
        raw_backend: raw.backend,
        raw_reads_per_second: raw.reads_per_second,
        over_raw,
        target_met: over_raw >= MISS_RATIO_TARGET_MIN,
        round_over_raw: vec![over_raw],
        warm_up_seconds,
        rss_anon_before_pool_bytes,
        memory,
    })
}

/// Fills the pool with random pages of the file, in prefetch batches, until it has read as
/// many pages as it has frames: the readers then start in steady state, every miss evicting.
fn fill(pool: &BufferPool, data_pages: u64) -> Result<(), String> {
    let frame_count = pool.frame_count() as u64;
    let mut rng = SmallRng::seed_from_u64(READER_SEED);
    // Each round reads at least one page unless every frame is latched, which nothing here
    // does; the bound turns a pool that stopped prefetching into an error, not a hang.
    let round_max = 4 * frame_count + 100;
    for _ in 0..round_max {
        if pool.stats().pages_read >= frame_count {
            return Ok(());
        }
        let batch: Vec<PageId> =
            (0..PREFETCH_PAGES_MAX).map(|_| PageId(rng.random_range(0..data_pages))).collect();
        pool.prefetch(&batch).map_err(|error| format!("filling the pool: {error}"))?;
    }
    Err(format!(
        "filling the pool: {} of {frame_count} pages read after {round_max} prefetch rounds",
        pool.stats().pages_read
    ))
}

/// `thread_count` threads fixing uniformly random pages shared for `duration`, each checking
/// that the page holds its own id.
fn read_randomly(
    pool: &BufferPool,
    data_pages: u64,
    thread_count: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    run_threads(
        thread_count,
        duration,
        |thread_index| SmallRng::seed_from_u64(READER_SEED + 1 + thread_index as u64),
        |rng: &mut SmallRng| {
            let page = rng.random_range(0..data_pages);
            let held = pool
                .fix_shared(PageId(page))
                .map_err(|error| format!("fix_shared of page {page}: {error}"))?;
            let value = held.u64_at(VALUE_OFFSET);
            if value != page {
                return Err(format!("page {page} holds {value}: the wrong page"));
            }
            Ok(true)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(hits: u64, misses: u64, pages_read: u64, evictions: u64) -> PoolStats {
        PoolStats { hits, misses, pages_read, evictions, frames_free: 3, ..PoolStats::default() }
    }

    #[test]
    fn the_median_round_is_one_that_ran() {
        assert_eq!(median_round(&[0.9]), 0);
        assert_eq!(median_round(&[0.95, 0.81, 1.02]), 0);
        assert_eq!(median_round(&[1.02, 0.81, 0.95]), 2);
        assert_eq!(median_round(&[0.8, 0.9, 1.0, 0.7]), 0, "the lower middle: 0.8");
        assert_eq!(median_round(&[5.0, 5.0, 1.0]), 0);
    }

    #[test]
    fn counters_are_taken_over_the_run_only() {
        let delta = CounterDelta::between(&stats(10, 100, 100, 0), &stats(40, 190, 190, 90));
        assert_eq!((delta.hits, delta.misses, delta.pages_read), (30, 90, 90));
        assert_eq!(delta.evictions, 90);
        assert!((delta.hit_ratio - 0.25).abs() < 1e-12);
        assert_eq!(delta.frames_free, 3);
        assert_eq!(CounterDelta::between(&stats(1, 1, 1, 1), &stats(1, 1, 1, 1)).hit_ratio, 0.0);
    }

    #[test]
    fn a_pool_row_reads_the_right_pages_and_fills_the_pool_first() {
        let directory = tempfile::tempdir().unwrap();
        let options = PoolBenchOptions::tiny(directory.path().to_path_buf());
        let data_file = super::super::prepare_data_file(&options).unwrap();
        let duration = Duration::from_millis(50);
        let raw = raw_row(&options, &data_file.path, Backend::Buffered, 1, duration).unwrap();
        assert!(raw.read_count > 0);
        let row =
            pool_row(&options, &data_file.path, Backend::Buffered, 2, duration, &raw).unwrap();
        assert!(row.counters.misses > 0, "{row:?}");
        assert_eq!(row.counters.pages_read, row.counters.misses, "no prefetch during the run");
        assert!(row.counters.evictions > 0, "a full pool evicts on every miss");
        assert_eq!(row.raw_backend, "buffered");
        assert!(row.warm_up_seconds > 0.0);
    }
}

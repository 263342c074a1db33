//! `directdb bench pool`: what the buffer pool adds to a page access, against the same access
//! without it, side by side in one run.
//!
//! - **Hit path** (`hit.rs`): every page of a set as large as the pool is resident, and each
//!   access fixes one page, reads 8 bytes at one body offset and releases it — optimistically
//!   ([`bufferpool::BufferPool::read`]), shared or exclusively. The reference is the same read
//!   from a plain `Vec<u8>` arena holding the same number of pages: what an access costs when
//!   the page's address is already known. Target: at most [`HIT_RATIO_TARGET_MAX`] times the
//!   reference, per access kind.
//! - **Miss path** (`miss.rs`): a data file [`DATA_MULTIPLE_DEFAULT`] times the pool, read by
//!   uniformly random `fix_shared`s from 1 and N threads on a full pool, so most fixes evict a
//!   page and read one. The reference is 4 KiB random reads of the same file on the same backend
//!   at queue depth 1 and N (`bench io`'s code). Target: pages the pool reads per second at
//!   least [`MISS_RATIO_TARGET_MIN`] times the raw reads per second.
//! - **Memory** (`memory.rs`): the process's resident set after each N-thread miss run, with
//!   its pool still open, against `pool_bytes` + [`MEMORY_OVERHEAD_FRACTION`] +
//!   [`MEMORY_OVERHEAD_FIXED_BYTES`].
//!
//! The data file is written through the pool (`new_page` for every page, then `flush_dirty`),
//! so every page carries the header and checksum the pool checks on each read; page `n` holds
//! `n` at body offset [`VALUE_OFFSET`], and every miss checks that it read the right page.

mod hit;
mod memory;
mod miss;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bufferpool::{BufferPool, NoLog, PAGE_HEADER_BYTES, PageId, PoolOptions};
use disk::{AlignedBuf, Disk, IoMode, OpenOptions, RealDisk};

use crate::bench::io::Backend;
use crate::bench::scratch::RemoveOnDrop;

pub(crate) use hit::{Access, HitReport, HitRow, Order};
pub(crate) use miss::{MissReport, PoolRow, RawRow};

/// Bytes of one page: the raw reference reads 4 KiB blocks, so the pool's pages are that size.
pub(crate) const PAGE_BYTES: usize = 4096;
/// Body offset of the 8 bytes every access reads (a word-aligned offset, the common case of the
/// pool's `u64_at`).
pub(crate) const VALUE_OFFSET: usize = 64;
/// The data file is this many times the pool unless `--data-mb` says otherwise.
pub(crate) const DATA_MULTIPLE_DEFAULT: u64 = 8;
/// Target: a pool access's median cost over the raw arena read's, per access kind.
pub(crate) const HIT_RATIO_TARGET_MAX: f64 = 3.0;
/// Target: pages the pool reads per second over raw 4 KiB random reads per second.
pub(crate) const MISS_RATIO_TARGET_MIN: f64 = 0.9;
/// The memory bound: the pool's frames, this fraction more for its metadata...
pub(crate) const MEMORY_OVERHEAD_FRACTION: f64 = 0.05;
/// ...and this much for the rest of the process.
pub(crate) const MEMORY_OVERHEAD_FIXED_BYTES: u64 = 16 << 20;
/// Thread counts of the hit path: this machine kind has two cores.
pub(crate) const HIT_THREAD_COUNTS: [usize; 2] = [1, 2];
/// Longest row accepted (an hour): a typo such as `--seconds 5000000` is an error, not a week.
pub(crate) const SECONDS_PER_ROW_MAX: f64 = 3600.0;
/// Rounds of the miss path by default: three, so that one slow stretch of the device's does not
/// decide a row.
pub(crate) const MISS_ROUNDS_DEFAULT: usize = 3;
/// Most rounds accepted: a typo such as `--rounds 300` is an error, not hours.
pub(crate) const MISS_ROUNDS_MAX: usize = 25;
/// The data file's name inside `--dir`.
const DATA_FILE_NAME: &str = "directdb-bench-pool.dat";

const _: () = assert!(VALUE_OFFSET % 8 == 0);
const _: () = assert!(PAGE_HEADER_BYTES + VALUE_OFFSET + 8 <= PAGE_BYTES);

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct PoolBenchOptions {
    /// Directory for the data file (created if missing).
    pub(crate) directory: PathBuf,
    /// Bytes of pool frames (a multiple of [`PAGE_BYTES`]).
    pub(crate) pool_bytes: u64,
    /// Bytes of the miss path's data file (a multiple of [`PAGE_BYTES`], above the pool).
    pub(crate) data_bytes: u64,
    /// Duration of each row.
    pub(crate) seconds_per_row: f64,
    /// The miss path's I/O modes, in this order.
    pub(crate) io_modes: Vec<IoMode>,
    /// Threads of the concurrent miss row, and the raw reference's queue depth there.
    pub(crate) reader_count: usize,
    /// Rounds of the miss path's rows at each depth, run in turn; each row reports its median.
    pub(crate) miss_rounds: usize,
    /// Keep the data file afterwards (a later run with the same sizes reuses it).
    pub(crate) keep_file: bool,
}

impl PoolBenchOptions {
    /// Checks everything that came from the command line, before anything is written, and
    /// returns the duration of one row.
    pub(crate) fn validate(&self) -> Result<Duration, String> {
        let seconds = self.seconds_per_row;
        if !(seconds > 0.0 && seconds <= SECONDS_PER_ROW_MAX) {
            return Err(format!(
                "--seconds must be above 0 and at most {SECONDS_PER_ROW_MAX}, not {seconds}"
            ));
        }
        let page_bytes = PAGE_BYTES as u64;
        let frame_count = self.pool_bytes / page_bytes;
        let frame_range = bufferpool::FRAME_COUNT_MIN as u64..=bufferpool::FRAME_COUNT_MAX as u64;
        if self.pool_bytes % page_bytes != 0 || !frame_range.contains(&frame_count) {
            return Err(format!(
                "--pool-mb gives {} bytes: the pool needs {} to {} pages of {PAGE_BYTES} bytes",
                self.pool_bytes,
                frame_range.start(),
                frame_range.end()
            ));
        }
        if self.data_bytes % page_bytes != 0 || self.data_bytes < 2 * self.pool_bytes {
            return Err(format!(
                "--data-mb gives {} bytes: the miss path needs whole pages and at least twice the \
                 pool ({} bytes)",
                self.data_bytes,
                2 * self.pool_bytes
            ));
        }
        let depth_max = disk::limits::QUEUE_DEPTH_MAX as usize;
        if !(2..=depth_max).contains(&self.reader_count) {
            return Err(format!(
                "--readers must be from 2 to {depth_max}, not {}",
                self.reader_count
            ));
        }
        if self.io_modes.is_empty() {
            return Err("--io lists no I/O mode".into());
        }
        if !(1..=MISS_ROUNDS_MAX).contains(&self.miss_rounds) {
            return Err(format!(
                "--rounds must be from 1 to {MISS_ROUNDS_MAX}, not {}",
                self.miss_rounds
            ));
        }
        Duration::try_from_secs_f64(seconds)
            .map_err(|error| format!("--seconds {seconds}: {error}"))
    }

    /// Frames in the pool.
    pub(crate) fn frame_count(&self) -> usize {
        usize::try_from(self.pool_bytes / PAGE_BYTES as u64)
            .expect("checked against FRAME_COUNT_MAX")
    }

    /// Pages in the data file.
    pub(crate) fn data_pages(&self) -> u64 {
        self.data_bytes / PAGE_BYTES as u64
    }

    /// The pool's options for a run: the frames asked for, 4 KiB pages.
    pub(crate) fn pool_options(&self, background_writer: bool) -> PoolOptions {
        PoolOptions {
            pool_bytes: usize::try_from(self.pool_bytes).expect("checked against FRAME_COUNT_MAX"),
            page_bytes: PAGE_BYTES,
            background_writer,
            ..PoolOptions::default()
        }
    }
}

/// Parses `--io`: comma-separated I/O modes, each once, in order.
pub(crate) fn parse_io_modes(text: &str) -> Result<Vec<IoMode>, String> {
    let mut modes = Vec::new();
    for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let mode: IoMode = name.parse().map_err(|error| format!("--io: {error}"))?;
        if modes.contains(&mode) {
            return Err(format!("--io: {name} is listed twice"));
        }
        modes.push(mode);
    }
    if modes.is_empty() {
        return Err(format!("--io: no I/O mode in {text:?}"));
    }
    Ok(modes)
}

/// How the data file came to be.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct DataFile {
    /// Its path.
    pub(crate) path: PathBuf,
    /// Its size.
    pub(crate) size_bytes: u64,
    /// Its pages.
    pub(crate) page_count: u64,
    /// The file system it is on.
    pub(crate) file_system: String,
    /// Whether this run wrote it (false: a file kept by an earlier run was checked and reused).
    pub(crate) written: bool,
    /// Time spent writing (zeros first, then every page through the pool) or checking it.
    pub(crate) prepare_seconds: f64,
}

/// The ratios and their targets, over every row that has one.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Targets {
    /// The most a pool access may cost over the raw arena read (medians).
    pub(crate) hit_ratio_max: f64,
    /// Whether every pool row of the dependent (chase) order met it.
    pub(crate) hit_chase_met: bool,
    /// Whether every pool row of the independent (scatter) order met it.
    pub(crate) hit_scatter_met: bool,
    /// The least the pool's pages read per second may be over raw reads per second.
    pub(crate) miss_ratio_min: f64,
    /// Whether every miss row of every I/O mode met it.
    pub(crate) miss_met: bool,
    /// The memory bound: pool bytes + 5% + 16 MiB.
    pub(crate) memory_bound_bytes: u64,
    /// Whether the resident set stayed within it after every N-thread miss run.
    pub(crate) memory_met: bool,
}

/// The whole report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct PoolReport {
    /// Directory of the data file.
    pub(crate) directory: PathBuf,
    /// Bytes of one page.
    pub(crate) page_bytes: usize,
    /// Bytes of pool frames.
    pub(crate) pool_bytes: u64,
    /// Frames in the pool.
    pub(crate) frame_count: usize,
    /// Duration of each row.
    pub(crate) seconds_per_row: f64,
    /// Threads of the concurrent miss rows (and the raw queue depth beside them).
    pub(crate) reader_count: usize,
    /// Rounds of the miss path's rows at each depth; each row is its median round.
    pub(crate) miss_rounds: usize,
    /// The miss path's data file.
    pub(crate) data_file: DataFile,
    /// The hit path.
    pub(crate) hit: HitReport,
    /// The miss path, one entry per I/O mode.
    pub(crate) miss: Vec<MissReport>,
    /// The targets, met or not.
    pub(crate) targets: Targets,
    /// Total wall-clock time of the benchmark.
    pub(crate) elapsed_seconds: f64,
}

/// Runs the hit path, then the miss path on each I/O mode. `progress` is told what is about
/// to run.
pub(crate) fn run(
    options: &PoolBenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<PoolReport, String> {
    let started = Instant::now();
    let duration = options.validate()?;
    progress(&format!("hit path, {} resident pages", options.frame_count()));
    let hit = hit::run(options, duration, &mut progress)?;
    progress(&format!("data file, {} MiB", options.data_bytes >> 20));
    let data_file = prepare_data_file(options)?;
    let _remove = (!options.keep_file).then(|| RemoveOnDrop(data_file.path.clone()));
    let mut misses = Vec::new();
    for &io_mode in &options.io_modes {
        misses.push(miss::run(options, io_mode, &data_file.path, duration, &mut progress)?);
    }
    let targets = targets(options, &hit, &misses);
    Ok(PoolReport {
        directory: options.directory.clone(),
        page_bytes: PAGE_BYTES,
        pool_bytes: options.pool_bytes,
        frame_count: options.frame_count(),
        seconds_per_row: options.seconds_per_row,
        reader_count: options.reader_count,
        miss_rounds: options.miss_rounds,
        data_file,
        hit,
        miss: misses,
        targets,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The memory bound for a pool of `pool_bytes`.
pub(crate) fn memory_bound_bytes(pool_bytes: u64) -> u64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a positive fraction of a pool size, far below 2^64"
    )]
    let overhead = (pool_bytes as f64 * MEMORY_OVERHEAD_FRACTION).ceil() as u64;
    pool_bytes + overhead + MEMORY_OVERHEAD_FIXED_BYTES
}

fn targets(options: &PoolBenchOptions, hit: &HitReport, misses: &[MissReport]) -> Targets {
    let hit_met = |order: Order| {
        hit.rows.iter().filter(|row| row.order == order).all(|row| row.target_met.unwrap_or(true))
    };
    Targets {
        hit_ratio_max: HIT_RATIO_TARGET_MAX,
        hit_chase_met: hit_met(Order::Chase),
        hit_scatter_met: hit_met(Order::Scatter),
        miss_ratio_min: MISS_RATIO_TARGET_MIN,
        miss_met: misses.iter().flat_map(|mode| &mode.pool).all(|row| row.target_met),
        memory_bound_bytes: memory_bound_bytes(options.pool_bytes),
        memory_met: misses.iter().all(|mode| mode.memory.within_bound),
    }
}

/// The data file's path inside `directory`.
pub(crate) fn data_file_path(directory: &Path) -> PathBuf {
    directory.join(DATA_FILE_NAME)
}

/// A disk that opens the data file for writing it: direct I/O where the file system has it.
fn writing_disk() -> RealDisk {
    RealDisk::new(Backend::DirectIoUring.disk_options())
}

/// Reuses a data file of the right size whose first and last pages check out, or writes a new
/// one through the pool.
fn prepare_data_file(options: &PoolBenchOptions) -> Result<DataFile, String> {
    let started = Instant::now();
    let disk = writing_disk();
    disk.create_dir_all(&options.directory).map_err(|error| error.to_string())?;
    let path = data_file_path(&options.directory);
    let reusable = disk.exists(&path).map_err(|error| error.to_string())?
        && data_file_checks_out(&disk, &path, options.data_bytes)?;
    if !reusable {
        write_data_file(&disk, &path, options)?;
    }
    let file = disk.open(&path, OpenOptions::existing()).map_err(|error| error.to_string())?;
    Ok(DataFile {
        path,
        size_bytes: options.data_bytes,
        page_count: options.data_pages(),
        file_system: file.info().file_system.clone(),
        written: !reusable,
        prepare_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whether the file at `path` is a data file of `data_bytes` this benchmark wrote: its size,
/// and its first and last pages verified and holding their own ids.
fn data_file_checks_out(disk: &RealDisk, path: &Path, data_bytes: u64) -> Result<bool, String> {
    let file = disk.open(path, OpenOptions::existing()).map_err(|error| error.to_string())?;
    if file.size_bytes().map_err(|error| error.to_string())? != data_bytes {
        return Ok(false);
    }
    let mut image = AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment);
    let last_page = data_bytes / PAGE_BYTES as u64 - 1;
    for page in [0, last_page] {
        file.read_at(&mut image, page * PAGE_BYTES as u64).map_err(|error| error.to_string())?;
        if bufferpool::verify_page(&image, PageId(page)).is_err() || value_of_image(&image) != page
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The value a page image holds at [`VALUE_OFFSET`] of its body.
fn value_of_image(image: &[u8]) -> u64 {
    let start = PAGE_HEADER_BYTES + VALUE_OFFSET;
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&image[start..start + 8]);
    u64::from_le_bytes(bytes)
}

/// Writes the data file: zeros first (so the pool's writes are overwrites with no file-system
/// metadata to commit), then every page through a pool of the benchmark's size, each holding
/// its own id at [`VALUE_OFFSET`], then `flush_dirty`.
fn write_data_file(disk: &RealDisk, path: &Path, options: &PoolBenchOptions) -> Result<(), String> {
    if disk.exists(path).map_err(|error| error.to_string())? {
        disk.remove(path).map_err(|error| error.to_string())?;
    }
    let file = disk.open(path, OpenOptions::create()).map_err(|error| error.to_string())?;
    file.allocate(options.data_bytes).map_err(|error| error.to_string())?;
    let pool = BufferPool::open(Arc::clone(&file), options.pool_options(true), Arc::new(NoLog))
        .map_err(|error| format!("opening a pool on {}: {error}", path.display()))?;
    for page in 0..options.data_pages() {
        let mut held = pool
            .new_page(PageId(page))
            .map_err(|error| format!("writing page {page} of {}: {error}", path.display()))?;
        held.writer().put_u64(VALUE_OFFSET, page);
    }
    pool.flush_dirty().map_err(|error| format!("flushing {}: {error}", path.display()))?;
    Ok(())
}

#[cfg(test)]
impl PoolBenchOptions {
    /// Options for unit tests: a 64-page pool over 256 pages of data, short rows.
    pub(crate) fn tiny(directory: PathBuf) -> Self {
        PoolBenchOptions {
            directory,
            pool_bytes: 64 * PAGE_BYTES as u64,
            data_bytes: 256 * PAGE_BYTES as u64,
            seconds_per_row: 0.05,
            io_modes: vec![IoMode::Buffered],
            reader_count: 4,
            miss_rounds: 1,
            keep_file: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PoolBenchOptions {
        PoolBenchOptions {
            directory: PathBuf::from("/nonexistent"),
            pool_bytes: 1 << 20,
            data_bytes: 8 << 20,
            seconds_per_row: 0.5,
            io_modes: vec![IoMode::Direct],
            reader_count: 32,
            miss_rounds: MISS_ROUNDS_DEFAULT,
            keep_file: false,
        }
    }

    #[test]
    fn io_modes_are_parsed_in_order_each_once() {
        let modes = parse_io_modes("mmap, direct,,buffered").unwrap();
        assert_eq!(modes, vec![IoMode::Mmap, IoMode::Direct, IoMode::Buffered]);
        assert!(parse_io_modes("").unwrap_err().contains("no I/O mode"));
        assert!(parse_io_modes("direct,direct").unwrap_err().contains("listed twice"));
        assert!(parse_io_modes("uring").unwrap_err().contains("expected direct, buffered or mmap"));
    }

    #[test]
    fn options_from_the_command_line_are_checked_without_panicking() {
        assert_eq!(options().validate().unwrap(), Duration::from_millis(500));
        assert_eq!(options().frame_count(), 256);
        assert_eq!(options().data_pages(), 2048);
        for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY, SECONDS_PER_ROW_MAX + 1.0] {
            let bad = PoolBenchOptions { seconds_per_row: seconds, ..options() };
            assert!(bad.validate().unwrap_err().contains("--seconds"), "{seconds}");
        }
        for pool_bytes in [0, 4096, 4096 * 8 + 1] {
            let bad = PoolBenchOptions { pool_bytes, ..options() };
            assert!(bad.validate().unwrap_err().contains("--pool-mb"), "{pool_bytes}");
        }
        for data_bytes in [1 << 20, (2 << 20) - 4096, (8 << 20) + 1] {
            let bad = PoolBenchOptions { data_bytes, ..options() };
            assert!(bad.validate().unwrap_err().contains("--data-mb"), "{data_bytes}");
        }
        for reader_count in [0, 1, 100_000] {
            let bad = PoolBenchOptions { reader_count, ..options() };
            assert!(bad.validate().unwrap_err().contains("--readers"), "{reader_count}");
        }
        let none = PoolBenchOptions { io_modes: Vec::new(), ..options() };
        assert!(none.validate().unwrap_err().contains("--io"));
        for miss_rounds in [0, MISS_ROUNDS_MAX + 1] {
            let bad = PoolBenchOptions { miss_rounds, ..options() };
            assert!(bad.validate().unwrap_err().contains("--rounds"), "{miss_rounds}");
        }
        let one = PoolBenchOptions { miss_rounds: 1, ..options() };
        assert!(one.validate().is_ok());
    }

    #[test]
    fn the_memory_bound_is_the_pool_plus_five_percent_plus_16_mib() {
        assert_eq!(memory_bound_bytes(64 << 20), (64 << 20) + 3_355_444 + (16 << 20));
        assert_eq!(memory_bound_bytes(0), 16 << 20);
    }

    /// The data file as the miss path reads it: written through a pool, reusable only while it
    /// checks out.
    #[test]
    fn a_written_data_file_checks_out_until_it_is_damaged() {
        let directory = tempfile::tempdir().unwrap();
        let options = PoolBenchOptions::tiny(directory.path().to_path_buf());
        let first = prepare_data_file(&options).unwrap();
        assert!(first.written);
        let second = prepare_data_file(&options).unwrap();
        assert!(!second.written, "an intact file of the right size is reused");
        let disk = writing_disk();
        let file = disk.open(&first.path, OpenOptions::existing()).unwrap();
        let mut image = AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment);
        file.read_at(&mut image, 17 * 4096).unwrap();
        assert_eq!(bufferpool::verify_page(&image, PageId(17)), Ok(()));
        assert_eq!(value_of_image(&image), 17);
        let last = options.data_bytes - 4096;
        image.fill(0);
        file.write_at(&image, last).unwrap();
        assert!(!data_file_checks_out(&disk, &first.path, options.data_bytes).unwrap());
        assert!(prepare_data_file(&options).unwrap().written, "a damaged file is rewritten");
        let larger = PoolBenchOptions { data_bytes: 512 * 4096, ..options.clone() };
        assert!(!data_file_checks_out(&disk, &first.path, larger.data_bytes).unwrap());
    }
}

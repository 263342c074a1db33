//! `directdb bench io`: the raw device table, per backend, through the `disk` crate's `File`
//! trait — the ceiling every layer above is measured against.
//!
//! Each row is one access pattern on one backend, run for a fixed time on a file that was
//! really written (never sparse: reading a hole costs no I/O and would flatter every number).
//! Reads are cold: direct files bypass the page cache; for buffered and mmap files the file's
//! pages are dropped first ([`disk::File::drop_cached_pages`], plus `drop_caches` when root),
//! and — as fio's random map does — a row touches each block at most once, in a random order
//! shared by all its threads, ending early if the file runs out, so no read is served from
//! pages the same row cached.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disk::{
    AlignedBuf, Disk, DiskOptions, File, IoMode, IoQueue, IoRequest, OpenOptions, RealDisk,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::bench::measure::{Measurement, Recorder, run_threads};

/// Bytes of one random I/O.
const RANDOM_BLOCK_BYTES: usize = 4096;
/// Bytes of one sequential I/O.
const SEQUENTIAL_BLOCK_BYTES: usize = 1 << 20;
/// The durable-write tests overwrite this much of the file's start, round and round, as a log
/// would: pre-written space, so no file-system metadata is committed per write.
const DURABLE_REGION_BYTES: u64 = 64 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct IoBenchOptions {
    /// Directory the test file is created in.
    pub(crate) directory: PathBuf,
    /// Size of the test file.
    pub(crate) size_bytes: u64,
    /// Duration of each row.
    pub(crate) seconds_per_test: f64,
    /// Backends to measure.
    pub(crate) backends: Vec<Backend>,
    /// The high queue depth (threads at one request each).
    pub(crate) queue_depth: usize,
    /// Keep the test file afterwards (a later run reuses it).
    pub(crate) keep_file: bool,
}

/// One way of reaching the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Backend {
    /// `O_DIRECT`, requests through each thread's io_uring.
    DirectIoUring,
    /// `O_DIRECT`, one `pread`/`pwrite` per request.
    DirectSyscalls,
    /// Through the page cache.
    Buffered,
    /// Reads from a mapping, writes with `pwrite`.
    Mmap,
}

impl Backend {
    pub(crate) const ALL: [Backend; 4] =
        [Backend::DirectIoUring, Backend::DirectSyscalls, Backend::Buffered, Backend::Mmap];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::DirectIoUring => "direct/io_uring",
            Backend::DirectSyscalls => "direct/pread",
            Backend::Buffered => "buffered",
            Backend::Mmap => "mmap",
        }
    }

    /// Parses a name, accepting `direct` for both direct variants.
    pub(crate) fn parse_list(text: &str) -> Result<Vec<Backend>, String> {
        let mut backends = Vec::new();
        for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            match name {
                "direct" => backends.extend([Backend::DirectIoUring, Backend::DirectSyscalls]),
                _ => backends.push(
                    Backend::ALL.into_iter().find(|backend| backend.name() == name).ok_or_else(
                        || format!("unknown backend {name:?} (direct, direct/io_uring, direct/pread, buffered, mmap)"),
                    )?,
                ),
            }
        }
        Ok(backends)
    }

    /// How a [`RealDisk`] opens files for this backend.
    pub(crate) fn disk_options(self) -> DiskOptions {
        let (io_mode, io_uring) = match self {
            Backend::DirectIoUring => (IoMode::Direct, true),
            Backend::DirectSyscalls => (IoMode::Direct, false),
            Backend::Buffered => (IoMode::Buffered, false),
            Backend::Mmap => (IoMode::Mmap, false),
        };
        DiskOptions { io_mode, io_uring, ..DiskOptions::default() }
    }
}

/// An access pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    RandomRead,
    RandomWrite,
    SequentialRead,
    SequentialWrite,
    /// 4 KiB write, then `fdatasync`.
    WriteFdatasync,
    /// 4 KiB write with `RWF_DSYNC`.
    WriteRwfDsync,
    /// 4 KiB write on a file opened `O_DSYNC`.
    WriteODsync,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::RandomRead => "randread 4KiB",
            Pattern::RandomWrite => "randwrite 4KiB",
            Pattern::SequentialRead => "seqread 1MiB",
            Pattern::SequentialWrite => "seqwrite 1MiB",
            Pattern::WriteFdatasync => "write+fdatasync 4KiB",
            Pattern::WriteRwfDsync => "write RWF_DSYNC 4KiB",
            Pattern::WriteODsync => "write O_DSYNC 4KiB",
        }
    }

    fn block_bytes(self) -> usize {
        match self {
            Pattern::SequentialRead | Pattern::SequentialWrite => SEQUENTIAL_BLOCK_BYTES,
            _ => RANDOM_BLOCK_BYTES,
        }
    }

    fn is_read(self) -> bool {
        matches!(self, Pattern::RandomRead | Pattern::SequentialRead)
    }
}

/// One row of the table.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct IoRow {
    pub(crate) backend: &'static str,
    pub(crate) test: &'static str,
    pub(crate) queue_depth: usize,
    pub(crate) block_bytes: usize,
    pub(crate) iops: f64,
    pub(crate) mb_per_second: f64,
    pub(crate) latency_us_p50: f64,
    pub(crate) latency_us_p99: f64,
    pub(crate) operation_count: u64,
}

/// The whole report.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct IoReport {
    pub(crate) file: PathBuf,
    pub(crate) file_system: String,
    pub(crate) size_bytes: u64,
    pub(crate) seconds_per_test: f64,
    pub(crate) cold_cache_method: String,
    pub(crate) rows: Vec<IoRow>,
    /// What each backend's file was actually opened as, with any fallback reasons.
    pub(crate) backends: Vec<(String, disk::FileInfo)>,
}

/// The test file's path inside `directory`.
pub(crate) fn file_path(directory: &Path) -> PathBuf {
    directory.join("directdb-bench-io.dat")
}

/// The patterns and their queue depths, in table order.
pub(crate) fn plan(queue_depth: usize) -> Vec<(Pattern, usize)> {
    vec![
        (Pattern::RandomRead, 1),
        (Pattern::RandomRead, queue_depth),
        (Pattern::RandomWrite, queue_depth),
        (Pattern::SequentialRead, 1),
        (Pattern::SequentialWrite, 1),
        (Pattern::WriteFdatasync, 1),
        (Pattern::WriteRwfDsync, 1),
        (Pattern::WriteODsync, 1),
    ]
}

/// Creates (or reuses) the test file, fully written.
pub(crate) fn prepare_file(options: &IoBenchOptions) -> Result<(), String> {
    let disk = RealDisk::new(Backend::DirectIoUring.disk_options());
    disk.create_dir_all(&options.directory).map_err(|error| error.to_string())?;
    let path = file_path(&options.directory);
    let file = disk.open(&path, OpenOptions::create()).map_err(|error| error.to_string())?;
    if file.size_bytes().map_err(|error| error.to_string())? < options.size_bytes {
        file.allocate(options.size_bytes).map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Runs every pattern on every backend.
pub(crate) fn run(
    options: &IoBenchOptions,
    mut progress: impl FnMut(&IoRow),
) -> Result<IoReport, String> {
    prepare_file(options)?;
    let path = file_path(&options.directory);
    let mut rows = Vec::new();
    let mut backends = Vec::new();
    let mut file_system = String::new();
    for &backend in &options.backends {
        let disk = RealDisk::new(backend.disk_options());
        let file = disk.open(&path, OpenOptions::existing()).map_err(|error| error.to_string())?;
        file_system.clone_from(&file.info().file_system);
        backends.push((backend.name().to_string(), file.info().clone()));
        let dsync_file = disk
            .open(&path, OpenOptions { dsync: true, ..OpenOptions::existing() })
            .map_err(|error| error.to_string())?;
        for (pattern, queue_depth) in plan(options.queue_depth) {
            if pattern.is_read() {
                make_cold(&*file)?;
            }
            let target = if pattern == Pattern::WriteODsync { &dsync_file } else { &file };
            let measurement = run_pattern(options, backend, target, pattern, queue_depth)?;
            let row = to_row(backend, pattern, queue_depth, &measurement);
            progress(&row);
            rows.push(row);
        }
    }
    if !options.keep_file {
        let _ = std::fs::remove_file(&path);
    }
    Ok(IoReport {
        file: path,
        file_system,
        size_bytes: options.size_bytes,
        seconds_per_test: options.seconds_per_test,
        cold_cache_method: cold_cache_method().to_string(),
        rows,
        backends,
    })
}

/// One cold 4 KiB random-read measurement on the first backend of `options` (the fio
/// reference runs this, alternating with fio).
pub(crate) fn random_read_once(
    options: &IoBenchOptions,
    queue_depth: usize,
) -> Result<Measurement, String> {
    let backend = *options.backends.first().ok_or("no backend to measure")?;
    let disk = RealDisk::new(backend.disk_options());
    let file = disk
        .open(&file_path(&options.directory), OpenOptions::existing())
        .map_err(|error| error.to_string())?;
    make_cold(&*file)?;
    run_pattern(options, backend, &file, Pattern::RandomRead, queue_depth)
}

/// One cold 4 KiB random-read measurement of `file`, already opened on `backend`, over its
/// first `size_bytes` (the raw reference `bench pool` sets beside the buffer pool's misses).
pub(crate) fn random_read_file(
    file: &Arc<dyn File>,
    backend: Backend,
    size_bytes: u64,
    queue_depth: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    let options = IoBenchOptions {
        directory: file.path().parent().map(Path::to_path_buf).unwrap_or_default(),
        size_bytes,
        seconds_per_test: duration.as_secs_f64(),
        backends: vec![backend],
        queue_depth,
        keep_file: true,
    };
    // A direct file holds no cached pages, and dropping every clean page of the machine
    // (`make_cold` as root) would only slow the run down.
    if file.info().io_mode != IoMode::Direct {
        make_cold(&**file)?;
    }
    run_pattern(&options, backend, file, Pattern::RandomRead, queue_depth)
}

fn to_row(
    backend: Backend,
    pattern: Pattern,
    queue_depth: usize,
    measurement: &Measurement,
) -> IoRow {
    let bytes_per_second = measurement.ops_per_second * pattern.block_bytes() as f64;
    IoRow {
        backend: backend.name(),
        test: pattern.name(),
        queue_depth,
        block_bytes: pattern.block_bytes(),
        iops: measurement.ops_per_second,
        mb_per_second: bytes_per_second / 1e6,
        latency_us_p50: measurement.latency_us_p50,
        latency_us_p99: measurement.latency_us_p99,
        operation_count: measurement.operation_count,
    }
}

/// Each benchmark thread's state: its buffer and, for the durable-write rows, its position.
struct Worker {
    buf: AlignedBuf,
    next_offset: u64,
}

/// Hands out each of `block_count` blocks once, in a fixed pseudo-random order (or in order),
/// to any number of threads.
struct Cursor {
    next_index: AtomicU64,
    block_count: u64,
    /// Step of the permutation `index * stride mod block_count`: coprime to `block_count`, so
    /// every block comes up exactly once. 1 for sequential order.
    stride: u64,
}

impl Cursor {
    fn new(block_count: u64, random: bool) -> Self {
        let mut stride = if random { (0x9E37_79B9_7F4A_7C15 % block_count.max(1)) | 1 } else { 1 };
        while gcd(stride, block_count) != 1 {
            stride += 2;
        }
        Self { next_index: AtomicU64::new(0), block_count, stride }
    }

    /// The next block, or `None` once every block was handed out.
    fn next_block(&self) -> Option<u64> {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        (index < self.block_count).then(|| {
            let product =
                u128::from(index) * u128::from(self.stride) % u128::from(self.block_count);
            u64::try_from(product).expect("below block_count")
        })
    }
}

fn gcd(mut left: u64, mut right: u64) -> u64 {
    while right != 0 {
        (left, right) = (right, left % right);
    }
    left
}

fn run_pattern(
    options: &IoBenchOptions,
    backend: Backend,
    file: &Arc<dyn File>,
    pattern: Pattern,
    queue_depth: usize,
) -> Result<Measurement, String> {
    let block_bytes = pattern.block_bytes();
    let block_count = options.size_bytes / block_bytes as u64;
    let durable_block_count = DURABLE_REGION_BYTES.min(options.size_bytes) / block_bytes as u64;
    let alignment = file.info().alignment;
    let use_ring = backend == Backend::DirectIoUring;
    let duration = Duration::from_secs_f64(options.seconds_per_test);
    if use_ring && queue_depth > 1 && matches!(pattern, Pattern::RandomRead | Pattern::RandomWrite)
    {
        // One thread keeps `queue_depth` requests in flight, as fio does.
        return run_queue(file, pattern == Pattern::RandomRead, block_count, queue_depth, duration);
    }
    if !pattern.is_read() {
        // Start each write test with no dirty pages left over from the previous one.
        file.sync_data().map_err(|error| error.to_string())?;
    }
    let random = matches!(pattern, Pattern::RandomRead | Pattern::RandomWrite);
    let cursor = Cursor::new(block_count, random);
    let setup = |thread_index: usize| Worker {
        buf: filled_buffer(block_bytes, alignment, thread_index),
        next_offset: 0,
    };
    let operation = |worker: &mut Worker| -> Result<bool, String> {
        let offset = match pattern {
            Pattern::RandomRead
            | Pattern::RandomWrite
            | Pattern::SequentialRead
            | Pattern::SequentialWrite => {
                let Some(block) = cursor.next_block() else { return Ok(false) };
                block * block_bytes as u64
            }
            // Durable writes go round a small pre-written region, as a log does.
            _ => {
                let offset = (worker.next_offset % durable_block_count) * block_bytes as u64;
                worker.next_offset += 1;
                offset
            }
        };
        one_operation(&**file, pattern, use_ring, &mut worker.buf, offset)
            .map_err(|error| error.to_string())?;
        Ok(true)
    };
    run_threads(queue_depth, duration, setup, operation)
}

/// 4 KiB random reads or writes from one thread through an [`IoQueue`] holding `queue_depth`
/// requests in flight; each request's latency runs from its push to its completion.
fn run_queue(
    file: &Arc<dyn File>,
    is_read: bool,
    block_count: u64,
    queue_depth: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    let depth = u32::try_from(queue_depth).map_err(|_| "queue depth too large")?;
    if depth > disk::limits::QUEUE_DEPTH_MAX {
        return Err(format!("queue depth {depth} is above {}", disk::limits::QUEUE_DEPTH_MAX));
    }
    let mut queue: IoQueue<Instant> = IoQueue::new(depth);
    let cursor = Cursor::new(block_count, true);
    let mut spare: Vec<AlignedBuf> = (0..queue_depth)
        .map(|index| filled_buffer(RANDOM_BLOCK_BYTES, file.info().alignment, index))
        .collect();
    let mut recorder = Recorder::new();
    let started = Instant::now();
    let deadline = started + duration;
    let mut finished_at = None;
    loop {
        let now = Instant::now();
        if now < deadline {
            while !spare.is_empty() {
                let Some(block) = cursor.next_block() else { break };
                let buf = spare.pop().expect("checked non-empty");
                let offset = block * RANDOM_BLOCK_BYTES as u64;
                if is_read {
                    queue.push_read(file, offset, buf, now);
                } else {
                    queue.push_write(file, offset, buf, false, now);
                }
            }
            queue.submit();
        }
        let Some(completion) = queue.next_completion() else { break };
        completion.result.map_err(|error| error.to_string())?;
        if now < deadline {
            recorder.record(completion.tag.elapsed());
            spare.push(completion.buf);
            finished_at = Some(Instant::now());
        }
    }
    // Completions after the deadline are not counted, so neither is the time spent draining;
    // a row that ran out of blocks ends at its last completion.
    let elapsed = finished_at.map_or(duration, |at| (at - started).min(duration));
    Ok(recorder.finish(elapsed))
}

fn one_operation(
    file: &dyn File,
    pattern: Pattern,
    use_ring: bool,
    buf: &mut AlignedBuf,
    offset: u64,
) -> disk::Result<()> {
    match pattern {
        Pattern::RandomRead | Pattern::SequentialRead if use_ring => {
            file.submit(&mut [IoRequest::Read { offset, buf }]).pop().expect("one result")
        }
        Pattern::RandomRead | Pattern::SequentialRead => file.read_at(buf, offset),
        Pattern::RandomWrite | Pattern::SequentialWrite | Pattern::WriteODsync if use_ring => file
            .submit(&mut [IoRequest::Write { offset, buf, durable: false }])
            .pop()
            .expect("one result"),
        Pattern::RandomWrite | Pattern::SequentialWrite | Pattern::WriteODsync => {
            file.write_at(buf, offset)
        }
        Pattern::WriteFdatasync => {
            file.write_at(buf, offset)?;
            file.sync_data()
        }
        Pattern::WriteRwfDsync if use_ring => file
            .submit(&mut [IoRequest::Write { offset, buf, durable: true }])
            .pop()
            .expect("one result"),
        Pattern::WriteRwfDsync => file.write_at_durable(buf, offset),
    }
}

/// A buffer of non-zero bytes (so writes are not trivially compressible or skippable).
fn filled_buffer(length_bytes: usize, alignment: disk::Alignment, seed: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::for_alignment(length_bytes, alignment);
    let mut rng = SmallRng::seed_from_u64(seed as u64 ^ 0x5eed);
    rng.fill(&mut buf[..]);
    buf
}

/// True when this process may write `/proc/sys/vm/drop_caches`.
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn cold_cache_method() -> &'static str {
    if is_root() {
        "direct: no page cache; buffered/mmap: posix_fadvise(DONTNEED) + madvise(DONTNEED) on the file, then sync and drop_caches=3 before each read test"
    } else {
        "direct: no page cache; buffered/mmap: posix_fadvise(DONTNEED) + madvise(DONTNEED) on the file before each read test (not root: drop_caches not used)"
    }
}

/// Drops `file`'s pages from the kernel's caches (and, as root, every clean page), so the next
/// read goes to the device.
pub(crate) fn make_cold(file: &dyn File) -> Result<(), String> {
    file.drop_cached_pages().map_err(|error| error.to_string())?;
    if is_root() {
        rustix::fs::sync();
        std::fs::write("/proc/sys/vm/drop_caches", "3")
            .map_err(|error| format!("write /proc/sys/vm/drop_caches: {error}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_hands_out_every_block_exactly_once() {
        for block_count in [0u64, 1, 2, 3, 7, 1000, 4096, 6000, 65537] {
            for random in [false, true] {
                let cursor = Cursor::new(block_count, random);
                let mut seen = vec![false; usize::try_from(block_count).unwrap()];
                while let Some(block) = cursor.next_block() {
                    let index = usize::try_from(block).unwrap();
                    assert!(!seen[index], "block {block} of {block_count} handed out twice");
                    seen[index] = true;
                }
                assert!(seen.iter().all(|&was_seen| was_seen), "{block_count} {random}");
                assert!(cursor.next_block().is_none());
            }
        }
    }

    #[test]
    fn random_order_is_not_sequential() {
        let cursor = Cursor::new(4096, true);
        let first: Vec<u64> = (0..4).map(|_| cursor.next_block().unwrap()).collect();
        assert_ne!(first, vec![0, 1, 2, 3]);
    }
}

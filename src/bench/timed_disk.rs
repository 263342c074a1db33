//! A [`Disk`] that forwards every call to another one and times the calls that cost a device
//! round trip: writes, durable writes, `fdatasync` and pre-zeroing.
//!
//! `bench wal` runs both the log and its raw reference through it, so that the time a commit
//! spends in the device can be told from the time it spends in the log's own code (appending,
//! the group-commit hand-off, waking the committers) without instrumenting the `wal` crate.
//! Each timed call costs two clock reads (tens of nanoseconds), small next to a device write.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use disk::{Disk, File, FileInfo, IoRequest, LockGuard, OpenOptions};

/// Counters shared by a [`TimedDisk`] and every file it opened.
#[derive(Debug, Default)]
struct Counters {
    write_count: AtomicU64,
    write_ns: AtomicU64,
    durable_write_count: AtomicU64,
    durable_write_ns: AtomicU64,
    sync_count: AtomicU64,
    sync_ns: AtomicU64,
    allocate_count: AtomicU64,
    allocate_ns: AtomicU64,
}

/// Runs `action`, adding one to `count` and its duration to `total_ns`.
fn timed<Output>(
    count: &AtomicU64,
    total_ns: &AtomicU64,
    action: impl FnOnce() -> Output,
) -> Output {
    let started = Instant::now();
    let output = action();
    let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    count.fetch_add(1, Ordering::Relaxed);
    total_ns.fetch_add(elapsed_ns, Ordering::Relaxed);
    output
}

/// Where the device time of a run went: how many calls of each kind, and their mean duration.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub(crate) struct IoTimes {
    /// `write_at` calls (plain writes; under `fdatasync` each is followed by a sync).
    pub(crate) write_count: u64,
    /// Mean duration of one `write_at`.
    pub(crate) write_us_mean: f64,
    /// `write_at_durable` calls (`RWF_DSYNC`).
    pub(crate) durable_write_count: u64,
    /// Mean duration of one `write_at_durable`.
    pub(crate) durable_write_us_mean: f64,
    /// `sync_data` calls (`fdatasync`).
    pub(crate) sync_count: u64,
    /// Mean duration of one `sync_data`.
    pub(crate) sync_us_mean: f64,
    /// `allocate` calls (pre-zeroing a new file: the log does one per new segment).
    pub(crate) allocate_count: u64,
    /// Total time spent in `allocate`.
    pub(crate) allocate_us_total: f64,
    /// Total time in writes, durable writes and syncs, over the run.
    pub(crate) device_us_total: f64,
}

/// The mean of `total_ns` over `count` calls, in microseconds (0 when there were none).
fn mean_us(total_ns: u64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { total_ns as f64 / count as f64 / 1000.0 }
}

impl Counters {
    fn reset(&self) {
        for counter in [
            &self.write_count,
            &self.write_ns,
            &self.durable_write_count,
            &self.durable_write_ns,
            &self.sync_count,
            &self.sync_ns,
            &self.allocate_count,
            &self.allocate_ns,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> IoTimes {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (write_count, write_ns) = (load(&self.write_count), load(&self.write_ns));
        let (durable_write_count, durable_write_ns) =
            (load(&self.durable_write_count), load(&self.durable_write_ns));
        let (sync_count, sync_ns) = (load(&self.sync_count), load(&self.sync_ns));
        let device_ns = write_ns.saturating_add(durable_write_ns).saturating_add(sync_ns);
        IoTimes {
            write_count,
            write_us_mean: mean_us(write_ns, write_count),
            durable_write_count,
            durable_write_us_mean: mean_us(durable_write_ns, durable_write_count),
            sync_count,
            sync_us_mean: mean_us(sync_ns, sync_count),
            allocate_count: load(&self.allocate_count),
            allocate_us_total: load(&self.allocate_ns) as f64 / 1000.0,
            device_us_total: device_ns as f64 / 1000.0,
        }
    }
}

/// A [`Disk`] whose files time their device calls; see the module documentation.
#[derive(Debug)]
pub(crate) struct TimedDisk {
    inner: Arc<dyn Disk>,
    counters: Arc<Counters>,
}

impl TimedDisk {
    /// Wraps `inner`, with every counter at zero.
    pub(crate) fn new(inner: Arc<dyn Disk>) -> Self {
        Self { inner, counters: Arc::default() }
    }

    /// Sets every counter back to zero (after set-up that is not part of the measurement).
    pub(crate) fn reset(&self) {
        self.counters.reset();
    }

    /// The counters so far, over every file this disk opened.
    pub(crate) fn io_times(&self) -> IoTimes {
        self.counters.snapshot()
    }
}

impl Disk for TimedDisk {
    fn open(&self, path: &Path, options: OpenOptions) -> disk::Result<Arc<dyn File>> {
        let inner = self.inner.open(path, options)?;
        Ok(Arc::new(TimedFile { inner, counters: Arc::clone(&self.counters) }))
    }

    fn remove(&self, path: &Path) -> disk::Result<()> {
        self.inner.remove(path)
    }

    fn rename(&self, source: &Path, target: &Path) -> disk::Result<()> {
        self.inner.rename(source, target)
    }

    fn sync_dir(&self, path: &Path) -> disk::Result<()> {
        self.inner.sync_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> disk::Result<()> {
        self.inner.create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> disk::Result<Vec<PathBuf>> {
        self.inner.list_dir(path)
    }

    fn exists(&self, path: &Path) -> disk::Result<bool> {
        self.inner.exists(path)
    }

    fn lock(&self, path: &Path) -> disk::Result<Box<dyn LockGuard>> {
        self.inner.lock(path)
    }
}

/// A file opened by a [`TimedDisk`].
struct TimedFile {
    inner: Arc<dyn File>,
    counters: Arc<Counters>,
}

impl fmt::Debug for TimedFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("TimedFile").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl File for TimedFile {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn info(&self) -> &FileInfo {
        self.inner.info()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> disk::Result<()> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> disk::Result<()> {
        let counters = &self.counters;
        timed(&counters.write_count, &counters.write_ns, || self.inner.write_at(buf, offset))
    }

    fn write_at_durable(&self, buf: &[u8], offset: u64) -> disk::Result<()> {
        let counters = &self.counters;
        timed(&counters.durable_write_count, &counters.durable_write_ns, || {
            self.inner.write_at_durable(buf, offset)
        })
    }

    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<disk::Result<()>> {
        self.inner.submit(requests)
    }

    fn sync_data(&self) -> disk::Result<()> {
        let counters = &self.counters;
        timed(&counters.sync_count, &counters.sync_ns, || self.inner.sync_data())
    }

    fn size_bytes(&self) -> disk::Result<u64> {
        self.inner.size_bytes()
    }

    fn allocate(&self, size_bytes: u64) -> disk::Result<()> {
        let counters = &self.counters;
        timed(&counters.allocate_count, &counters.allocate_ns, || self.inner.allocate(size_bytes))
    }

    fn truncate(&self, size_bytes: u64) -> disk::Result<()> {
        self.inner.truncate(size_bytes)
    }

    fn drop_cached_pages(&self) -> disk::Result<()> {
        self.inner.drop_cached_pages()
    }

    fn io_uring_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.io_uring_fd()
    }

    fn mapped_words(&self) -> Option<&[std::sync::atomic::AtomicU64]> {
        self.inner.mapped_words()
    }
}

#[cfg(test)]
mod tests {
    use disk::{AlignedBuf, SimDisk};

    use super::*;

    #[test]
    fn counts_each_kind_of_device_call_and_forwards_the_data() {
        let disk = TimedDisk::new(Arc::new(SimDisk::with_seed(7)));
        disk.create_dir_all(Path::new("/bench")).unwrap();
        let file = disk.open(Path::new("/bench/file"), OpenOptions::create()).unwrap();
        file.allocate(16 << 10).unwrap();
        let mut block = AlignedBuf::for_alignment(4096, file.info().alignment);
        block[..3].copy_from_slice(b"abc");
        file.write_at(&block, 0).unwrap();
        file.write_at(&block, 4096).unwrap();
        file.sync_data().unwrap();
        file.write_at_durable(&block, 8192).unwrap();

        let times = disk.io_times();
        assert_eq!(times.write_count, 2);
        assert_eq!(times.durable_write_count, 1);
        assert_eq!(times.sync_count, 1);
        assert_eq!(times.allocate_count, 1);
        let mut read_back = AlignedBuf::for_alignment(4096, file.info().alignment);
        file.read_at(&mut read_back, 8192).unwrap();
        assert_eq!(&read_back[..3], b"abc");
        disk.reset();
        assert_eq!(disk.io_times(), IoTimes::default());
    }

    #[test]
    fn means_of_no_calls_are_zero() {
        assert_eq!(mean_us(0, 0), 0.0);
        assert_eq!(mean_us(3_000, 2), 1.5);
        assert_eq!(TimedDisk::new(Arc::new(SimDisk::with_seed(1))).io_times(), IoTimes::default());
    }
}

//! [`SimDisk`]: a deterministic, seeded, in-memory disk with a volatile write cache, crashes
//! and injectable faults, behind the same [`Disk`] and [`File`] traits as the real backends.
//!
//! One `SimDisk` is one machine's disk: every file of a database (data file, log segments, lock
//! file) lives on it, so a [`SimDisk::crash`] takes them down together. Handles are cheap clones
//! of one shared state.
//!
//! What the model does, in brief (the details sit on the code that does it):
//!
//! - **Write cache** (`inode.rs`), [`CacheMode::WriteBack`] by default: a completed write is
//!   visible at once but volatile. [`File::sync_data`] makes that file's completed writes
//!   durable, and only that file's (the weaker of real guarantees, so a protocol that leans on a
//!   neighbour's flush is caught). [`File::write_at_durable`], writes to a file opened with
//!   [`OpenOptions::dsync`], [`File::allocate`] and [`File::truncate`] are durable on return.
//! - **Write-through** ([`CacheMode::WriteThrough`], [`SimDisk::write_through`]): a device with
//!   no volatile cache. A completed write is durable on return, except the part of it past the
//!   file's durable size: growing a file changes its size, file-system metadata that only
//!   `fdatasync` (or `O_DSYNC`) commits, so a plain write is durable only as an overwrite of
//!   space the file already durably has (what `disk::FlushMethod::PlainWrite` promises). A
//!   write cannot be in flight when [`SimDisk::crash`] is called (every operation completes
//!   under the disk's lock), so the write "in flight at the crash" is modelled by a write that
//!   failed: a harness kills the machine by injecting errors from some operation on (see
//!   [`Trigger::From`]), the write that fails never completed, and the sectors it landed stay
//!   pending for the crash to lose, keep or tear, exactly as on a write-back disk. No other
//!   write is pending, so nothing else can be lost or torn. The namespace (below) is the file
//!   system's, not the device's: it is as volatile in both modes. Everything stays seed-exact:
//!   the mode draws no random numbers; the crash draws one fate per pending write, as always.
//! - **Namespace** (`namespace.rs`): create, remove and rename are volatile until
//!   [`Disk::sync_dir`] on the parent; a crash keeps a prefix of each directory's changes.
//!   [`Disk::create_dir_all`] is durable at once.
//! - **Crash** (`crash.rs`): each pending write is lost, kept or torn; old handles and locks die.
//! - **Faults** (`fault.rs`): errors, misdirected writes and bit flips at the Nth operation;
//!   `ENOSPC` past [`SimDiskOptions::capacity_bytes`].
//!
//! ```
//! use std::path::Path;
//! use disk::{AlignedBuf, Disk, File, OpenOptions, SimDisk};
//!
//! # fn main() -> disk::Result<()> {
//! let disk = SimDisk::with_seed(42);
//! disk.create_dir_all(Path::new("/db"))?;
//! let file = disk.open(Path::new("/db/log"), OpenOptions::create())?;
//! disk.sync_dir(Path::new("/db"))?;
//!
//! let mut page = AlignedBuf::for_alignment(4096, file.info().alignment);
//! page.fill(7);
//! file.write_at(&page, 0)?;
//! file.sync_data()?;
//! file.write_at(&page, 4096)?; // never flushed: lost, kept or torn at the crash
//!
//! let report = disk.crash();
//! assert_eq!(report.writes.len(), 1);
//! assert!(file.sync_data().is_err(), "handles from before the crash are dead");
//! let durable = disk.durable_content(Path::new("/db/log"))?;
//! assert!(durable[..4096].iter().all(|&byte| byte == 7));
//! # Ok(())
//! # }
//! ```

mod crash;
mod fault;
mod file;
mod inode;
mod lock;
mod namespace;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

pub use crash::{
    CrashChoices, CrashReport, DirectoryOutcome, KeepAll, LoseAll, PendingWrite, WriteFate,
    WriteOutcome,
};
pub use fault::{Fault, FaultEffect, FaultTarget, Operation, OperationCounts, Trigger};
pub use namespace::FileId;

use self::file::SimFile;
use self::lock::SimLockGuard;
use self::state::State;
use crate::alignment::Alignment;
use crate::disk::{Disk, LockGuard, OpenOptions};
use crate::error::Result;
use crate::file::{File, FileInfo, Submission};
use crate::limits::ALIGN_MAX_BYTES;
use crate::options::IoMode;
use crate::probe::WriteCache;

/// The granularity at which the simulation tracks pending writes: the smallest sector any
/// device has. Every aligned request is a whole number of units.
const UNIT_BYTES: u64 = 512;

/// The sector sizes a crash tears writes at: the logical sector of a 512e drive and its physical
/// sector (this machine's disk has both: logical 512 B, physical 4 KiB). Sizes below the disk's
/// [`SimDiskOptions::sector_bytes`] are skipped: a device never tears inside a logical sector.
const TEAR_SECTOR_BYTES: [u64; 2] = [512, 4096];

/// The default capacity: files live in memory, so the capacity bounds memory too, and turns a
/// write at an absurd offset into `ENOSPC` instead of an allocation failure.
pub const SIM_CAPACITY_BYTES_DEFAULT: u64 = 1 << 30;

/// The default sector size (and alignment) of a simulated disk: this machine's logical sector.
pub const SIM_SECTOR_BYTES_DEFAULT: u32 = 512;

const _: () = assert!(SIM_SECTOR_BYTES_DEFAULT as u64 % UNIT_BYTES == 0);
const _: () = assert!(TEAR_SECTOR_BYTES[0] == UNIT_BYTES);

/// What the simulated device does with a completed write: the simulation's counterpart of the
/// write cache mode a real device reports ([`WriteCache`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CacheMode {
    /// A volatile write-back cache: a completed write is durable only after
    /// [`File::sync_data`], or if it was written durably ([`File::write_at_durable`], an
    /// `O_DSYNC` file). A crash loses, keeps or tears every other completed write. The default:
    /// it is the weaker device, and this machine's disk is one.
    #[default]
    WriteBack,
    /// No volatile cache (or one that survives power loss): a completed write is on the media
    /// when it returns, as far as it lies inside the file's durable size. The part of a write
    /// that grows the file stays pending until [`File::sync_data`], because the new size is
    /// file-system metadata, which only `fdatasync` or `O_DSYNC` commits. A write that failed
    /// (an injected error: the write the machine died during) never completed, so what it
    /// landed stays in doubt and the crash loses, keeps or tears it. Those two are the only
    /// writes a crash can touch on this disk.
    WriteThrough,
}

impl CacheMode {
    /// What a device probe would report for this cache (the input of
    /// [`crate::FlushMethod::choose`]).
    pub fn write_cache(self) -> WriteCache {
        match self {
            CacheMode::WriteBack => WriteCache::WriteBack,
            CacheMode::WriteThrough => WriteCache::WriteThrough,
        }
    }
}

/// How to build a [`SimDisk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimDiskOptions {
    /// Seeds every random choice: the same seed and the same operations give the same run.
    pub seed: u64,
    /// The logical sector size: every request must be aligned to it (memory, offset, length).
    /// A power of two from 512 to [`ALIGN_MAX_BYTES`].
    pub sector_bytes: u32,
    /// Total bytes all files may hold; a write, `allocate` or `truncate` that would go past it
    /// fails with `ENOSPC`.
    pub capacity_bytes: u64,
    /// What the device does with a completed write (write-back unless said otherwise).
    pub cache_mode: CacheMode,
}

impl Default for SimDiskOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            sector_bytes: SIM_SECTOR_BYTES_DEFAULT,
            capacity_bytes: SIM_CAPACITY_BYTES_DEFAULT,
            cache_mode: CacheMode::WriteBack,
        }
    }
}

/// A deterministic, seeded, in-memory disk: see the module documentation.
///
/// Cloning gives another handle to the same disk.
#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl SimDisk {
    /// A new, empty disk.
    ///
    /// # Panics
    /// If `options.sector_bytes` is not a power of two from 512 to [`ALIGN_MAX_BYTES`]: that is
    /// a bug in the test that built it.
    pub fn new(options: SimDiskOptions) -> Self {
        let sector_bytes = options.sector_bytes;
        assert!(
            sector_bytes.is_power_of_two()
                && u64::from(sector_bytes) >= UNIT_BYTES
                && sector_bytes <= ALIGN_MAX_BYTES,
            "sector_bytes {sector_bytes} is not a power of two from 512 to {ALIGN_MAX_BYTES}"
        );
        Self { state: Arc::new(Mutex::new(State::new(options))) }
    }

    /// A new, empty disk with default options and `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Self::new(SimDiskOptions { seed, ..SimDiskOptions::default() })
    }

    /// A new, empty disk without a volatile write cache (see [`CacheMode::WriteThrough`]),
    /// otherwise with default options and `seed`.
    pub fn write_through(seed: u64) -> Self {
        Self::new(SimDiskOptions {
            seed,
            cache_mode: CacheMode::WriteThrough,
            ..SimDiskOptions::default()
        })
    }

    /// The seed the disk was built with: print it with a failure so the run can be replayed.
    pub fn seed(&self) -> u64 {
        self.state.lock().options.seed
    }

    /// What the device does with a completed write.
    pub fn cache_mode(&self) -> CacheMode {
        self.state.lock().options.cache_mode
    }

    /// How many crashes the disk has been through.
    pub fn crash_count(&self) -> u64 {
        self.state.lock().epoch
    }

    /// Loses power, with every choice drawn from the disk's seeded generator: each pending
    /// write is lost, kept or torn (at 512 B or 4 KiB) with equal odds, and each directory keeps
    /// a uniformly chosen prefix of its un-synced changes. Every handle and lock from before
    /// dies; files opened afterwards see the surviving state, all of it durable.
    pub fn crash(&self) -> CrashReport {
        self.state.lock().crash_seeded()
    }

    /// Loses power with `choices` deciding every pending write's fate and every directory's
    /// surviving prefix (for an exhaustive explorer; see [`SimDisk::pending_writes`] and
    /// [`SimDisk::pending_namespace`]). `choices` runs with the disk locked and must not call
    /// back into it.
    pub fn crash_with(&self, choices: &mut dyn CrashChoices) -> CrashReport {
        self.state.lock().crash(choices)
    }

    /// A copy of this disk as it is now, sharing nothing with it: the same files, the same
    /// volatile cache, the same faults and generator, as if every process using the disk had
    /// died (no handle or lock carries over) while the machine kept running. An explorer forks
    /// one moment of a workload once per crash it wants to try there ([`SimDisk::crash_with`]
    /// on each copy) instead of running the workload up to that moment again for each.
    pub fn fork(&self) -> SimDisk {
        let mut state = self.state.lock().clone();
        state.detach_handles();
        SimDisk { state: Arc::new(Mutex::new(state)) }
    }

    /// Every write a crash could lose, keep or tear now, in sequence order.
    pub fn pending_writes(&self) -> Vec<PendingWrite> {
        self.state.lock().pending_writes()
    }

    /// Every directory with un-synced namespace changes and how many it has, in sorted order:
    /// the range each [`CrashChoices::namespace_kept_count`] chooses from.
    pub fn pending_namespace(&self) -> Vec<(PathBuf, usize)> {
        self.state.lock().pending_namespace()
    }

    /// Adds a fault. Faults stay until [`SimDisk::clear_faults`], across crashes.
    pub fn inject(&self, fault: Fault) {
        self.state.lock().inject(fault);
    }

    /// Removes every injected fault (the operation counters keep counting).
    pub fn clear_faults(&self) {
        self.state.lock().clear_faults();
    }

    /// Changes the capacity (see [`SimDiskOptions::capacity_bytes`]); files already past it
    /// stay, but cannot grow.
    pub fn set_capacity_bytes(&self, capacity_bytes: u64) {
        self.state.lock().set_capacity_bytes(capacity_bytes);
    }

    /// How many operations of each kind the disk has seen since it was built.
    pub fn operation_counts(&self) -> OperationCounts {
        self.state.lock().counts()
    }

    /// The durable content of the file at `path` (as `open` would find it now): what it holds
    /// after a crash that loses every pending write, if its name survives.
    pub fn durable_content(&self, path: &Path) -> Result<Vec<u8>> {
        self.state.lock().durable_content(path)
    }

    /// Every file of the durable namespace with its durable content: the whole disk as a crash
    /// that loses everything pending would leave it. Two runs with one seed compare equal.
    pub fn durable_image(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.state.lock().durable_image()
    }

    /// Calls `visit` with every file of the durable namespace and its durable content, in path
    /// order, without copying them: what [`SimDisk::durable_image`] returns, for a harness that
    /// only hashes it. `visit` runs with the disk locked and must not call back into it.
    pub fn visit_durable_image(&self, visit: &mut dyn FnMut(&Path, &[u8])) {
        self.state.lock().visit_durable_image(visit);
    }

    /// Flips bit `bit_index % 8` of the byte at `offset_bytes` of the file at `path`, in every
    /// copy (media corruption: neither a flush nor a crash repairs it). Fails with `ENOENT` or,
    /// past the end of the file, `EINVAL`.
    pub fn flip_bit(&self, path: &Path, offset_bytes: u64, bit_index: u8) -> Result<()> {
        self.state.lock().flip_bit(path, offset_bytes, bit_index)
    }

    /// Panics if an invariant of the simulated disk does not hold (for tests).
    pub fn check_invariants(&self) {
        self.state.lock().check_invariants();
    }
}

/// What every simulated file reports itself as.
fn file_info(sector_bytes: u32) -> FileInfo {
    FileInfo {
        io_mode: IoMode::Direct,
        submission: Submission::Simulated,
        alignment: Alignment::uniform(sector_bytes),
        file_system: "simulated".into(),
        fallback_reasons: vec![],
    }
}

impl Disk for SimDisk {
    /// Opens or creates a file. [`OpenOptions::io_mode`] is ignored: every simulated file
    /// behaves as a direct-I/O file (aligned requests, no page cache).
    fn open(&self, path: &Path, options: OpenOptions) -> Result<Arc<dyn File>> {
        let mut state = self.state.lock();
        let file = state.open(path, options)?;
        let info = file_info(state.options.sector_bytes);
        let epoch = state.epoch;
        drop(state);
        let path = path.to_path_buf();
        Ok(Arc::new(SimFile::new(self.state.clone(), path, info, file, epoch, options.dsync)))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        self.state.lock().remove(path)
    }

    fn rename(&self, source: &Path, target: &Path) -> Result<()> {
        self.state.lock().rename(source, target)
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        self.state.lock().sync_dir(path)
    }

    /// Creates a directory and its parents. Durable at once: the simulation never loses a
    /// directory (a real file system can, until the parent is synced; directdb creates its
    /// directory once, before anything in it matters).
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.state.lock().create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<PathBuf>> {
        self.state.lock().list_dir(path)
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.state.lock().exists(path))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn LockGuard>> {
        let mut state = self.state.lock();
        state.lock(path)?;
        let epoch = state.epoch;
        drop(state);
        Ok(Box::new(SimLockGuard::new(self.state.clone(), path.to_path_buf(), epoch)))
    }
}

impl fmt::Debug for SimDisk {
    /// The seed and a summary (counts, never contents), so a failing test prints how to replay.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        let (file_count, size_bytes, pending_write_count, pending_namespace_count) =
            state.summary();
        formatter
            .debug_struct("SimDisk")
            .field("seed", &state.options.seed)
            .field("sector_bytes", &state.options.sector_bytes)
            .field("capacity_bytes", &state.options.capacity_bytes)
            .field("cache_mode", &state.options.cache_mode)
            .field("crash_count", &state.epoch)
            .field("file_count", &file_count)
            .field("size_bytes", &size_bytes)
            .field("pending_write_count", &pending_write_count)
            .field("pending_namespace_count", &pending_namespace_count)
            .field("operation_counts", &state.counts())
            .finish()
    }
}

#[cfg(test)]
mod tests;

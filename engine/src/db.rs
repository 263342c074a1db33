//! [`Db`]: the database. Joins the tree, the version store and the log (docs/DESIGN.md).
//!
//! Reads at a timestamp consult the version store first and the tree second. A commit
//! validates, logs and publishes inside one short in-memory critical section, then gives its
//! versions to the tree under the tree lock, then waits for durability as the options say.
//! Checkpoints freeze the tree's epoch, write every dirty page, and write the other header slot.
//! Open reads the newest valid header, the free-page list it names and the root, and replays
//! the log from the header's redo LSN.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bufferpool::{BufferPool, LogDurability, PoolOptions, PoolStats};
use disk::{AlignedBuf, Disk, DiskOptions, File, LockGuard, OpenOptions, RealDisk};
use parking_lot::Mutex;
use wal::{Lsn, Wal, WalOptions, WalStats};

use crate::btree::free_list;
use crate::btree::tree::{LevelShape, ScanChunk, Tree};
use crate::commit_record::{self, Decoder, TAG_COMMIT, TAG_PART, Write};
use crate::error::{Error, Result};
use crate::free_space::{FreeSpace, PageSet};
use crate::header::{self, Header, SLOT_BYTES, SLOT_COUNT};
use crate::limits::{KEY_BYTES_MAX, VALUE_BYTES_MAX};
use crate::options::{Durability, Options, WalFlush};
use crate::planted::{self, Bug};
use crate::tree_latch::TreeLatch;
use crate::versions::{KeyRange, Lookup, Timestamp, Value, VersionStore};

/// The data file's name in the database directory.
pub const DATA_FILE_NAME: &str = "data.ddb";
/// The log directory's name in the database directory.
pub const WAL_DIRECTORY_NAME: &str = "wal";
/// The lock file's name in the database directory.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// Commits between two version-store collections.
const GARBAGE_COLLECTION_COMMIT_INTERVAL: u64 = 64;
/// Optimistic descents a point read tries before it holds the tree latch shared: a read that
/// changes overlapped this often in a row is cheaper to run once, after the change.
const TREE_OPTIMISTIC_ATTEMPT_MAX: u32 = 4;

/// A database: many threads share one (`Arc<Db>`).
#[derive(Debug)]
pub struct Db {
    inner: Arc<Inner>,
    flusher: Option<Worker>,
    checkpointer: Option<Worker>,
}

/// A background thread and the flag that stops it.
#[derive(Debug)]
struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

struct Inner {
    path: PathBuf,
    options: Options,
    _lock: Box<dyn LockGuard>,
    data: Arc<dyn File>,
    tree: Tree,
    /// The applier of committed versions holds it exclusively; scans shared; point reads
    /// validate its version instead of holding it (see `tree_latch.rs`).
    tree_latch: TreeLatch,
    wal: Arc<Wal>,
    versions: VersionStore,
    commit: Mutex<CommitState>,
    /// The newest commit timestamp readers may see (every version up to it is published).
    visible_ts: AtomicU64,
    /// Read timestamps of live transactions and snapshots, with counts.
    active: Mutex<BTreeMap<Timestamp, usize>>,
    checkpoint: Mutex<CheckpointState>,
    /// The redo LSN of the last checkpoint: committers compare the log's end with it without
    /// taking the checkpoint's lock, which a running checkpoint holds through its flushes.
    checkpoint_redo_lsn: AtomicU64,
    /// The background checkpoint thread, which committers wake (with
    /// [`Options::background_checkpoints`]).
    checkpointer: OnceLock<std::thread::Thread>,
    failure: OnceLock<String>,
    counters: Counters,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Db").field("path", &self.path).finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct CommitState {
    last_ts: Timestamp,
    /// First LSN → timestamp of commits logged but not yet given to the tree.
    unapplied: BTreeMap<u64, Timestamp>,
}

#[derive(Debug)]
struct CheckpointState {
    /// The sequence of the last header written.
    sequence: u64,
    /// The pages holding that header's free-page list: in use until the next header is
    /// durable.
    free_list_pages: Vec<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    conflicts: AtomicU64,
    checkpoints: AtomicU64,
}

/// What [`Db::stats`] reports.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct DbStats {
    /// Committed read-write transactions since open.
    pub commits: u64,
    /// Transactions refused with [`Error::Conflict`].
    pub conflicts: u64,
    /// Checkpoints since open.
    pub checkpoints: u64,
    /// Log bytes written since the last checkpoint's redo point: about what recovery would
    /// replay after a crash now (at most twice [`Options::checkpoint_wal_bytes`] once a commit
    /// has returned).
    pub log_bytes_since_checkpoint: u64,
    /// Keys with versions held in memory for snapshots or not yet in the tree.
    pub version_chains: usize,
    /// Pages of the data file listed free (reusable now).
    pub free_pages: usize,
    /// The buffer pool.
    pub pool: PoolStats,
    /// The log.
    pub wal: WalStats,
}

/// What [`Db::check`] verified.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// Keys in the tree.
    pub key_count: u64,
    /// Pages the tree uses (nodes and overflow pages).
    pub tree_pages: u64,
    /// The tree's nodes per level, leaves first (its height is the length).
    pub levels: Vec<LevelShape>,
    /// Overflow pages (of values too large for a leaf).
    pub overflow_pages: u64,
    /// Pages listed free.
    pub free_pages: u64,
    /// Pages the file uses.
    pub page_count: u64,
    /// Log records from the last checkpoint's redo point on (what recovery would replay after
    /// a crash now), each read back from disk, checksum and LSN checked, and decoded.
    pub log_records: u64,
    /// Of those, commits whole in the log.
    pub log_commits: u64,
}

/// The pool's view of the log: pages are written back only once their LSN is durable.
#[derive(Debug, Default)]
struct LogRule {
    wal: OnceLock<Arc<Wal>>,
}

impl LogDurability for LogRule {
    fn lsn_durable(&self) -> u64 {
        // Before the log is open (during the rebuild of the free space) nothing is dirty.
        self.wal.get().map_or(u64::MAX, |wal| wal.lsn_durable().0)
    }

    fn request_durable(&self, _lsn: u64) {
        if let Some(wal) = self.wal.get() {
            let _ = wal.flush(); // a failure is sticky in the log and reported by the next commit
        }
    }
}

impl Db {
    /// Opens the database in directory `path` (created if missing) on the real file system.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let disk = RealDisk::new(DiskOptions {
            io_mode: options.io,
            direct_io: options.direct_io,
            ..DiskOptions::default()
        });
        Self::open_on(Arc::new(disk), path, options)
    }

    /// Opens the database in directory `path` of `disk` (a [`disk::SimDisk`] for tests and
    /// crash exploration).
    pub fn open_on(disk: Arc<dyn Disk>, path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let path = path.as_ref().to_path_buf();
        disk.create_dir_all(&path)?;
        let lock_path = path.join(LOCK_FILE_NAME);
        let lock = disk.lock(&lock_path).map_err(|error| match error {
            disk::Error::Locked { path } => Error::Locked { path },
            other => Error::Disk(other),
        })?;
        let data_path = path.join(DATA_FILE_NAME);
        let data = disk.open(&data_path, OpenOptions { create: true, ..OpenOptions::default() })?;
        disk.sync_dir(&path)?;
        let header = match read_header(&*data)? {
            Some(header) => check_page_size(header, &options, &data_path)?,
            None => create(&*data, &options)?,
        };
        let page_bytes = header.page_bytes as usize;
        let log_rule = Arc::new(LogRule::default());
        let pool_options = PoolOptions {
            pool_bytes: options.pool_size,
            page_bytes,
            background_writer: options.pool_background_writer,
            ..PoolOptions::default()
        };
        let pool = Arc::new(BufferPool::open(Arc::clone(&data), pool_options, log_rule.clone())?);
        let first_page = first_tree_page(page_bytes);
        let tree = Tree::new(
            pool,
            header.root_page,
            header.epoch,
            FreeSpace::new(first_page, header.page_count, []),
        );
        // The checkpoint recorded its free pages; its list's own pages stay in use until the
        // next checkpoint is durable.
        let (free, free_list_pages) = tree.read_free_list(
            header.free_list_page,
            header.epoch,
            first_page,
            header.page_count,
        )?;
        *tree.space().lock() = FreeSpace::new(first_page, header.page_count, free);
        tree.check_root()?;
        let wal_directory = path.join(WAL_DIRECTORY_NAME);
        let wal_options = WalOptions {
            segment_bytes: options.wal_segment_bytes,
            ..wal_options(&*disk, &wal_directory, options.wal_flush)?
        };
        let (wal, records) = Wal::open(disk, &wal_directory, wal_options, Lsn(header.redo_lsn))?;
        let replayed_any = !records.is_empty();
        let wal = Arc::new(wal);
        log_rule.wal.set(Arc::clone(&wal)).expect("set once");
        let last_ts = replay(&tree, header.commit_ts, records)?;
        let inner = Inner {
            path,
            options: options.clone(),
            _lock: lock,
            data,
            tree,
            tree_latch: TreeLatch::default(),
            wal,
            versions: VersionStore::default(),
            commit: Mutex::new(CommitState { last_ts, ..CommitState::default() }),
            visible_ts: AtomicU64::new(last_ts),
            active: Mutex::new(BTreeMap::new()),
            checkpoint_redo_lsn: AtomicU64::new(header.redo_lsn),
            checkpoint: Mutex::new(CheckpointState { sequence: header.sequence, free_list_pages }),
            checkpointer: OnceLock::new(),
            failure: OnceLock::new(),
            counters: Counters::default(),
        };
        let inner = Arc::new(inner);
        let flusher = (options.durability == Durability::Eventual).then(|| start_flusher(&inner));
        let checkpointer = options.background_checkpoints.then(|| start_checkpointer(&inner));
        let db = Db { inner, flusher, checkpointer };
        if replayed_any {
            // The replayed commits are in the tree now; a checkpoint lets the log go.
            db.checkpoint()?;
        }
        Ok(db)
    }

    /// The value of `key`, as of now.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // One key read once needs no registered snapshot: whatever commit it sees committed
        // before the read returned (a newer one than `read_ts`, if a collection dropped the
        // versions in between, is still a linearizable answer).
        let read_ts = self.inner.visible_ts.load(Ordering::Acquire);
        self.inner.read_at(key, read_ts)
    }

    /// Sets `key` to `value` in a transaction of its own.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut transaction = self.begin()?;
        transaction.put(key, value)?;
        transaction.commit()
    }

    /// Deletes `key` in a transaction of its own.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut transaction = self.begin()?;
        transaction.delete(key)?;
        transaction.commit()
    }

    /// A read-write transaction: serializable; dropped without `commit`, it rolls back.
    pub fn begin(&self) -> Result<Transaction<'_>> {
        self.inner.check_failure()?;
        let registration = self.inner.register_reader();
        Ok(Transaction {
            db: &self.inner,
            registration,
            writes: BTreeMap::new(),
            read_keys: Vec::new(),
            read_ranges: Vec::new(),
        })
    }

    /// A read-only view of the database as of now, consistent, never blocking writers.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        Ok(Snapshot { db: &self.inner, registration: self.inner.register_reader() })
    }

    /// Writes every change so far into the data file and lets the log before it go: after a
    /// crash, recovery replays only what came after.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.checkpoint()
    }

    /// Counters of the database, its pool and its log.
    pub fn stats(&self) -> DbStats {
        let inner = &*self.inner;
        DbStats {
            commits: inner.counters.commits.load(Ordering::Relaxed),
            conflicts: inner.counters.conflicts.load(Ordering::Relaxed),
            checkpoints: inner.counters.checkpoints.load(Ordering::Relaxed),
            log_bytes_since_checkpoint: inner.log_bytes_since_checkpoint(),
            version_chains: inner.versions.chain_count(),
            free_pages: inner.tree.space().lock().free_count(),
            pool: inner.tree.pool().stats(),
            wal: inner.wal.stats(),
        }
    }

    /// Checks the whole database: the log from the last checkpoint on (read back as recovery
    /// would, every record decoded), every tree page's checksum and structure, key order across
    /// leaves, and that every page of the file is used by the tree or listed free, once.
    pub fn check(&self) -> Result<CheckReport> {
        self.inner.check()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        for worker in [self.flusher.take(), self.checkpointer.take()].into_iter().flatten() {
            worker.stop();
        }
        // A clean close makes every acknowledged commit durable, whatever the durability mode.
        let _ = self.inner.wal.flush();
    }
}

/// A read-write transaction.
#[derive(Debug)]
pub struct Transaction<'db> {
    db: &'db Inner,
    registration: Registration<'db>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    read_keys: Vec<Vec<u8>>,
    read_ranges: Vec<KeyRange>,
}

impl Transaction<'_> {
    /// The value of `key`: this transaction's own write, else the database as of its start.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.writes.get(key) {
            return Ok(value.clone());
        }
        self.read_keys.push(key.to_vec());
        self.db.read_at(key, self.registration.read_ts)
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        if value.len() > VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge { value_bytes: value.len(), limit: VALUE_BYTES_MAX });
        }
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    /// The entries with keys in `range`, in order (the iterator is double-ended): the database
    /// as of the transaction's start, with its own writes over it. Entries are read a leaf at a
    /// time as the iterator advances from the front (iterating from the back reads the rest).
    pub fn range<'k, R: RangeBounds<&'k [u8]>>(&mut self, range: R) -> Result<Range<'_>> {
        let bounds = owned_bounds(&range);
        self.read_ranges.push(bounds.clone());
        Ok(Range::new(self.db, self.registration.read_ts, bounds, Some(&self.writes)))
    }

    /// Commits: all of the transaction's writes or none, serializable, durable on return with
    /// [`Durability::Immediate`]. [`Error::Conflict`] if something it read changed since it
    /// began (nothing is written; retry it).
    pub fn commit(self) -> Result<()> {
        let writes: Vec<Write> = self.writes.into_iter().collect();
        self.db.commit(self.registration, writes, &self.read_keys, &self.read_ranges)
    }
}

/// A consistent read-only view.
#[derive(Debug)]
pub struct Snapshot<'db> {
    db: &'db Inner,
    registration: Registration<'db>,
}

impl Snapshot<'_> {
    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.read_at(key, self.registration.read_ts)
    }

    /// The entries with keys in `range` as of the snapshot, in order (double-ended), read a
    /// leaf at a time as the iterator advances from the front.
    pub fn range<'k, R: RangeBounds<&'k [u8]>>(&self, range: R) -> Result<Range<'_>> {
        Ok(Range::new(self.db, self.registration.read_ts, owned_bounds(&range), None))
    }
}

/// The entries of a range, in key order; iterate from either end. The front reads one leaf
/// of the tree at a time (prefetching the next leaves); the first step from the back reads
/// whatever the front has not.
#[derive(Debug)]
pub struct Range<'a> {
    db: &'a Inner,
    read_ts: Timestamp,
    /// A transaction's own writes, laid over what it reads.
    writes: Option<&'a BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Where the next chunk starts (`None`: everything is loaded).
    next_start: Option<Bound<Vec<u8>>>,
    end: Bound<Vec<u8>>,
    loaded: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    failed: bool,
}

impl<'a> Range<'a> {
    fn new(
        db: &'a Inner,
        read_ts: Timestamp,
        bounds: KeyRange,
        writes: Option<&'a BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    ) -> Self {
        let (start, end) = bounds;
        Self {
            db,
            read_ts,
            writes,
            next_start: Some(start),
            end,
            loaded: Default::default(),
            failed: false,
        }
    }

    /// Loads the next leaf's worth of entries; `Ok(false)` once everything is loaded.
    fn load_chunk(&mut self) -> Result<bool> {
        let Some(start) = self.next_start.take() else { return Ok(false) };
        let chunk =
            self.db.range_chunk(borrowed_bound(&start), borrowed_bound(&self.end), self.read_ts)?;
        let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = chunk.entries.into_iter().collect();
        if let Some(writes) = self.writes {
            // The chunk covers keys from `start` up to (not including) its next start.
            let chunk_end = chunk
                .next_start
                .as_ref()
                .map_or(borrowed_bound(&self.end), |next| Bound::Excluded(next.as_slice()));
            for (key, value) in writes.range::<[u8], _>((borrowed_bound(&start), chunk_end)) {
                match value {
                    Some(value) => entries.insert(key.clone(), value.clone()),
                    None => entries.remove(key),
                };
            }
        }
        self.loaded.extend(entries);
        self.next_start = chunk.next_start.map(Bound::Included);
        Ok(true)
    }

    fn fail(&mut self, error: Error) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        self.failed = true;
        self.loaded.clear();
        Some(Err(error))
    }
}

impl Iterator for Range<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            if let Some(entry) = self.loaded.pop_front() {
                return Some(Ok(entry));
            }
            match self.load_chunk() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => return self.fail(error),
            }
        }
        None
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        while !self.failed {
            match self.load_chunk() {
                Ok(true) => {}
                Ok(false) => return self.loaded.pop_back().map(Ok),
                Err(error) => return self.fail(error),
            }
        }
        None
    }
}

/// A live reader's timestamp, unregistered on drop.
#[derive(Debug)]
struct Registration<'db> {
    db: &'db Inner,
    read_ts: Timestamp,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut active = self.db.active.lock();
        if let Some(count) = active.get_mut(&self.read_ts) {
            *count -= 1;
            if *count == 0 {
                active.remove(&self.read_ts);
            }
        }
    }
}

impl Inner {
    fn check_failure(&self) -> Result<()> {
        match self.failure.get() {
            Some(reason) => Err(Error::Failed { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// Refuses changes from now on; returns the error to report.
    fn fail(&self, error: Error) -> Error {
        let reason = self.failure.get_or_init(|| error.to_string());
        Error::Failed { reason: reason.clone() }
    }

    fn register_reader(&self) -> Registration<'_> {
        let mut active = self.active.lock();
        // Under the registry's lock, so a collection never runs between reading the timestamp
        // and registering it.
        let read_ts = self.visible_ts.load(Ordering::Acquire);
        *active.entry(read_ts).or_insert(0) += 1;
        Registration { db: self, read_ts }
    }

    fn read_at(&self, key: &[u8], read_ts: Timestamp) -> Result<Option<Vec<u8>>> {
        match self.versions.read(key, read_ts) {
            Lookup::Found(value) => Ok(value.map(|bytes| bytes.to_vec())),
            Lookup::Tree => {
                let tree_value = self.read_tree(key)?;
                Ok(self.versions.read_after_tree(key, read_ts, tree_value))
            }
        }
    }

    /// `key`'s value in the tree, read optimistically and validated against the tree latch
    /// (see `tree_latch.rs`); after a few attempts that a change overlapped, or while a change
    /// runs, read holding the latch shared, which waits for the change to end.
    fn read_tree(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        for _ in 0..TREE_OPTIMISTIC_ATTEMPT_MAX {
            let Some(token) = self.tree_latch.optimistic() else { break };
            let result = self.tree.get_optimistic(key);
            if self.tree_latch.validate(token) {
                return result;
            }
        }
        let _shared = self.tree_latch.read();
        self.tree.get(key)
    }

    /// The entries of a few leaves' key interval within (`start`, `end`) as of `read_ts` — the
    /// tree's, then the version store's over them (read after the tree, under the same shared
    /// hold of the tree latch) — and where the next interval starts.
    fn range_chunk(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        read_ts: Timestamp,
    ) -> Result<ScanChunk> {
        // The store is read under the same shared hold as the tree: an applier changes the tree
        // and forgets the chains it no longer needs under the exclusive hold, so a version that
        // was not yet in the tree when the leaf was read cannot have lost its chain by the time
        // the store is read (the scan would then keep the tree's older value).
        let (chunk, versions) = {
            let _shared = self.tree_latch.read();
            let chunk = self.tree.scan_leaf(start, end)?;
            let chunk_end =
                chunk.next_start.as_ref().map_or(end, |next| Bound::Excluded(next.as_slice()));
            let versions = self.versions.read_range((start, chunk_end), read_ts);
            (chunk, versions)
        };
        let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = chunk.entries.into_iter().collect();
        for (key, lookup) in versions {
            match lookup {
                Lookup::Found(Some(value)) => {
                    entries.insert(key, value.to_vec());
                }
                Lookup::Found(None) => {
                    entries.remove(&key);
                }
                Lookup::Tree => {}
            }
        }
        Ok(ScanChunk { entries: entries.into_iter().collect(), next_start: chunk.next_start })
    }

    /// Commits a transaction that read at `registration`'s timestamp. The registration is
    /// held through validation, so that no collection forgets a version validation must see,
    /// and dropped right after the critical section: the transaction reads nothing more, and
    /// once it is gone, applying its writes can forget their chains at once (the store stays
    /// empty without long-lived readers, and reads go straight to the tree).
    fn commit(
        &self,
        registration: Registration<'_>,
        writes: Vec<Write>,
        read_keys: &[Vec<u8>],
        read_ranges: &[KeyRange],
    ) -> Result<()> {
        self.check_failure()?;
        if writes.is_empty() {
            return Ok(()); // read-only: serialized at its start
        }
        let start_ts = registration.read_ts;
        let (first_lsn, lsn_end) = {
            let mut state = self.commit.lock();
            self.check_failure()?;
            if self.versions.changed_since(read_keys, read_ranges, start_ts) {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Conflict);
            }
            let commit_ts = state.last_ts + 1;
            let (first_lsn, lsn_end) = self.log_commit(commit_ts, &writes)?;
            let versions: Vec<(Vec<u8>, Value)> = writes
                .iter()
                .map(|(key, value)| (key.clone(), value.as_deref().map(Arc::from)))
                .collect();
            self.versions.publish(commit_ts, &versions);
            state.last_ts = commit_ts;
            state.unapplied.insert(first_lsn, commit_ts);
            self.visible_ts.store(commit_ts, Ordering::Release);
            (first_lsn, lsn_end)
        };
        drop(registration);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.apply(&writes, lsn_end) {
            return Err(self.fail(error));
        }
        self.commit.lock().unapplied.remove(&first_lsn);
        if self.options.durability == Durability::Immediate && !planted::active(Bug::SkipWalFlush) {
            self.wal.wait_durable(Lsn(lsn_end)).map_err(|error| self.fail(error.into()))?;
        }
        self.after_commit()
    }

    /// Appends a commit's records; returns its first LSN and the LSN after its last record.
    fn log_commit(&self, commit_ts: Timestamp, writes: &[Write]) -> Result<(u64, u64)> {
        let payloads = commit_record::encode(commit_ts, writes);
        let last = payloads.len() - 1;
        let mut first_lsn = None;
        let mut lsn_end = 0;
        for (index, payload) in payloads.iter().enumerate() {
            let tag = if index == last { TAG_COMMIT } else { TAG_PART };
            // A failed append leaves the log refusing appends (sticky): so does the database.
            let appended =
                self.wal.append(tag, payload).map_err(|error| self.fail(error.into()))?;
            first_lsn.get_or_insert(appended.lsn.0);
            lsn_end = appended.lsn_end.0;
        }
        Ok((first_lsn.expect("at least one record"), lsn_end))
    }

    /// Gives the newest version of each written key to the tree.
    fn apply(&self, writes: &[Write], lsn: u64) -> Result<()> {
        {
            // Take the misses first, under the shared lock, so that the exclusive hold below
            // rarely waits for the device.
            let _shared = self.tree_latch.read();
            self.tree.warm(writes.iter().map(|(key, _)| key.as_slice()))?;
        }
        let _exclusive = self.tree_latch.write();
        let horizon = self.collection_horizon();
        for (key, _) in writes {
            if let Some(version) = self.versions.to_apply(key) {
                let old = self.tree.apply(key, version.value.as_deref(), lsn)?;
                self.versions.mark_applied(key, version.ts, old.map(Arc::from));
                self.versions.forget_if_unneeded(key, horizon);
            }
        }
        Ok(())
    }

    /// The oldest timestamp a live reader reads at (or the newest visible one): versions no
    /// newer than it that the tree holds are needed by nobody.
    fn collection_horizon(&self) -> Timestamp {
        let active = self.active.lock();
        let oldest = active.keys().next().copied();
        oldest.unwrap_or_else(|| self.visible_ts.load(Ordering::Acquire))
    }

    fn after_commit(&self) -> Result<()> {
        // Every so many commits, without another pass through the commit lock (two committers
        // may both see a multiple, or a collection be skipped: either is harmless).
        if self.counters.commits.load(Ordering::Relaxed) % GARBAGE_COLLECTION_COMMIT_INTERVAL == 0 {
            self.versions.collect_garbage(self.collection_horizon());
        }
        let limit = self.options.checkpoint_wal_bytes;
        let behind = self.log_bytes_since_checkpoint();
        if behind < limit {
            return Ok(());
        }
        match self.checkpointer.get() {
            Some(checkpointer) if behind < limit.saturating_mul(2) => checkpointer.unpark(),
            Some(checkpointer) => {
                // The background checkpoint fell behind: wait for the one running, then run
                // the next here if the log is still over the limit.
                checkpointer.unpark();
                let checkpoint = self.checkpoint.lock();
                if self.log_bytes_since_checkpoint() >= limit {
                    self.checkpoint_holding(checkpoint)?;
                }
            }
            // One committer runs it; the others carry on instead of queueing for a second one.
            None => {
                if let Some(checkpoint) = self.checkpoint.try_lock() {
                    self.checkpoint_holding(checkpoint)?;
                }
            }
        }
        Ok(())
    }

    /// Log bytes written since the last checkpoint's redo point: what recovery would replay.
    fn log_bytes_since_checkpoint(&self) -> u64 {
        let redo_lsn = self.checkpoint_redo_lsn.load(Ordering::Acquire);
        self.wal.lsn_next().0.saturating_sub(redo_lsn)
    }

    fn checkpoint(&self) -> Result<()> {
        self.checkpoint_holding(self.checkpoint.lock())
    }

    fn checkpoint_holding(
        &self,
        mut checkpoint: parking_lot::MutexGuard<'_, CheckpointState>,
    ) -> Result<()> {
        self.check_failure()?;
        let (frozen_epoch, root, page_count, redo_lsn, commit_ts, free_list) = {
            let _exclusive = self.tree_latch.write();
            let state = self.commit.lock();
            let frozen_epoch = self.tree.freeze();
            let redo_lsn = state.unapplied.keys().next().copied().unwrap_or(self.wal.lsn_next().0);
            let free_list = self.record_free_space(frozen_epoch, &checkpoint.free_list_pages);
            let page_count = self.tree.space().lock().page_count();
            (frozen_epoch, self.tree.root(), page_count, redo_lsn, state.last_ts, free_list)
        };
        // Cut the free pages of the checkpoint's view into runs only now, with the tree latch
        // let go: with millions of free pages this is the long part, and the view is a copy
        // that what later commits allocate and free does not change.
        let (list_pages, view) = free_list;
        let runs = free_list::runs_of(view.iter());
        drop(view);
        let result = (|| {
            // The list's pages are new pages of the pool, written with the epoch's.
            let free_list_page = self.tree.write_free_list(frozen_epoch, &list_pages, &runs)?;
            // The tree may hold commits not yet durable (Eventual, None): make them durable
            // before a checkpoint names them.
            self.wal.flush()?;
            planted::unless(Bug::SkipCheckpointFlush, || self.tree.pool().flush_dirty())?;
            // Read back what the epoch wrote before a header names it: a page write the device
            // lost or put elsewhere leaves an older, valid-looking image (docs/DURABILITY.md).
            self.tree.pool().verify_writes()?;
            let header = Header {
                page_bytes: u32::try_from(self.tree.pool().page_bytes()).expect("a page size"),
                sequence: checkpoint.sequence + 1,
                epoch: frozen_epoch,
                root_page: root,
                free_list_page,
                page_count,
                redo_lsn,
                commit_ts,
            };
            write_header(&*self.data, &header)?;
            Ok::<_, Error>(header)
        })();
        let header = result.map_err(|error| self.fail(error))?;
        checkpoint.sequence = header.sequence;
        checkpoint.free_list_pages = list_pages;
        self.checkpoint_redo_lsn.store(redo_lsn, Ordering::Release);
        self.tree.space().lock().checkpoint_durable(frozen_epoch);
        self.wal.release_before(Lsn(redo_lsn)).map_err(|error| self.fail(error.into()))?;
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// What the checkpoint of `frozen_epoch` records of the free space, taken while the epoch
    /// is frozen (the caller holds the tree latch): the pages to write the list on, taken from
    /// the free space here, and the pages free in the checkpoint's view without them, as a copy
    /// to cut into runs once the latch is let go. The previous checkpoint's list pages
    /// (`old_list_pages`) are free in this checkpoint's view. This does not list the free
    /// pages: see `free_list::take_list_pages` for what it costs.
    fn record_free_space(&self, frozen_epoch: u64, old_list_pages: &[u64]) -> (Vec<u64>, PageSet) {
        let body_bytes = self.tree.pool().page_bytes() - bufferpool::PAGE_HEADER_BYTES;
        let mut space = self.tree.space().lock();
        for &page in old_list_pages {
            space.release_after(page, frozen_epoch);
        }
        free_list::take_list_pages(&mut space, frozen_epoch, body_bytes)
    }

    fn check(&self) -> Result<CheckReport> {
        let (log_records, log_commits) = self.check_log()?;
        // In the checkpoint lock's order: the checkpoint lock, then the tree latch.
        let checkpoint = self.checkpoint.lock();
        let _exclusive = self.tree_latch.write();
        self.versions.check_invariants();
        let shape = self.tree.shape()?;
        let reachable = &shape.pages;
        let corrupt = |reason: String| Error::Corruption {
            path: self.data.path().to_path_buf(),
            what: "tree".into(),
            reason,
        };
        let mut key_count = 0u64;
        let mut previous: Option<Vec<u8>> = None;
        let mut start: Bound<Vec<u8>> = Bound::Unbounded;
        loop {
            let chunk = self.tree.scan_leaf(borrowed_bound(&start), Bound::Unbounded)?;
            for (key, _) in &chunk.entries {
                if previous.as_ref().is_some_and(|previous| previous >= key) {
                    return Err(corrupt(format!("keys out of order at {key:?}")));
                }
                previous = Some(key.clone());
                key_count += 1;
            }
            match chunk.next_start {
                Some(next) => start = Bound::Included(next),
                None => break,
            }
        }
        let space = self.tree.space().lock();
        let free = space.free_as_of_checkpoint(u64::MAX);
        let first_page = first_tree_page(self.tree.pool().page_bytes());
        let mut seen = vec![false; usize::try_from(space.page_count()).unwrap_or(0)];
        for page in reachable.iter().chain(&free).chain(&checkpoint.free_list_pages) {
            let index = usize::try_from(*page).unwrap_or(usize::MAX);
            if *page < first_page
                || index >= seen.len()
                || std::mem::replace(&mut seen[index], true)
            {
                return Err(corrupt(format!("page {page} is used twice, or outside the file")));
            }
        }
        let unaccounted = seen
            .iter()
            .skip(usize::try_from(first_page).unwrap_or(0))
            .filter(|used| !**used)
            .count();
        if unaccounted != 0 {
            return Err(corrupt(format!("{unaccounted} pages are neither in the tree nor free")));
        }
        Ok(CheckReport {
            key_count,
            tree_pages: reachable.len() as u64,
            levels: shape.levels,
            overflow_pages: shape.overflow_pages,
            free_pages: free.len() as u64,
            page_count: space.page_count(),
            log_records,
            log_commits,
        })
    }

    /// Reads the log back from the last checkpoint's redo point as recovery would after a crash
    /// now, and decodes every commit in it: (records, commits). Holds the checkpoint lock, so no
    /// segment is released while it is read.
    fn check_log(&self) -> Result<(u64, u64)> {
        let _checkpoint = self.checkpoint.lock();
        let redo_lsn = self.checkpoint_redo_lsn.load(Ordering::Acquire);
        let mut decoder = Decoder::default();
        let (mut records, mut commits) = (0u64, 0u64);
        for record in self.wal.verify(Lsn(redo_lsn))? {
            let record = record?;
            let commit =
                decoder.feed(record.tag, &record.payload).map_err(|reason| Error::Corruption {
                    path: self.path.join(WAL_DIRECTORY_NAME),
                    what: format!("log record at LSN {}", record.lsn.0),
                    reason,
                })?;
            records += 1;
            commits += u64::from(commit.is_some());
        }
        Ok((records, commits))
    }
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > KEY_BYTES_MAX {
        return Err(Error::KeyLength { key_bytes: key.len(), limit: KEY_BYTES_MAX });
    }
    Ok(())
}

fn owned_bounds<'k, R: RangeBounds<&'k [u8]>>(range: &R) -> KeyRange {
    let own = |bound: Bound<&&[u8]>| bound.map(|key| key.to_vec());
    (own(range.start_bound()), own(range.end_bound()))
}

fn borrowed_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The first page the tree may use: the pages after the two header slots.
fn first_tree_page(page_bytes: usize) -> u64 {
    ((SLOT_COUNT * SLOT_BYTES).div_ceil(page_bytes)) as u64
}

/// Reads both header slots and picks the current header (`None`: a new database).
fn read_header(data: &dyn File) -> Result<Option<Header>> {
    let size_bytes = data.size_bytes()?;
    let mut slots = [vec![0u8; SLOT_BYTES], vec![0u8; SLOT_BYTES]];
    for (index, slot) in slots.iter_mut().enumerate() {
        let offset = (index * SLOT_BYTES) as u64;
        if size_bytes >= offset + SLOT_BYTES as u64 {
            let mut buffer = AlignedBuf::for_alignment(SLOT_BYTES, data.info().alignment);
            data.read_at(&mut buffer[..SLOT_BYTES], offset)?;
            slot.copy_from_slice(&buffer[..SLOT_BYTES]);
        }
    }
    header::choose(data.path(), [&slots[0], &slots[1]])
}

fn check_page_size(header: Header, options: &Options, path: &Path) -> Result<Header> {
    if header.page_bytes as usize != options.page_size {
        return Err(Error::InvalidOptions {
            reason: format!(
                "{} has {}-byte pages; it was opened with page_size {}",
                path.display(),
                header.page_bytes,
                options.page_size
            ),
        });
    }
    Ok(header)
}

/// Writes the first header of a new database and makes it durable.
fn create(data: &dyn File, options: &Options) -> Result<Header> {
    let page_bytes = options.page_size;
    if !page_bytes.is_power_of_two()
        || !(bufferpool::PAGE_BYTES_MIN..=bufferpool::PAGE_BYTES_MAX).contains(&page_bytes)
    {
        return Err(Error::InvalidOptions {
            reason: format!("page_size {page_bytes} is not a power of two from 4096 to 65536"),
        });
    }
    let header = Header {
        page_bytes: u32::try_from(page_bytes).expect("checked"),
        sequence: 1,
        epoch: 0,
        root_page: 0,
        free_list_page: 0,
        page_count: first_tree_page(page_bytes),
        redo_lsn: 0,
        commit_ts: 0,
    };
    write_header(data, &header)?;
    Ok(header)
}

fn write_header(data: &dyn File, header: &Header) -> Result<()> {
    let buffer =
        AlignedBuf::from_slice_padded(&header.encode(), data.info().alignment.buffer_align_bytes());
    data.write_at(&buffer[..SLOT_BYTES], (header.slot_index() * SLOT_BYTES) as u64)?;
    data.sync_data()?;
    Ok(())
}

fn wal_options(disk: &dyn Disk, directory: &Path, flush: WalFlush) -> Result<WalOptions> {
    match flush {
        WalFlush::Forced(flush_method) => Ok(WalOptions {
            flush_method,
            flush_reason: format!("forced by the options: {flush_method:?}"),
            ..WalOptions::default()
        }),
        WalFlush::Auto => {
            disk.create_dir_all(directory)?;
            // A directory that is not on a real device (a simulated disk) keeps the default,
            // which is correct on every device.
            Ok(WalOptions::probed(directory).unwrap_or_default())
        }
    }
}

/// Replays the log's commits into the tree; returns the newest commit timestamp. Records are
/// read from the log one at a time, so replay holds one commit's writes, not the log's.
fn replay(tree: &Tree, checkpoint_ts: Timestamp, records: wal::Replay) -> Result<Timestamp> {
    let mut decoder = Decoder::default();
    let mut last_ts = checkpoint_ts;
    for record in records {
        let record = record?;
        let commit =
            decoder.feed(record.tag, &record.payload).map_err(|reason| Error::Corruption {
                path: PathBuf::from(WAL_DIRECTORY_NAME),
                what: format!("log record at LSN {}", record.lsn.0),
                reason,
            })?;
        if let Some(commit) = commit {
            for (key, value) in &commit.writes {
                tree.apply(key, value.as_deref(), record.lsn.0)?;
            }
            last_ts = last_ts.max(commit.commit_ts);
        }
    }
    // Parts left over belong to a commit whose last record the crash cut: it never happened.
    Ok(last_ts)
}

/// The background checkpoint thread: sleeps until a committer wakes it, then checkpoints if
/// the log is over [`Options::checkpoint_wal_bytes`]. A failure is recorded as the database's
/// (`Inner::fail`), and the next operation reports it.
fn start_checkpointer(inner: &Arc<Inner>) -> Worker {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread_inner = Arc::clone(inner);
    let thread = std::thread::Builder::new()
        .name("directdb-checkpoint".into())
        .spawn(move || {
            let inner = thread_inner;
            loop {
                std::thread::park();
                if thread_stop.load(Ordering::Acquire) || inner.failure.get().is_some() {
                    break;
                }
                if inner.log_bytes_since_checkpoint() >= inner.options.checkpoint_wal_bytes
                    && let Some(checkpoint) = inner.checkpoint.try_lock()
                {
                    let _ = inner.checkpoint_holding(checkpoint);
                }
            }
        })
        .expect("spawning the checkpoint thread");
    inner.checkpointer.set(thread.thread().clone()).expect("set once");
    Worker { stop, thread }
}

fn start_flusher(inner: &Arc<Inner>) -> Worker {
    let stop = Arc::new(AtomicBool::new(false));
    let wal = Arc::clone(&inner.wal);
    let interval = Duration::from_millis(inner.options.eventual_flush_interval_ms.max(1));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("directdb-eventual-flush".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::Acquire) {
                std::thread::park_timeout(interval);
                let _ = wal.flush(); // a failure is sticky in the log; the next commit reports it
            }
        })
        .expect("spawning the eventual-durability flusher");
    Worker { stop, thread }
}

//! LMDB through `heed`: one environment in the store's directory (`data.mdb`, `lock.mdb`), its
//! unnamed database holding the records. LMDB maps the file and reads through the map; it has
//! one writer at a time (a mutex in the lock file) and readers that never block.

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, RwTxn};

use super::flusher::Flusher;
use super::{EngineFacts, Flush, PeerKind, failed};
use crate::bench::kv::{Store, Transaction, TransactionBody, Visit, visit_first};

/// The binding crate and its version in `Cargo.lock`.
pub(super) const CRATE_VERSION: (&str, &str) = ("heed", "0.23.1");

const KIND: PeerKind = PeerKind::Lmdb;

/// Bytes of the memory map, which is also the largest the file may grow. LMDB refuses a commit
/// past it (`MDB_MAP_FULL`), and growing the map needs every transaction closed, so it is set
/// once, far above anything the benchmark loads on this machine (the default suite's 200,000
/// records of 1000 bytes take well under 1 GiB). It costs address space only: the file grows as
/// pages are written (it is not preallocated without `MDB_WRITEMAP`), and a mapped page takes
/// memory only once it is read.
const MAP_BYTES: usize = 64 << 30;

/// What the environment is opened with besides the durability's flags, as the report says it.
///
/// `MDB_NORDAHEAD`, which LMDB documents for a database larger than memory, makes LMDB advise
/// the kernel that faults on the map are random (`madvise(MADV_RANDOM)`, as directdb's own mmap
/// mode does), so that a fault reads the one page it needs. Without it the kernel reads around
/// the faulting page as much as the device's `read_ahead_kb`, which is 8 MiB on this machine
/// kind's virtio disk: in a 128 MiB memory cgroup each B+tree descent that missed evicted a
/// sixteenth of the cache to hold pages no descent wanted. Measured on the load of 100,000
/// records of 1000 bytes (8 threads, LMDB 0.9.70, a 128 MiB limit): about 1,100 pages read per
/// major fault (500 MB/s read, the CPU in reclaim under `page_cache_ra_unbounded`), and the
/// load took 203 s (`Immediate`) and 174 s (`None`) where it took 6 s and 1 s without the limit.
/// With `MDB_NORDAHEAD` a fault reads 1.1 pages, and the same load takes 10 s and 4 s; the
/// default suite's 200,000 records (a 390 MiB file) 21-33 s and 7 s, against 13 s and 1.5 s
/// without the limit. It changes no durability: the flag only advises the kernel.
const OPEN_FLAGS: &str = "MDB_NORDAHEAD (a fault reads its page, not the device's read-ahead)";

/// Reader slots in the lock file: one per thread that reads (the read transactions use thread
/// local storage). LMDB's default of 126 would refuse the 127th benchmark thread.
const READERS_MAX: u32 = 1024;

/// An LMDB environment behind the benchmark's [`Store`].
pub(super) struct LmdbStore {
    /// Declared first so that it stops, and drops its clone of the environment, before `env`.
    flusher: Flusher,
    database: Database<'static, Bytes, Bytes>,
    env: Env,
}

impl LmdbStore {
    /// Opens (or creates) the environment in `directory`, which exists.
    pub(super) fn open(directory: &Path, flush: Flush) -> Result<Self, String> {
        let mut options = EnvOpenOptions::new();
        options.map_size(MAP_BYTES).max_readers(READERS_MAX);
        // SAFETY: `NO_READ_AHEAD` changes no durability or locking rule: LMDB only advises the
        // kernel that faults on the map are random (see [`OPEN_FLAGS`] for why).
        unsafe {
            options.flags(EnvFlags::NO_READ_AHEAD);
        }
        if flush != Flush::EveryCommit {
            // SAFETY: `NO_SYNC` is unsafe only in that a machine crash before the next sync may
            // lose commits, or on a file system that reorders writes corrupt the file: that is
            // the durability asked for (`Eventual` and `None`), and the module doc says so.
            unsafe {
                options.flags(EnvFlags::NO_SYNC);
            }
        }
        // SAFETY: the map is undefined behaviour only if the file changes under it other than
        // through LMDB. The benchmark gives each store a directory of its own that nothing else
        // writes; other LMDB users of it (none are expected) would be serialised by the lock
        // file. heed refuses a second open of the same environment in this process.
        let env = unsafe { options.open(directory) }.map_err(failed(KIND, "open"))?;
        let write = env.write_txn().map_err(failed(KIND, "begin the open"))?;
        let database = env
            .create_databases_and_commit(write, |opener, write| {
                opener
                    .create_database::<Bytes, Bytes>(write, None)
                    .map(heed::CommitOrAbort::<_, ()>::Commit)
            })
            .map_err(failed(KIND, "open the database"))?
            .commit()
            .ok_or_else(|| format!("{}: opening the database was aborted", KIND.name()))?;
        let flusher = Flusher::start(KIND, flush, {
            let env = env.clone();
            move || env.force_sync().map_err(failed(KIND, "background sync"))
        })?;
        Ok(LmdbStore { flusher, database, env })
    }
}

/// The LMDB library, the I/O path, and what [`LmdbStore::open`] does with `cache_bytes`.
pub(super) fn facts(cache_bytes: u64) -> EngineFacts {
    let library = heed::lmdb_version();
    let library = format!("LMDB {}.{}.{}", library.major, library.minor, library.patch);
    let cache = format!(
        "none of its own: the file is mapped and the kernel's page cache is the cache, bounded \
         only by the benchmark's cgroup ({cache_bytes} bytes asked, not applied); a map of {} \
         GiB, address space only; {OPEN_FLAGS}",
        MAP_BYTES >> 30
    );
    (Some(library), "mmap", cache)
}

/// What `flush` is in LMDB.
pub(super) fn durability(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => {
            "default flags: each commit flushes its pages (fdatasync) then writes the meta page \
             (O_DSYNC)"
        }
        Flush::Background => {
            "MDB_NOSYNC, and mdb_env_sync(force) every 10 ms from a background thread (a crash \
             may lose that window, and corrupt the file if the file system reorders writes)"
        }
        Flush::AtCheckpoint => {
            "MDB_NOSYNC; mdb_env_sync(force) at checkpoint (a crash may lose commits since, and \
             corrupt the file if the file system reorders writes)"
        }
    }
}

impl Store for LmdbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let read = self.env.read_txn().map_err(failed(KIND, "begin a read"))?;
        let value = self.database.get(&read, key).map_err(failed(KIND, "get"))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.transaction(&mut |transaction| transaction.put(key, value)).map(drop)
    }

    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let read = self.env.read_txn().map_err(failed(KIND, "begin a scan"))?;
        let bounds = (Bound::Included(start), Bound::Unbounded);
        let range = self.database.range(&read, &bounds).map_err(failed(KIND, "scan"))?;
        visit_first(range.map(|entry| entry.map_err(failed(KIND, "scan"))), count, visit)
    }

    /// One writer at a time: the body runs inside the write transaction, which nothing can
    /// invalidate, so there are never retries.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        self.flusher.check()?;
        let mut write = self.env.write_txn().map_err(failed(KIND, "begin a write"))?;
        let outcome = body(&mut LmdbTransaction { database: self.database, write: &mut write });
        match outcome {
            Ok(()) => write.commit().map_err(failed(KIND, "commit"))?,
            Err(error) => {
                write.abort();
                return Err(error);
            }
        }
        Ok(0)
    }

    fn checkpoint(&self) -> Result<(), String> {
        self.flusher.check()?;
        self.env.force_sync().map_err(failed(KIND, "checkpoint sync"))
    }
}

/// A transaction body's view of the write transaction.
struct LmdbTransaction<'store, 'write> {
    database: Database<'static, Bytes, Bytes>,
    write: &'write mut RwTxn<'store>,
}

impl Transaction for LmdbTransaction<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let value = self.database.get(self.write, key).map_err(failed(KIND, "get"))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.database.put(self.write, key, value).map_err(failed(KIND, "put"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel was told that faults on the map are random, whatever the durability: the
    /// mapping of `data.mdb` carries `rr` (`VM_RAND_READ`) in `/proc/self/smaps`. Without it a
    /// load under the benchmark's memory limit reads megabytes per fault (see [`OPEN_FLAGS`]).
    #[test]
    fn the_map_is_advised_random() {
        for flush in [Flush::EveryCommit, Flush::Background, Flush::AtCheckpoint] {
            let directory = tempfile::tempdir().unwrap();
            let store = LmdbStore::open(directory.path(), flush).unwrap();
            let flags = store.env.flags().unwrap().expect("flags heed knows");
            assert!(flags.contains(EnvFlags::NO_READ_AHEAD), "{flush:?}: {flags:?}");
            let data = directory.path().join("data.mdb").canonicalize().unwrap();
            let vm_flags = mapping_vm_flags(&data.to_string_lossy());
            assert!(vm_flags.split_whitespace().any(|flag| flag == "rr"), "{flush:?}: {vm_flags}");
        }
    }

    /// The `VmFlags` of this process's mapping of `path`.
    fn mapping_vm_flags(path: &str) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_mapping = false;
        for line in smaps.lines() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if in_mapping {
                    return flags.to_owned();
                }
            } else if line.split_whitespace().next().is_some_and(|first| !first.ends_with(':')) {
                // A mapping's header (address range, permissions, offset, device, inode, path),
                // where every other line is a `Name: value` field.
                in_mapping = line.ends_with(path);
            }
        }
        panic!("no mapping of {path} in /proc/self/smaps");
    }
}

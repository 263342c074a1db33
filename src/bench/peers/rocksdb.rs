//! RocksDB: an LSM-tree database in the store's directory (a write-ahead log, memtables, sorted
//! tables), opened as a `TransactionDB`: pessimistic transactions, which lock each key they read
//! (`get_for_update`, exclusive) or write until they commit, so that they are serializable
//! (strict two-phase locking; the store's transactions read and write single keys, never
//! ranges). A lock not granted within RocksDB's default 1 s, or a deadlock (detection is on),
//! fails the operation; the body is then rolled back and run again. Reads and writes go through
//! the kernel's page cache.
//!
//! Not an `OptimisticTransactionDB`, the nearer match to directdb and fjall: RocksDB 7.8 gives
//! it a table of 2^20 validation locks, allocated at open (measured: 60 MB of resident memory
//! before the first write, against 3 MB for a `TransactionDB`), which the C API cannot size and
//! which alone is more than the benchmark's whole default budget.
//!
//! Built with the cargo feature `peer-rocksdb`, linked to the system's `librocksdb` rather than
//! compiled (the README's dependency section has the measured build times); `rocksdb` 0.20 is
//! the binding nearest to Debian 12's 7.8.3.

use std::path::Path;
use std::sync::Arc;

use super::flusher::Flusher;
use super::{EngineFacts, Flush, PeerKind, PeerSettings, failed};
use crate::bench::kv::{
    Store, Transaction, TransactionBody, Visit, retry_until_committed, visit_first,
};
use ::rocksdb::{
    BlockBasedOptions, Cache, Direction, ErrorKind, IteratorMode, Options, TransactionDB,
    TransactionDBOptions, TransactionOptions, WriteBatchWithTransaction, WriteOptions,
};

/// The binding crate and its version in `Cargo.lock`.
pub(super) const CRATE_VERSION: (&str, &str) = ("rocksdb", "0.20.1");

/// The library the binding links: Debian 12's `librocksdb-dev` (the crate bundles 7.9.2, which
/// it does not build here; its bindings come from 7.8.3's header).
pub(super) const LIBRARY_VERSION: &str = "RocksDB 7.8.3, the system's librocksdb";

const KIND: PeerKind = PeerKind::Rocksdb;

/// Memtables one column family keeps at most: one filling while the other is written out to a
/// sorted table (RocksDB's default, set so that [`write_buffer_bytes`] can count on it).
const WRITE_BUFFER_COUNT_MAX: i32 = 2;

type Database = TransactionDB;

/// A RocksDB database behind the benchmark's [`Store`].
pub(super) struct RocksdbStore {
    /// Declared first so that it stops, and drops its handle, before the database's.
    flusher: Flusher,
    database: Arc<Database>,
    /// `sync` for `Immediate`; the WAL is on in every mode.
    write_options: WriteOptions,
    transaction_options: TransactionOptions,
}

impl RocksdbStore {
    /// Opens (or creates) the database in `directory`, which exists.
    pub(super) fn open(
        directory: &Path,
        settings: &PeerSettings,
        flush: Flush,
    ) -> Result<Self, String> {
        let options = options(settings)?;
        let database = Database::open(&options, &TransactionDBOptions::default(), directory)
            .map_err(failed(KIND, "open"))?;
        let database = Arc::new(database);
        let mut write_options = WriteOptions::default();
        // Each commit's log record is written to the kernel before it returns in every mode
        // (RocksDB's `manual_wal_flush` is off); `sync` adds an fdatasync of the log to it.
        write_options.set_sync(flush == Flush::EveryCommit);
        let mut transaction_options = TransactionOptions::default();
        transaction_options.set_deadlock_detect(true);
        let flusher = Flusher::start(KIND, flush, {
            let database = Arc::clone(&database);
            move || sync_wal(&database).map_err(failed(KIND, "background WAL sync"))
        })?;
        Ok(RocksdbStore { flusher, database, write_options, transaction_options })
    }

    /// Runs `body` once in a transaction and commits it; `Ok(false)` when it lost a lock.
    fn attempt(&self, body: &mut TransactionBody<'_>) -> Result<bool, String> {
        let write = self.database.transaction_opt(&self.write_options, &self.transaction_options);
        let mut transaction = RocksdbTransaction { write: &write, conflicted: false };
        let outcome = body(&mut transaction);
        // A lost lock means a lost race even if the body went on without the operation.
        if transaction.conflicted {
            write.rollback().map_err(failed(KIND, "rollback"))?;
            return Ok(false);
        }
        if let Err(error) = outcome {
            write.rollback().map_err(failed(KIND, "rollback"))?;
            return Err(error);
        }
        match write.commit() {
            Ok(()) => Ok(true),
            Err(error) if is_conflict(&error) => Ok(false),
            Err(error) => Err(failed(KIND, "commit")(error)),
        }
    }
}

/// An operation that lost to a concurrent transaction: a lock wait that timed out, or a
/// deadlock (`Busy`); `TryAgain` is RocksDB's word for a transient failure of the same kind.
fn is_conflict(error: &::rocksdb::Error) -> bool {
    matches!(error.kind(), ErrorKind::TimedOut | ErrorKind::Busy | ErrorKind::TryAgain)
}

/// Makes every commit so far durable: an empty write with `sync`, which RocksDB appends to the
/// WAL and `fdatasync`s, and with it every record before it (checked with strace: one 19-byte
/// write and one `fdatasync` of the log). The binding (0.20) has no `FlushWAL` for a
/// `TransactionDB`.
fn sync_wal(database: &Database) -> Result<(), ::rocksdb::Error> {
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    database.write_opt(WriteBatchWithTransaction::<true>::default(), &sync)
}

/// The database options: the budget split between the block cache and the memtables, the
/// rest RocksDB's defaults (two background jobs, Snappy-compressed sorted tables, no filters).
fn options(settings: &PeerSettings) -> Result<Options, String> {
    let cache_bytes = usize::try_from(settings.cache_bytes).map_err(|_| {
        format!("{}: a cache of {} bytes is more than memory", KIND.name(), settings.cache_bytes)
    })?;
    let write_buffer_bytes = usize::try_from(write_buffer_bytes(settings))
        .map_err(|_| format!("{}: the write buffer is more than memory", KIND.name()))?;
    let cache = Cache::new_lru_cache(cache_bytes).map_err(failed(KIND, "create the cache"))?;
    let mut table_options = BlockBasedOptions::default();
    table_options.set_block_cache(&cache);
    // Index and filter blocks are charged to the block cache, so that the tables' metadata
    // counts against the budget rather than growing beside it as the tables do; the level-0
    // ones, read by every lookup, stay pinned there.
    table_options.set_cache_index_and_filter_blocks(true);
    table_options.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_block_based_table_factory(&table_options);
    options.set_write_buffer_size(write_buffer_bytes);
    options.set_max_write_buffer_number(WRITE_BUFFER_COUNT_MAX);
    Ok(options)
}

/// Bytes of one memtable (`write_buffer_size`): as fjall's, half of what the budget leaves
/// beside the block cache, since at most [`WRITE_BUFFER_COUNT_MAX`] (two) exist at once; within
/// 1-64 MiB (RocksDB's default is 64 MiB, which two of would overrun the default 48 MiB
/// budget's limit by themselves).
pub(super) fn write_buffer_bytes(settings: &PeerSettings) -> u64 {
    const MIB: u64 = 1 << 20;
    const _: () = assert!(WRITE_BUFFER_COUNT_MAX == 2, "the half below assumes two memtables");
    (settings.budget_bytes.saturating_sub(settings.cache_bytes) / 2).clamp(MIB, 64 * MIB)
}

/// The library, the I/O path, and what [`RocksdbStore::open`] does with the settings' memory.
pub(super) fn facts(settings: &PeerSettings) -> EngineFacts {
    let cache = format!(
        "LRU block cache of {} bytes (BlockBasedOptions::set_block_cache), index and filter \
         blocks charged to it; memtables of up to {} bytes, two at most (write_buffer_size: \
         half of the budget beside the cache; max_write_buffer_number 2), and the kernel's page \
         cache (buffered I/O) on top",
        settings.cache_bytes,
        write_buffer_bytes(settings)
    );
    (Some(LIBRARY_VERSION.to_owned()), "buffered", cache)
}

/// What `flush` is in RocksDB.
pub(super) fn durability(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => {
            "WriteOptions::sync on each commit: the WAL is fdatasynced before it returns"
        }
        Flush::Background => {
            "WAL written to the kernel on each commit (no sync), and an empty sync write, which \
             fdatasyncs the WAL, every 10 ms from a background thread"
        }
        Flush::AtCheckpoint => {
            "WAL written to the kernel on each commit (no sync); an empty sync write at \
             checkpoint"
        }
    }
}

impl Store for RocksdbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.database.get(key).map_err(failed(KIND, "get"))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.transaction(&mut |transaction| transaction.put(key, value)).map(drop)
    }

    /// An iterator reads from the state at its creation, an implicit snapshot.
    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let records = self.database.iterator(IteratorMode::From(start, Direction::Forward));
        visit_first(records.map(|record| record.map_err(failed(KIND, "scan"))), count, visit)
    }

    /// A body that loses a lock (timeout or deadlock) is rolled back and runs again.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        self.flusher.check()?;
        retry_until_committed(KIND.name(), "conflicted", || self.attempt(body))
    }

    /// Syncs the WAL. The binding's `TransactionDB` has no way to flush the memtables to
    /// sorted tables (its background jobs do it as they fill), so a reopen may replay part of
    /// the WAL, as fjall's does its journal.
    fn checkpoint(&self) -> Result<(), String> {
        self.flusher.check()?;
        sync_wal(&self.database).map_err(failed(KIND, "checkpoint WAL sync"))
    }
}

/// A transaction body's view of the transaction, which remembers a lost lock so that the
/// body's error is taken for a lost race (run again) rather than a failure.
struct RocksdbTransaction<'write, 'database> {
    write: &'write ::rocksdb::Transaction<'database, Database>,
    conflicted: bool,
}

impl RocksdbTransaction<'_, '_> {
    fn note<T>(
        &mut self,
        operation: &'static str,
        result: Result<T, ::rocksdb::Error>,
    ) -> Result<T, String> {
        result.map_err(|error| {
            self.conflicted |= is_conflict(&error);
            failed(KIND, operation)(error)
        })
    }
}

impl Transaction for RocksdbTransaction<'_, '_> {
    /// `get_for_update`, exclusive: the key stays locked until the commit, so that no other
    /// transaction writes it in between (a plain `get` takes no lock and would let a lost
    /// update through). Exclusive rather than shared, since a read-modify-write would otherwise
    /// upgrade its lock and deadlock with another doing the same.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let result = self.write.get_for_update(key, true);
        self.note("get", result)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let result = self.write.put(key, value);
        self.note("put", result)
    }
}

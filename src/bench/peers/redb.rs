//! redb: one database file, `redb.redb`, in the store's directory, with one table of byte keys
//! and values. redb reads and writes the file through its own page cache (`pread`/`pwrite`); it
//! has one writer at a time and readers on snapshots that never block.

use std::path::Path;
use std::sync::Arc;

use super::flusher::Flusher;
use super::{EngineFacts, Flush, PeerKind, failed};
use crate::bench::kv::{Store, Transaction, TransactionBody, Visit};
use ::redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

/// The binding crate and its version in `Cargo.lock`.
pub(super) const CRATE_VERSION: (&str, &str) = ("redb", "4.5.0");

const KIND: PeerKind = PeerKind::Redb;

/// The database file in the store's directory.
const FILE_NAME: &str = "redb.redb";

/// The records.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

/// A redb database behind the benchmark's [`Store`].
pub(super) struct RedbStore {
    /// Declared first so that it stops, and drops its handle, before `database`.
    flusher: Flusher,
    database: Arc<Database>,
    /// The durability of the benchmark's commits (`None` for `Eventual` and `None`).
    durability: ::redb::Durability,
}

impl RedbStore {
    /// Opens (or creates) the database in `directory`, which exists.
    pub(super) fn open(directory: &Path, cache_bytes: u64, flush: Flush) -> Result<Self, String> {
        let cache_bytes = usize::try_from(cache_bytes).map_err(|_| {
            format!("{}: a cache of {cache_bytes} bytes is more than memory", KIND.name())
        })?;
        let database = ::redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(directory.join(FILE_NAME))
            .map_err(failed(KIND, "open"))?;
        let database = Arc::new(database);
        // The table exists from the open on, so that readers can open it before any write.
        let write = begin(&database, ::redb::Durability::Immediate)?;
        write.open_table(TABLE).map_err(failed(KIND, "create the table"))?;
        write.commit().map_err(failed(KIND, "commit the table"))?;
        let durability = match flush {
            Flush::EveryCommit => ::redb::Durability::Immediate,
            Flush::Background | Flush::AtCheckpoint => ::redb::Durability::None,
        };
        let flusher = Flusher::start(KIND, flush, {
            let database = Arc::clone(&database);
            move || commit_durably(&database)
        })?;
        Ok(RedbStore { flusher, database, durability })
    }
}

/// A write transaction of `database` that commits with `durability`.
fn begin(database: &Database, durability: ::redb::Durability) -> Result<WriteTransaction, String> {
    let mut write = database.begin_write().map_err(failed(KIND, "begin a write"))?;
    write.set_durability(durability).map_err(failed(KIND, "set the durability"))?;
    Ok(write)
}

/// Makes every commit so far durable: an empty commit with `Durability::Immediate`, which writes
/// and syncs what the non-durable commits before it left in memory.
fn commit_durably(database: &Database) -> Result<(), String> {
    let write = begin(database, ::redb::Durability::Immediate)?;
    write.commit().map_err(failed(KIND, "durable commit"))
}

/// The I/O path, and what [`RedbStore::open`] does with `cache_bytes`.
pub(super) fn facts(cache_bytes: u64) -> EngineFacts {
    let cache = format!(
        "Builder::set_cache_size({cache_bytes} bytes): redb's own page cache; the kernel's page \
         cache holds the file too (buffered I/O)"
    );
    (None, "buffered", cache)
}

/// What `flush` is in redb.
pub(super) fn durability(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => "Durability::Immediate: each commit fsyncs",
        Flush::Background => {
            "Durability::None commits, and an empty Durability::Immediate commit every 10 ms \
             from a background thread"
        }
        Flush::AtCheckpoint => {
            "Durability::None commits; an empty Durability::Immediate commit at checkpoint \
             (pages freed since the last durable commit are reused only after it)"
        }
    }
}

impl Store for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let read = self.database.begin_read().map_err(failed(KIND, "begin a read"))?;
        let table = read.open_table(TABLE).map_err(failed(KIND, "open the table"))?;
        let value = table.get(key).map_err(failed(KIND, "get"))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.transaction(&mut |transaction| transaction.put(key, value)).map(drop)
    }

    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let read = self.database.begin_read().map_err(failed(KIND, "begin a scan"))?;
        let table = read.open_table(TABLE).map_err(failed(KIND, "open the table"))?;
        let range = table.range(start..).map_err(failed(KIND, "scan"))?;
        let mut visited = 0;
        for entry in range.take(count) {
            let (key, value) = entry.map_err(failed(KIND, "scan"))?;
            visit(key.value(), value.value())?;
            visited += 1;
        }
        Ok(visited)
    }

    /// One writer at a time: the body runs inside the write transaction, which nothing can
    /// invalidate, so there are never retries.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        self.flusher.check()?;
        let write = begin(&self.database, self.durability)?;
        let outcome = {
            let table = write.open_table(TABLE).map_err(failed(KIND, "open the table"))?;
            body(&mut RedbTransaction { table })
        };
        match outcome {
            Ok(()) => write.commit().map_err(failed(KIND, "commit"))?,
            Err(error) => {
                write.abort().map_err(failed(KIND, "abort"))?;
                return Err(error);
            }
        }
        Ok(0)
    }

    fn checkpoint(&self) -> Result<(), String> {
        self.flusher.check()?;
        commit_durably(&self.database)
    }
}

/// A transaction body's view of the table inside the write transaction.
struct RedbTransaction<'write> {
    table: Table<'write, &'static [u8], &'static [u8]>,
}

impl Transaction for RedbTransaction<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let value = self.table.get(key).map_err(failed(KIND, "get"))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.table.insert(key, value).map(drop).map_err(failed(KIND, "put"))
    }
}

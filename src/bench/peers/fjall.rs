//! fjall: an LSM-tree database in the store's directory (a journal, memtables, sorted tables),
//! with one keyspace `kv`, opened for optimistic transactions: a transaction reads from a
//! snapshot and, at commit, fails with a conflict if a key it read was written since, and is
//! then run again, as in directdb. Reads and writes go through the kernel's page cache.

use std::path::Path;

use super::flusher::Flusher;
use super::{EngineFacts, Flush, PeerKind, failed};
use crate::bench::kv::{
    Store, Transaction, TransactionBody, Visit, retry_until_committed, visit_first,
};
use ::fjall::{
    KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, OptimisticWriteTx,
    PersistMode, Readable,
};

/// The binding crate and its version in `Cargo.lock`.
pub(super) const CRATE_VERSION: (&str, &str) = ("fjall", "3.1.13");

const KIND: PeerKind = PeerKind::Fjall;

/// The keyspace of the records.
const KEYSPACE: &str = "kv";

/// A fjall database behind the benchmark's [`Store`].
pub(super) struct FjallStore {
    /// Declared first so that it stops, and drops its handle, before the database's.
    flusher: Flusher,
    keyspace: OptimisticTxKeyspace,
    database: OptimisticTxDatabase,
    /// What each commit does to the journal.
    persist: PersistMode,
}

impl FjallStore {
    /// Opens (or creates) the database in `directory`, which exists.
    pub(super) fn open(
        directory: &Path,
        cache_bytes: u64,
        memtable_bytes: u64,
        flush: Flush,
    ) -> Result<Self, String> {
        let database = OptimisticTxDatabase::builder(directory)
            .cache_size(cache_bytes)
            .open()
            .map_err(failed(KIND, "open"))?;
        let keyspace = database
            .keyspace(KEYSPACE, || {
                KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes)
            })
            .map_err(failed(KIND, "open the keyspace"))?;
        // `Buffer` writes the journal to the kernel in each commit without syncing it: the
        // commit survives a crash of the process, not of the machine, until a sync.
        let persist = match flush {
            Flush::EveryCommit => PersistMode::SyncData,
            Flush::Background | Flush::AtCheckpoint => PersistMode::Buffer,
        };
        let flusher = Flusher::start(KIND, flush, {
            let database = database.clone();
            move || database.persist(PersistMode::SyncData).map_err(failed(KIND, "background sync"))
        })?;
        Ok(FjallStore { flusher, keyspace, database, persist })
    }

    /// Runs `body` once in a write transaction and commits it; `Ok(false)` on a conflict.
    fn attempt(&self, body: &mut TransactionBody<'_>) -> Result<bool, String> {
        let mut write = self
            .database
            .write_tx()
            .map_err(failed(KIND, "begin a write"))?
            .durability(Some(self.persist));
        if let Err(error) =
            body(&mut FjallTransaction { keyspace: &self.keyspace, write: &mut write })
        {
            write.rollback();
            return Err(error);
        }
        let committed = write.commit().map_err(failed(KIND, "commit"))?;
        Ok(committed.is_ok())
    }
}

/// Largest memtable, in bytes: half of what the budget leaves beside the block cache, since a
/// full memtable is kept while it is written out and the next one fills; within the 1-64 MiB
/// fjall accepts and recommends (8-64 MiB "depending on how much memory is available"). With
/// fjall's default of 64 MiB, the 200K-record load under the default 96 MiB limit was killed
/// by the cgroup (measured: memtables took up to 153 MiB without a limit); with 16 MiB it
/// loaded in 3.6 s, peaking at 64 MiB.
pub(super) fn memtable_bytes(settings: &super::PeerSettings) -> u64 {
    const MIB: u64 = 1 << 20;
    (settings.budget_bytes.saturating_sub(settings.cache_bytes) / 2).clamp(MIB, 64 * MIB)
}

/// The I/O path, and what [`FjallStore::open`] does with the settings' memory.
pub(super) fn facts(settings: &super::PeerSettings) -> EngineFacts {
    let cache = format!(
        "block cache of {} bytes (Builder::cache_size); memtables of up to {} bytes each \
         (max_memtable_size: half of the budget beside the cache), and the kernel's page cache \
         (buffered I/O) on top",
        settings.cache_bytes,
        memtable_bytes(settings)
    );
    (None, "buffered", cache)
}

/// What `flush` is in fjall.
pub(super) fn durability(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => {
            "PersistMode::SyncData on each commit: the journal is fdatasynced before it returns"
        }
        Flush::Background => {
            "PersistMode::Buffer on each commit (journal written to the kernel), and \
             persist(SyncData) every 10 ms from a background thread"
        }
        Flush::AtCheckpoint => "PersistMode::Buffer on each commit; persist(SyncAll) at checkpoint",
    }
}

impl Store for FjallStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let value = self.keyspace.get(key).map_err(failed(KIND, "get"))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.transaction(&mut |transaction| transaction.put(key, value)).map(drop)
    }

    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let snapshot = self.database.read_tx();
        let records = snapshot.range(&self.keyspace, start..);
        let records = records.map(|guard| guard.into_inner().map_err(failed(KIND, "scan")));
        visit_first(records, count, visit)
    }

    /// Optimistic: a body whose reads were overwritten by a commit since its snapshot loses at
    /// commit and runs again.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        self.flusher.check()?;
        retry_until_committed(KIND.name(), "conflicted", || self.attempt(body))
    }

    /// Syncs the journal. fjall's public API has no way to flush the memtables to tables (its
    /// background workers do it as they fill), so a reopen may replay part of the journal.
    fn checkpoint(&self) -> Result<(), String> {
        self.flusher.check()?;
        self.database.persist(PersistMode::SyncAll).map_err(failed(KIND, "checkpoint sync"))
    }
}

/// A transaction body's view of the write transaction.
struct FjallTransaction<'store, 'write> {
    keyspace: &'store OptimisticTxKeyspace,
    write: &'write mut OptimisticWriteTx,
}

impl Transaction for FjallTransaction<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let value = self.write.get(self.keyspace, key).map_err(failed(KIND, "get"))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.write.insert(self.keyspace, key, value);
        Ok(())
    }
}

//! Other engines behind the benchmark's [`Store`] trait, so that `bench ycsb` runs the same driver,
//! with the same key sequences, on directdb and on LMDB (`heed`), SQLite (`rusqlite`, bundled),
//! redb and fjall, side by side. Built only with the cargo feature `peers`; RocksDB (`rocksdb`,
//! linked to the system's `librocksdb`) also with the feature `peer-rocksdb`.
//!
//! Each engine is one file: [`lmdb`], [`sqlite`], [`redb`], [`fjall`], `rocksdb`; [`flusher`] is
//! the background thread behind their `Eventual` durability; `tests` checks the [`Store`] contract
//! on each. [`open`] creates or reopens a store in a directory; [`facts`] says, for the report,
//! what each setting became in that engine.
//!
//! # Durability
//!
//! What each [`Durability`] maps to. `Eventual` is directdb's bound: every commit durable within
//! [`engine::Options::eventual_flush_interval_ms`] (10 ms by default). No peer bounds it in time
//! on its own terms (LMDB and redb have no timer; SQLite's `synchronous=NORMAL` is durable at
//! the next checkpoint, fjall's buffered journal and RocksDB's unsynced WAL at the next sync),
//! so every peer gets the same
//! construction: no flush in the commit, and a [`flusher::Flusher`] thread that makes everything
//! durable every 10 ms.
//!
//! | engine | `Immediate` (durable before commit returns) | `Eventual` (durable within 10 ms) | `None` (durable at checkpoint) |
//! |---|---|---|---|
//! | LMDB | default flags: each commit flushes the data pages (`fdatasync`), then writes the meta page (`O_DSYNC`) | `MDB_NOSYNC`; the flusher calls `mdb_env_sync(force)` | `MDB_NOSYNC`; `mdb_env_sync(force)` at checkpoint |
//! | SQLite | WAL, `synchronous=FULL`: each commit `fsync`s the WAL | WAL, `synchronous=NORMAL`; the flusher runs `wal_checkpoint(PASSIVE)`, which syncs the WAL first | WAL, `synchronous=OFF`; `wal_checkpoint(TRUNCATE)` on a `FULL` connection at checkpoint |
//! | redb | `Durability::Immediate`: each commit `fsync`s | `Durability::None` commits; the flusher commits an empty `Immediate` transaction | `Durability::None`; an empty `Immediate` commit at checkpoint |
//! | fjall | `PersistMode::SyncData` on each commit: the journal is `fdatasync`ed | `PersistMode::Buffer` (journal written to the kernel); the flusher calls `persist(SyncData)` | `PersistMode::Buffer`; `persist(SyncAll)` at checkpoint |
//! | RocksDB | `WriteOptions::sync`: each commit `fdatasync`s the WAL | WAL written to the kernel, not synced; the flusher writes an empty batch with `sync`, which `fdatasync`s the WAL | WAL written to the kernel, not synced; an empty `sync` write at checkpoint |
//!
//! Where a peer is weaker than directdb, which loses a window of commits but never part of one:
//! LMDB with `MDB_NOSYNC` keeps its integrity after a machine crash only if the file system
//! preserves the order of writes (LMDB's own caveat); SQLite's bundled build `fsync`s where it
//! could `fdatasync` (it is compiled without `HAVE_FDATASYNC`), which on ext4 also commits the
//! inode's new times when the WAL did not grow; SQLite's passive checkpoint skips the sync while
//! a reader holds the frames it would copy, so its 10 ms bound holds only while readers keep up.
//!
//! # Memory
//!
//! `cache_bytes` goes to each engine's own cache: SQLite `cache_size` (per connection, with a
//! process-wide `soft_heap_limit` of the same size), redb `set_cache_size`, fjall's block cache
//! (its memtables share the rest of the budget: see `fjall::memtable_bytes`), RocksDB's LRU block
//! cache, which holds the index and filter blocks too (its memtables share the rest of the
//! budget as fjall's do: see `rocksdb::write_buffer_bytes`).
//! LMDB has none: it maps the file, and the kernel's page cache, bounded by the benchmark's
//! cgroup, is its cache; it is opened with `MDB_NORDAHEAD`, as LMDB advises for a database larger
//! than memory, since a fault's read-ahead thrashes the limited cache (`lmdb::OPEN_FLAGS` has
//! the numbers). [`PeerFacts::cache`] says how each engine applied it.
//!
//! # Transactions
//!
//! LMDB, redb and SQLite have one writer at a time: [`Store::transaction`] runs the body inside
//! the write transaction (serializable by construction) and reports no retries (SQLite counts a
//! `SQLITE_BUSY` at begin or commit as one). fjall's optimistic transactions check the keys read
//! against later commits and run the body again on a conflict, as directdb does. RocksDB's
//! transactions lock each key they read or write until they commit (its optimistic kind costs
//! 60 MB at open: see `rocksdb`), and run again when a lock wait times out or deadlocks.

mod fjall;
mod flusher;
mod lmdb;
mod redb;
#[cfg(feature = "peer-rocksdb")]
mod rocksdb;
mod sqlite;

use std::fmt::Display;
use std::path::Path;

use engine::Durability;

use crate::bench::kv::Store;

/// An engine other than directdb that the benchmark can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerKind {
    Lmdb,
    Sqlite,
    Redb,
    Fjall,
    #[cfg(feature = "peer-rocksdb")]
    Rocksdb,
}

impl PeerKind {
    /// Every peer this build has, in the order the benchmark runs them.
    #[cfg(not(feature = "peer-rocksdb"))]
    pub(crate) const ALL: &[PeerKind] =
        &[PeerKind::Lmdb, PeerKind::Sqlite, PeerKind::Redb, PeerKind::Fjall];
    /// Every peer this build has, in the order the benchmark runs them.
    #[cfg(feature = "peer-rocksdb")]
    pub(crate) const ALL: &[PeerKind] =
        &[PeerKind::Lmdb, PeerKind::Sqlite, PeerKind::Redb, PeerKind::Fjall, PeerKind::Rocksdb];

    /// The name on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PeerKind::Lmdb => "lmdb",
            PeerKind::Sqlite => "sqlite",
            PeerKind::Redb => "redb",
            PeerKind::Fjall => "fjall",
            #[cfg(feature = "peer-rocksdb")]
            PeerKind::Rocksdb => "rocksdb",
        }
    }

    /// The peer named `text` (as [`PeerKind::name`] spells it).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        PeerKind::ALL.iter().copied().find(|kind| kind.name() == text).ok_or_else(|| {
            let names: Vec<&str> = PeerKind::ALL.iter().map(|kind| kind.name()).collect();
            let mut message =
                format!("no peer engine is named {text:?} (there are {})", names.join(", "));
            if text == "rocksdb" {
                message.push_str("; rocksdb needs a build with the `peer-rocksdb` feature");
            }
            message
        })
    }

    /// The crate that binds the engine and its version in `Cargo.lock` (a test checks it).
    fn crate_version(self) -> (&'static str, &'static str) {
        match self {
            PeerKind::Lmdb => lmdb::CRATE_VERSION,
            PeerKind::Sqlite => sqlite::CRATE_VERSION,
            PeerKind::Redb => redb::CRATE_VERSION,
            PeerKind::Fjall => fjall::CRATE_VERSION,
            #[cfg(feature = "peer-rocksdb")]
            PeerKind::Rocksdb => rocksdb::CRATE_VERSION,
        }
    }
}

/// How a peer is opened: the benchmark's memory budget and durability, as for directdb.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerSettings {
    /// Bytes of the engine's own cache (see the module doc for what each engine does with it).
    pub(crate) cache_bytes: u64,
    /// Bytes of the whole memory budget (`--pool-mb`): what the engine's cache and its other
    /// buffers (fjall's and RocksDB's memtables) must share.
    pub(crate) budget_bytes: u64,
    /// When a commit is durable (see the table in the module doc).
    pub(crate) durability: Durability,
}

/// What a peer's settings became, for the report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct PeerFacts {
    /// The engine's name ([`PeerKind::name`]).
    pub(crate) engine: String,
    /// The binding crate and its version, and the engine library's where it has its own.
    pub(crate) crate_version: String,
    /// How the engine reaches the file: "mmap" or "buffered".
    pub(crate) io_path: String,
    /// How `cache_bytes` was applied.
    pub(crate) cache: String,
    /// What the durability maps to in the engine.
    pub(crate) durability: String,
}

/// Creates or reopens the store of `kind` in `directory` (created if missing).
pub(crate) fn open(
    kind: PeerKind,
    directory: &Path,
    settings: &PeerSettings,
) -> Result<Box<dyn Store>, String> {
    let flush =
        Flush::of(settings.durability).map_err(|error| format!("{}: {error}", kind.name()))?;
    std::fs::create_dir_all(directory).map_err(|error| {
        format!("{}: cannot create {}: {error}", kind.name(), directory.display())
    })?;
    let cache_bytes = settings.cache_bytes;
    Ok(match kind {
        PeerKind::Lmdb => Box::new(lmdb::LmdbStore::open(directory, flush)?),
        PeerKind::Sqlite => Box::new(sqlite::SqliteStore::open(directory, cache_bytes, flush)?),
        PeerKind::Redb => Box::new(self::redb::RedbStore::open(directory, cache_bytes, flush)?),
        PeerKind::Fjall => {
            let memtable_bytes = fjall::memtable_bytes(settings);
            Box::new(self::fjall::FjallStore::open(directory, cache_bytes, memtable_bytes, flush)?)
        }
        #[cfg(feature = "peer-rocksdb")]
        PeerKind::Rocksdb => {
            Box::new(self::rocksdb::RocksdbStore::open(directory, settings, flush)?)
        }
    })
}

/// What [`open`] does with `settings` in the engine of `kind`.
pub(crate) fn facts(kind: PeerKind, settings: &PeerSettings) -> PeerFacts {
    let (crate_name, version) = kind.crate_version();
    let (library, io_path, cache) = match kind {
        PeerKind::Lmdb => lmdb::facts(settings.cache_bytes),
        PeerKind::Sqlite => sqlite::facts(settings.cache_bytes),
        PeerKind::Redb => self::redb::facts(settings.cache_bytes),
        PeerKind::Fjall => self::fjall::facts(settings),
        #[cfg(feature = "peer-rocksdb")]
        PeerKind::Rocksdb => self::rocksdb::facts(settings),
    };
    let durability = match Flush::of(settings.durability) {
        Ok(flush) => match kind {
            PeerKind::Lmdb => lmdb::durability(flush),
            PeerKind::Sqlite => sqlite::durability(flush),
            PeerKind::Redb => self::redb::durability(flush),
            PeerKind::Fjall => self::fjall::durability(flush),
            #[cfg(feature = "peer-rocksdb")]
            PeerKind::Rocksdb => self::rocksdb::durability(flush),
        }
        .to_owned(),
        Err(error) => error,
    };
    let crate_version = match library {
        Some(library) => format!("{crate_name} {version} ({library})"),
        None => format!("{crate_name} {version}"),
    };
    PeerFacts {
        engine: kind.name().to_owned(),
        crate_version,
        io_path: io_path.to_owned(),
        cache,
        durability,
    }
}

/// What each engine file's `facts` returns: the engine library's version where it is not the
/// crate's, the I/O path, and how the cache was applied.
type EngineFacts = (Option<String>, &'static str, String);

/// When a peer makes commits durable: [`Durability`] as this module maps it (the table in the
/// module doc). `Durability` is non-exhaustive; one this module has no mapping for is refused
/// at open rather than taken for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flush {
    /// In each commit, before it returns (`Immediate`).
    EveryCommit,
    /// Every 10 ms, from a [`flusher::Flusher`] thread (`Eventual`).
    Background,
    /// Only at checkpoints (`None`).
    AtCheckpoint,
}

impl Flush {
    fn of(durability: Durability) -> Result<Self, String> {
        match durability {
            Durability::Immediate => Ok(Flush::EveryCommit),
            Durability::Eventual => Ok(Flush::Background),
            Durability::None => Ok(Flush::AtCheckpoint),
            other => Err(format!("no mapping for the durability {other:?}")),
        }
    }
}

/// Turns an engine's error into the store's message, which names the engine and the operation.
fn failed<E: Display>(kind: PeerKind, operation: &'static str) -> impl FnOnce(E) -> String {
    move |error| format!("{} {operation}: {error}", kind.name())
}

#[cfg(test)]
mod tests;

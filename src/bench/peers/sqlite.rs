//! SQLite through `rusqlite` (SQLite bundled and compiled by the build): one database file,
//! `sqlite.db`, in WAL mode, with one table `kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID`,
//! so that the records sit in one B-tree ordered by key, as in the other engines.
//!
//! A `Connection` is used by one thread at a time, so the store keeps a pool: a thread takes an
//! idle connection or opens one, and puts it back after its operation. Readers never block in
//! WAL mode; writers take this process's writer lock before `BEGIN IMMEDIATE`, so that waiting
//! writers queue on a mutex instead of polling SQLite's busy handler, which sleeps in steps of
//! milliseconds and would measure its back-off rather than the engine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension};

use super::flusher::Flusher;
use super::{EngineFacts, Flush, PeerKind, failed};
use crate::bench::kv::{Store, Transaction, TransactionBody, Visit, retry_until_committed};

/// The binding crate and its version in `Cargo.lock`.
pub(super) const CRATE_VERSION: (&str, &str) = ("rusqlite", "0.41.1");

const KIND: PeerKind = PeerKind::Sqlite;

/// The database file in the store's directory (SQLite adds `-wal` and `-shm` beside it).
const FILE_NAME: &str = "sqlite.db";

/// How long a connection waits for a lock another holds before `SQLITE_BUSY`. Writers of this
/// process queue on the writer lock instead; this covers a checkpoint waiting for readers, and
/// other processes. Long enough that only a stuck holder reaches it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID";
const SELECT: &str = "SELECT value FROM kv WHERE key = ?1";
const UPSERT: &str = "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const SCAN: &str = "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?2";

/// An SQLite database behind the benchmark's [`Store`].
pub(super) struct SqliteStore {
    /// Declared first so that its connection closes before the pool's.
    flusher: Flusher,
    path: PathBuf,
    /// `synchronous` of the connections that commit (see the module doc of `peers`).
    synchronous: &'static str,
    /// `cache_size` of each connection: negative, which SQLite reads as KiB (positive is pages).
    cache_size: i64,
    /// Connections not in use, none of them inside a transaction.
    idle: Mutex<Vec<Connection>>,
    /// Held from `BEGIN IMMEDIATE` to `COMMIT`, and by checkpoints.
    writer: Mutex<()>,
    /// Held by each checkpoint, the flusher's and the store's: SQLite runs one at a time and
    /// answers a second with "busy" at once, without waiting.
    checkpointer: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// Opens (or creates) the database in `directory`, which exists.
    pub(super) fn open(directory: &Path, cache_bytes: u64, flush: Flush) -> Result<Self, String> {
        let path = directory.join(FILE_NAME);
        let synchronous = synchronous(flush);
        let cache_size = -i64::try_from(cache_bytes / 1024).unwrap_or(i64::MAX);
        let first = connect(&path, synchronous, cache_size)?;
        first.execute(CREATE_TABLE, []).map_err(failed(KIND, "create the table"))?;
        // Each connection has a private page cache of up to `cache_size`; the soft heap limit
        // bounds them together: once SQLite's heap reaches it, a connection recycles its own
        // pages instead of growing. It is process-wide, as a benchmark runs one store at a time.
        let limit_bytes = i64::try_from(cache_bytes).unwrap_or(i64::MAX);
        first
            .pragma_update(None, "soft_heap_limit", limit_bytes)
            .map_err(failed(KIND, "set the soft heap limit"))?;
        let checkpointer = Arc::new(Mutex::new(()));
        let flusher = Flusher::start(
            KIND,
            flush,
            background_checkpoint(path.clone(), cache_size, Arc::clone(&checkpointer)),
        )?;
        Ok(SqliteStore {
            flusher,
            path,
            synchronous,
            cache_size,
            idle: Mutex::new(vec![first]),
            writer: Mutex::new(()),
            checkpointer,
        })
    }

    /// An idle connection, or a new one when all are in use.
    fn checkout(&self) -> Result<Pooled<'_>, String> {
        let idle = lock(&self.idle).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => connect(&self.path, self.synchronous, self.cache_size)?,
        };
        Ok(Pooled { store: self, connection: Some(connection) })
    }
}

/// `synchronous` for `flush` in WAL mode: `FULL` syncs the WAL in each commit, `NORMAL` and
/// `OFF` do not (`NORMAL` syncs it at checkpoints, `OFF` never).
fn synchronous(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => "FULL",
        Flush::Background => "NORMAL",
        Flush::AtCheckpoint => "OFF",
    }
}

/// A new connection to `path` in WAL mode with the store's settings.
fn connect(path: &Path, synchronous: &str, cache_size: i64) -> Result<Connection, String> {
    let connection = Connection::open(path).map_err(failed(KIND, "open"))?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(failed(KIND, "set the busy timeout"))?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(failed(KIND, "set WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("{}: journal_mode is {mode:?} where WAL was asked", KIND.name()));
    }
    connection
        .pragma_update(None, "synchronous", synchronous)
        .map_err(failed(KIND, "set synchronous"))?;
    connection.pragma_update(None, "cache_size", cache_size).map_err(failed(KIND, "set cache"))?;
    Ok(connection)
}

/// The flusher's work: sync the WAL and copy what it can into the database, waiting for no
/// reader or writer. It runs on a connection of its own, opened at its first tick (so only
/// stores that start a flusher open it), with `synchronous=FULL`: a checkpoint syncs the WAL
/// only when its connection's `synchronous` asks for it.
fn background_checkpoint(
    path: PathBuf,
    cache_size: i64,
    checkpointer: Arc<Mutex<()>>,
) -> impl FnMut() -> Result<(), String> + Send + 'static {
    let mut opened: Option<Connection> = None;
    move || {
        let connection = match opened.take() {
            Some(connection) => connection,
            None => connect(&path, "FULL", cache_size)?,
        };
        let _checkpointer = lock(&checkpointer);
        let outcome = connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(failed(KIND, "background checkpoint"));
        opened = Some(connection);
        outcome
    }
}

/// `mutex` locked. The values behind the store's mutexes stay valid when a holder panics (a
/// connection list, nothing), so a poisoned lock is taken as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `error` is `SQLITE_BUSY`: another connection held the lock past the busy timeout.
fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

/// The SQLite library, the I/O path, and what [`SqliteStore::open`] does with `cache_bytes`.
pub(super) fn facts(cache_bytes: u64) -> EngineFacts {
    let library = format!("SQLite {}", rusqlite::version());
    let cache = format!(
        "cache_size of {} KiB on each pooled connection (a private page cache each) and a \
         process-wide soft_heap_limit of {cache_bytes} bytes bounding them together; the \
         kernel's page cache holds the file too (buffered I/O)",
        cache_bytes / 1024
    );
    (Some(library), "buffered", cache)
}

/// What `flush` is in SQLite.
pub(super) fn durability(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryCommit => "WAL, synchronous=FULL: each commit fsyncs the WAL",
        Flush::Background => {
            "WAL, synchronous=NORMAL, and wal_checkpoint(PASSIVE) every 10 ms from a background \
             thread, which syncs the WAL first (skipped while a reader holds the frames it \
             would copy)"
        }
        Flush::AtCheckpoint => {
            "WAL, synchronous=OFF; wal_checkpoint(TRUNCATE) on a synchronous=FULL connection at \
             checkpoint"
        }
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let pooled = self.checkout()?;
        select(pooled.connection(), key)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.transaction(&mut |transaction| transaction.put(key, value)).map(drop)
    }

    /// One statement reads from one snapshot of the WAL: the scan's consistent view.
    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let pooled = self.checkout()?;
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let mut statement =
            pooled.connection().prepare_cached(SCAN).map_err(failed(KIND, "prepare a scan"))?;
        let mut rows = statement.query((start, limit)).map_err(failed(KIND, "scan"))?;
        let mut visited = 0;
        while let Some(row) = rows.next().map_err(failed(KIND, "scan"))? {
            let key = row.get_ref(0).map_err(failed(KIND, "scan"))?;
            let value = row.get_ref(1).map_err(failed(KIND, "scan"))?;
            visit(
                key.as_blob().map_err(failed(KIND, "scan a key"))?,
                value.as_blob().map_err(failed(KIND, "scan a value"))?,
            )?;
            visited += 1;
        }
        Ok(visited)
    }

    /// Writers take turns on the writer lock, so the body runs alone between `BEGIN IMMEDIATE`
    /// and `COMMIT`; a `SQLITE_BUSY` there (another process, or a checkpoint past the busy
    /// timeout) rolls back and counts as a retry.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        self.flusher.check()?;
        let _writer = lock(&self.writer);
        let pooled = self.checkout()?;
        retry_until_committed(KIND.name(), "busy", || {
            Ok(attempt(pooled.connection(), body)? == Attempt::Committed)
        })
    }

    /// Everything into the database file and the WAL emptied, so that a reopen replays nothing.
    /// The checkpoint syncs only as its connection's `synchronous` asks, so it runs on a `FULL`
    /// connection of its own whatever the store's durability.
    fn checkpoint(&self) -> Result<(), String> {
        self.flusher.check()?;
        let _writer = lock(&self.writer);
        let _checkpointer = lock(&self.checkpointer);
        let connection = connect(&self.path, "FULL", self.cache_size)?;
        let busy: i64 = connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(failed(KIND, "checkpoint"))?;
        if busy != 0 {
            return Err(format!(
                "{}: checkpoint: readers kept the WAL from being emptied (waited {BUSY_TIMEOUT:?})",
                KIND.name()
            ));
        }
        Ok(())
    }
}

/// How one run of a transaction ended, when it did not fail.
#[derive(PartialEq, Eq)]
enum Attempt {
    Committed,
    /// `SQLITE_BUSY` at `BEGIN` or `COMMIT`: rolled back, to run again.
    Busy,
}

/// Runs `body` once between `BEGIN IMMEDIATE` and `COMMIT` on `connection`.
fn attempt(connection: &Connection, body: &mut TransactionBody<'_>) -> Result<Attempt, String> {
    match connection.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => {}
        Err(error) if is_busy(&error) => return Ok(Attempt::Busy),
        Err(error) => return Err(failed(KIND, "begin")(error)),
    }
    if let Err(error) = body(&mut SqliteTransaction { connection }) {
        rollback(connection)?;
        return Err(error);
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => Ok(Attempt::Committed),
        Err(error) if is_busy(&error) => {
            rollback(connection)?;
            Ok(Attempt::Busy)
        }
        Err(error) => Err(failed(KIND, "commit")(error)),
    }
}

/// Rolls back the open transaction of `connection`, if SQLite has not already.
fn rollback(connection: &Connection) -> Result<(), String> {
    if connection.is_autocommit() {
        return Ok(());
    }
    connection.execute_batch("ROLLBACK").map_err(failed(KIND, "roll back"))
}

/// The latest value of `key` as `connection` sees it.
fn select(connection: &Connection, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut statement = connection.prepare_cached(SELECT).map_err(failed(KIND, "prepare a get"))?;
    statement.query_row([key], |row| row.get(0)).optional().map_err(failed(KIND, "get"))
}

/// A connection taken from the pool; it goes back when dropped, unless it is still inside a
/// transaction (a failed rollback), in which case it is closed, which rolls the transaction back.
struct Pooled<'store> {
    store: &'store SqliteStore,
    connection: Option<Connection>,
}

impl Pooled<'_> {
    fn connection(&self) -> &Connection {
        self.connection.as_ref().expect("a pooled connection is taken only by its drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if connection.is_autocommit() {
                lock(&self.store.idle).push(connection);
            }
        }
    }
}

/// A transaction body's view of the connection inside `BEGIN IMMEDIATE`.
struct SqliteTransaction<'connection> {
    connection: &'connection Connection,
}

impl Transaction for SqliteTransaction<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        select(self.connection, key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let mut statement =
            self.connection.prepare_cached(UPSERT).map_err(failed(KIND, "prepare a put"))?;
        statement.execute((key, value)).map(drop).map_err(failed(KIND, "put"))
    }
}

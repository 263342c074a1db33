//! The directdb engine: a transactional key-value store on the buffer pool and the write-ahead
//! log — B+tree, serializable transactions with snapshots, checkpoints, recovery, free space,
//! and the `Db` API (docs/DESIGN.md is the plan; docs/FORMAT.md the bytes).
//!
//! ```
//! use engine::{Db, Durability, Options, WalFlush, FlushMethod};
//!
//! let directory = tempfile::tempdir()?;
//! let db = Db::open(directory.path(), Options { pool_size: 4 << 20, ..Options::default() })?;
//! db.put(b"k", b"v")?;
//! assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
//! let mut transaction = db.begin()?;
//! transaction.put(b"a", b"1")?;
//! assert_eq!(transaction.get(b"a")?.as_deref(), Some(&b"1"[..]));
//! for entry in transaction.range(&b"a"[..]..&b"z"[..])? {
//!     let (_key, _value) = entry?;
//! }
//! transaction.commit()?;
//! let snapshot = db.snapshot()?;
//! assert_eq!(snapshot.get(b"a")?.as_deref(), Some(&b"1"[..]));
//! db.checkpoint()?;
//! db.check()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod btree;
mod commit_record;
mod db;
mod error;
mod free_space;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod header;
mod limits;
mod options;
mod tree_latch;
mod versions;

/// Planted bugs for the crash harness's own tests (see [`wal::planted`]): the log's switch,
/// which also covers the engine's hooks.
pub mod planted {
    pub use wal::planted::*;
}

pub use btree::tree::LevelShape;
pub use db::{
    CheckReport, DATA_FILE_NAME, Db, DbStats, LOCK_FILE_NAME, Range, Snapshot, Transaction,
    WAL_DIRECTORY_NAME,
};
pub use error::{Error, Result};
pub use limits::{KEY_BYTES_MAX, LEVEL_MAX, VALUE_BYTES_MAX};
pub use options::{DirectIo, Durability, FlushMethod, IoMode, Options, WalFlush};

//! directdb: an embedded transactional key-value storage engine whose page store bypasses the
//! kernel page cache with `O_DIRECT`, submits batched `io_uring` requests through sector-aligned
//! buffers, and keeps its own buffer pool.
//!
//! This is the facade embedders depend on: the `Db` API of the engine, and the `disk` layer
//! (files, backends, the device probe and the simulated disk) for those who test with it.
//!
//! ```
//! use directdb::{Db, Options};
//!
//! let directory = tempfile::tempdir()?;
//! let db = Db::open(directory.path(), Options { pool_size: 4 << 20, ..Options::default() })?;
//! db.put(b"k", b"v")?;
//! assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "crashtest")]
pub mod crashtest;

pub use disk;
pub use engine::{
    CheckReport, DATA_FILE_NAME, Db, DbStats, DirectIo, Durability, Error, FlushMethod, IoMode,
    KEY_BYTES_MAX, Options, Range, Result, Snapshot, Transaction, VALUE_BYTES_MAX, WalFlush,
};

//! The one error type of the engine, and of the `Db` API.

use std::path::PathBuf;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk layer failed (the error names the file, the operation and the offset).
    #[error(transparent)]
    Disk(#[from] disk::Error),

    /// The buffer pool failed (a page that does not verify, a failed write-back, ...).
    #[error(transparent)]
    Pool(#[from] bufferpool::Error),

    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] wal::Error),

    /// The database is damaged in a way a crash cannot explain.
    #[error("corruption in {path} ({what}): {reason}")]
    Corruption {
        /// The file.
        path: PathBuf,
        /// The page, LSN or structure ("header", "page 17", ...).
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// The file exists and is not a directdb data file; it is left untouched.
    #[error("{path} is not a directdb data file")]
    NotDirectdb {
        /// The file.
        path: PathBuf,
    },

    /// The database was written by a build with another format version; it is left untouched.
    #[error("{path}: {reason}")]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// Which version it has and which this build reads.
        reason: String,
    },

    /// Another `Db` (in this process or another) has the database open.
    #[error("{path} is locked: the database is open elsewhere (in this process or another)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// The transaction read something another transaction changed after it began: it cannot be
    /// serialized. Nothing of it was written; run it again.
    #[error("transaction conflict: a key or range it read was changed by a later commit; retry")]
    Conflict,

    /// An earlier failure (a failed log flush, a failed write-back, a failed change to the
    /// tree) left the database in a state only recovery can sort out: it refuses further
    /// changes until it is reopened.
    #[error("the database refuses changes after an earlier failure ({reason}); reopen to recover")]
    Failed {
        /// The first failure.
        reason: String,
    },

    /// A key that is empty or longer than [`crate::KEY_BYTES_MAX`].
    #[error("a {key_bytes}-byte key: keys are 1 to {limit} bytes")]
    KeyLength {
        /// The key's length.
        key_bytes: usize,
        /// [`crate::KEY_BYTES_MAX`].
        limit: usize,
    },

    /// A value longer than [`crate::VALUE_BYTES_MAX`].
    #[error("a {value_bytes}-byte value: values are at most {limit} bytes")]
    ValueTooLarge {
        /// The value's length.
        value_bytes: usize,
        /// [`crate::VALUE_BYTES_MAX`].
        limit: usize,
    },

    /// The options cannot work with this database (another page size than the file's, say).
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
}

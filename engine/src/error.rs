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
}

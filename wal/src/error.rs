//! The one error type of the `wal` crate.

use std::path::PathBuf;

use crate::lsn::Lsn;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk layer failed (the error names the file, the operation and the offset).
    #[error(transparent)]
    Disk(#[from] disk::Error),

    /// The log is damaged in a way a crash cannot explain: a record the log had already made
    /// durable is invalid, or a segment the log needs is unreadable.
    #[error("log corruption in {path} at LSN {lsn}: {reason}")]
    Corruption {
        /// The segment file.
        path: PathBuf,
        /// Where the damage starts.
        lsn: Lsn,
        /// What is wrong.
        reason: String,
    },

    /// The log was written by a build with another format version; it is left untouched.
    #[error("{path}: {reason}")]
    Incompatible {
        /// The segment file.
        path: PathBuf,
        /// Which version it has and which this build reads.
        reason: String,
    },

    /// An earlier write or flush of the log failed. After a failed flush the state of the
    /// kernel's and the device's caches is unknown, so the log refuses every further append and
    /// wait until it is reopened and recovered.
    #[error("the log refuses writes after an earlier failure ({reason}); reopen to recover")]
    Failed {
        /// The first failure.
        reason: String,
    },

    /// A record larger than the log accepts.
    #[error("record payload of {payload_bytes} bytes exceeds the limit of {limit_bytes}")]
    RecordTooLarge {
        /// The payload's size.
        payload_bytes: usize,
        /// [`crate::limits::RECORD_PAYLOAD_BYTES_MAX`].
        limit_bytes: usize,
    },

    /// The options cannot work (a segment size out of range, for one).
    #[error("invalid log options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
}

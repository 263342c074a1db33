//! The one error type of the `bufferpool` crate.

use std::path::PathBuf;

use crate::page::PageId;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a buffer pool operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk layer failed (the error names the file, the operation and the offset).
    #[error(transparent)]
    Disk(#[from] disk::Error),

    /// A page read from the file is not what was written there: a checksum mismatch, a page
    /// that holds another page's id (a misdirected write), or a page never written. Its bytes
    /// are never handed out.
    #[error("corrupt page {page} in {path}: {reason}")]
    Corruption {
        /// The data file.
        path: PathBuf,
        /// The page asked for.
        page: PageId,
        /// What is wrong.
        reason: String,
    },

    /// An earlier write-back failed. The state of the kernel's and the device's caches is
    /// unknown after a failed write, so the pool refuses every further change until the
    /// database is reopened and recovered.
    #[error(
        "the buffer pool refuses writes after an earlier failure ({reason}); reopen to recover"
    )]
    Failed {
        /// The first failure.
        reason: String,
    },

    /// No frame could be freed: every frame is latched, or dirty with changes the log has not
    /// made durable yet, and stayed so.
    #[error(
        "the buffer pool is exhausted: none of its {frame_count} frames could be freed ({reason})"
    )]
    Exhausted {
        /// Frames in the pool.
        frame_count: usize,
        /// What held them.
        reason: String,
    },

    /// A page id beyond [`crate::PAGE_ID_MAX`].
    #[error("page id {page} exceeds the largest the pool addresses ({limit})")]
    PageIdOutOfRange {
        /// The page asked for.
        page: PageId,
        /// [`crate::PAGE_ID_MAX`].
        limit: u64,
    },

    /// The pool's memory could not be mapped (more than the address space or the kernel
    /// allows).
    #[error("could not map {bytes} bytes for the buffer pool's {what}: {source}")]
    Memory {
        /// What the memory was for.
        what: &'static str,
        /// The bytes asked for.
        bytes: usize,
        /// The kernel's answer.
        source: std::io::Error,
    },

    /// The options cannot work (a page size that is not a power of two, for one).
    #[error("invalid buffer pool options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
}

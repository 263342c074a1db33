//! The one error type of the `disk` crate.
//!
//! Every variant names the file and the operation, so that an error read in a log months later
//! still says which file and which offset were involved. Injected faults from [`crate::SimDisk`]
//! are reported exactly like real ones (an [`Error::Io`] carrying the same `errno`), so the layers
//! above cannot tell them apart and are tested on the paths real failures take.

use std::io;
use std::path::PathBuf;

/// A `Result` whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a disk operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel (or the simulated disk) failed the operation.
    #[error("{operation} {path} (offset {offset}): {source}")]
    Io {
        /// What was being done: "read", "write", "fdatasync", "open", ...
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Byte offset in the file, or 0 where the operation has none.
        offset: u64,
        /// The underlying error; `raw_os_error()` gives the errno.
        #[source]
        source: io::Error,
    },

    /// A read reached the end of the file before filling the buffer.
    #[error(
        "read {path} at offset {offset}: short read, got {got_bytes} of {expected_bytes} bytes (end of file)"
    )]
    ShortRead {
        /// The file.
        path: PathBuf,
        /// Byte offset of the read.
        offset: u64,
        /// Bytes asked for.
        expected_bytes: usize,
        /// Bytes the file had.
        got_bytes: usize,
    },

    /// A buffer address, offset or length does not meet the file's direct-I/O alignment. Checked
    /// before the kernel sees the request, on every backend, so that code tested on the buffered
    /// or simulated backend also runs on the direct one.
    #[error("{operation} {path}: misaligned {what}: {value} is not a multiple of {required}")]
    Misaligned {
        /// "read" or "write".
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// "buffer address", "offset" or "length".
        what: &'static str,
        /// The offending value.
        value: u64,
        /// The alignment it must be a multiple of.
        required: u64,
    },

    /// [`crate::DirectIo::Required`] was asked for on a file system that rejects direct I/O or
    /// only pretends to support it.
    #[error("open {path}: direct I/O is required but the {file_system} file system {reason}")]
    DirectIoUnsupported {
        /// The file.
        path: PathBuf,
        /// The file system's name, e.g. "tmpfs".
        file_system: String,
        /// Why it does not qualify.
        reason: String,
    },

    /// Another opener holds the lock on this path (in this process or another).
    #[error("lock {path}: locked by another opener")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// An mmap-backed file grew past the address space reserved for its mapping.
    #[error(
        "{operation} {path}: file would grow to {size_bytes} bytes, past the {reserve_bytes}-byte mapping reserve"
    )]
    MappingReserveExceeded {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The size it would have had.
        size_bytes: u64,
        /// The reserve (`DiskOptions::mmap_reserve_bytes`).
        reserve_bytes: u64,
    },

    /// A handle from before a [`crate::SimDisk`] crash was used after it: the process that owned
    /// it is, in the simulation, dead.
    #[error("{operation} {path}: the simulated disk crashed; this handle is from before the crash")]
    Crashed {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: PathBuf,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: io::Error,
    ) -> Self {
        Self::Io { operation, path: path.into(), offset, source }
    }

    /// The errno behind this error, if it came from the kernel or imitates it.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the device or file system ran out of space (`ENOSPC`).
    pub fn is_no_space(&self) -> bool {
        self.raw_os_error() == Some(libc::ENOSPC)
    }

    /// True when the path does not exist (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

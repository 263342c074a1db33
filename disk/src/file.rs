//! The [`File`] trait: the backend interface every byte of directdb goes through, implemented by
//! the direct, buffered and mmap backends and by [`crate::SimDisk`].

use std::fmt;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use crate::alignment::Alignment;
use crate::error::Result;
use crate::options::IoMode;

/// One request in a batch handed to [`File::submit`].
#[derive(Debug)]
pub enum IoRequest<'a> {
    /// Read exactly `buf.len()` bytes at `offset`.
    Read {
        /// Byte offset in the file (aligned).
        offset: u64,
        /// Destination (aligned address and length).
        buf: &'a mut [u8],
    },
    /// Write all of `buf` at `offset`.
    Write {
        /// Byte offset in the file (aligned).
        offset: u64,
        /// Source (aligned address and length).
        buf: &'a [u8],
        /// Durable on completion (`RWF_DSYNC`: FUA where the device has it, else the kernel
        /// follows the write with a cache flush).
        durable: bool,
    },
}

impl IoRequest<'_> {
    /// The byte offset of the request.
    pub fn offset(&self) -> u64 {
        match self {
            IoRequest::Read { offset, .. } | IoRequest::Write { offset, .. } => *offset,
        }
    }

    /// The length of the request in bytes.
    pub fn length_bytes(&self) -> usize {
        match self {
            IoRequest::Read { buf, .. } => buf.len(),
            IoRequest::Write { buf, .. } => buf.len(),
        }
    }

    /// "read" or "write", for messages.
    pub fn operation(&self) -> &'static str {
        match self {
            IoRequest::Read { .. } => "read",
            IoRequest::Write { .. } => "write",
        }
    }

    /// The address of the request's buffer, for alignment checks.
    #[allow(dead_code, reason = "used by the backends, which are not written yet")]
    pub(crate) fn address(&self) -> usize {
        match self {
            IoRequest::Read { buf, .. } => buf.as_ptr() as usize,
            IoRequest::Write { buf, .. } => buf.as_ptr() as usize,
        }
    }
}

/// How requests reach the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Submission {
    /// A batch goes to the kernel in one `io_uring_enter`.
    IoUring,
    /// One `pread`/`pwrite` system call per request.
    Syscalls,
    /// Memory copies from a mapping (mmap reads) and `pwrite` (its writes).
    Mapping,
    /// The in-memory simulated disk.
    Simulated,
}

/// What a file was actually opened as, and why, when that differs from what was asked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// The I/O path in use.
    pub io_mode: IoMode,
    /// How requests are submitted.
    pub submission: Submission,
    /// The alignment every request must meet (enforced on every backend).
    pub alignment: Alignment,
    /// The file system's name ("ext4", "tmpfs", ...; "simulated" on SimDisk).
    pub file_system: String,
    /// Each fallback taken while opening, with its reason: "direct I/O unavailable (tmpfs
    /// only emulates O_DIRECT); using buffered I/O", "io_uring unavailable (EPERM); using
    /// pread/pwrite".
    pub fallback_reasons: Vec<String>,
}

/// An open file on some backend.
///
/// All methods take `&self`, so one file is shared by many threads (the buffer pool reads and
/// writes one data file from all of them). Every request is checked against
/// [`FileInfo::alignment`] before the kernel sees it, on every backend.
pub trait File: Send + Sync + fmt::Debug {
    /// The path the file was opened at.
    fn path(&self) -> &Path;

    /// What the file was opened as.
    fn info(&self) -> &FileInfo;

    /// Reads exactly `buf.len()` bytes at `offset`; [`crate::Error::ShortRead`] at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Writes all of `buf` at `offset`. The data is in the device's volatile cache (or the page
    /// cache) on return: durable only after [`File::sync_data`].
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Writes all of `buf` at `offset` and returns once it is durable (`RWF_DSYNC`).
    fn write_at_durable(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Submits every request at once (one io_uring submission where the backend has one) and
    /// waits for all of them. Returns one result per request, in order: a failing request does
    /// not hide the outcome of the others. Requests in one batch must not overlap.
    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<Result<()>>;

    /// Makes every completed write durable (`fdatasync`).
    fn sync_data(&self) -> Result<()>;

    /// The file's size in bytes.
    fn size_bytes(&self) -> Result<u64>;

    /// Grows the file to at least `size_bytes` by really writing zeros, then makes the new size
    /// and contents durable, so that later writes into the range are pure overwrites with no
    /// file-system metadata to commit. Never shrinks the file.
    fn allocate(&self, size_bytes: u64) -> Result<()>;

    /// Sets the file's size to exactly `size_bytes` (dropping or adding zeroed space) and makes
    /// the new size durable.
    fn truncate(&self, size_bytes: u64) -> Result<()>;

    /// Drops the file's pages from the kernel's caches, so the next read goes to the device
    /// (benchmarks start cold this way). Direct files and simulated ones hold none; buffered
    /// files drop their clean pages (`posix_fadvise(DONTNEED)`); mapped files also drop this
    /// process's mapping of them (`madvise(DONTNEED)`). Advisory: dirty pages stay until
    /// written back.
    fn drop_cached_pages(&self) -> Result<()> {
        Ok(())
    }

    /// The descriptor an [`crate::IoQueue`] submits this file's requests on, for files whose
    /// requests go through io_uring; `None` makes the queue run requests with this file's own
    /// methods instead. A wrong descriptor yields wrong data or errors, never unsafety: the
    /// queue only hands the kernel buffers it owns.
    fn io_uring_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// The file's bytes in place, for files read through a shared mapping (the mmap backend;
    /// `None` on every other): 8-byte words from offset 0 up to the part of the file that may be
    /// read now (it grows as writes extend the file; call again to see more).
    ///
    /// The words are read-only and change under the reader when this process writes the file
    /// (the page cache is shared with the mapping), so they are atomics: every read is a
    /// `Relaxed` atomic load, which Rust allows on read-only memory for register-sized values,
    /// and which keeps a read racing a write from being a data race. A caller that needs a
    /// stable page must keep writes to it out while it reads (the buffer pool does).
    fn mapped_words(&self) -> Option<&[AtomicU64]> {
        None
    }
}

/// Runs `requests` one by one through `read` and `write`: the batch path of backends that have
/// no batched submission, and the fallback of those that do.
#[allow(dead_code, reason = "used by the backends, which are not written yet")]
pub(crate) fn submit_one_by_one(
    file: &dyn File,
    requests: &mut [IoRequest<'_>],
) -> Vec<Result<()>> {
    requests
        .iter_mut()
        .map(|request| match request {
            IoRequest::Read { offset, buf } => file.read_at(buf, *offset),
            IoRequest::Write { offset, buf, durable: false } => file.write_at(buf, *offset),
            IoRequest::Write { offset, buf, durable: true } => file.write_at_durable(buf, *offset),
        })
        .collect()
}

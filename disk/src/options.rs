//! How a [`crate::RealDisk`] opens files: the I/O path, the direct-I/O policy and the
//! submission method.

use crate::limits::MMAP_RESERVE_BYTES_DEFAULT;

/// The three ways Linux offers to reach a file. The same code above the `disk` crate runs on
/// each, so that they can be compared on the same work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// `O_DIRECT`: the kernel page cache is bypassed; the buffer pool is the only cache.
    Direct,
    /// `pread`/`pwrite` through the kernel page cache.
    Buffered,
    /// Reads from a shared read-only mapping, writes with `pwrite` (as LMDB does).
    Mmap,
}

impl IoMode {
    /// All modes, in the order reports list them.
    pub const ALL: [IoMode; 3] = [IoMode::Direct, IoMode::Buffered, IoMode::Mmap];

    /// The lower-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Direct => "direct",
            IoMode::Buffered => "buffered",
            IoMode::Mmap => "mmap",
        }
    }
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        IoMode::ALL
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| format!("unknown I/O mode {text:?} (expected direct, buffered or mmap)"))
    }
}

/// What to do when [`IoMode::Direct`] is asked for on a file system that cannot do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectIo {
    /// Fail with an error naming the path and the file system.
    Required,
    /// Fall back to buffered I/O, and say so in [`crate::FileInfo::fallback_reasons`].
    Preferred,
    /// Never use direct I/O: [`IoMode::Direct`] is opened as buffered.
    Off,
}

/// Options for a [`crate::RealDisk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskOptions {
    /// The I/O path for data files.
    pub io_mode: IoMode,
    /// What to do when direct I/O is unavailable.
    pub direct_io: DirectIo,
    /// Submit direct I/O through io_uring when the kernel allows it. `false` forces the
    /// `pread`/`pwrite` path (the same one taken when io_uring is disabled or blocked).
    pub io_uring: bool,
    /// Let the kernel read ahead on buffered and mmap files. Off by default: a storage engine
    /// reads pages at random, and readahead would spend the memory budget on pages nobody asked
    /// for (the engine prefetches scans itself).
    pub kernel_readahead: bool,
    /// Address space reserved for each mmap-backed file (see
    /// [`crate::limits::MMAP_RESERVE_BYTES_DEFAULT`]).
    pub mmap_reserve_bytes: u64,
}

impl Default for DiskOptions {
    fn default() -> Self {
        Self {
            io_mode: IoMode::Direct,
            direct_io: DirectIo::Preferred,
            io_uring: true,
            kernel_readahead: false,
            mmap_reserve_bytes: MMAP_RESERVE_BYTES_DEFAULT,
        }
    }
}

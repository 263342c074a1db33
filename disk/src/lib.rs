//! The `disk` crate: the one layer every byte of directdb goes through.
//!
//! It decides how files are opened (direct, buffered or mmap), how buffers are aligned, how many
//! requests reach the kernel in one submission, and what "durable" costs. Everything above it
//! (the WAL, the buffer pool, the engine) talks to two traits:
//!
//! - [`Disk`]: the file namespace of one database (open, remove, rename, directory sync, lock);
//! - [`File`]: one open file (aligned reads and writes, batches, `fdatasync`, pre-zeroing).
//!
//! [`RealDisk`] implements them on the kernel with three backends ([`IoMode`]); [`SimDisk`]
//! implements them in memory, deterministically from a seed, with a volatile write cache that a
//! [`SimDisk::crash`] loses, keeps or tears (or, as an option, none: a write-through device), and
//! with injectable I/O errors.
//!
//! ```
//! use std::path::Path;
//! use disk::{AlignedBuf, Disk, DiskOptions, OpenOptions, RealDisk};
//!
//! # fn main() -> disk::Result<()> {
//! let directory = tempfile::tempdir().unwrap();
//! let disk = RealDisk::new(DiskOptions::default());
//! let file = disk.open(&directory.path().join("data"), OpenOptions::create())?;
//! let alignment = file.info().alignment;
//! file.allocate(1 << 20)?; // pre-zeroed: later writes are pure overwrites
//!
//! let mut page = AlignedBuf::for_alignment(4096, alignment);
//! page[..5].copy_from_slice(b"hello");
//! file.write_at(&page, 8192)?;
//! file.sync_data()?;
//!
//! let mut read_back = AlignedBuf::for_alignment(4096, alignment);
//! file.read_at(&mut read_back, 8192)?;
//! assert_eq!(&read_back[..5], b"hello");
//! # Ok(())
//! # }
//! ```

mod alignment;
mod buf;
mod disk;
mod error;
mod file;
mod file_system;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod huge;
pub mod limits;
mod options;
mod probe;
mod real;
pub mod sim;
mod uring_support;
mod watched;

pub use alignment::Alignment;
pub use buf::AlignedBuf;
pub use disk::{Disk, LockGuard, OpenOptions};
pub use error::{Error, Result};
pub use file::{File, FileInfo, IoRequest, Submission};
pub use file_system::{DirectIoSupport, FileSystem};
pub use huge::{HUGE_PAGE_BYTES, HugeSlice, Zeroable};
pub use options::{DirectIo, DiskOptions, IoMode};
pub use probe::{
    AlignmentSource, BlockDevice, DeviceProbe, DioAlignment, FlushMethod, ProbedFile,
    StatxDioAlign, WriteCache,
};
pub use real::{Completion, IoQueue, RealDisk};
pub use sim::{SimDisk, SimDiskOptions};
pub use uring_support::{UringSupport, io_uring_support};
pub use watched::{WatchedFile, WriteWatch};

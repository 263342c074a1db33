//! The [`Disk`] trait: the file namespace of one database (open, remove, rename, directory
//! sync, lock). [`crate::RealDisk`] maps it onto the kernel; [`crate::SimDisk`] keeps it in
//! memory so that a crash takes the data file, the log and the directory entries down together.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::file::File;
use crate::options::IoMode;

/// How to open one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it does not exist. A created file's directory entry is durable only
    /// after [`Disk::sync_dir`] on its parent.
    pub create: bool,
    /// Open with `O_DSYNC`: every write is durable on return.
    pub dsync: bool,
    /// Use this I/O path instead of the disk's default (the log, for instance, is written with
    /// plain writes even when data pages are read through a mapping).
    pub io_mode: Option<IoMode>,
}

impl OpenOptions {
    /// Open an existing file.
    pub fn existing() -> Self {
        Self::default()
    }

    /// Open a file, creating it if missing.
    pub fn create() -> Self {
        Self { create: true, ..Self::default() }
    }
}

/// An exclusive lock on a path; released when dropped.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// The file namespace of one database.
pub trait Disk: Send + Sync + fmt::Debug {
    /// Opens (or creates) the file at `path`.
    fn open(&self, path: &Path, options: OpenOptions) -> Result<Arc<dyn File>>;

    /// Removes a file. Durable after [`Disk::sync_dir`] on its parent.
    fn remove(&self, path: &Path) -> Result<()>;

    /// Renames `source` to `target`, replacing `target`. Durable after [`Disk::sync_dir`].
    fn rename(&self, source: &Path, target: &Path) -> Result<()>;

    /// Makes every create, remove and rename in directory `path` durable (`fsync` on the
    /// directory).
    fn sync_dir(&self, path: &Path) -> Result<()>;

    /// Creates a directory and its parents; does nothing if it exists.
    fn create_dir_all(&self, path: &Path) -> Result<()>;

    /// The paths of the files directly in directory `path`, sorted.
    fn list_dir(&self, path: &Path) -> Result<Vec<PathBuf>>;

    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> Result<bool>;

    /// Takes an exclusive lock on `path` (creating the file if needed). A second lock on the
    /// same path fails with [`crate::Error::Locked`], from this process or another, until the
    /// first guard is dropped.
    fn lock(&self, path: &Path) -> Result<Box<dyn LockGuard>>;
}

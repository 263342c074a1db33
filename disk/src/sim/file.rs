//! [`SimFile`]: one open file on a [`super::SimDisk`], implementing [`File`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::namespace::FileId;
use super::state::{HandleRef, State};
use crate::error::Result;
use crate::file::{File, FileInfo, IoRequest, submit_one_by_one};

/// An open file on a [`super::SimDisk`]: a handle into the disk's shared state.
///
/// The handle dies with the simulated process at [`super::SimDisk::crash`]: every operation on
/// it then fails with [`crate::Error::Crashed`].
pub(super) struct SimFile {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    info: FileInfo,
    file: FileId,
    /// The crash count when it was opened.
    epoch: u64,
    /// Opened with `O_DSYNC`: every write is durable on return.
    dsync: bool,
}

impl SimFile {
    pub(super) fn new(
        state: Arc<Mutex<State>>,
        path: PathBuf,
        info: FileInfo,
        file: FileId,
        epoch: u64,
        dsync: bool,
    ) -> Self {
        Self { state, path, info, file, epoch, dsync }
    }

    fn handle(&self) -> HandleRef<'_> {
        HandleRef {
            file: self.file,
            epoch: self.epoch,
            path: &self.path,
            alignment: self.info.alignment,
        }
    }
}

impl File for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn info(&self) -> &FileInfo {
        &self.info
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.state.lock().read(self.handle(), buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.state.lock().write(self.handle(), buf, offset, self.dsync)
    }

    fn write_at_durable(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.state.lock().write(self.handle(), buf, offset, true)
    }

    /// Runs the requests one by one, in order; each is counted as one read or write.
    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<Result<()>> {
        submit_one_by_one(self, requests)
    }

    fn sync_data(&self) -> Result<()> {
        self.state.lock().flush(self.handle())
    }

    fn size_bytes(&self) -> Result<u64> {
        self.state.lock().size_bytes(self.handle())
    }

    fn allocate(&self, size_bytes: u64) -> Result<()> {
        self.state.lock().allocate(self.handle(), size_bytes)
    }

    fn truncate(&self, size_bytes: u64) -> Result<()> {
        self.state.lock().truncate(self.handle(), size_bytes)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        self.state.lock().release(self.file, self.epoch);
    }
}

impl fmt::Debug for SimFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimFile")
            .field("path", &self.path)
            .field("file", &self.file)
            .field("epoch", &self.epoch)
            .field("dsync", &self.dsync)
            .finish()
    }
}

//! A file that shows every write to a watcher before passing it on: how tests check what goes
//! to disk (a page written ahead of the log) or hold a write between its submission and its
//! landing (a write in flight), without writing out the whole [`File`] trait each time.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::error::Result;
use crate::file::{File, FileInfo, IoRequest};

/// Sees every write to a [`WatchedFile`] before the inner file does, on the writing thread: it
/// may check the bytes, count, or block until the test lets the write go.
pub trait WriteWatch: Send + Sync + fmt::Debug {
    /// Called with each write's bytes and offset (each write request of a batch, in order)
    /// before it is passed on.
    fn before_write(&self, buf: &[u8], offset: u64);
}

/// An inner file whose writes its [`WriteWatch`] sees first; everything else goes straight
/// through. It has no io_uring descriptor, so an [`crate::IoQueue`] runs its requests through
/// these methods and no write bypasses the watch.
#[derive(Debug)]
pub struct WatchedFile<W: WriteWatch> {
    inner: Arc<dyn File>,
    watch: W,
}

impl<W: WriteWatch> WatchedFile<W> {
    /// `inner`, with its writes shown to `watch` first.
    pub fn new(inner: Arc<dyn File>, watch: W) -> Self {
        Self { inner, watch }
    }

    /// The watcher, to read what it saw or to steer it.
    pub fn watch(&self) -> &W {
        &self.watch
    }
}

impl<W: WriteWatch + 'static> File for WatchedFile<W> {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn info(&self) -> &FileInfo {
        self.inner.info()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.watch.before_write(buf, offset);
        self.inner.write_at(buf, offset)
    }

    fn write_at_durable(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.watch.before_write(buf, offset);
        self.inner.write_at_durable(buf, offset)
    }

    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<Result<()>> {
        for request in requests.iter() {
            if let IoRequest::Write { buf, offset, .. } = request {
                self.watch.before_write(buf, *offset);
            }
        }
        self.inner.submit(requests)
    }

    fn sync_data(&self) -> Result<()> {
        self.inner.sync_data()
    }

    fn size_bytes(&self) -> Result<u64> {
        self.inner.size_bytes()
    }

    fn allocate(&self, size_bytes: u64) -> Result<()> {
        self.inner.allocate(size_bytes)
    }

    fn truncate(&self, size_bytes: u64) -> Result<()> {
        self.inner.truncate(size_bytes)
    }

    fn drop_cached_pages(&self) -> Result<()> {
        self.inner.drop_cached_pages()
    }

    fn mapped_words(&self) -> Option<&[AtomicU64]> {
        self.inner.mapped_words()
    }
}

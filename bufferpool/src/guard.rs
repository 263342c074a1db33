//! [`SharedPage`] and [`ExclusivePage`]: a page held in its frame. The guard borrows the pool
//! and holds the frame's latch until it is dropped, so the frame cannot be evicted or reused
//! while the guard exists, and nothing can be read through it afterwards.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::frame::FrameMeta;
use crate::latch::{ExclusiveGuard, SharedGuard};
use crate::page::{PAGE_LSN_WORD, PageId};
use crate::view::{PageView, PageWriter};

/// A page held shared: any number of readers, no writer.
#[derive(Debug)]
pub struct SharedPage<'pool> {
    view: PageView<'pool>,
    page: PageId,
    _latch: SharedGuard<'pool>,
    /// The frame's checked flag (`None` for a page read in place in a mapping).
    checked: Option<&'pool crate::sync::AtomicBool>,
}

impl<'pool> SharedPage<'pool> {
    #[inline]
    pub(crate) fn new(
        words: &'pool [AtomicU64],
        page: PageId,
        latch: SharedGuard<'pool>,
        checked: Option<&'pool crate::sync::AtomicBool>,
    ) -> Self {
        Self { view: PageView::new(words), page, _latch: latch, checked }
    }

    /// The page held.
    pub fn page_id(&self) -> PageId {
        self.page
    }

    /// Whether the layer above marked this page checked since the pool last gave its frame a
    /// new image (a read from the file, or [`crate::BufferPool::new_page`]). Pages read in
    /// place (mmap mode) are never marked: check them every time.
    #[inline]
    pub fn is_checked(&self) -> bool {
        self.checked.is_some_and(|flag| flag.load(crate::sync::Ordering::Acquire))
    }

    /// Records that the layer above has checked the page's structure: its bytes cannot change
    /// until a writer holds the page, and the layer's own writes keep it valid, so it need not
    /// check again until the frame gets a new image.
    #[inline]
    pub fn mark_checked(&self) {
        if let Some(flag) = self.checked {
            flag.store(true, crate::sync::Ordering::Release);
        }
    }
}

impl<'pool> Deref for SharedPage<'pool> {
    type Target = PageView<'pool>;
    #[inline]
    fn deref(&self) -> &PageView<'pool> {
        &self.view
    }
}

/// A page held exclusively: the one writer, no readers (optimistic readers that overlap it
/// fail validation).
#[derive(Debug)]
pub struct ExclusivePage<'pool> {
    words: &'pool [AtomicU64],
    view: PageView<'pool>,
    meta: &'pool FrameMeta,
    page: PageId,
    _latch: ExclusiveGuard<'pool>,
}

impl<'pool> ExclusivePage<'pool> {
    #[inline]
    pub(crate) fn new(
        words: &'pool [AtomicU64],
        meta: &'pool FrameMeta,
        page: PageId,
        latch: ExclusiveGuard<'pool>,
    ) -> Self {
        Self { words, view: PageView::new(words), meta, page, _latch: latch }
    }

    /// The page held.
    pub fn page_id(&self) -> PageId {
        self.page
    }

    /// As [`SharedPage::is_checked`].
    #[inline]
    pub fn is_checked(&self) -> bool {
        self.meta.checked.load(crate::sync::Ordering::Acquire)
    }

    /// As [`SharedPage::mark_checked`].
    #[inline]
    pub fn mark_checked(&self) {
        self.meta.checked.store(true, crate::sync::Ordering::Release);
    }

    /// Write access to the body. The page is dirty from now on: it will be written back
    /// (once the log is durable up to its LSN).
    pub fn writer(&mut self) -> PageWriter<'_> {
        self.meta.mark_dirty();
        PageWriter::new(self.words)
    }

    /// Sets the page LSN to the LSN of the log record that describes the change being made,
    /// and marks the page dirty. The pool will not write the page back before the log is
    /// durable up to `lsn`.
    ///
    /// # Panics
    /// If `lsn` is below the page's current LSN: page LSNs only grow, or redo would skip a
    /// change.
    pub fn set_lsn(&mut self, lsn: u64) {
        let current = self.view.lsn();
        assert!(lsn >= current, "page {} LSN would go back from {current} to {lsn}", self.page);
        self.meta.mark_dirty();
        self.words[PAGE_LSN_WORD].store(lsn, Ordering::Relaxed);
        if self.meta.rec_lsn.load(Ordering::Relaxed) == crate::frame::REC_LSN_UNKNOWN {
            self.meta.rec_lsn.store(lsn, Ordering::Relaxed);
        }
    }
}

impl<'pool> Deref for ExclusivePage<'pool> {
    type Target = PageView<'pool>;
    #[inline]
    fn deref(&self) -> &PageView<'pool> {
        &self.view
    }
}

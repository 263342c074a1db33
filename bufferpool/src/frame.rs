//! [`FrameMeta`]: what the pool knows about one frame besides its bytes.
//!
//! Invariants (checked by `BufferPool::check_invariants` when the pool is quiescent):
//! 1. `page` changes only under the frame's exclusive latch, so a thread holding the latch
//!    shared, or an optimistic reader that validates, sees a stable page id.
//! 2. A frame with a page is in the page table under that page, exactly once; a frame without
//!    one is on the free list or held exclusively by the thread about to fill it.
//! 3. `dirty` and `dirty_epoch` change only under the exclusive latch, except that write-back
//!    clears `dirty` under a shared latch when the epoch it copied is still current, so a change
//!    made after the copy is never marked clean.
//! 4. At most one write-back of a frame is in flight (`writing`), so the file never ends up
//!    with an older image than the one whose write marked the frame clean.
//! 5. A write-back is in flight only from a frame that was dirty when the writer owned its
//!    `writing` flag, and a frame with a write in flight keeps its page (eviction waits), so no
//!    late write lands after the page has moved to another frame and changed there.

use crate::latch::HybridLatch;
use crate::sync::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// `page` of a frame that holds no page.
pub(crate) const NO_PAGE: u64 = u64::MAX;
/// The most hits a frame's counter keeps: a page hit that often survives that many passes of
/// the eviction hand without another hit (see `eviction.rs`).
pub(crate) const HIT_COUNT_MAX: u8 = 3;
/// `rec_lsn` of a dirty frame whose first change came without an LSN: write-back and
/// checkpoints treat it as older than any LSN.
pub(crate) const REC_LSN_UNKNOWN: u64 = 0;

/// The metadata of one frame, on its own cache line so that hot frames do not share one.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct FrameMeta {
    pub(crate) latch: HybridLatch,
    /// The page held, or [`NO_PAGE`].
    pub(crate) page: AtomicU64,
    /// Hits since the page came in or since the hand last passed, up to [`HIT_COUNT_MAX`]. A
    /// page read by a miss or a prefetch starts at 0, so a page touched once (a scan) leaves
    /// first. A hint for eviction only: lost updates cost hit ratio, never correctness.
    pub(crate) hits: AtomicU8,
    /// The page has left probation (see `eviction.rs`): the hand, not the probation queue,
    /// decides when it goes. Set when the page is found hit or dirty at the queue's head, or
    /// when it comes in while remembered as evicted from probation lately.
    pub(crate) promoted: AtomicBool,
    /// The frame holds changes the file does not have.
    pub(crate) dirty: AtomicBool,
    /// Bumped by every exclusive holder that changes the page.
    pub(crate) dirty_epoch: AtomicU64,
    /// The LSN of the oldest change not yet written back (meaningful while dirty).
    pub(crate) rec_lsn: AtomicU64,
    /// A write-back of the page is in flight. At most one is: two writes of one page in
    /// flight at once may complete in either order, and an older image landing last would
    /// leave the file behind a frame already marked clean.
    pub(crate) writing: AtomicBool,
    /// The layer above has checked the page's structure since it was read or formatted (see
    /// [`crate::SharedPage::mark_checked`]); cleared whenever the frame gets a new image.
    pub(crate) checked: AtomicBool,
}

impl FrameMeta {
    pub(crate) fn new() -> Self {
        Self {
            latch: HybridLatch::new(),
            page: AtomicU64::new(NO_PAGE),
            hits: AtomicU8::new(0),
            promoted: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            dirty_epoch: AtomicU64::new(0),
            rec_lsn: AtomicU64::new(REC_LSN_UNKNOWN),
            writing: AtomicBool::new(false),
            checked: AtomicBool::new(false),
        }
    }

    /// Counts a hit, writing the shared line only while the count is below its cap (a hot
    /// page's usually is not).
    #[inline]
    pub(crate) fn touch(&self) {
        let hits = self.hits.load(Ordering::Relaxed);
        if hits < HIT_COUNT_MAX {
            self.hits.store(hits + 1, Ordering::Relaxed);
        }
    }

    /// Records a change by the exclusive holder.
    pub(crate) fn mark_dirty(&self) {
        if !self.dirty.load(Ordering::Relaxed) {
            self.rec_lsn.store(REC_LSN_UNKNOWN, Ordering::Relaxed);
            self.dirty.store(true, Ordering::Relaxed);
        }
        self.dirty_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets that the frame was dirty (a fresh read, a discard).
    pub(crate) fn mark_clean(&self) {
        self.dirty.store(false, Ordering::Relaxed);
        self.rec_lsn.store(REC_LSN_UNKNOWN, Ordering::Relaxed);
    }
}

//! Finding a frame for a page that is not in the pool: the free list first, then CLOCK
//! (second chance) over the frames, then writing dirty pages back.
//!
//! The hand is one atomic counter; sweeping threads take frames from it one at a time and never
//! wait on a latch (`try_lock_exclusive`), so a sweeper cannot deadlock with a thread that holds
//! pages and is itself missing. A page read by a miss or a prefetch enters without its
//! referenced bit, and only a later hit sets it; the hand clears the bit of a page it passes
//! and takes a page whose bit is already clear. So a page touched once — a sequential scan —
//! is taken before any page touched twice, and scans do not flush the hot set.
//!
//! The eviction hand-off: the evicting thread holds the victim's latch exclusively, removes its
//! page-table entry under the table mutex, and only then clears the frame's page. A thread that
//! found the old entry just before either waits on the latch and then sees a different page (or
//! none), or read optimistically and fails validation, since the exclusive release moves the
//! version on. Either way it looks again and misses.

use crate::error::{Error, Result};
use crate::frame::NO_PAGE;
use crate::latch::ExclusiveGuard;
use crate::limits::{FRAME_WAIT_ROUND_MAX, WRITE_BATCH_PAGES_MAX};
use crate::page::PageId;
use crate::pool::PoolCore;
use crate::stats::Counter;
use crate::sync::{Ordering, yield_now};

impl PoolCore {
    /// The next frame under the clock hand.
    pub(crate) fn advance_hand(&self) -> u32 {
        let position = self.clock_hand.fetch_add(1, Ordering::Relaxed);
        u32::try_from(position % self.frames.len() as u64).expect("frame counts fit in a u32")
    }

    /// A free frame held exclusively, waiting (evicting, writing back, asking the log) as long as
    /// it takes, up to [`FRAME_WAIT_ROUND_MAX`] rounds.
    pub(crate) fn take_free_frame(&self) -> Result<(u32, ExclusiveGuard<'_>)> {
        let mut blocked_lsn_max = None;
        for _ in 0..FRAME_WAIT_ROUND_MAX {
            if let Some(taken) = self.try_take_free_frame() {
                return Ok(taken);
            }
            // Nothing free and nothing clean to take: write a batch back here and now.
            self.check_failure()?;
            let outcome = self.write_back_sweep(WRITE_BATCH_PAGES_MAX)?;
            if outcome.written == 0 {
                if let Some(lsn) = outcome.blocked_lsn_max {
                    blocked_lsn_max = Some(lsn);
                    self.log.request_durable(lsn);
                }
                yield_now();
            }
        }
        let reason = match blocked_lsn_max {
            Some(lsn) => format!("dirty pages wait for the log to be durable up to LSN {lsn}"),
            None => "every frame is latched".to_owned(),
        };
        Err(Error::Exhausted { frame_count: self.frames.len(), reason })
    }

    /// A free frame held exclusively if one is free or clean and unlatched now.
    pub(crate) fn try_take_free_frame(&self) -> Option<(u32, ExclusiveGuard<'_>)> {
        if let Some(frame) = self.free.lock().pop() {
            // A thread that probed a stale table entry may hold the latch for a moment.
            let latch = self.meta(frame).latch.lock_exclusive();
            debug_assert_eq!(self.meta(frame).page.load(Ordering::Relaxed), NO_PAGE);
            return Some((frame, latch));
        }
        self.writer_signal.wake();
        let taken = self.evict_clean(self.frames.len() * 2)?;
        self.counters.add(Counter::ForegroundEvictions, 1);
        Some(taken)
    }

    /// Sweeps at most `step_count_max` frames for a clean page without a second chance and
    /// evicts it, returning its frame held exclusively.
    pub(crate) fn evict_clean(&self, step_count_max: usize) -> Option<(u32, ExclusiveGuard<'_>)> {
        for _ in 0..step_count_max {
            let frame = self.advance_hand();
            let meta = self.meta(frame);
            if meta.page.load(Ordering::Relaxed) == NO_PAGE {
                continue;
            }
            if meta.referenced.load(Ordering::Relaxed) {
                meta.referenced.store(false, Ordering::Relaxed);
                continue;
            }
            if meta.dirty.load(Ordering::Relaxed) {
                continue;
            }
            let Some(latch) = meta.latch.try_lock_exclusive() else { continue };
            let page = meta.page.load(Ordering::Relaxed);
            if page == NO_PAGE
                || meta.dirty.load(Ordering::Relaxed)
                || meta.referenced.load(Ordering::Relaxed)
            {
                continue;
            }
            let removed = self.table.lock().remove(PageId(page));
            assert_eq!(removed, frame, "page {page} was in another frame");
            self.note_staged(PageId(page), false);
            meta.page.store(NO_PAGE, Ordering::Relaxed);
            self.counters.add(Counter::Evictions, 1);
            return Some((frame, latch));
        }
        None
    }
}

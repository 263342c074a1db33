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
use std::time::{Duration, Instant};

use crate::limits::WRITE_BATCH_PAGES_MAX;
use crate::page::PageId;
use crate::pool::PoolCore;
use crate::stats::Counter;
use crate::sync::{Ordering, yield_now};

/// Rounds without progress a thread waiting for a frame spends yielding before it sleeps.
const IDLE_ROUNDS_BEFORE_SLEEP: u32 = 64;
/// How long it then sleeps per round: short next to a device write, long next to a yield.
const IDLE_SLEEP: Duration = Duration::from_micros(100);

impl PoolCore {
    /// The next frame under the clock hand.
    pub(crate) fn advance_hand(&self) -> u32 {
        let position = self.clock_hand.fetch_add(1, Ordering::Relaxed);
        u32::try_from(position % self.frames.len() as u64).expect("frame counts fit in a u32")
    }

    /// A free frame held exclusively, waiting (evicting, writing back, asking the log) as long as
    /// the pool makes progress somewhere — a frame freed or cleaned by any thread — and giving
    /// up with [`Error::Exhausted`] only after [`crate::PoolOptions::frame_wait_max`] without
    /// any: every frame is then held by guards, or dirty and waiting for a log that does not
    /// advance. Other threads' writes in flight are progress to come, not a reason to give up.
    pub(crate) fn take_free_frame(&self) -> Result<(u32, ExclusiveGuard<'_>)> {
        let mut progress_seen = self.progress.load(std::sync::atomic::Ordering::Acquire);
        let mut idle_since = Instant::now();
        let mut idle_round_count = 0u32;
        loop {
            if let Some(taken) = self.try_take_free_frame() {
                return Ok(taken);
            }
            // Nothing free and nothing clean to take: write a batch back here and now.
            self.check_failure()?;
            let outcome = self.write_back_sweep(WRITE_BATCH_PAGES_MAX)?;
            if outcome.written > 0 {
                continue;
            }
            if let Some(lsn) = outcome.blocked_lsn_max {
                self.log.request_durable(lsn);
            }
            let progress = self.progress.load(std::sync::atomic::Ordering::Acquire);
            if progress != progress_seen {
                (progress_seen, idle_since, idle_round_count) = (progress, Instant::now(), 0);
                continue;
            }
            if idle_since.elapsed() > self.frame_wait_max {
                let reason = match outcome.blocked_lsn_max {
                    Some(lsn) => {
                        format!("dirty pages wait for the log to be durable up to LSN {lsn}")
                    }
                    None => "every frame is held by a guard".to_owned(),
                };
                return Err(Error::Exhausted { frame_count: self.frames.len(), reason });
            }
            idle_round_count += 1;
            if cfg!(loom) || idle_round_count < IDLE_ROUNDS_BEFORE_SLEEP {
                yield_now();
            } else {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    /// Counts a frame freed or cleaned, for threads waiting in [`PoolCore::take_free_frame`].
    pub(crate) fn note_progress(&self) {
        self.progress.fetch_add(1, std::sync::atomic::Ordering::Release);
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
            self.note_progress();
            return Some((frame, latch));
        }
        None
    }
}

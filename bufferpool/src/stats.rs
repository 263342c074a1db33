//! [`PoolStats`] and the striped counters behind them: each thread counts into one of a few
//! cache-line-sized stripes, so the hit path never bounces a shared counter between cores.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters since the pool was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Frames in the pool.
    pub frame_count: usize,
    /// Bytes of one page.
    pub page_bytes: usize,
    /// Fixes and reads served from a frame (including ones that waited for another thread's
    /// read of the same page).
    pub hits: u64,
    /// Fixes that had to read the page.
    pub misses: u64,
    /// Pages read from the file (misses and prefetches).
    pub pages_read: u64,
    /// Pages read by prefetch batches.
    pub pages_prefetched: u64,
    /// Prefetch submissions.
    pub prefetch_batches: u64,
    /// Pages written back.
    pub pages_written: u64,
    /// Write-back submissions.
    pub write_batches: u64,
    /// Most pages in one write-back submission.
    pub write_batch_pages_max: u64,
    /// Pages evicted from their frames.
    pub evictions: u64,
    /// Pages promoted out of probation (kept for the eviction hand to decide): found hit or
    /// dirty at its end, or read again soon after it evicted them.
    pub promotions: u64,
    /// Reads served in place from the file's mapping (mmap mode), without a frame.
    pub in_place_reads: u64,
    /// Optimistic reads that failed validation and ran again.
    pub optimistic_retries: u64,
    /// Write-backs skipped because the page's LSN was beyond the durable log.
    pub writes_deferred_for_log: u64,
    /// Times a thread needing a frame found none free and evicted or wrote back itself.
    pub foreground_evictions: u64,
    /// Discards that found a write-back of the page in flight and waited for it to land.
    pub discards_waited_for_write: u64,
    /// Pages read back by [`crate::BufferPool::verify_writes`] and found as written.
    pub pages_verified: u64,
    /// Pages written and not yet read back by a verification.
    pub pages_unverified: usize,
    /// Frames free now.
    pub frames_free: usize,
    /// Frames holding dirty pages now.
    pub frames_dirty: usize,
}

impl PoolStats {
    /// Hits over hits and misses (1.0 before any access).
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 { 1.0 } else { self.hits as f64 / total as f64 }
    }

    /// Mean pages per write-back submission.
    pub fn write_batch_pages_mean(&self) -> f64 {
        if self.write_batches == 0 {
            0.0
        } else {
            self.pages_written as f64 / self.write_batches as f64
        }
    }
}

/// One counter of [`Counters`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Hits,
    Misses,
    PagesRead,
    PagesPrefetched,
    PrefetchBatches,
    PagesWritten,
    WriteBatches,
    Evictions,
    OptimisticRetries,
    WritesDeferredForLog,
    ForegroundEvictions,
    InPlaceReads,
    DiscardsWaitedForWrite,
    PagesVerified,
    Promotions,
}

const COUNTER_COUNT: usize = 15;
const _: () = assert!(Counter::Promotions as usize + 1 == COUNTER_COUNT, "the last");
const STRIPE_COUNT: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    values: [AtomicU64; COUNTER_COUNT],
}

/// The pool's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPE_COUNT],
    write_batch_pages_max: AtomicU64,
}

static NEXT_THREAD_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_STRIPE: Cell<usize> = Cell::new(NEXT_THREAD_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPE_COUNT);
}

impl Counters {
    #[inline]
    pub(crate) fn add(&self, counter: Counter, amount: u64) {
        let stripe = THREAD_STRIPE.with(Cell::get);
        self.stripes[stripe].values[counter as usize].fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn record_write_batch(&self, page_count: u64) {
        self.add(Counter::WriteBatches, 1);
        self.add(Counter::PagesWritten, page_count);
        self.write_batch_pages_max.fetch_max(page_count, Ordering::Relaxed);
    }

    fn sum(&self, counter: Counter) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| stripe.values[counter as usize].load(Ordering::Relaxed))
            .sum()
    }

    /// The counters (frame counts are filled in by the pool).
    pub(crate) fn snapshot(&self) -> PoolStats {
        PoolStats {
            hits: self.sum(Counter::Hits),
            misses: self.sum(Counter::Misses),
            pages_read: self.sum(Counter::PagesRead),
            pages_prefetched: self.sum(Counter::PagesPrefetched),
            prefetch_batches: self.sum(Counter::PrefetchBatches),
            pages_written: self.sum(Counter::PagesWritten),
            write_batches: self.sum(Counter::WriteBatches),
            write_batch_pages_max: self.write_batch_pages_max.load(Ordering::Relaxed),
            evictions: self.sum(Counter::Evictions),
            promotions: self.sum(Counter::Promotions),
            optimistic_retries: self.sum(Counter::OptimisticRetries),
            writes_deferred_for_log: self.sum(Counter::WritesDeferredForLog),
            foreground_evictions: self.sum(Counter::ForegroundEvictions),
            in_place_reads: self.sum(Counter::InPlaceReads),
            discards_waited_for_write: self.sum(Counter::DiscardsWaitedForWrite),
            pages_verified: self.sum(Counter::PagesVerified),
            ..PoolStats::default()
        }
    }
}

//! Mmap mode: pages nobody changes are read in place, in the file's shared mapping, without a
//! frame or a copy — the kernel decides what is resident, as in LMDB. A page being changed is
//! *staged*: copied into a frame on its first exclusive fix, changed there, and written back
//! with `pwrite` like any dirty page, so the WAL rule holds in this mode too. Readers of a
//! staged page read its frame.
//!
//! Two things keep in-place reads correct:
//! - **Staged or not, exactly.** Each page hashes to a stripe. A stripe counts the staged
//!   pages that hash to it; the count goes up before a page's table entry is installed and down
//!   after it is removed. A reader that sees the count at zero knows the page is not staged;
//!   otherwise it asks the page table under its mutex (the lock-free probe may miss an entry
//!   that is being moved). A reader that decides "not staged" just before a writer stages the
//!   page reads the version before that writer's change — as if it had fixed the page before
//!   the writer did.
//! - **No write under a reader.** The only thing that changes mapped bytes is the write-back of
//!   a staged page, and it takes the page's stripe latch exclusively for the write (without
//!   waiting: a busy stripe leaves the page dirty for the next round). In-place readers hold
//!   the stripe latch shared ([`crate::SharedPage`]) or read optimistically and validate it
//!   ([`crate::BufferPool::read`]), so they never see a page half written.
//!
//! Checksums: a page read in place is verified the first time it is read, and remembered in a
//! small direct-mapped cache of verified page ids. A page flipped on disk after it was
//! verified is caught only once its cache slot has been taken by another page — the price of
//! not checksumming every in-place read; frames (direct and buffered modes) are verified on
//! every read from the file.

use std::sync::atomic::AtomicU64 as StdAtomicU64;

use crate::error::Result;
use crate::latch::{HybridLatch, SharedGuard};
use crate::page::PageId;
use crate::pool::PoolCore;
use crate::stats::Counter;
use crate::sync::{AtomicU64, Ordering};
use crate::view::{PageView, copy_out};

/// Fewest stripes: enough that two pages a thread holds rarely share one.
const STRIPE_COUNT_MIN: usize = 1024;
/// Stripes per frame: staged pages (at most one per frame) leave most stripes with a count of
/// zero, so most in-place reads never touch the page table's mutex.
const STRIPES_PER_FRAME: usize = 4;
/// Verified-page cache slots per frame.
const VERIFIED_SLOTS_PER_FRAME: usize = 2;

/// One stripe of pages.
#[derive(Debug)]
pub(crate) struct Stripe {
    latch: HybridLatch,
    staged_count: AtomicU64,
}

/// The in-place read state of a pool over a mapped file.
#[derive(Debug)]
pub(crate) struct Mapping {
    stripes: Box<[Stripe]>,
    /// `page id + 1` of recently verified pages, one per slot (0: empty).
    verified: Box<[StdAtomicU64]>,
}

impl Mapping {
    pub(crate) fn new(frame_count: usize) -> Self {
        let stripe_count =
            (frame_count * STRIPES_PER_FRAME).next_power_of_two().max(STRIPE_COUNT_MIN);
        let slot_count = (frame_count * VERIFIED_SLOTS_PER_FRAME).next_power_of_two();
        Self {
            stripes: (0..stripe_count)
                .map(|_| Stripe { latch: HybridLatch::new(), staged_count: AtomicU64::new(0) })
                .collect(),
            verified: (0..slot_count).map(|_| StdAtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn stripe_index(&self, page: PageId) -> usize {
        let hash = page.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        usize::try_from(hash).unwrap_or(usize::MAX) & (self.stripes.len() - 1)
    }

    pub(crate) fn stripe_latch(&self, index: usize) -> &HybridLatch {
        &self.stripes[index].latch
    }

    fn stripe(&self, page: PageId) -> &Stripe {
        &self.stripes[self.stripe_index(page)]
    }

    /// Panics unless each stripe counts exactly the staged pages (the table's pages) hashing
    /// to it. For quiescent pools only.
    pub(crate) fn check_staged_counts(&self, staged: impl Iterator<Item = PageId>) {
        let mut expected = vec![0u64; self.stripes.len()];
        for page in staged {
            expected[self.stripe_index(page)] += 1;
        }
        for (index, (stripe, expected)) in self.stripes.iter().zip(expected).enumerate() {
            let counted = stripe.staged_count.load(Ordering::SeqCst);
            assert_eq!(
                counted, expected,
                "stripe {index} counts {counted} staged pages, not {expected}"
            );
            stripe.latch.check_invariants();
        }
    }

    fn verified_slot(&self, page: PageId) -> &StdAtomicU64 {
        let hash = page.0.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 16;
        &self.verified[usize::try_from(hash).unwrap_or(usize::MAX) & (self.verified.len() - 1)]
    }
}

/// What an in-place read found.
pub(crate) enum InPlace<T> {
    /// The page was read in the mapping.
    Read(T),
    /// The page is staged in a frame, or lies beyond the mapped part of the file: use the
    /// frame path.
    UseFrame,
}

impl PoolCore {
    /// Records that `page` is about to be installed in (`+1`) or was just removed from (`-1`)
    /// the page table, for in-place readers.
    pub(crate) fn note_staged(&self, page: PageId, installed: bool) {
        if let Some(mapping) = &self.mapping {
            let count = &mapping.stripe(page).staged_count;
            if installed {
                count.fetch_add(1, Ordering::SeqCst);
            } else {
                let before = count.fetch_sub(1, Ordering::SeqCst);
                assert!(before > 0, "stripe of page {page} had no staged page");
            }
        }
    }

    /// Whether `page` is in the page table (staged), exactly.
    fn is_staged(&self, mapping: &Mapping, page: PageId) -> bool {
        mapping.stripe(page).staged_count.load(Ordering::SeqCst) != 0
            && self.table.lock().lookup(page).is_some()
    }

    /// The words of `page` in the mapping, if the mapped part of the file covers it.
    fn mapped_page(&self, page: PageId) -> Option<&[StdAtomicU64]> {
        let words = self.file.mapped_words()?;
        let words_per_page = self.page_bytes / 8;
        let start = usize::try_from(page.0).ok()?.checked_mul(words_per_page)?;
        words.get(start..start.checked_add(words_per_page)?)
    }

    /// Checks `page` in place unless it was verified recently.
    fn verify_in_place(
        &self,
        mapping: &Mapping,
        page: PageId,
        words: &[StdAtomicU64],
    ) -> Result<()> {
        let slot = mapping.verified_slot(page);
        if slot.load(std::sync::atomic::Ordering::Relaxed) == page.0 + 1 {
            return Ok(());
        }
        let mut image = self.staging_buffer();
        copy_out(words, &mut image[..self.page_bytes]);
        let checked = self.check_image(&image[..self.page_bytes], page);
        self.return_staging(image);
        checked?;
        slot.store(page.0 + 1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// [`crate::BufferPool::read`] on a page not found in a frame, in mmap mode.
    pub(crate) fn read_in_place<R>(
        &self,
        mapping: &Mapping,
        page: PageId,
        read: &mut impl FnMut(&PageView<'_>) -> R,
    ) -> Result<InPlace<R>> {
        let latch = &mapping.stripe(page).latch;
        for _ in 0..crate::limits::OPTIMISTIC_ATTEMPT_MAX {
            let Some(token) = latch.optimistic() else { break };
            if self.is_staged(mapping, page) {
                return Ok(InPlace::UseFrame);
            }
            let Some(words) = self.mapped_page(page) else { return Ok(InPlace::UseFrame) };
            let verified = self.verify_in_place(mapping, page, words);
            let result = verified.map(|()| read(&PageView::new(words)));
            if latch.validate(token) {
                self.counters.add(Counter::InPlaceReads, 1);
                return result.map(InPlace::Read);
            }
            self.counters.add(Counter::OptimisticRetries, 1);
        }
        match self.fix_in_place(mapping, page)? {
            InPlace::Read((words, _latch)) => Ok(InPlace::Read(read(&PageView::new(words)))),
            InPlace::UseFrame => Ok(InPlace::UseFrame),
        }
    }

    /// [`crate::BufferPool::fix_shared`] on a page not found in a frame, in mmap mode: the page
    /// in the mapping, with its stripe held shared.
    pub(crate) fn fix_in_place<'pool>(
        &'pool self,
        mapping: &'pool Mapping,
        page: PageId,
    ) -> Result<InPlace<(&'pool [StdAtomicU64], SharedGuard<'pool>)>> {
        let latch = mapping.stripe(page).latch.lock_shared();
        if self.is_staged(mapping, page) {
            return Ok(InPlace::UseFrame);
        }
        let Some(words) = self.mapped_page(page) else { return Ok(InPlace::UseFrame) };
        self.verify_in_place(mapping, page, words)?;
        self.counters.add(Counter::InPlaceReads, 1);
        Ok(InPlace::Read((words, latch)))
    }
}

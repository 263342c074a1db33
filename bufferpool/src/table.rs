//! [`PageTable`]: page id → frame index, read without locks, changed under one mutex.
//!
//! Two parts, split at a page id set from the pool's size when it opens (the *flat limit*):
//! - the **flat part**, for page ids below the flat limit: one 4-byte entry per page id,
//!   `frame index + 1`, or 0 for a page not in the pool. A lookup is one load at an address
//!   computed from the page id: no hashing, no probing, no key to compare, so the frame's
//!   address is known one load after the page id.
//! - the **overflow part**, for page ids from the flat limit to `PAGE_ID_MAX`: an
//!   open-addressing hash table sized for every frame (`overflow.rs`). A lookup there hashes the
//!   page id and probes. That hash table was the whole page table before the flat part: it
//!   cost a hit more than its size suggests. `bench pool`'s optimistic read of independent
//!   pages (the scatter rows, as a multi-get makes) took 24.1 ns with it and 15.0 ns with a
//!   flat table, and a dependent one (the chase rows, a descent) 63.6 and 55.3 ns, in the same
//!   session.
//!
//! A lookup below the flat limit costs one compare more than a flat table alone. The flat part
//! is not the whole table because its memory grows with the file, not with the pool. Its
//! entries are a reservation of address space (`disk::HugeSlice::sparse`) of 4 KiB pages that
//! take memory when an entry on them is first written, and keep it. A page of entries covers
//! 1024 page ids (4 MiB of a file of 4 KiB pages), so random reads over a large file make
//! every page of entries resident, each holding a few live entries (so freeing emptied pages
//! would not help): 4 bytes per page of the file, 1/1024 of it. Over every page id, that broke
//! the pool's memory bound (pool + 5% + 16 MiB) at a 20 GiB file for a 64 MiB pool, and at a
//! 68 GiB file for a 1 GiB pool.
//!
//! So the flat part has as many entries as fit in `pool_bytes / 64 + 4 MiB`
//! ([`crate::limits::TABLE_FLAT_POOL_DIVISOR`]): 5 MiB for a 64 MiB pool (1,310,720 page ids,
//! the first 5 GiB of a file of 4 KiB pages), 20 MiB for a 1 GiB pool (20 GiB of file). The
//! overflow part holds at most a page per frame, in at most 32 bytes per frame (256 KiB for a
//! 64 MiB pool of 4 KiB pages). The table takes at most `pool_bytes / 64 + 4 MiB` + 32 bytes
//! per frame, whatever the file's size: 2.4% of a pool of 4 KiB pages + 4 MiB.
//!
//! Readers load entries atomically and take no lock, so the hit path writes nothing shared.
//! Writers (a miss installing a page, an eviction removing one) hold the table's mutex,
//! whichever part the page is in. A reader racing a writer can be wrong in two ways, in either
//! part, and both are harmless by construction:
//! - a *false miss* (the page was being installed or, in the overflow part, a removal was
//!   moving the page's entry back past the reader's probe): the miss path looks again under
//!   the mutex before it reads anything from disk;
//! - a *stale hit* (the page was evicted after the reader found its frame): every fix checks,
//!   under the frame's latch or with a validated optimistic read, that the frame still holds
//!   the page, and looks again if not.
//!
//! Whatever a reader finds was the page's frame at some moment, in either part: a flat entry
//! is page `p`'s by its place, and an overflow entry holds its page id and its frame in one
//! word, so a probe never pairs one page's id with another's frame.
//!
//! Under loom the flat part is page 0 alone and every overflow page has the same home slot, so
//! that the pool's models, which use pages 0, 1 and 2, run both parts, probe runs and backward
//! shifts under a concurrent probe included (a model fails with the shift removed; with the
//! real hash, pages 1 and 2 never share a run and none did).

mod overflow;

use disk::HugeSlice;

use self::overflow::Overflow;
use crate::error::Result;
use crate::limits::{FRAME_COUNT_MAX, PAGE_ID_MAX, TABLE_FLAT_BYTES_BASE, TABLE_FLAT_POOL_DIVISOR};
use crate::page::PageId;
use crate::pool::memory_error;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};

/// The flat entry of a page not in the pool.
const EMPTY: u32 = 0;
/// Bytes of a flat entry (a `u32`).
const FLAT_ENTRY_BYTES: usize = 4;
/// Flat entries on a 4 KiB page of them: the flat part is made of whole pages, since a page
/// partly used takes its memory whole.
const FLAT_ENTRIES_PER_PAGE: usize = 4096 / FLAT_ENTRY_BYTES;
/// The flat limit under loom: see the module doc.
const LOOM_FLAT_ENTRY_COUNT: usize = 1;

/// The page table of one pool.
#[derive(Debug)]
pub(crate) struct PageTable {
    /// Entry `p` is page `p`'s, for `p` below the flat limit, which is the slice's length.
    flat: HugeSlice<AtomicU32>,
    /// Pages in `flat` (changed under `writer`).
    flat_len: AtomicU64,
    /// Pages at or above the flat limit (changed under `writer`).
    overflow: Overflow,
    writer: Mutex<()>,
}

/// The page table held for changes.
pub(crate) struct TableWriter<'table> {
    table: &'table PageTable,
    _held: MutexGuard<'table, ()>,
}

impl PageTable {
    /// A table for a pool of `pool_bytes` in `frame_count` frames, taking memory only as
    /// pages come in, and at most what the module doc says.
    pub(crate) fn new(pool_bytes: usize, frame_count: usize) -> Result<Self> {
        let entry_count = flat_entry_count(pool_bytes);
        let flat = Self::map(entry_count)
            .map_err(memory_error::<AtomicU32>("page table (flat part)", entry_count))?;
        let overflow = Overflow::new(frame_count)?;
        Ok(Self { flat, flat_len: AtomicU64::new(0), overflow, writer: Mutex::new(()) })
    }

    #[cfg(not(loom))]
    fn map(entry_count: usize) -> std::io::Result<HugeSlice<AtomicU32>> {
        HugeSlice::sparse(entry_count)
    }

    /// Loom's atomics are not all-zero bytes, so each is made (loom's page ids are few).
    #[cfg(loom)]
    fn map(entry_count: usize) -> std::io::Result<HugeSlice<AtomicU32>> {
        HugeSlice::new(entry_count, |_| AtomicU32::new(EMPTY))
    }

    /// The frame holding `page`, as far as a lock-free load or probe can tell (see the module
    /// doc). `None` for a page id beyond `PAGE_ID_MAX`.
    #[inline]
    pub(crate) fn lookup(&self, page: PageId) -> Option<u32> {
        match self.flat_entry(page) {
            Some(entry) => entry.load(Ordering::Acquire).checked_sub(1),
            None => self.overflow.lookup(page),
        }
    }

    /// Page `page`'s flat entry; `None` at or above the flat limit. The limit is the flat
    /// part's length, so the slice's bounds check is the one compare that chooses the part.
    #[inline]
    fn flat_entry(&self, page: PageId) -> Option<&AtomicU32> {
        usize::try_from(page.0).ok().and_then(|index| self.flat.get(index))
    }

    /// Page ids below this are in the flat part.
    pub(crate) fn flat_limit(&self) -> u64 {
        self.flat.len() as u64
    }

    /// Holds the table for changes.
    pub(crate) fn lock(&self) -> TableWriter<'_> {
        TableWriter { table: self, _held: self.writer.lock() }
    }

    /// Pages in the table, in both parts (for invariant checks; not atomic with concurrent
    /// changes).
    pub(crate) fn len(&self) -> usize {
        let len = self.flat_len.load(Ordering::Relaxed) + self.overflow.len();
        usize::try_from(len).expect("entries fit in memory")
    }

    /// Checks the overflow part's structure (see `Overflow::check_invariants`); the pool
    /// checks that each of its pages is found, and [`PageTable::len`]. Not atomic with
    /// concurrent changes.
    pub(crate) fn check_invariants(&self) {
        self.overflow.check_invariants(self.flat_limit());
    }

    /// Bytes of the table's memory in RAM now, both parts.
    #[cfg(all(test, not(loom)))]
    fn resident_bytes(&self) -> usize {
        self.flat.resident_bytes().expect("mincore on a live mapping")
            + self.overflow.resident_bytes()
    }
}

impl TableWriter<'_> {
    /// The frame holding `page` (exact: no writer runs concurrently).
    #[inline]
    pub(crate) fn lookup(&self, page: PageId) -> Option<u32> {
        self.table.lookup(page)
    }

    /// Records that `frame` holds `page`, which must not be in the table.
    ///
    /// # Panics
    /// If `page` is in the table, or beyond `PAGE_ID_MAX` (the pool checks ids first), or
    /// `frame` is not below `FRAME_COUNT_MAX`.
    pub(crate) fn insert(&mut self, page: PageId, frame: u32) {
        assert!(page.0 <= PAGE_ID_MAX, "page {page} is beyond PAGE_ID_MAX ({PAGE_ID_MAX})");
        assert!((frame as usize) < FRAME_COUNT_MAX, "frame {frame} is beyond FRAME_COUNT_MAX");
        let Some(entry) = self.table.flat_entry(page) else {
            self.table.overflow.insert(page, frame);
            return;
        };
        assert_eq!(entry.load(Ordering::Relaxed), EMPTY, "page {page} is already in the table");
        entry.store(frame + 1, Ordering::Release);
        let flat_len = &self.table.flat_len;
        flat_len.store(flat_len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Forgets `page`, which must be in the table, and returns its frame.
    pub(crate) fn remove(&mut self, page: PageId) -> u32 {
        assert!(page.0 <= PAGE_ID_MAX, "page {page} is beyond PAGE_ID_MAX ({PAGE_ID_MAX})");
        let Some(entry) = self.table.flat_entry(page) else {
            return self.table.overflow.remove(page);
        };
        let value = entry.load(Ordering::Relaxed);
        assert!(value != EMPTY, "page {page} is not in the table");
        entry.store(EMPTY, Ordering::Release);
        let flat_len = &self.table.flat_len;
        flat_len.store(flat_len.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        value - 1
    }
}

/// Entries of the flat part of a pool of `pool_bytes` (its flat limit): as many as fit in
/// `pool_bytes / 64 + 4 MiB`, in whole 4 KiB pages of entries, and no more than there are
/// page ids. For 64 MiB: (1 MiB + 4 MiB) / 4 = 1,310,720.
fn flat_entry_count(pool_bytes: usize) -> usize {
    if cfg!(loom) {
        return LOOM_FLAT_ENTRY_COUNT;
    }
    let bytes_max = pool_bytes / TABLE_FLAT_POOL_DIVISOR + TABLE_FLAT_BYTES_BASE;
    let whole_pages = bytes_max / FLAT_ENTRY_BYTES / FLAT_ENTRIES_PER_PAGE;
    let page_id_count = usize::try_from(PAGE_ID_MAX + 1).expect("page ids fit in a usize");
    (whole_pages * FLAT_ENTRIES_PER_PAGE).min(page_id_count)
}

const _: () = assert!(size_of::<u32>() == FLAT_ENTRY_BYTES);
const _: () = assert!(LOOM_FLAT_ENTRY_COUNT as u64 <= PAGE_ID_MAX);

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::{HashMap, HashSet};

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// A table for a pool of `frame_count` frames of 4 KiB.
    fn table_for(frame_count: usize) -> PageTable {
        PageTable::new(frame_count * 4096, frame_count).unwrap()
    }

    /// Random inserts and removes against a HashMap, over page ids in both parts: the first,
    /// the last, either side of the flat limit, and random ones in the flat part's range and
    /// across the whole range.
    #[test]
    fn matches_a_hash_map_under_random_changes() {
        let table = table_for(64);
        let flat_limit = table.flat_limit();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut pages: Vec<u64> = (0..20).map(|_| rng.random_range(0..=PAGE_ID_MAX)).collect();
        pages.extend((0..20).map(|_| rng.random_range(0..flat_limit)));
        pages.extend([0, 1, flat_limit - 1, flat_limit, flat_limit + 1]);
        pages.extend([PAGE_ID_MAX - 1, PAGE_ID_MAX]);
        assert!(pages.len() <= 64, "no more pages than frames");
        let mut model: HashMap<u64, u32> = HashMap::new();
        for step in 0..5_000u32 {
            let page = pages[rng.random_range(0..pages.len())];
            let mut writer = table.lock();
            if let Some(frame) = model.get(&page) {
                assert_eq!(writer.remove(PageId(page)), *frame);
                model.remove(&page);
            } else {
                let frame = rng.random_range(0..u32::try_from(crate::FRAME_COUNT_MAX).unwrap());
                writer.insert(PageId(page), frame);
                model.insert(page, frame);
            }
            drop(writer);
            assert_eq!(table.len(), model.len(), "at step {step}");
            table.check_invariants();
            for &probe in &pages {
                assert_eq!(
                    table.lookup(PageId(probe)),
                    model.get(&probe).copied(),
                    "page {probe} at step {step}"
                );
            }
        }
    }

    /// The flat part's size in worked numbers: a 64th of the pool + 4 MiB, in whole 4 KiB
    /// pages of entries, and never more than every page id.
    #[test]
    fn the_flat_part_is_sized_by_the_pool() {
        assert_eq!(flat_entry_count(64 << 20), 1_310_720, "64 MiB pool: 5 GiB of 4 KiB pages");
        assert_eq!(flat_entry_count(1 << 30), 5_242_880, "1 GiB pool: 20 GiB of 4 KiB pages");
        assert_eq!(flat_entry_count(8 * 4096), 1 << 20, "the smallest pool: the base alone");
        assert_eq!(flat_entry_count(100_000), 1 << 20, "a 64th is 1562 bytes: no whole page");
        let pool_bytes_max = FRAME_COUNT_MAX * crate::PAGE_BYTES_MAX;
        assert_eq!(flat_entry_count(pool_bytes_max) as u64, PAGE_ID_MAX + 1, "every page id");
        for pool_bytes in [8 * 4096, 100_000, 64 << 20, 1 << 30, pool_bytes_max] {
            let entry_count = flat_entry_count(pool_bytes);
            let bytes_max = pool_bytes / 64 + (4 << 20);
            assert!(entry_count * 4 <= bytes_max, "{pool_bytes}-byte pool");
            if pool_bytes < pool_bytes_max {
                assert_eq!(entry_count % FLAT_ENTRIES_PER_PAGE, 0, "whole pages");
            }
        }
    }

    /// The table's memory is bounded by the pool, not by the file: pages come and go at random
    /// page ids across the whole range (half of them in the flat part's range, which fills it),
    /// far more distinct ids than the pool holds, and the table's resident memory stays within
    /// `pool_bytes / 64 + 4 MiB` + 32 bytes per frame. A flat table over every page id (the
    /// table before the overflow part) fails this at the second round, 8 MiB resident: each
    /// page id makes a 4 KiB page of entries resident, and keeps it.
    #[test]
    fn the_table_takes_memory_by_the_pool_not_by_the_file() {
        let frame_count = 1024;
        let pool_bytes = frame_count * 4096;
        let table = PageTable::new(pool_bytes, frame_count).unwrap();
        let bound_bytes =
            pool_bytes / TABLE_FLAT_POOL_DIVISOR + TABLE_FLAT_BYTES_BASE + 32 * frame_count;
        let flat_limit = table.flat_limit();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut pages: HashSet<u64> = HashSet::new();
        for round in 0..40 {
            // Every frame gets a page, then every page is evicted.
            while pages.len() < frame_count {
                let page = if rng.random_bool(0.5) {
                    rng.random_range(0..=PAGE_ID_MAX)
                } else {
                    rng.random_range(0..flat_limit)
                };
                if pages.insert(page) {
                    let frame = u32::try_from(pages.len() - 1).unwrap();
                    table.lock().insert(PageId(page), frame);
                }
            }
            let resident_bytes = table.resident_bytes();
            assert!(
                resident_bytes <= bound_bytes,
                "round {round}: {resident_bytes} bytes resident, above {bound_bytes}"
            );
            let mut writer = table.lock();
            for page in pages.drain() {
                writer.remove(PageId(page));
            }
        }
        assert_eq!(table.len(), 0);
        // The pages were spread enough to fill the flat part: the bound was approached.
        let flat_bytes = table.flat.len() * FLAT_ENTRY_BYTES;
        assert!(table.resident_bytes() >= flat_bytes * 9 / 10, "the flat part was filled");
        assert!(table.overflow.slot_bytes() <= 32 * frame_count);
    }

    #[test]
    fn a_page_id_beyond_the_limit_is_never_found() {
        let table = table_for(8);
        table.lock().insert(PageId(PAGE_ID_MAX), 3);
        assert_eq!(table.lookup(PageId(PAGE_ID_MAX)), Some(3));
        assert_eq!(table.lookup(PageId(PAGE_ID_MAX + 1)), None);
        assert_eq!(table.lookup(PageId(u64::MAX)), None);
    }

    #[test]
    #[should_panic(expected = "beyond PAGE_ID_MAX")]
    fn a_page_id_beyond_the_limit_is_never_installed() {
        table_for(8).lock().insert(PageId(PAGE_ID_MAX + 1), 0);
    }

    #[test]
    #[should_panic(expected = "already in the table")]
    fn a_page_installed_twice_in_the_flat_part_is_a_bug() {
        let table = table_for(8);
        let mut writer = table.lock();
        writer.insert(PageId(5), 1);
        writer.insert(PageId(5), 2);
    }

    #[test]
    #[should_panic(expected = "already in the table")]
    fn a_page_installed_twice_in_the_overflow_part_is_a_bug() {
        let table = table_for(8);
        let page = PageId(table.flat_limit() + 5);
        let mut writer = table.lock();
        writer.insert(page, 1);
        writer.insert(page, 2);
    }

    #[test]
    #[should_panic(expected = "not in the table")]
    fn a_page_removed_but_never_installed_is_a_bug() {
        let table = table_for(8);
        table.lock().remove(PageId(table.flat_limit() + 5));
    }
}

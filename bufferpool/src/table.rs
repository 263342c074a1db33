//! [`PageTable`]: page id → frame index, read without locks, changed under one mutex.
//!
//! One 4-byte entry per page id the pool accepts (`0..=PAGE_ID_MAX`): `frame index + 1`, or 0
//! for a page not in the pool. A lookup is one load at an address computed from the page id:
//! no hashing, no probing, no key to compare, so the frame's address is known one load after
//! the page id. The open-addressing hash table this replaced (half full, linear probing) cost a
//! hit more than its size suggests: `bench pool`'s optimistic read of independent pages (the
//! scatter rows, as a multi-get makes) took 24.1 ns with it and 15.0 ns without, and a
//! dependent one (the chase rows, a descent) 63.6 and 55.3 ns, in the same session.
//!
//! The entries are a reservation of address space, not memory: `disk::HugeSlice::sparse`, of
//! 4 KiB pages that take memory only when an entry on them is first written. A 4 KiB page of
//! entries covers 1024 page ids (4 MiB of a file of 4 KiB pages), so the table takes at most
//! 4 bytes per page of the file (1/1024 of it), and less where the pool has never held pages.
//! The reservation is 16 GiB of address space (`PAGE_ID_MAX` + 1 entries).
//!
//! Readers load entries atomically and take no lock, so the hit path writes nothing shared.
//! Writers (a miss installing a page, an eviction removing one) hold the table's mutex. A
//! reader racing a writer can be wrong in two ways, and both are harmless by construction:
//! - a *false miss* (the page was being installed): the miss path looks again under the mutex
//!   before it reads anything from disk;
//! - a *stale hit* (the page was evicted after the reader found its frame): every fix checks,
//!   under the frame's latch or with a validated optimistic read, that the frame still holds
//!   the page, and looks again if not.

use disk::HugeSlice;

use crate::error::Result;
use crate::limits::PAGE_ID_MAX;
use crate::page::PageId;
use crate::pool::memory_error;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};

/// The entry of a page not in the pool.
const EMPTY: u32 = 0;

/// The page table of one pool.
#[derive(Debug)]
pub(crate) struct PageTable {
    /// Entry `p` is page `p`'s (`PAGE_ID_MAX + 1` of them).
    entries: HugeSlice<AtomicU32>,
    /// Pages in the table (changed under `writer`).
    len: AtomicU64,
    writer: Mutex<()>,
}

/// The page table held for changes.
pub(crate) struct TableWriter<'table> {
    table: &'table PageTable,
    _held: MutexGuard<'table, ()>,
}

impl PageTable {
    /// A table for every page id up to `PAGE_ID_MAX`, taking memory only as pages come in.
    pub(crate) fn new() -> Result<Self> {
        let entry_count = usize::try_from(PAGE_ID_MAX + 1).expect("page ids fit in a usize");
        let entries =
            Self::map(entry_count).map_err(memory_error::<AtomicU32>("page table", entry_count))?;
        Ok(Self { entries, len: AtomicU64::new(0), writer: Mutex::new(()) })
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

    /// The frame holding `page`, as far as a lock-free load can tell (see the module doc).
    /// `None` for a page id beyond `PAGE_ID_MAX`.
    #[inline]
    pub(crate) fn lookup(&self, page: PageId) -> Option<u32> {
        let index = usize::try_from(page.0).ok()?;
        let entry = self.entries.get(index)?.load(Ordering::Acquire);
        entry.checked_sub(1)
    }

    /// Holds the table for changes.
    pub(crate) fn lock(&self) -> TableWriter<'_> {
        TableWriter { table: self, _held: self.writer.lock() }
    }

    /// Pages in the table (for invariant checks; not atomic with concurrent changes).
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len.load(Ordering::Relaxed)).expect("entries fit in memory")
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
    /// If `page` is in the table, or beyond `PAGE_ID_MAX` (the pool checks ids first).
    pub(crate) fn insert(&mut self, page: PageId, frame: u32) {
        let entry = self.entry(page);
        let value = frame.checked_add(1).expect("frame indexes are below FRAME_COUNT_MAX");
        assert_eq!(entry.load(Ordering::Relaxed), EMPTY, "page {page} is already in the table");
        entry.store(value, Ordering::Release);
        self.table.len.store(self.table.len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Forgets `page`, which must be in the table, and returns its frame.
    pub(crate) fn remove(&mut self, page: PageId) -> u32 {
        let entry = self.entry(page);
        let value = entry.load(Ordering::Relaxed);
        assert!(value != EMPTY, "page {page} is not in the table");
        entry.store(EMPTY, Ordering::Release);
        self.table.len.store(self.table.len.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        value - 1
    }

    fn entry(&self, page: PageId) -> &AtomicU32 {
        usize::try_from(page.0)
            .ok()
            .and_then(|index| self.table.entries.get(index))
            .unwrap_or_else(|| panic!("page {page} is beyond PAGE_ID_MAX ({PAGE_ID_MAX})"))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Random inserts and removes against a HashMap, over page ids spread across the whole
    /// range (the first, the last, and random ones between).
    #[test]
    fn matches_a_hash_map_under_random_changes() {
        let table = PageTable::new().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut pages: Vec<u64> = (0..40).map(|_| rng.random_range(0..=PAGE_ID_MAX)).collect();
        pages.extend([0, 1, PAGE_ID_MAX - 1, PAGE_ID_MAX]);
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
            for &probe in &pages {
                assert_eq!(
                    table.lookup(PageId(probe)),
                    model.get(&probe).copied(),
                    "page {probe} at step {step}"
                );
            }
        }
    }

    #[test]
    fn a_page_id_beyond_the_limit_is_never_found() {
        let table = PageTable::new().unwrap();
        table.lock().insert(PageId(PAGE_ID_MAX), 3);
        assert_eq!(table.lookup(PageId(PAGE_ID_MAX)), Some(3));
        assert_eq!(table.lookup(PageId(PAGE_ID_MAX + 1)), None);
        assert_eq!(table.lookup(PageId(u64::MAX)), None);
    }

    #[test]
    #[should_panic(expected = "already in the table")]
    fn a_page_installed_twice_is_a_bug() {
        let table = PageTable::new().unwrap();
        let mut writer = table.lock();
        writer.insert(PageId(5), 1);
        writer.insert(PageId(5), 2);
    }
}

//! [`PageTable`]: page id → frame index, read without locks, changed under one mutex.
//!
//! An open-addressing hash table of packed words, at most half full:
//!
//! ```text
//! bits 0..24   frame index
//! bits 24..64  page id + 1   (0 marks an empty slot)
//! ```
//!
//! Readers probe with atomic loads and take no lock, so the hit path writes nothing shared.
//! Writers (a miss installing a page, an eviction removing one) hold the table's mutex and
//! delete by backward shift, so the table never fills with tombstones. A reader racing a writer
//! can be wrong in two ways, and both are harmless by construction:
//! - a *false miss* (the entry was being moved past the reader's probe): the miss path looks
//!   again under the mutex before it reads anything from disk;
//! - a *stale hit* (the page was evicted after the reader found its frame): every fix checks,
//!   under the frame's latch or with a validated optimistic read, that the frame still holds
//!   the page, and looks again if not.

use disk::HugeSlice;

use crate::error::Result;
use crate::limits::FRAME_INDEX_BITS;
use crate::page::PageId;
use crate::pool::memory_error;
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

const FRAME_MASK: u64 = (1 << FRAME_INDEX_BITS) - 1;
const EMPTY: u64 = 0;

/// The page table of one pool.
#[derive(Debug)]
pub(crate) struct PageTable {
    /// On huge pages where the kernel gives them (see `disk::HugeSlice`).
    slots: HugeSlice<AtomicU64>,
    /// `slots.len() - 1` (the length is a power of two).
    mask: usize,
    writer: Mutex<()>,
}

/// The page table held for changes.
pub(crate) struct TableWriter<'table> {
    table: &'table PageTable,
    _held: MutexGuard<'table, ()>,
}

impl PageTable {
    /// A table for `frame_count` frames, at most half full when every frame holds a page.
    pub(crate) fn new(frame_count: usize) -> Result<Self> {
        let slot_count = (frame_count * 2).next_power_of_two().max(16);
        let slots = HugeSlice::new(slot_count, |_| AtomicU64::new(EMPTY))
            .map_err(memory_error::<AtomicU64>("page table", slot_count))?;
        Ok(Self { slots, mask: slot_count - 1, writer: Mutex::new(()) })
    }

    /// The frame holding `page`, as far as a lock-free probe can tell (see the module doc).
    #[inline]
    pub(crate) fn lookup(&self, page: PageId) -> Option<u32> {
        let key = key_of(page);
        let mut slot = self.home_of(page);
        for _ in 0..self.slots.len() {
            let entry = self.slots[slot].load(Ordering::Acquire);
            if entry == EMPTY {
                return None;
            }
            if entry >> FRAME_INDEX_BITS == key {
                return Some(frame_of(entry));
            }
            slot = (slot + 1) & self.mask;
        }
        None
    }

    /// Holds the table for changes.
    pub(crate) fn lock(&self) -> TableWriter<'_> {
        TableWriter { table: self, _held: self.writer.lock() }
    }

    #[inline]
    fn home_of(&self, page: PageId) -> usize {
        // Fibonacci hashing: consecutive page ids (a scan) spread over the table.
        let hash = page.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (hash >> 32) as usize & self.mask
    }

    /// Pages in the table (for invariant checks; not atomic with concurrent changes).
    pub(crate) fn entries(&self) -> Vec<(PageId, u32)> {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Acquire))
            .filter(|&entry| entry != EMPTY)
            .map(|entry| (PageId((entry >> FRAME_INDEX_BITS) - 1), frame_of(entry)))
            .collect()
    }
}

impl TableWriter<'_> {
    /// The frame holding `page` (exact: no writer runs concurrently).
    #[inline]
    pub(crate) fn lookup(&self, page: PageId) -> Option<u32> {
        self.table.lookup(page)
    }

    /// Records that `frame` holds `page`, which must not be in the table.
    pub(crate) fn insert(&mut self, page: PageId, frame: u32) {
        let table = self.table;
        let entry = (key_of(page) << FRAME_INDEX_BITS) | u64::from(frame);
        let mut slot = table.home_of(page);
        loop {
            let current = table.slots[slot].load(Ordering::Relaxed);
            assert!(
                current >> FRAME_INDEX_BITS != key_of(page),
                "page {page} is already in the table"
            );
            if current == EMPTY {
                table.slots[slot].store(entry, Ordering::Release);
                return;
            }
            slot = (slot + 1) & table.mask;
        }
    }

    /// Forgets `page`, which must be in the table, and returns its frame.
    pub(crate) fn remove(&mut self, page: PageId) -> u32 {
        let table = self.table;
        let key = key_of(page);
        let mut hole = table.home_of(page);
        loop {
            let entry = table.slots[hole].load(Ordering::Relaxed);
            assert!(entry != EMPTY, "page {page} is not in the table");
            if entry >> FRAME_INDEX_BITS == key {
                break;
            }
            hole = (hole + 1) & table.mask;
        }
        let frame = frame_of(table.slots[hole].load(Ordering::Relaxed));
        self.close_hole(hole);
        frame
    }

    /// Backward-shift deletion: moves later entries of the probe run into the hole so that no
    /// entry sits beyond an empty slot from its home, then empties the last hole.
    fn close_hole(&mut self, mut hole: usize) {
        let table = self.table;
        let mut probe = hole;
        loop {
            probe = (probe + 1) & table.mask;
            let entry = table.slots[probe].load(Ordering::Relaxed);
            if entry == EMPTY {
                break;
            }
            let home = table.home_of(PageId((entry >> FRAME_INDEX_BITS) - 1));
            // The entry may move back to the hole only if the hole lies on its probe path,
            // i.e. cyclically within home..=probe.
            let distance_to_hole = hole.wrapping_sub(home) & table.mask;
            let distance_to_probe = probe.wrapping_sub(home) & table.mask;
            if distance_to_hole <= distance_to_probe {
                table.slots[hole].store(entry, Ordering::Release);
                hole = probe;
            }
        }
        table.slots[hole].store(EMPTY, Ordering::Release);
    }
}

fn key_of(page: PageId) -> u64 {
    page.0 + 1
}

fn frame_of(entry: u64) -> u32 {
    u32::try_from(entry & FRAME_MASK).expect("24 bits fit in a u32")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Random inserts and removes against a HashMap, on a small table so that probe runs wrap
    /// around the end and backward shifts cross it.
    #[test]
    fn matches_a_hash_map_under_random_changes() {
        let table = PageTable::new(8).unwrap();
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for step in 0..20_000u32 {
            let page = rng.random_range(0..40u64);
            let mut writer = table.lock();
            if let Some(frame) = model.get(&page) {
                assert_eq!(writer.remove(PageId(page)), *frame);
                model.remove(&page);
            } else if model.len() < 8 {
                writer.insert(PageId(page), step % 8);
                model.insert(page, step % 8);
            }
            drop(writer);
            for probe in 0..40u64 {
                assert_eq!(
                    table.lookup(PageId(probe)),
                    model.get(&probe).copied(),
                    "page {probe} at step {step}"
                );
            }
        }
    }

    #[test]
    fn the_largest_page_id_and_frame_index_round_trip() {
        let table = PageTable::new(8).unwrap();
        let page = PageId(crate::limits::PAGE_ID_MAX);
        let frame = u32::try_from(crate::limits::FRAME_COUNT_MAX - 1).unwrap();
        table.lock().insert(page, frame);
        assert_eq!(table.lookup(page), Some(frame));
        assert_eq!(table.entries(), vec![(page, frame)]);
        assert_eq!(table.lock().remove(page), frame);
        assert_eq!(table.lookup(page), None);
    }
}

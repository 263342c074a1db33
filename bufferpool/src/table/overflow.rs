//! [`Overflow`]: the page table's part for page ids at or above the flat part's limit (see
//! `table.rs` for why there are two parts). An open-addressing hash table of packed words,
//! linear probing, at most half full:
//!
//! ```text
//! bits 0..24   frame index
//! bits 24..64  page id + 1   (0 marks an empty slot)
//! ```
//!
//! Sized for every frame (no more pages than frames can be in the pool, so in this part):
//! the next power of two at or above twice the frame count, 8 bytes a slot, so at most 32
//! bytes per frame. A 64 MiB pool of 4 KiB pages has 16,384 frames and 32,768 slots: 256 KiB.
//! The slots are a zeroed `disk::HugeSlice` (an empty slot is all zeros), so they take memory
//! only where written.
//!
//! Readers probe with atomic loads and take no lock. Writers hold the page table's mutex and
//! delete by backward shift, so the table never fills with tombstones. A page's id and frame
//! are one word, so a reader finds a page's frame or nothing, never another page's frame; it
//! can miss a page whose entry a removal is moving back past its probe (a *false miss*, which
//! the page table's protocol makes harmless: see `table.rs`).

use disk::HugeSlice;

use crate::error::Result;
use crate::limits::{FRAME_COUNT_MAX, PAGE_ID_MAX};
use crate::page::PageId;
use crate::pool::memory_error;
use crate::sync::{AtomicU64, Ordering};

/// Bits of a slot holding the frame index.
const FRAME_INDEX_BITS: u32 = 24;
const FRAME_MASK: u64 = (1 << FRAME_INDEX_BITS) - 1;
/// The slot of no page: `page id + 1` is never 0.
const EMPTY: u64 = 0;

const _: () = assert!(FRAME_COUNT_MAX <= 1 << FRAME_INDEX_BITS, "a frame index fits its bits");
const _: () = assert!(PAGE_ID_MAX + 1 < 1 << (64 - FRAME_INDEX_BITS), "a page id + 1 fits");

/// The page table's hash part.
#[derive(Debug)]
pub(super) struct Overflow {
    /// Packed entries (see the module doc); the length is a power of two.
    slots: HugeSlice<AtomicU64>,
    /// `slots.len() - 1`.
    mask: usize,
    /// Pages in the part (changed only under the page table's mutex): at most half the slots.
    len: AtomicU64,
}

impl Overflow {
    /// A part for `frame_count` frames, at most half full when every frame holds a page in it.
    pub(super) fn new(frame_count: usize) -> Result<Self> {
        let slot_count = (frame_count * 2).next_power_of_two();
        let slots = Self::map(slot_count)
            .map_err(memory_error::<AtomicU64>("page table (overflow part)", slot_count))?;
        Ok(Self { slots, mask: slot_count - 1, len: AtomicU64::new(0) })
    }

    #[cfg(not(loom))]
    fn map(slot_count: usize) -> std::io::Result<HugeSlice<AtomicU64>> {
        HugeSlice::zeroed(slot_count)
    }

    /// Loom's atomics are not all-zero bytes, so each is made (loom's pools have 2 frames).
    #[cfg(loom)]
    fn map(slot_count: usize) -> std::io::Result<HugeSlice<AtomicU64>> {
        HugeSlice::new(slot_count, |_| AtomicU64::new(EMPTY))
    }

    /// The frame holding `page`, as far as a lock-free probe can tell. `None` for a page id
    /// beyond `PAGE_ID_MAX`.
    #[inline]
    pub(super) fn lookup(&self, page: PageId) -> Option<u32> {
        if page.0 > PAGE_ID_MAX {
            return None;
        }
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

    /// Pages in the part (not atomic with concurrent changes).
    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    /// Records that `frame` holds `page`, which must not be in the part. The caller holds the
    /// page table's mutex and has checked `page` and `frame` against their limits.
    pub(super) fn insert(&self, page: PageId, frame: u32) {
        let len = self.len.load(Ordering::Relaxed);
        assert!(len < self.slots.len() as u64 / 2, "the overflow part is half full ({len})");
        let entry = (key_of(page) << FRAME_INDEX_BITS) | u64::from(frame);
        let mut slot = self.home_of(page);
        loop {
            let current = self.slots[slot].load(Ordering::Relaxed);
            assert!(
                current >> FRAME_INDEX_BITS != key_of(page),
                "page {page} is already in the table"
            );
            if current == EMPTY {
                self.slots[slot].store(entry, Ordering::Release);
                self.len.store(len + 1, Ordering::Relaxed);
                return;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Forgets `page`, which must be in the part, and returns its frame. The caller holds the
    /// page table's mutex.
    pub(super) fn remove(&self, page: PageId) -> u32 {
        let key = key_of(page);
        let mut hole = self.home_of(page);
        loop {
            let entry = self.slots[hole].load(Ordering::Relaxed);
            assert!(entry != EMPTY, "page {page} is not in the table");
            if entry >> FRAME_INDEX_BITS == key {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let frame = frame_of(self.slots[hole].load(Ordering::Relaxed));
        self.close_hole(hole);
        self.len.store(self.len.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        frame
    }

    /// Backward-shift deletion: moves later entries of the probe run into the hole so that no
    /// entry sits beyond an empty slot from its home, then empties the last hole.
    fn close_hole(&self, mut hole: usize) {
        let mut probe = hole;
        loop {
            probe = (probe + 1) & self.mask;
            let entry = self.slots[probe].load(Ordering::Relaxed);
            if entry == EMPTY {
                break;
            }
            let home = self.home_of(page_of(entry));
            // The entry may move back to the hole only if the hole lies on its probe path,
            // i.e. cyclically within home..=probe.
            let distance_to_hole = hole.wrapping_sub(home) & self.mask;
            let distance_to_probe = probe.wrapping_sub(home) & self.mask;
            if distance_to_hole <= distance_to_probe {
                self.slots[hole].store(entry, Ordering::Release);
                hole = probe;
            }
        }
        self.slots[hole].store(EMPTY, Ordering::Release);
    }

    #[inline]
    fn home_of(&self, page: PageId) -> usize {
        // Under loom every page's home is slot 0, so that the models' few pages share one
        // probe run: lookups walk it while removals shift it back (any home is correct).
        if cfg!(loom) {
            return 0;
        }
        // Fibonacci hashing: consecutive page ids (a scan) spread over the table. The high
        // half of the product is the well-mixed one.
        let hash = page.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        usize::try_from(hash >> 32).expect("32 bits fit in a usize") & self.mask
    }

    /// Checks that the part counts its entries right, is at most half full, and that every
    /// entry is found by probing from its home (no empty slot between them) and belongs here
    /// (at or above `flat_limit`, at most `PAGE_ID_MAX`). Not atomic with concurrent changes.
    pub(super) fn check_invariants(&self, flat_limit: u64) {
        let mut occupied = 0u64;
        for entry in self.slots.iter().map(|slot| slot.load(Ordering::Acquire)) {
            if entry == EMPTY {
                continue;
            }
            occupied += 1;
            let page = page_of(entry);
            assert!(page.0 >= flat_limit, "page {page} belongs in the flat part");
            assert!(page.0 <= PAGE_ID_MAX, "page {page} is beyond PAGE_ID_MAX");
            assert_eq!(self.lookup(page), Some(frame_of(entry)), "page {page} unreachable");
        }
        assert_eq!(occupied, self.len(), "occupied slots vs the count");
        assert!(occupied <= self.slots.len() as u64 / 2, "more than half full");
    }

    /// Bytes of the part's memory in RAM now (see `disk::HugeSlice::resident_bytes`).
    #[cfg(all(test, not(loom)))]
    pub(super) fn resident_bytes(&self) -> usize {
        self.slots.resident_bytes().expect("mincore on a live mapping")
    }

    /// Bytes of the part's slots: the most it can take.
    #[cfg(all(test, not(loom)))]
    pub(super) fn slot_bytes(&self) -> usize {
        self.slots.len() * size_of::<AtomicU64>()
    }
}

#[inline]
fn key_of(page: PageId) -> u64 {
    page.0 + 1
}

#[inline]
fn page_of(entry: u64) -> PageId {
    PageId((entry >> FRAME_INDEX_BITS) - 1)
}

#[inline]
fn frame_of(entry: u64) -> u32 {
    u32::try_from(entry & FRAME_MASK).expect("24 bits fit in a u32")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Random inserts and removes against a HashMap, on a part for 8 frames (16 slots) with up
    /// to 8 pages in it, so that probe runs wrap around the end and backward shifts cross it.
    #[test]
    fn matches_a_hash_map_under_random_changes() {
        let part = Overflow::new(8).unwrap();
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let base = PAGE_ID_MAX - 39;
        for step in 0..20_000u32 {
            let page = base + rng.random_range(0..40u64);
            if let Some(frame) = model.get(&page) {
                assert_eq!(part.remove(PageId(page)), *frame);
                model.remove(&page);
            } else if model.len() < 8 {
                part.insert(PageId(page), step % 8);
                model.insert(page, step % 8);
            }
            part.check_invariants(base);
            for probe in base..=PAGE_ID_MAX {
                assert_eq!(
                    part.lookup(PageId(probe)),
                    model.get(&probe).copied(),
                    "page {probe} at step {step}"
                );
            }
        }
    }

    #[test]
    fn the_largest_page_id_and_frame_index_round_trip() {
        let part = Overflow::new(8).unwrap();
        let page = PageId(PAGE_ID_MAX);
        let frame = u32::try_from(FRAME_COUNT_MAX - 1).unwrap();
        part.insert(page, frame);
        assert_eq!(part.lookup(page), Some(frame));
        assert_eq!(part.remove(page), frame);
        assert_eq!(part.lookup(page), None);
    }

    #[test]
    #[should_panic(expected = "half full")]
    fn a_part_never_holds_more_pages_than_half_its_slots() {
        let part = Overflow::new(8).unwrap();
        for page in 0..9 {
            part.insert(PageId(1000 + page), 0);
        }
    }
}

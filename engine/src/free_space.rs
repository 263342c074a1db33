//! [`FreeSpace`]: which pages of the data file may be written, under copy-on-write per
//! checkpoint (docs/DESIGN.md, "Durability").
//!
//! A page is in exactly one of these states:
//!
//! | state                  | meaning                                                   | becomes free             |
//! |------------------------|-----------------------------------------------------------|--------------------------|
//! | in use                 | reachable from the current tree, or a free-list page      | when released            |
//! | free                   | no checkpoint that may still be recovered references it   | —                        |
//! | pending on epoch `E`   | the checkpoint tree of an epoch before `E` references it  | once checkpoint `E` is durable |
//!
//! A page of the current epoch that is released (a page allocated and dropped since the last
//! checkpoint began, which no checkpoint references) is free at once: [`FreeSpace::release_now`].
//! A page that an older checkpoint's tree references, replaced by copy-on-write or dropped by a
//! merge, waits until a checkpoint that no longer references it is durable:
//! [`FreeSpace::release_after`]. Pages at or beyond `page_count` are free and never listed.
//!
//! The free pages are a [`PageSet`], so that a checkpoint can copy the pages free in its view
//! ([`FreeSpace::checkpoint_view`]) while it holds the tree latch, at a cost of one reference
//! count per 512 pages, and list them after it has let go.
//!
//! Invariants ([`FreeSpace::check_invariants`]): no page is both free and pending, or listed
//! twice; every listed page lies in `first_page..page_count`.

mod page_set;

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use page_set::PageSet;

/// The free pages of one data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FreeSpace {
    /// The first page the tree may use (the header slots come before it).
    first_page: u64,
    /// Pages the file uses: everything from here on is free and unlisted.
    page_count: u64,
    free: PageSet,
    /// Epoch → pages free once the checkpoint of that epoch is durable.
    pending: BTreeMap<u64, Vec<u64>>,
}

impl FreeSpace {
    /// A file whose tree pages start at `first_page`, using `page_count` pages, of which
    /// `free` are free (as a checkpoint recorded them).
    pub(crate) fn new(
        first_page: u64,
        page_count: u64,
        free: impl IntoIterator<Item = u64>,
    ) -> Self {
        let space = Self {
            first_page,
            page_count: page_count.max(first_page),
            free: free.into_iter().collect(),
            pending: BTreeMap::new(),
        };
        space.check_invariants();
        space
    }

    /// A page to write: the lowest free page (to keep the file compact), or a new one at the end.
    pub(crate) fn allocate(&mut self) -> u64 {
        if let Some(page) = self.free.pop_first() {
            return page;
        }
        let page = self.page_count;
        self.page_count += 1;
        page
    }

    /// Frees a page no checkpoint references (allocated since the last checkpoint began).
    pub(crate) fn release_now(&mut self, page: u64) {
        self.assert_listable(page);
        assert!(self.free.insert(page), "page {page} released twice");
    }

    /// Frees `page` once the checkpoint of `epoch` is durable (an older checkpoint's tree
    /// references it until then).
    pub(crate) fn release_after(&mut self, page: u64, epoch: u64) {
        self.assert_listable(page);
        assert!(!self.free.contains(page), "page {page} is already free");
        self.pending.entry(epoch).or_default().push(page);
    }

    /// The checkpoint of `epoch` is durable: pages waiting for it (or an earlier one) are free.
    pub(crate) fn checkpoint_durable(&mut self, epoch: u64) {
        let later = self.pending.split_off(&(epoch + 1));
        for (_, pages) in std::mem::replace(&mut self.pending, later) {
            for page in pages {
                assert!(self.free.insert(page), "page {page} was pending and free at once");
            }
        }
    }

    /// The pages free in the view of the checkpoint of `epoch` being written: free now, or
    /// waiting only for that checkpoint. This is what the checkpoint records.
    ///
    /// A copy: later changes to the free space do not change it. It costs one reference count
    /// per chunk of the free pages, plus one insertion per page waiting for the checkpoint
    /// (pages its epoch replaced), so a checkpoint takes it while holding the tree latch.
    pub(crate) fn checkpoint_view(&self, epoch: u64) -> PageSet {
        let mut view = self.free.clone();
        for (_, waiting) in self.pending.range(..=epoch) {
            for &page in waiting {
                assert!(view.insert(page), "page {page} is pending and free at once");
            }
        }
        view
    }

    /// The pages of [`FreeSpace::checkpoint_view`], ascending.
    pub(crate) fn free_as_of_checkpoint(&self, epoch: u64) -> Vec<u64> {
        self.checkpoint_view(epoch).iter().collect()
    }

    /// Pages the file uses.
    pub(crate) fn page_count(&self) -> u64 {
        self.page_count
    }

    /// Pages free now (listed; the space beyond `page_count` is not counted).
    pub(crate) fn free_count(&self) -> usize {
        self.free.len()
    }

    fn assert_listable(&self, page: u64) {
        assert!(
            (self.first_page..self.page_count).contains(&page),
            "page {page} is outside the tree's pages {}..{}",
            self.first_page,
            self.page_count
        );
    }

    /// Panics if a page is listed twice or out of range.
    pub(crate) fn check_invariants(&self) {
        let mut seen = BTreeSet::new();
        self.free.check_invariants();
        for page in self.free.iter().chain(self.pending.values().flatten().copied()) {
            self.assert_listable(page);
            assert!(seen.insert(page), "page {page} is listed twice");
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn pages_replaced_by_copy_on_write_wait_for_the_next_checkpoint() {
        let mut space = FreeSpace::new(2, 2, []);
        let (root, leaf) = (space.allocate(), space.allocate());
        assert_eq!((root, leaf, space.page_count()), (2, 3, 4));
        // Checkpoint 1 records the tree {2, 3}; epoch 2 copies both pages.
        space.checkpoint_durable(1);
        let (new_root, new_leaf) = (space.allocate(), space.allocate());
        space.release_after(root, 2);
        space.release_after(leaf, 2);
        assert_eq!((new_root, new_leaf), (4, 5));
        assert_eq!(space.allocate(), 6, "the old tree's pages are not free yet");
        assert_eq!(space.free_as_of_checkpoint(1), Vec::<u64>::new());
        assert_eq!(space.free_as_of_checkpoint(2), vec![2, 3], "checkpoint 2 no longer needs them");
        space.release_now(6);
        space.checkpoint_durable(2);
        assert_eq!(space.allocate(), 2, "the lowest free page first");
        assert_eq!(space.free_count(), 2);
        space.check_invariants();
    }

    #[test]
    #[should_panic(expected = "released twice")]
    fn a_double_release_is_a_bug() {
        let mut space = FreeSpace::new(1, 1, []);
        let page = space.allocate();
        space.release_now(page);
        space.release_now(page);
    }

    proptest! {
        /// Against a model that tracks each page's state: every allocated page was free or new,
        /// and no page in use or pending is ever handed out.
        #[test]
        fn never_hands_out_a_page_in_use(steps in proptest::collection::vec(0u8..5, 1..200)) {
            let mut space = FreeSpace::new(2, 2, []);
            let mut in_use: Vec<u64> = Vec::new();
            let mut pending: Vec<(u64, u64)> = Vec::new();
            // The current epoch, and the last checkpoint made durable; the checkpoint of
            // `epoch - 1` is being written while `durable < epoch - 1`.
            let (mut epoch, mut durable) = (1u64, 0u64);
            for step in steps {
                match step {
                    0 => {
                        let page = space.allocate();
                        prop_assert!(!in_use.contains(&page), "page {} handed out twice", page);
                        prop_assert!(!pending.iter().any(|&(waiting, _)| waiting == page));
                        in_use.push(page);
                    }
                    1 if !in_use.is_empty() => {
                        let page = in_use.remove(0);
                        space.release_now(page);
                    }
                    2 if !in_use.is_empty() => {
                        // Referenced by a checkpoint before this epoch: free once this epoch's
                        // checkpoint is durable.
                        let page = in_use.remove(in_use.len() / 2);
                        space.release_after(page, epoch);
                        pending.push((page, epoch));
                    }
                    3 if durable + 1 == epoch => epoch += 1, // a checkpoint freezes the epoch
                    _ if durable + 1 < epoch => {
                        durable = epoch - 1; // ... and later becomes durable
                        space.checkpoint_durable(durable);
                        pending.retain(|&(_, waits_for)| waits_for > durable);
                    }
                    _ => {}
                }
                space.check_invariants();
            }
        }
    }
}

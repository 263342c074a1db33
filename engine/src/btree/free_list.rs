//! Free-list pages: the free pages a checkpoint records, so that open need not walk the tree.
//!
//! A checkpoint of epoch `E` writes the pages free in its view (free now, or waiting only for
//! checkpoint `E`) as runs of consecutive page ids, in ascending order, into a chain of pages
//! that the file header's `free_list_page` names (0: no page is free). The chain's own pages are
//! neither in the tree nor in the list; they stay in use until the next checkpoint is durable,
//! which no longer needs them.
//!
//! ```text
//! Free-list page body (all integers little-endian):
//! OFFSET SIZE FIELD
//!  0      1   kind        4 (PageKind::FreeList), at the offset of a node's kind
//!  1      7   reserved    zero
//!  8      8   epoch       the epoch of the checkpoint that wrote the list (at the offset of a
//!                         node's epoch)
//! 16      8   next_page   the chain's next page; 0 (NO_PAGE) on the last page
//! 24      4   run_count   runs on this page (0 on a page the list turned out not to need)
//! 28      4   reserved    zero
//! 32   16*n   runs        n = run_count runs of (first_page u64, page_count u64)
//! ```
//!
//! Invariants, checked on every page read ([`check_page`]) and across the chain (the caller,
//! with [`Runs`]):
//! 1. `kind` is 4, reserved bytes are zero and the runs fit the body.
//! 2. `epoch` is the header's: a page left over from an older checkpoint (a lost write) is
//!    refused even though it is whole.
//! 3. Each run has at least one page, starts at or after the first tree page, ends within the
//!    header's `page_count`, and starts after the previous run ends (ascending, disjoint, not
//!    adjacent: adjacent runs are written as one).
//! 4. No page of the chain lies in a run, and the chain visits no page twice.

use bufferpool::PageId;

use super::body::{BodyRead, BodyWrite};
use super::node::{NO_PAGE, PageKind, is_tree_page};
use crate::free_space::{FreeSpace, PageSet};

const KIND_OFFSET: usize = 0;
const KIND_BYTES: usize = 1;
const RESERVED_OFFSET: usize = KIND_OFFSET + KIND_BYTES;
const RESERVED_BYTES: usize = 7;
const EPOCH_OFFSET: usize = RESERVED_OFFSET + RESERVED_BYTES;
const EPOCH_BYTES: usize = 8;
const NEXT_PAGE_OFFSET: usize = EPOCH_OFFSET + EPOCH_BYTES;
const NEXT_PAGE_BYTES: usize = 8;
const RUN_COUNT_OFFSET: usize = NEXT_PAGE_OFFSET + NEXT_PAGE_BYTES;
const RUN_COUNT_BYTES: usize = 4;
const RESERVED_2_OFFSET: usize = RUN_COUNT_OFFSET + RUN_COUNT_BYTES;
const RESERVED_2_BYTES: usize = 4;
/// Bytes of a free-list page's header; the runs start here.
const FREE_LIST_HEADER_BYTES: usize = RESERVED_2_OFFSET + RESERVED_2_BYTES;
/// Bytes of one run.
const RUN_BYTES: usize = 16;

const _: () = assert!(FREE_LIST_HEADER_BYTES == 32);
const _: () = assert!(EPOCH_OFFSET == super::node::EPOCH_OFFSET, "node::epoch reads any page");

/// Pages `first..first + count`, all free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) first: u64,
    pub(crate) count: u64,
}

/// The runs of `pages` (ascending, no page twice).
pub(crate) fn runs_of(pages: impl IntoIterator<Item = u64>) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for page in pages {
        match runs.last_mut() {
            Some(run) if run.first + run.count == page => run.count += 1,
            _ => runs.push(Run { first: page, count: 1 }),
        }
    }
    runs
}

/// Takes from `space` the pages a list of what is free in the view of the checkpoint of `epoch`
/// needs (`body_bytes` per page), and returns them with the pages the list is to hold: a copy
/// that later changes to `space` leave alone, to be cut into runs ([`runs_of`]) after the tree
/// latch is let go.
///
/// Taking pages for the list changes the runs: a page taken may split one (a free page between
/// two pending ones) or remove one. So take what the runs need, look again, and take more while
/// they need more: a round adds at most one run per page it takes, so the next takes at most
/// one page per [`runs_per_page`] of those. Every page taken is kept, one the runs turn out not
/// to need holding none: giving it back would change the runs again, and could go on forever.
///
/// The caller holds the tree latch, so this does not list the free pages: the copy costs one
/// reference count per 512 pages plus one step per page waiting for the checkpoint, and the
/// view counts its runs as pages leave it, one step per page taken.
pub(crate) fn take_list_pages(
    space: &mut FreeSpace,
    epoch: u64,
    body_bytes: usize,
) -> (Vec<u64>, PageSet) {
    let mut view = space.checkpoint_view(epoch);
    let mut list_pages = Vec::new();
    loop {
        let needed = page_count(body_bytes, view.run_count());
        if needed <= list_pages.len() {
            return (list_pages, view);
        }
        while list_pages.len() < needed {
            let page = space.allocate();
            // A free page is in the view; only a page added at the end of the file is not.
            let was_free = view.remove(page);
            assert!(was_free || page + 1 == space.page_count(), "list page {page}");
            list_pages.push(page);
        }
    }
}

/// Runs one page of `body_bytes` holds.
pub(crate) fn runs_per_page(body_bytes: usize) -> usize {
    body_bytes.saturating_sub(FREE_LIST_HEADER_BYTES) / RUN_BYTES
}

/// Pages a list of `run_count` runs takes.
pub(crate) fn page_count(body_bytes: usize, run_count: usize) -> usize {
    run_count.div_ceil(runs_per_page(body_bytes).max(1))
}

/// Writes one free-list page holding `runs` (at most [`runs_per_page`]; none on a page the
/// checkpoint took for its list and then did not need, see `Inner::record_free_space`).
pub(crate) fn format_page<B: BodyWrite + ?Sized>(
    page: &mut B,
    epoch: u64,
    next_page: Option<PageId>,
    runs: &[Run],
) {
    let body_bytes = page.body_bytes();
    assert!(runs.len() <= runs_per_page(body_bytes), "{} runs", runs.len());
    let next_page = next_page.map_or(NO_PAGE, |page| page.0);
    assert!(next_page == NO_PAGE || is_tree_page(next_page), "next page {next_page}");
    let mut image = vec![0u8; body_bytes];
    image[KIND_OFFSET] = PageKind::FreeList as u8;
    image[EPOCH_OFFSET..NEXT_PAGE_OFFSET].copy_from_slice(&epoch.to_le_bytes());
    image[NEXT_PAGE_OFFSET..RUN_COUNT_OFFSET].copy_from_slice(&next_page.to_le_bytes());
    let run_count = u32::try_from(runs.len()).expect("bounded by the body size");
    image[RUN_COUNT_OFFSET..RESERVED_2_OFFSET].copy_from_slice(&run_count.to_le_bytes());
    for (index, run) in runs.iter().enumerate() {
        let offset = FREE_LIST_HEADER_BYTES + index * RUN_BYTES;
        image[offset..offset + 8].copy_from_slice(&run.first.to_le_bytes());
        image[offset + 8..offset + RUN_BYTES].copy_from_slice(&run.count.to_le_bytes());
    }
    page.write_body(&image);
}

/// What [`check_page`] found on a valid free-list page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListPage {
    /// The chain's next page (`None` on the last page).
    pub(crate) next_page: Option<PageId>,
    /// The page's runs, as written (their order is checked by [`Runs`]).
    pub(crate) runs: Vec<Run>,
}

/// Checks a free-list page of the checkpoint of `epoch`, read from a page of `page_bytes`, on
/// its own. Never panics, whatever the bytes.
pub(crate) fn check_page<B: BodyRead + ?Sized>(
    page: &B,
    page_bytes: usize,
    epoch: u64,
) -> Result<ListPage, String> {
    let body_bytes = super::node::check_page_bytes(page, page_bytes)?;
    let kind = page.u8_at(KIND_OFFSET);
    if kind != PageKind::FreeList as u8 {
        return Err(format!("kind {kind}, not a free-list page"));
    }
    let mut reserved = [0u8; RESERVED_BYTES];
    page.read_into(RESERVED_OFFSET, &mut reserved);
    if reserved != [0; RESERVED_BYTES] || page.u32_at(RESERVED_2_OFFSET) != 0 {
        return Err("reserved bytes are not zero".into());
    }
    let page_epoch = page.u64_at(EPOCH_OFFSET);
    if page_epoch != epoch {
        return Err(format!(
            "written by the checkpoint of epoch {page_epoch}, not by the header's ({epoch}): \
             a write of the list was lost"
        ));
    }
    let next_page = match page.u64_at(NEXT_PAGE_OFFSET) {
        NO_PAGE => None,
        next if is_tree_page(next) => Some(PageId(next)),
        next => return Err(format!("next page {next} is not a page id")),
    };
    let run_count = page.u32_at(RUN_COUNT_OFFSET) as usize;
    if run_count > runs_per_page(body_bytes) {
        return Err(format!("{run_count} runs ({} fit the page)", runs_per_page(body_bytes)));
    }
    let runs = (0..run_count)
        .map(|index| {
            let offset = FREE_LIST_HEADER_BYTES + index * RUN_BYTES;
            Run { first: page.u64_at(offset), count: page.u64_at(offset + 8) }
        })
        .collect();
    Ok(ListPage { next_page, runs })
}

/// The runs of a whole chain, checked as they come (invariant 3 of the module doc): every free
/// page lies in `first_page..page_count`.
#[derive(Debug)]
pub(crate) struct Runs {
    first_page: u64,
    page_count: u64,
    /// Where the next run may start at the earliest.
    next_start: u64,
    pages: Vec<u64>,
}

impl Runs {
    pub(crate) fn new(first_page: u64, page_count: u64) -> Self {
        Self { first_page, page_count, next_start: first_page, pages: Vec::new() }
    }

    /// Adds the next run of the chain.
    pub(crate) fn push(&mut self, run: Run) -> Result<(), String> {
        let end = run.first.checked_add(run.count).filter(|_| run.count != 0);
        match end {
            None => Err(format!("run of {} pages at {}", run.count, run.first)),
            Some(_) if run.first < self.next_start => Err(format!(
                "run at page {} starts before {} (runs are ascending, apart, and after the \
                 header pages {})",
                run.first, self.next_start, self.first_page
            )),
            Some(end) if end > self.page_count => Err(format!(
                "run {}..{end} goes beyond the file's {} pages",
                run.first, self.page_count
            )),
            Some(end) => {
                self.pages.extend(run.first..end);
                self.next_start = end + 1;
                Ok(())
            }
        }
    }

    /// The free pages, ascending.
    pub(crate) fn into_pages(self) -> Vec<u64> {
        self.pages
    }
}

#[cfg(test)]
mod tests;

use proptest::prelude::*;

use super::*;
use crate::btree::test_support::{EPOCH, PAGE_BYTES, assert_doc_rows, body_bytes};

fn run(first: u64, count: u64) -> Run {
    Run { first, count }
}

fn formatted(next_page: Option<PageId>, runs: &[Run]) -> Vec<u8> {
    let mut body = vec![0u8; body_bytes(PAGE_BYTES)];
    format_page(&mut body[..], EPOCH, next_page, runs);
    body
}

/// Reads `pages` as one chain's runs, as open does.
fn decode(pages: &[Vec<u8>], first_page: u64, page_count: u64) -> Result<Vec<u64>, String> {
    let mut runs = Runs::new(first_page, page_count);
    for page in pages {
        for run in check_page(&page[..], PAGE_BYTES, EPOCH)?.runs {
            runs.push(run)?;
        }
    }
    Ok(runs.into_pages())
}

#[test]
fn the_documented_table_matches_the_code() {
    let row = |offset: usize, size: usize, field| (offset.to_string(), size.to_string(), field);
    assert_doc_rows(
        "### Free-list page *(checked)*",
        &[
            row(KIND_OFFSET, KIND_BYTES, "kind"),
            row(RESERVED_OFFSET, RESERVED_BYTES, "reserved"),
            row(EPOCH_OFFSET, EPOCH_BYTES, "epoch"),
            row(NEXT_PAGE_OFFSET, NEXT_PAGE_BYTES, "next_page"),
            row(RUN_COUNT_OFFSET, RUN_COUNT_BYTES, "run_count"),
            row(RESERVED_2_OFFSET, RESERVED_2_BYTES, "reserved"),
            (FREE_LIST_HEADER_BYTES.to_string(), format!("{RUN_BYTES} * run_count"), "runs"),
        ],
    );
    // The figure the document gives for 4 KiB pages.
    assert_eq!(runs_per_page(body_bytes(4096)), 252);
}

/// A free-list page built byte by byte from the table at the top of `free_list.rs`.
#[test]
fn a_hand_built_page_matches_the_layout() {
    let mut body = vec![0u8; body_bytes(PAGE_BYTES)];
    body[0] = 4;
    body[8..16].copy_from_slice(&EPOCH.to_le_bytes());
    body[16..24].copy_from_slice(&9u64.to_le_bytes());
    body[24..28].copy_from_slice(&2u32.to_le_bytes());
    body[32..40].copy_from_slice(&3u64.to_le_bytes());
    body[40..48].copy_from_slice(&2u64.to_le_bytes());
    body[48..56].copy_from_slice(&7u64.to_le_bytes());
    body[56..64].copy_from_slice(&1u64.to_le_bytes());
    assert_eq!(formatted(Some(PageId(9)), &[run(3, 2), run(7, 1)]), body);
    let page = check_page(&body[..], PAGE_BYTES, EPOCH).expect("valid");
    assert_eq!(page, ListPage { next_page: Some(PageId(9)), runs: vec![run(3, 2), run(7, 1)] });
    assert_eq!(decode(&[body], 2, 8), Ok(vec![3, 4, 7]));
}

/// A page the checkpoint took for its list and then did not need holds no runs.
#[test]
fn a_page_without_runs_is_valid() {
    let body = formatted(None, &[]);
    let page = check_page(&body[..], PAGE_BYTES, EPOCH).expect("valid");
    assert_eq!(page, ListPage { next_page: None, runs: vec![] });
}

#[test]
fn runs_join_consecutive_pages() {
    assert_eq!(runs_of([]), vec![]);
    assert_eq!(runs_of([4, 5, 6, 9, 11, 12]), vec![run(4, 3), run(9, 1), run(11, 2)]);
    assert_eq!(page_count(body_bytes(4096), 0), 0);
    assert_eq!(page_count(body_bytes(4096), 252), 1);
    assert_eq!(page_count(body_bytes(4096), 253), 2);
}

/// Each damage the module doc's invariants name is refused, with a reason, never a panic.
#[test]
fn damaged_pages_and_runs_are_refused() {
    let good = formatted(None, &[run(3, 2), run(7, 1)]);
    let damaged = |offset: usize, bytes: &[u8]| {
        let mut body = good.clone();
        body[offset..offset + bytes.len()].copy_from_slice(bytes);
        body
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a node's kind", damaged(0, &[1]), "not a free-list page"),
        ("reserved bytes", damaged(3, &[1]), "reserved"),
        ("second reserved bytes", damaged(29, &[1]), "reserved"),
        ("an older checkpoint's list", damaged(8, &(EPOCH - 1).to_le_bytes()), "was lost"),
        ("too many runs", damaged(24, &253u32.to_le_bytes()), "253 runs"),
        ("a next page that is not a page", damaged(16, &u64::MAX.to_le_bytes()), "not a page id"),
    ];
    for (what, body, expected) in cases {
        let error = check_page(&body[..], PAGE_BYTES, EPOCH).expect_err(what);
        assert!(error.contains(expected), "{what}: {error}");
    }
    let run_cases: Vec<(&str, Vec<Run>, &str)> = vec![
        ("an empty run", vec![run(3, 0)], "run of 0 pages"),
        ("a run over the header pages", vec![run(1, 2)], "starts before 2"),
        ("runs out of order", vec![run(7, 1), run(3, 2)], "starts before 9"),
        ("overlapping runs", vec![run(3, 3), run(5, 1)], "starts before 7"),
        ("adjacent runs", vec![run(3, 2), run(5, 1)], "starts before 6"),
        ("a run beyond the file", vec![run(6, 3)], "beyond the file's 8 pages"),
        ("a run that overflows", vec![run(3, u64::MAX)], "run of"),
    ];
    for (what, runs, expected) in run_cases {
        let mut checked = Runs::new(2, 8);
        let error = runs.into_iter().find_map(|run| checked.push(run).err()).expect(what);
        assert!(error.contains(expected), "{what}: {error}");
    }
}

proptest! {
    /// Any set of pages round-trips through runs and a chain of pages.
    #[test]
    fn pages_round_trip(mut pages in proptest::collection::btree_set(2u64..5000, 0..1500)) {
        let pages: Vec<u64> = std::mem::take(&mut pages).into_iter().collect();
        let runs = runs_of(pages.iter().copied());
        let per_page = runs_per_page(body_bytes(PAGE_BYTES));
        let images: Vec<Vec<u8>> = runs
            .chunks(per_page)
            .map(|chunk| formatted(None, chunk))
            .collect();
        prop_assert_eq!(images.len(), page_count(body_bytes(PAGE_BYTES), runs.len()));
        prop_assert_eq!(decode(&images, 2, 5000), Ok(pages));
    }

    /// Whatever the bytes, checking a page returns, never panics.
    #[test]
    fn any_bytes_are_checked_without_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut image = vec![0u8; body_bytes(PAGE_BYTES)];
        image[..body.len()].copy_from_slice(&body);
        if let Ok(page) = check_page(&image[..], PAGE_BYTES, EPOCH) {
            let mut runs = Runs::new(2, 1 << 20);
            for run in page.runs {
                if runs.push(run).is_err() {
                    break;
                }
            }
        }
    }
}

/// The chain as open reads it (`Tree::read_free_list`), over pages in a real pool.
mod chains {
    use std::sync::Arc;

    use super::*;
    use crate::btree::body::PageBody;
    use crate::btree::test_support::sim_pool;
    use crate::btree::tree::Tree;
    use crate::free_space::FreeSpace;

    const FIRST_PAGE: u64 = 2;
    const PAGE_COUNT: u64 = 2000;

    fn new_tree() -> Tree {
        let pool = Arc::new(sim_pool(PAGE_BYTES, 32));
        Tree::new(pool, 0, EPOCH, FreeSpace::new(FIRST_PAGE, PAGE_COUNT, []))
    }

    /// Writes one list page by hand (the checks below need chains `write_free_list` never
    /// makes).
    fn put(tree: &Tree, page: u64, next_page: Option<u64>, runs: &[Run]) {
        let mut held = tree.pool().new_page(PageId(page)).unwrap();
        format_page(&mut PageBody::new(&mut held), EPOCH, next_page.map(PageId), runs);
    }

    /// A list page to write by hand: its page, next page and runs.
    type ListPageAt = (u64, Option<u64>, Vec<Run>);

    fn read(tree: &Tree, first: u64) -> Result<(Vec<u64>, Vec<u64>), String> {
        tree.read_free_list(first, EPOCH, FIRST_PAGE, PAGE_COUNT).map_err(|error| error.to_string())
    }

    /// More runs than one page holds: the list spans a chain, written by `write_free_list` and
    /// read back whole, with the chain's pages apart from the free ones.
    #[test]
    fn a_list_of_several_pages_round_trips() {
        let tree = new_tree();
        let free: Vec<u64> = (10..1400).step_by(2).collect(); // 695 runs of one page
        let runs = runs_of(free.iter().copied());
        let list_pages = [1501, 1500, 1502];
        assert_eq!(page_count(body_bytes(PAGE_BYTES), runs.len()), 3);
        let first = tree.write_free_list(EPOCH, &list_pages, &runs).unwrap();
        assert_eq!(first, 1501);
        assert_eq!(read(&tree, first), Ok((free, vec![1500, 1501, 1502])));
        // A page the runs do not need holds none and is still part of the chain.
        let tree = new_tree();
        let first = tree.write_free_list(EPOCH, &[7, 8], &[run(3, 2)]).unwrap();
        assert_eq!(read(&tree, first), Ok((vec![3, 4], vec![7, 8])));
        assert_eq!(read(&tree, 0), Ok((vec![], vec![])), "no page is free");
    }

    #[test]
    fn damaged_chains_are_refused_naming_the_page() {
        let cases: Vec<(&str, Vec<ListPageAt>, &str)> = vec![
            ("a cycle", vec![(5, Some(6), vec![]), (6, Some(5), vec![])], "page 5"),
            ("a list page listed free", vec![(5, None, vec![run(4, 3)])], "calls free"),
            ("a next page beyond the file", vec![(5, Some(PAGE_COUNT), vec![])], "outside"),
            (
                "runs out of order across pages",
                vec![(5, Some(6), vec![run(20, 1)]), (6, None, vec![run(10, 1)])],
                "page 6",
            ),
        ];
        for (what, pages, expected) in cases {
            let tree = new_tree();
            for (page, next, runs) in &pages {
                put(&tree, *page, *next, runs);
            }
            let error = read(&tree, pages[0].0).expect_err(what);
            assert!(error.contains(expected), "{what}: {error}");
        }
    }
}

/// The list's pages come from the free pages, so taking them changes the runs. Here the lowest
/// free page (the one `allocate` hands out first) lies between two pages pending for the
/// checkpoint: in the checkpoint's view they are one run, and taking the middle page splits it.
/// 252 runs fit one 4 KiB list page; the split makes 253, so a second round takes a second
/// page, which removes a single-page run (252 again): the second page is kept, and the list
/// holds every page free in the view, in runs, and none of its own pages. (With one round only,
/// the list would take one page for 253 runs.)
#[test]
fn taking_list_pages_that_split_a_run_takes_another_round() {
    const EPOCH_FROZEN: u64 = 7;
    let body_bytes = body_bytes(4096);
    let per_page = runs_per_page(body_bytes);
    // Pages 10 and 12 pending, 11 free: one run 10..=12. Then single free pages 20, 22, ...,
    // enough for a full list page of runs in all.
    let singles: Vec<u64> = (0..per_page as u64 - 1).map(|index| 20 + 2 * index).collect();
    let file_pages = singles.last().expect("some") + 10;
    let mut space = FreeSpace::new(2, file_pages, std::iter::once(11).chain(singles.clone()));
    space.release_after(10, EPOCH_FROZEN);
    space.release_after(12, EPOCH_FROZEN);
    assert_eq!(runs_of(space.free_as_of_checkpoint(EPOCH_FROZEN)).len(), per_page);

    let (list_pages, view) = take_list_pages(&mut space, EPOCH_FROZEN, body_bytes);
    let runs = runs_of(view.iter());
    assert_eq!(list_pages, vec![11, 20], "a second round after the split");
    assert_eq!(runs.len(), per_page, "the split added a run, the second page took one away");
    assert_eq!(page_count(body_bytes, runs.len()), 1, "the second page holds no runs");
    let listed: Vec<u64> = runs.iter().flat_map(|run| run.first..run.first + run.count).collect();
    assert_eq!(listed, space.free_as_of_checkpoint(EPOCH_FROZEN));
    assert!(listed.iter().all(|page| !list_pages.contains(page)), "a list page listed free");
    assert_eq!(listed[..2], [10, 12]);
}

/// When the runs fit the pages taken in the first round, there is no second one.
#[test]
fn taking_list_pages_that_remove_a_run_takes_one_round() {
    let body_bytes = body_bytes(4096);
    let mut space = FreeSpace::new(2, 100, [5, 6, 9, 40]);
    let (list_pages, view) = take_list_pages(&mut space, 1, body_bytes);
    let runs = runs_of(view.iter());
    assert_eq!(list_pages, vec![5]);
    assert_eq!(runs, vec![run(6, 1), run(9, 1), run(40, 1)]);
}

/// How the checkpoint took its list pages before the free pages were a `PageSet`, all under the
/// tree latch: list and sort every page free in the view, cut them into runs, each round.
fn take_list_pages_by_listing(
    space: &mut FreeSpace,
    epoch: u64,
    body_bytes: usize,
) -> (Vec<u64>, Vec<Run>) {
    let mut list_pages = Vec::new();
    loop {
        let runs = runs_of(space.free_as_of_checkpoint(epoch));
        let needed = page_count(body_bytes, runs.len());
        if needed <= list_pages.len() {
            return (list_pages, runs);
        }
        while list_pages.len() < needed {
            list_pages.push(space.allocate());
        }
    }
}

/// A random free space as a checkpoint of `EPOCH_FROZEN` finds it, with the body size of a
/// list page: every page of `FIRST_PAGE..page_count` is in use, free, pending for the frozen
/// epoch (or an older one), or pending for the next. Small list pages (1 to 4 runs) so that
/// the list takes many pages and several rounds.
mod random_spaces {
    use super::*;

    pub(super) const FIRST_PAGE: u64 = 2;
    pub(super) const EPOCH_FROZEN: u64 = 7;

    /// The free space, and the pages in use in it (tree pages a later epoch may release).
    pub(super) fn space_and_body() -> impl Strategy<Value = (FreeSpace, Vec<u64>, usize)> {
        (proptest::collection::vec(0u8..8, 0..1500), 1usize..5).prop_map(|(states, runs)| {
            let page_count = FIRST_PAGE + states.len() as u64;
            let mut space = FreeSpace::new(FIRST_PAGE, page_count, []);
            let mut in_use = Vec::new();
            for (page, state) in (FIRST_PAGE..).zip(states) {
                match state {
                    // Mostly free or in use, in stretches and alone alike.
                    0..=2 => space.release_now(page),
                    3 => space.release_after(page, EPOCH_FROZEN),
                    4 => space.release_after(page, EPOCH_FROZEN - 2),
                    5 => space.release_after(page, EPOCH_FROZEN + 1),
                    _ => in_use.push(page),
                }
            }
            (space, in_use, 32 + 16 * runs)
        })
    }
}

proptest! {
    /// The list pages, the runs, and what is left free are what listing and sorting every
    /// free page each round gave, for any free space.
    #[test]
    fn taking_list_pages_matches_listing_every_free_page(
        (space, _in_use, body_bytes) in random_spaces::space_and_body(),
    ) {
        let epoch = random_spaces::EPOCH_FROZEN;
        let mut listed = space.clone();
        let (list_pages_listed, runs_listed) =
            take_list_pages_by_listing(&mut listed, epoch, body_bytes);
        let mut viewed = space;
        let (list_pages, view) = take_list_pages(&mut viewed, epoch, body_bytes);
        view.check_invariants();
        viewed.check_invariants();
        prop_assert_eq!(&list_pages, &list_pages_listed);
        prop_assert_eq!(runs_of(view.iter()), runs_listed);
        prop_assert_eq!(viewed, listed);
    }

    /// What commits of the next epoch do to the free space after the freeze (allocate pages,
    /// free pages they allocated, release tree pages for the next checkpoint) leaves the view
    /// the checkpoint lists once the latch is let go as it was at the freeze, and never hands
    /// out a list page.
    #[test]
    fn changes_after_the_freeze_leave_the_view_alone(
        (space, mut in_use, body_bytes) in random_spaces::space_and_body(),
        steps in proptest::collection::vec((0u8..3, any::<prop::sample::Index>()), 0..300),
    ) {
        let epoch = random_spaces::EPOCH_FROZEN;
        let mut listed = space.clone();
        let (_, runs_at_freeze) = take_list_pages_by_listing(&mut listed, epoch, body_bytes);
        let mut space = space;
        let (list_pages, view) = take_list_pages(&mut space, epoch, body_bytes);
        let mut allocated = Vec::new();
        for (step, index) in steps {
            match step {
                0 => {
                    let page = space.allocate();
                    prop_assert!(!list_pages.contains(&page), "list page {} handed out", page);
                    allocated.push(page);
                }
                1 if !allocated.is_empty() => {
                    space.release_now(allocated.swap_remove(index.index(allocated.len())));
                }
                2 if !in_use.is_empty() => {
                    space.release_after(in_use.swap_remove(index.index(in_use.len())), epoch + 1);
                }
                _ => {}
            }
        }
        space.check_invariants();
        view.check_invariants();
        prop_assert_eq!(runs_of(view.iter()), runs_at_freeze);
    }
}

//! Eviction's probation (see `eviction.rs`): a page read once leaves before pages that were hit,
//! however many pages are read once after it; a page evicted from probation and read again
//! soon comes back promoted; one read again long after comes back on probation.
//!
//! Teeth: with every page promoted as it comes in (a CLOCK hand over every frame, counting
//! hits down) the first two tests fail, since the hand counts the hot pages' single hits down on
//! its first turn and evicts them on its second; without the ghosts (a page read again enters
//! on probation like any other) the second fails. The ghosts' own unit tests (`eviction.rs`)
//! check that they forget.

mod common;

use bufferpool::{BufferPool, PageId};
use common::{pool, sim_file, write_pages};

const FRAME_COUNT: usize = 100;
/// Pages hit once each before the flood.
const HOT_PAGE_COUNT: u64 = 80;
/// The first page of the ones read once, twice the pool's worth of them per flood.
const COLD_FIRST: u64 = 1_000;
const FLOOD_PAGE_COUNT: u64 = 2 * FRAME_COUNT as u64;
const PAGE_COUNT: u64 = COLD_FIRST + 4 * FLOOD_PAGE_COUNT;

/// A pool of [`FRAME_COUNT`] empty frames over a file of [`PAGE_COUNT`] pages.
fn empty_pool_over_written_file() -> (disk::SimDisk, BufferPool) {
    let (disk, file) = sim_file(5);
    write_pages(&pool(&file, 64, false), PAGE_COUNT);
    (disk, pool(&file, FRAME_COUNT, false))
}

/// Reads `page` and says whether it missed.
fn missed(pool: &BufferPool, page: u64) -> bool {
    let misses_before = pool.stats().misses;
    let held = pool.fix_shared(PageId(page)).unwrap();
    assert_eq!(held.u64_at(0), page);
    drop(held);
    pool.stats().misses > misses_before
}

/// Reads each of `pages` once; each must miss.
fn flood(pool: &BufferPool, pages: std::ops::Range<u64>) {
    for page in pages {
        assert!(missed(pool, page), "flood page {page} was in the pool already");
    }
}

#[test]
fn pages_read_once_leave_before_pages_hit_again() {
    let (_disk, pool) = empty_pool_over_written_file();
    for page in 0..HOT_PAGE_COUNT {
        assert!(missed(&pool, page));
    }
    for page in 0..HOT_PAGE_COUNT {
        assert!(!missed(&pool, page), "hot page {page} left before the pool was full");
    }
    flood(&pool, COLD_FIRST..COLD_FIRST + FLOOD_PAGE_COUNT);
    let stats = pool.stats();
    assert!(stats.evictions >= FLOOD_PAGE_COUNT - 20, "the flood did evict: {stats:?}");
    assert!(stats.promotions >= HOT_PAGE_COUNT, "the hot pages were promoted: {stats:?}");
    let evicted: Vec<u64> = (0..HOT_PAGE_COUNT).filter(|&page| missed(&pool, page)).collect();
    assert!(evicted.is_empty(), "pages read once evicted hot pages {evicted:?}: {stats:?}");
    pool.check_invariants();
}

#[test]
fn a_page_read_again_soon_after_eviction_comes_back_promoted() {
    let (_disk, pool) = empty_pool_over_written_file();
    let page = 7;
    assert!(missed(&pool, page));
    // The frames fill; the last page read evicts the first, which is then remembered.
    flood(&pool, COLD_FIRST..COLD_FIRST + FRAME_COUNT as u64);
    assert!(missed(&pool, page), "a page read once left when the pool was full");
    let promotions_before = pool.stats().promotions;
    flood(&pool, COLD_FIRST + FLOOD_PAGE_COUNT..COLD_FIRST + 2 * FLOOD_PAGE_COUNT);
    assert!(!missed(&pool, page), "read again soon, the page stays through a flood");
    assert_eq!(pool.stats().promotions, promotions_before, "the flood's pages stay on probation");
    pool.check_invariants();
}

#[test]
fn a_page_read_again_long_after_eviction_comes_back_on_probation() {
    let (_disk, pool) = empty_pool_over_written_file();
    let page = 7;
    assert!(missed(&pool, page));
    // Evicted in the first flood, then forgotten: more than a pool's worth of evictions from
    // probation come after its own.
    flood(&pool, COLD_FIRST..COLD_FIRST + 2 * FLOOD_PAGE_COUNT);
    assert!(missed(&pool, page), "a page read once left during the flood");
    flood(&pool, COLD_FIRST + 2 * FLOOD_PAGE_COUNT..COLD_FIRST + 3 * FLOOD_PAGE_COUNT);
    assert!(missed(&pool, page), "read again long after, the page went on probation again");
    pool.check_invariants();
}

//! A sequential scan much larger than the pool, interleaved with a small hot set, must not
//! flush the hot set: a page read by a miss comes in on probation (see `eviction.rs`), so scan
//! pages (touched once) go before hot pages (touched again and again). The hot set is larger
//! than probation lasts, so the hot pages stay by way of the ghosts: evicted from probation in
//! the warm-up, read again soon, they come back promoted.
//!
//! Teeth: letting misses enter promoted, with a hit counted (plain CLOCK), makes this test fail,
//! since the scan pages then compete with the hot set on equal terms.

mod common;

use bufferpool::PageId;
use common::{pool, sim_file, write_pages};

const FRAME_COUNT: usize = 64;
const HOT_PAGE_COUNT: u64 = 16;
const SCAN_PAGE_COUNT: u64 = 1024;
/// A hot page is touched after every this many scan pages.
const SCAN_PAGES_PER_HOT_TOUCH: u64 = 2;

#[test]
fn a_long_scan_does_not_evict_the_hot_set() {
    let (_disk, file) = sim_file(3);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, HOT_PAGE_COUNT + SCAN_PAGE_COUNT);
    // Warm up: the hot pages are read twice; the second read finds each hit on probation or,
    // evicted from it already, brings it back promoted.
    for _ in 0..2 {
        for page in 0..HOT_PAGE_COUNT {
            drop(pool.fix_shared(PageId(page)).unwrap());
        }
    }
    let mut hot_misses = 0;
    let mut hot_cursor = 0;
    for scanned in 0..SCAN_PAGE_COUNT {
        drop(pool.fix_shared(PageId(HOT_PAGE_COUNT + scanned)).unwrap());
        if scanned % SCAN_PAGES_PER_HOT_TOUCH == 0 {
            let misses_before = pool.stats().misses;
            let held = pool.fix_shared(PageId(hot_cursor)).unwrap();
            assert_eq!(held.u64_at(0), hot_cursor);
            hot_misses += pool.stats().misses - misses_before;
            hot_cursor = (hot_cursor + 1) % HOT_PAGE_COUNT;
        }
    }
    let stats = pool.stats();
    assert!(
        stats.evictions >= SCAN_PAGE_COUNT - FRAME_COUNT as u64,
        "the scan did evict: {stats:?}"
    );
    assert_eq!(hot_misses, 0, "the scan evicted hot pages: {stats:?}");
    pool.check_invariants();
}

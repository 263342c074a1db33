//! Concurrent misses on one page share one read; a prefetch reads its pages in one submission,
//! into frames that a later fix finds (hits), and skips pages already in the pool.

mod common;

use std::sync::{Arc, Barrier};

use bufferpool::PageId;
use common::{pool, sim_file, write_pages};
use disk::sim::Operation;

#[test]
fn threads_missing_one_page_at_once_read_it_once() {
    for round in 0..50u64 {
        let (disk, file) = sim_file(round);
        write_pages(&pool(&file, 16, false), 8);
        let pool = Arc::new(pool(&file, 16, false));
        let reads_before = disk.operation_counts().get(Operation::Read);
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let pool = Arc::clone(&pool);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let value = match thread % 3 {
                        0 => pool.fix_shared(PageId(5)).unwrap().u64_at(0),
                        1 => pool.read(PageId(5), |view| view.u64_at(0)).unwrap(),
                        _ => pool.fix_exclusive(PageId(5)).unwrap().u64_at(0),
                    };
                    assert_eq!(value, 5);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(disk.operation_counts().get(Operation::Read) - reads_before, 1, "round {round}");
        let stats = pool.stats();
        assert_eq!((stats.misses, stats.hits), (1, 3), "round {round}: {stats:?}");
        pool.check_invariants();
    }
}

#[test]
fn a_prefetch_reads_a_batch_that_later_fixes_hit() {
    let (disk, file) = sim_file(21);
    write_pages(&pool(&file, 64, false), 48);
    let pool = pool(&file, 64, false);
    drop(pool.fix_shared(PageId(3)).unwrap());
    let reads_before = disk.operation_counts().get(Operation::Read);
    let wanted: Vec<PageId> = (0..12).map(PageId).collect();
    assert_eq!(pool.prefetch(&wanted).unwrap(), 11, "page 3 was already in the pool");
    assert_eq!(disk.operation_counts().get(Operation::Read) - reads_before, 11);
    let stats = pool.stats();
    assert_eq!((stats.prefetch_batches, stats.pages_prefetched), (1, 11));
    for page in 0..12 {
        assert_eq!(pool.fix_shared(PageId(page)).unwrap().u64_at(0), page);
    }
    assert_eq!(pool.stats().misses, 1, "only the first fix of page 3 missed");
    pool.check_invariants();
}

#[test]
fn a_prefetch_claims_at_most_a_quarter_of_the_pool() {
    let (_disk, file) = sim_file(22);
    write_pages(&pool(&file, 16, false), 40);
    let pool = pool(&file, 16, false);
    let wanted: Vec<PageId> = (0..40).map(PageId).collect();
    assert_eq!(pool.prefetch(&wanted).unwrap(), 4);
    pool.check_invariants();
}

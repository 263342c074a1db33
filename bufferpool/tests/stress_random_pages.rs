//! Many threads read and write random pages through a pool much smaller than the data. Every
//! read — optimistic, shared or exclusive — must see the page it asked for and the last version
//! written to it; after the threads stop, no frame has leaked, and a fresh pool over the same
//! file reads back the last version of every page.
//!
//! Each page's body holds `[page id, version, version]`; writers bump the version under the
//! exclusive latch and record it in a model array while still holding the latch, so a reader
//! holding the page shared can compare against the model exactly.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bufferpool::{BufferPool, PageId};
use common::{PAGE_BYTES, options, sim_file, write_pages};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PAGE_COUNT: u64 = 256;
const FRAME_COUNT: usize = 16;
const THREAD_COUNT: u64 = 4;
const OPERATION_COUNT_PER_THREAD: u32 = 6_000;
const VERSION_COPY_OFFSET: usize = 2000;
const _: () = assert!(VERSION_COPY_OFFSET + 8 <= PAGE_BYTES - bufferpool::PAGE_HEADER_BYTES);

fn run(background_writer: bool, seed: u64) {
    let (_disk, file) = sim_file(seed);
    let pool = Arc::new(
        BufferPool::open(
            Arc::clone(&file),
            options(FRAME_COUNT, background_writer),
            Arc::new(bufferpool::NoLog),
        )
        .unwrap(),
    );
    write_pages(&pool, PAGE_COUNT);
    let model: Arc<Vec<AtomicU64>> = Arc::new((0..PAGE_COUNT).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = (0..THREAD_COUNT)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(seed * 100 + thread);
                for _ in 0..OPERATION_COUNT_PER_THREAD {
                    let page = rng.random_range(0..PAGE_COUNT);
                    match rng.random_range(0..10) {
                        0..=2 => write_next_version(&pool, &model, page),
                        3..=5 => check_shared(&pool, &model, page),
                        _ => check_optimistic(&pool, &model, page),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a worker failed");
    }
    pool.check_invariants();
    let stats = pool.stats();
    assert!(
        stats.evictions > 0 && stats.pages_written > 0,
        "the pool was too large to test: {stats:?}"
    );
    pool.flush_dirty().unwrap();
    drop(pool);

    let fresh = common::pool(&file, FRAME_COUNT, false);
    for page in 0..PAGE_COUNT {
        let held = fresh.fix_shared(PageId(page)).unwrap();
        assert_eq!(held.u64_at(0), page);
        assert_eq!(
            held.u64_at(8),
            model[index(page)].load(Ordering::SeqCst),
            "page {page} after reopen"
        );
    }
    fresh.check_invariants();
}

fn write_next_version(pool: &BufferPool, model: &[AtomicU64], page: u64) {
    let mut held = pool.fix_exclusive(PageId(page)).unwrap();
    assert_eq!(held.u64_at(0), page, "exclusive fix of {page} got another page");
    let version = held.u64_at(8) + 1;
    assert_eq!(
        version - 1,
        model[index(page)].load(Ordering::SeqCst),
        "page {page} lost a version"
    );
    let mut writer = held.writer();
    writer.put_u64(8, version);
    writer.put_u64(VERSION_COPY_OFFSET, version);
    model[index(page)].store(version, Ordering::SeqCst);
}

fn check_shared(pool: &BufferPool, model: &[AtomicU64], page: u64) {
    let held = pool.fix_shared(PageId(page)).unwrap();
    assert_eq!(held.u64_at(0), page, "shared fix of {page} got another page");
    assert_eq!(held.u64_at(8), model[index(page)].load(Ordering::SeqCst), "page {page} is stale");
    assert_eq!(held.u64_at(VERSION_COPY_OFFSET), held.u64_at(8));
}

fn check_optimistic(pool: &BufferPool, model: &[AtomicU64], page: u64) {
    let before = model[index(page)].load(Ordering::SeqCst);
    let (holds, version, copy) = pool
        .read(PageId(page), |view| {
            (view.u64_at(0), view.u64_at(8), view.u64_at(VERSION_COPY_OFFSET))
        })
        .unwrap();
    let after = model[index(page)].load(Ordering::SeqCst);
    assert_eq!(holds, page, "optimistic read of {page} validated another page");
    assert_eq!(version, copy, "optimistic read of {page} validated a torn write");
    assert!(
        before <= version && version <= after,
        "page {page}: read {version}, model {before}..={after}"
    );
}

#[test]
fn threads_see_the_last_write_with_foreground_eviction_only() {
    for seed in 0..3 {
        run(false, seed);
    }
}

#[test]
fn threads_see_the_last_write_with_the_background_writer() {
    for seed in 10..13 {
        run(true, seed);
    }
}

fn index(page: u64) -> usize {
    usize::try_from(page).expect("test pages fit in usize")
}

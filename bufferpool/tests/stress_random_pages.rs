//! Many threads read and write random pages through a pool much smaller than the data. Every
//! read — optimistic, shared or exclusive — must see the page it asked for and the last version
//! written to it; after the threads stop, no frame has leaked, and a fresh pool over the same
//! file reads back the last version of every page. The pages are the first of a simulated file,
//! or, on a sparse real file, page ids either side of the page table's flat limit, so that
//! pages move in and out of both of the table's parts (see `table.rs`).
//!
//! Each page's body holds `[page id, version, version]`; writers bump the version under the
//! exclusive latch and record it in a model array while still holding the latch, so a reader
//! holding the page shared can compare against the model exactly.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bufferpool::{BufferPool, PageId};
use common::{PAGE_BYTES, options, sim_file};
use disk::{Disk, DiskOptions, File, OpenOptions, RealDisk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PAGE_COUNT: u64 = 256;
const FRAME_COUNT: usize = 16;
const THREAD_COUNT: u64 = 4;
const OPERATION_COUNT_PER_THREAD: u32 = 6_000;
const VERSION_COPY_OFFSET: usize = 2000;
const _: () = assert!(VERSION_COPY_OFFSET + 8 <= PAGE_BYTES - bufferpool::PAGE_HEADER_BYTES);

/// The page ids the threads use: `PAGE_COUNT` of them from `first`.
#[derive(Clone, Copy)]
struct Pages {
    first: u64,
}

impl Pages {
    fn random(self, rng: &mut ChaCha8Rng) -> u64 {
        self.first + rng.random_range(0..PAGE_COUNT)
    }

    fn all(self) -> std::ops::Range<u64> {
        self.first..self.first + PAGE_COUNT
    }

    /// The model's index of `page`.
    fn index(self, page: u64) -> usize {
        usize::try_from(page - self.first).expect("test pages fit in usize")
    }
}

fn run(file: &Arc<dyn File>, pages: Pages, background_writer: bool, seed: u64) {
    let pool = Arc::new(
        BufferPool::open(
            Arc::clone(file),
            options(FRAME_COUNT, background_writer),
            Arc::new(bufferpool::NoLog),
        )
        .unwrap(),
    );
    for page in pages.all() {
        pool.new_page(PageId(page)).unwrap().writer().put_u64(0, page);
    }
    pool.flush_dirty().unwrap();
    let model: Arc<Vec<AtomicU64>> = Arc::new((0..PAGE_COUNT).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = (0..THREAD_COUNT)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(seed * 100 + thread);
                for _ in 0..OPERATION_COUNT_PER_THREAD {
                    let page = pages.random(&mut rng);
                    let version = &model[pages.index(page)];
                    match rng.random_range(0..10) {
                        0..=2 => write_next_version(&pool, version, page),
                        3..=5 => check_shared(&pool, version, page),
                        _ => check_optimistic(&pool, version, page),
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

    let fresh = common::pool(file, FRAME_COUNT, false);
    for page in pages.all() {
        let held = fresh.fix_shared(PageId(page)).unwrap();
        assert_eq!(held.u64_at(0), page);
        assert_eq!(
            held.u64_at(8),
            model[pages.index(page)].load(Ordering::SeqCst),
            "page {page} after reopen"
        );
    }
    fresh.check_invariants();
}

/// `model` is the page's last version.
fn write_next_version(pool: &BufferPool, model: &AtomicU64, page: u64) {
    let mut held = pool.fix_exclusive(PageId(page)).unwrap();
    assert_eq!(held.u64_at(0), page, "exclusive fix of {page} got another page");
    let version = held.u64_at(8) + 1;
    assert_eq!(version - 1, model.load(Ordering::SeqCst), "page {page} lost a version");
    let mut writer = held.writer();
    writer.put_u64(8, version);
    writer.put_u64(VERSION_COPY_OFFSET, version);
    model.store(version, Ordering::SeqCst);
}

fn check_shared(pool: &BufferPool, model: &AtomicU64, page: u64) {
    let held = pool.fix_shared(PageId(page)).unwrap();
    assert_eq!(held.u64_at(0), page, "shared fix of {page} got another page");
    assert_eq!(held.u64_at(8), model.load(Ordering::SeqCst), "page {page} is stale");
    assert_eq!(held.u64_at(VERSION_COPY_OFFSET), held.u64_at(8));
}

fn check_optimistic(pool: &BufferPool, model: &AtomicU64, page: u64) {
    let before = model.load(Ordering::SeqCst);
    let (holds, version, copy) = pool
        .read(PageId(page), |view| {
            (view.u64_at(0), view.u64_at(8), view.u64_at(VERSION_COPY_OFFSET))
        })
        .unwrap();
    let after = model.load(Ordering::SeqCst);
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
        run(&sim_file(seed).1, Pages { first: 0 }, false, seed);
    }
}

#[test]
fn threads_see_the_last_write_with_the_background_writer() {
    for seed in 10..13 {
        run(&sim_file(seed).1, Pages { first: 0 }, true, seed);
    }
}

/// A 16-frame pool's page table is flat below page id 2^20 (the flat part's 4 MiB base: a
/// 64th of a 64 KiB pool is less than a 4 KiB page of entries) and hashed from there (see
/// `table.rs`). Half the pages lie on each side, so lookups, installs and evictions run
/// through both parts at once, and a page's frame may be taken by a page of the other part.
/// The file is a real one (`SimDisk` keeps a file in one buffer; this one is 4 GiB long, and
/// sparse: 1 MiB of it is written).
#[test]
fn threads_see_the_last_write_on_pages_either_side_of_the_page_tables_flat_limit() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::new(DiskOptions::default());
    let path = directory.path().join("data");
    let file = disk.open(&path, OpenOptions { create: true, ..OpenOptions::default() }).unwrap();
    let pages = Pages { first: (1 << 20) - PAGE_COUNT / 2 };
    for (background_writer, seed) in [(false, 20), (true, 21)] {
        run(&file, pages, background_writer, seed);
    }
}

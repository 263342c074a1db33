//! Criterion benchmarks of the `bufferpool` layer: the hit path (optimistic read, shared fix,
//! exclusive fix, beside a plain arena read of the same bytes) and the miss path (a pool much
//! smaller than its data, so every fix evicts a page and reads one).
//!
//! The hit set lives in a pool over an in-memory `SimDisk` file, created in place; the miss
//! path reads a temporary file through the kernel's page cache (`RealDisk`, buffered) and, for
//! a figure that depends on no disk at all, a `SimDisk` file. `directdb bench pool` is the
//! device-sized measurement with a raw reference beside it; this bench tracks the per-access
//! cost of the code.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bufferpool::{BufferPool, NoLog, PAGE_HEADER_BYTES, PageId, PoolOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk::{Disk, DiskOptions, File, IoMode, OpenOptions, RealDisk, SimDisk};

const PAGE_BYTES: usize = 4096;
/// Pages of the hit set: 16 MiB, larger than the last-level cache of this machine kind, so an
/// access pays for memory as a real working set would.
const HIT_PAGES: u64 = 4096;
/// Frames of the miss path's pool, and pages of its data (64 times as many).
const MISS_FRAMES: u64 = 64;
const MISS_DATA_PAGES: u64 = 4096;
/// Body offset of the 8 bytes each access reads.
const VALUE_OFFSET: usize = 64;

/// The `step`th page of a fixed pseudo-random walk over `page_count` pages.
fn page_of(step: u64, page_count: u64) -> u64 {
    (step.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) & (page_count - 1)
}

fn pool_over(file: Arc<dyn File>, frame_count: u64, background_writer: bool) -> BufferPool {
    let pool_bytes = usize::try_from(frame_count).unwrap() * PAGE_BYTES;
    let options = PoolOptions {
        pool_bytes,
        page_bytes: PAGE_BYTES,
        background_writer,
        ..PoolOptions::default()
    };
    BufferPool::open(file, options, Arc::new(NoLog)).unwrap()
}

/// Writes `page_count` pages, page `p` holding `p`, through `pool`.
fn fill(pool: &BufferPool, page_count: u64) {
    for page in 0..page_count {
        pool.new_page(PageId(page)).unwrap().writer().put_u64(VALUE_OFFSET, page);
    }
}

fn hit_path(criterion: &mut Criterion) {
    let disk = SimDisk::with_seed(1);
    let file = disk.open("/hit".as_ref(), OpenOptions::create()).unwrap();
    // No background writer: nothing evicts the set, which fills the pool exactly.
    let pool = pool_over(file, HIT_PAGES, false);
    fill(&pool, HIT_PAGES);
    let mut arena = vec![0u8; usize::try_from(HIT_PAGES).unwrap() * PAGE_BYTES];
    for page in 0..HIT_PAGES {
        let start = usize::try_from(page).unwrap() * PAGE_BYTES + PAGE_HEADER_BYTES + VALUE_OFFSET;
        arena[start..start + 8].copy_from_slice(&page.to_le_bytes());
    }
    let mut group = criterion.benchmark_group("pool_hit");
    group.throughput(Throughput::Elements(1));
    let mut step = 0u64;
    group.bench_function("raw_arena", |bencher| {
        bencher.iter(|| {
            step += 1;
            let page = page_of(step, HIT_PAGES);
            let start =
                usize::try_from(page).unwrap() * PAGE_BYTES + PAGE_HEADER_BYTES + VALUE_OFFSET;
            black_box(u64::from_le_bytes(arena[start..start + 8].try_into().unwrap()))
        });
    });
    group.bench_function("optimistic_read", |bencher| {
        bencher.iter(|| {
            step += 1;
            let page = PageId(page_of(step, HIT_PAGES));
            black_box(pool.read(page, |view| view.u64_at(VALUE_OFFSET)).unwrap())
        });
    });
    group.bench_function("fix_shared", |bencher| {
        bencher.iter(|| {
            step += 1;
            let page = PageId(page_of(step, HIT_PAGES));
            black_box(pool.fix_shared(page).unwrap().u64_at(VALUE_OFFSET))
        });
    });
    group.bench_function("fix_exclusive", |bencher| {
        bencher.iter(|| {
            step += 1;
            let page = PageId(page_of(step, HIT_PAGES));
            black_box(pool.fix_exclusive(page).unwrap().u64_at(VALUE_OFFSET))
        });
    });
    group.finish();
    assert_eq!(pool.stats().misses, 0, "the hit set stayed resident");
}

/// A pool of [`MISS_FRAMES`] over a file of [`MISS_DATA_PAGES`] pages written through a pool.
fn miss_pool(file: Arc<dyn File>) -> BufferPool {
    {
        let writer = pool_over(Arc::clone(&file), MISS_FRAMES, true);
        fill(&writer, MISS_DATA_PAGES);
        writer.flush_dirty().unwrap();
    }
    pool_over(file, MISS_FRAMES, true)
}

fn miss_path(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().unwrap();
    let buffered =
        RealDisk::new(DiskOptions { io_mode: IoMode::Buffered, ..DiskOptions::default() });
    let sim = SimDisk::with_seed(2);
    let files: [(&str, Arc<dyn File>); 2] = [
        (
            "buffered_file",
            buffered.open(&directory.path().join("miss.dat"), OpenOptions::create()).unwrap(),
        ),
        ("sim_disk", sim.open("/miss".as_ref(), OpenOptions::create()).unwrap()),
    ];
    let mut group = criterion.benchmark_group("pool_miss");
    group.throughput(Throughput::Elements(1));
    for (name, file) in files {
        let pool = miss_pool(file);
        let mut step = 0u64;
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                step += 1;
                let page = page_of(step, MISS_DATA_PAGES);
                let value = pool.fix_shared(PageId(page)).unwrap().u64_at(VALUE_OFFSET);
                assert_eq!(value, page);
            });
        });
        let stats = pool.stats();
        // (A filtered run, `--bench pool_hit`, never fixes a page here.)
        let fixed = stats.hits + stats.misses > 0;
        assert!(
            !fixed || stats.hit_ratio() < 0.1,
            "a pool 1/64 of its data mostly misses: {stats:?}"
        );
    }
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = short();
    targets = hit_path, miss_path
}
criterion_main!(benches);

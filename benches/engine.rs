//! Criterion benches of the engine's `Db` API, cached: point get (beside `std::collections::BTreeMap`
//! over the same keys, in the same run), single-key put without a log flush, and a 100-entry range
//! scan. `DIRECTDB_BENCH_KEYS` sets the key count (default 1,000,000 8-byte keys; the issue's
//! figure is for 10,000,000, which takes about a minute to load), `DIRECTDB_BENCH_PAGE_BYTES`
//! the page size (default: `Options::default()`'s).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use directdb::{Db, Durability, Options};

const KEYS_DEFAULT: u64 = 1_000_000;
const BATCH_KEY_COUNT: u64 = 1000;

fn key_count() -> u64 {
    std::env::var("DIRECTDB_BENCH_KEYS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(KEYS_DEFAULT)
}

fn page_size() -> usize {
    std::env::var("DIRECTDB_BENCH_PAGE_BYTES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(Options::default().page_size)
}

/// Spreads consecutive indexes over the key space, as random inserts would.
fn key_of(index: u64) -> u64 {
    index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn engine(criterion: &mut Criterion) {
    let key_count = key_count();
    let directory = tempfile::tempdir().expect("a temporary directory");
    // A pool that holds the whole tree: these are the cached paths.
    let pool_size =
        usize::try_from(key_count).unwrap_or(usize::MAX).saturating_mul(64).max(64 << 20);
    let options = Options {
        pool_size,
        page_size: page_size(),
        durability: Durability::None,
        ..Options::default()
    };
    let db = Db::open(directory.path(), options).expect("open");
    let mut model = BTreeMap::new();
    for batch in 0..key_count.div_ceil(BATCH_KEY_COUNT) {
        let mut transaction = db.begin().expect("begin");
        for index in batch * BATCH_KEY_COUNT..((batch + 1) * BATCH_KEY_COUNT).min(key_count) {
            let key = key_of(index);
            transaction.put(&key.to_be_bytes(), &index.to_le_bytes()).expect("put");
            model.insert(key, index);
        }
        transaction.commit().expect("commit");
    }
    let mut group = criterion.benchmark_group("cached_point_get");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let mut step = 0u64;
    group.bench_function("directdb", |bencher| {
        bencher.iter(|| {
            step = step.wrapping_add(0x2545_F491_4F6C_DD1D);
            let key = key_of(step % key_count);
            black_box(db.get(&key.to_be_bytes()).expect("get"))
        });
    });
    group.bench_function("std_btreemap", |bencher| {
        bencher.iter(|| {
            step = step.wrapping_add(0x2545_F491_4F6C_DD1D);
            let key = key_of(step % key_count);
            black_box(model.get(&key).copied())
        });
    });
    group.finish();

    let mut group = criterion.benchmark_group("cached_put_and_scan");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("put_no_log_flush", |bencher| {
        bencher.iter(|| {
            step = step.wrapping_add(0x2545_F491_4F6C_DD1D);
            let key = key_of(step % key_count);
            db.put(&key.to_be_bytes(), &step.to_le_bytes()).expect("put");
        });
    });
    group.bench_function("range_scan_100", |bencher| {
        bencher.iter(|| {
            step = step.wrapping_add(0x2545_F491_4F6C_DD1D);
            let start = key_of(step % key_count).to_be_bytes();
            let snapshot = db.snapshot().expect("snapshot");
            black_box(snapshot.range(&start[..]..).expect("range").take(100).count())
        });
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);

//! An update-only workload (YCSB A's writes) over a fixed key set, with checkpoints: pages
//! replaced by copy-on-write and by value changes are reused, so the file stops growing.

mod common;

use common::{open_sim, small_options};
use disk::SimDisk;
use engine::Options;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const KEY_COUNT: u32 = 1000;
const ROUND_COUNT: u32 = 16;

#[test]
fn updates_reuse_pages_and_the_file_stops_growing() {
    let disk = SimDisk::with_seed(7);
    let options = Options { checkpoint_wal_bytes: 512 << 10, ..small_options() };
    let db = open_sim(&disk, &options).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut page_counts = Vec::new();
    for round in 0..ROUND_COUNT {
        for _ in 0..KEY_COUNT {
            let key = format!("user{:06}", rng.random_range(0..KEY_COUNT));
            let length = if rng.random_range(0..50) == 0 { 6000 } else { 100 };
            db.put(key.as_bytes(), &vec![u8::try_from(round).unwrap(); length]).unwrap();
        }
        db.checkpoint().unwrap();
        page_counts.push(db.check().unwrap().page_count);
    }
    let settled = page_counts[ROUND_COUNT as usize / 2];
    let last = *page_counts.last().unwrap();
    assert!(
        last <= settled + settled / 10,
        "the file kept growing: pages per round {page_counts:?}"
    );
    assert!(db.stats().free_pages > 0 || last == settled);
}

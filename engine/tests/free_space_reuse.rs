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

/// Fills a database, deletes every other key so that pages are freed, and checkpoints: returns
/// the check report of the closed database.
fn fill_and_thin(disk: &SimDisk) -> engine::CheckReport {
    let db = open_sim(disk, &small_options()).unwrap();
    for index in 0..2000u32 {
        db.put(format!("key{index:05}").as_bytes(), &[7; 200]).unwrap();
    }
    for index in (0..2000u32).step_by(2) {
        db.delete(format!("key{index:05}").as_bytes()).unwrap();
    }
    db.checkpoint().unwrap();
    db.checkpoint().unwrap(); // the pages the first one replaced are free in this one's view
    let report = db.check().unwrap();
    assert!(report.free_pages > 10, "the deletes freed pages: {report:?}");
    report
}

/// Open takes the free pages from the list the last checkpoint wrote, not from a walk of the
/// tree: it reads a few pages, and still knows every free page.
#[test]
fn open_reads_the_recorded_free_list_not_the_tree() {
    let disk = SimDisk::with_seed(11);
    let before = fill_and_thin(&disk);
    let db = open_sim(&disk, &small_options()).unwrap();
    let pages_read = db.stats().pool.pages_read;
    assert!(
        pages_read * 4 < before.tree_pages,
        "open read {pages_read} pages of a {}-page tree",
        before.tree_pages
    );
    let after = db.check().unwrap();
    assert_eq!(after.free_pages, before.free_pages, "{before:?} then {after:?}");
    assert_eq!(after.page_count, before.page_count);
    // New pages come from the free ones: the file does not grow.
    for index in (0..2000u32).step_by(2) {
        db.put(format!("key{index:05}").as_bytes(), &[8; 100]).unwrap();
    }
    db.checkpoint().unwrap();
    assert_eq!(db.check().unwrap().page_count, before.page_count);
    for index in 0..2000u32 {
        let value = db.get(format!("key{index:05}").as_bytes()).unwrap().unwrap();
        assert_eq!(value.len(), if index % 2 == 0 { 100 } else { 200 }, "key {index}");
    }
}

/// A damaged page of the recorded free list fails the open with an error naming the page.
#[test]
fn a_damaged_free_list_page_is_an_error_naming_it() {
    let disk = SimDisk::with_seed(12);
    fill_and_thin(&disk);
    let path = std::path::Path::new(common::DIRECTORY).join(engine::DATA_FILE_NAME);
    let content = disk.durable_content(&path).unwrap();
    // The list's pages: kind 4 at the start of the body.
    let list_pages: Vec<u64> = (2..content.len() / 4096)
        .filter(|&page| content[page * 4096 + bufferpool::PAGE_HEADER_BYTES] == 4)
        .map(|page| page as u64)
        .collect();
    assert!(!list_pages.is_empty(), "the checkpoint wrote a free list");
    // The newest list is the one the header names; damage them all.
    for &page in &list_pages {
        disk.flip_bit(&path, page * 4096 + 100, 3).unwrap();
    }
    match open_sim(&disk, &small_options()) {
        Err(engine::Error::Pool(bufferpool::Error::Corruption { page, .. })) => {
            assert!(list_pages.contains(&page.0), "page {page} is not a free-list page");
        }
        other => panic!("expected corruption naming a free-list page, got {other:?}"),
    }
}

//! A failed write-back is sticky: after it, the pool refuses every change (the kernel's and the
//! device's caches are in an unknown state after a failed write) while pages already in the
//! pool can still be read.

mod common;

use bufferpool::{Error, PageId};
use common::{pool, sim_file, write_pages};
use disk::sim::{Fault, Operation, Trigger};

#[test]
fn a_failed_write_back_refuses_changes_from_then_on() {
    let (disk, file) = sim_file(11);
    let pool = pool(&file, 16, false);
    write_pages(&pool, 4);
    pool.fix_exclusive(PageId(1)).unwrap().writer().put_u64(8, 77);
    let write_index = disk.operation_counts().get(Operation::Write);
    disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index: write_index }));
    match pool.flush_dirty() {
        Err(Error::Failed { reason }) => assert!(reason.contains("data"), "{reason}"),
        other => panic!("expected the write failure, got {other:?}"),
    }
    assert!(pool.failure().is_some());
    // The fault fired once; the pool still refuses, because it cannot know what the file holds.
    assert!(matches!(pool.fix_exclusive(PageId(2)), Err(Error::Failed { .. })));
    assert!(matches!(pool.new_page(PageId(9)), Err(Error::Failed { .. })));
    assert!(matches!(pool.flush_dirty(), Err(Error::Failed { .. })));
    assert_eq!(pool.fix_shared(PageId(1)).unwrap().u64_at(8), 77, "reads still work");
    assert_eq!(pool.read(PageId(3), |view| view.u64_at(0)).unwrap(), 3);
    pool.check_invariants();
}

#[test]
fn a_failed_sync_is_sticky_too() {
    let (disk, file) = sim_file(12);
    let pool = pool(&file, 16, false);
    write_pages(&pool, 2);
    pool.fix_exclusive(PageId(0)).unwrap().writer().put_u64(8, 5);
    let flush_index = disk.operation_counts().get(Operation::Flush);
    disk.inject(Fault::io_error(Operation::Flush, Trigger::Once { index: flush_index }));
    assert!(matches!(pool.flush_dirty(), Err(Error::Failed { .. })));
    assert!(matches!(pool.fix_exclusive(PageId(0)), Err(Error::Failed { .. })));
}

/// A checkpoint's flush waits for a page another thread holds instead of skipping it: every
/// page dirty when the flush began is on disk when it returns. (The sleep only makes the
/// interesting interleaving likely; the assertion holds under every interleaving.)
#[test]
fn flush_dirty_waits_for_pages_held_by_other_threads() {
    let (disk, file) = sim_file(13);
    let pool = std::sync::Arc::new(pool(&file, 16, false));
    write_pages(&pool, 4);
    let mut held = pool.fix_exclusive(PageId(2)).unwrap();
    held.writer().put_u64(8, 1234);
    let flusher = {
        let pool = std::sync::Arc::clone(&pool);
        std::thread::spawn(move || pool.flush_dirty().unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    drop(held);
    assert!(flusher.join().unwrap() >= 1);
    let content = disk.durable_content(std::path::Path::new(common::DATA_PATH)).unwrap();
    let body = &content[2 * common::PAGE_BYTES + bufferpool::PAGE_HEADER_BYTES..];
    assert_eq!(body[8..16], 1234u64.to_le_bytes(), "the held page was written and synced");
}

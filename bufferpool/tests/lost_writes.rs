//! A write that the device lost, or put at another page's place, leaves an older image that is
//! whole and carries the right page id. The pool remembers the checksum of its last write of
//! each page (`ledger.rs`): a read that finds the older image is a corruption error naming the
//! page, and `verify_writes` finds it by reading the page back.

mod common;

use bufferpool::{BufferPool, Error, PageId};
use common::{PAGE_BYTES, corruption_reason, pool, sim_file, write_pages};
use disk::SimDisk;
use disk::sim::{Fault, Operation, Trigger};

const FRAME_COUNT: usize = 8;

/// Gives page 2 a second image (holding `value`), written with the next write misdirected
/// when `misdirect` is set; then drops it from the pool, so that the next fix reads the file.
fn rewrite_page_two(disk: &SimDisk, pool: &BufferPool, value: u64, misdirect: bool) {
    pool.fix_exclusive(PageId(2)).unwrap().writer().put_u64(0, value);
    if misdirect {
        let write = disk.operation_counts().get(Operation::Write);
        disk.inject(Fault::misdirected_write(Trigger::Once { index: write }));
    }
    pool.flush_dirty().unwrap();
    disk.clear_faults();
    // A discard would forget the page (a freed page): evict it by filling the pool instead.
    for page in 10..10 + FRAME_COUNT as u64 {
        pool.new_page(PageId(page)).unwrap().writer().put_u64(0, page);
    }
    pool.flush_dirty().unwrap();
    for page in 10..10 + FRAME_COUNT as u64 {
        pool.read(PageId(page), |view| view.u64_at(0)).unwrap();
    }
}

#[test]
fn a_misdirected_write_is_found_when_the_page_is_read_again() {
    let (disk, file) = sim_file(11);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 4);
    rewrite_page_two(&disk, &pool, 222, true);
    let reason = corruption_reason(pool.fix_shared(PageId(2)), 2);
    assert!(reason.contains("landed at another page's place"), "{reason}");
    assert!(corruption_reason(pool.read(PageId(2), |view| view.u64_at(0)), 2).contains("lost"));
    pool.check_invariants();
}

#[test]
fn a_misdirected_write_is_found_by_reading_it_back() {
    let (disk, file) = sim_file(12);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 4);
    pool.fix_exclusive(PageId(2)).unwrap().writer().put_u64(0, 222);
    let write = disk.operation_counts().get(Operation::Write);
    disk.inject(Fault::misdirected_write(Trigger::Once { index: write }));
    pool.flush_dirty().unwrap();
    // Reported at the first bad page read back: page 2 (an older image), or the page the
    // write landed on, if the pool wrote that one too (it holds page 2's id).
    match pool.verify_writes() {
        Err(Error::Corruption { page, reason, .. }) => {
            assert!(reason.contains("read back after its write"), "{reason}");
            assert!(page == PageId(2) || reason.contains("holds page 2"), "page {page}: {reason}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    assert!(pool.stats().pages_unverified > 0, "the bad page stays unverified");
}

#[test]
fn pages_read_back_as_written_are_verified_once() {
    let (_disk, file) = sim_file(13);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 4);
    assert_eq!(pool.stats().pages_unverified, 4);
    assert_eq!(pool.verify_writes().unwrap(), 4);
    let stats = pool.stats();
    assert_eq!((stats.pages_verified, stats.pages_unverified), (4, 0));
    assert_eq!(pool.verify_writes().unwrap(), 0, "nothing written since");
    pool.fix_exclusive(PageId(1)).unwrap().writer().put_u64(0, 111);
    pool.flush_dirty().unwrap();
    assert_eq!(pool.verify_writes().unwrap(), 1, "only the page written again");
}

/// After a correct rewrite, the page reads back with the new image, and the older image that
/// a lost write would leave — put back by hand here — is refused.
#[test]
fn an_older_image_put_back_in_place_is_refused() {
    let (disk, file) = sim_file(14);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 4);
    let mut older = disk::AlignedBuf::zeroed(PAGE_BYTES, 4096);
    file.read_at(&mut older, 2 * PAGE_BYTES as u64).unwrap();
    rewrite_page_two(&disk, &pool, 222, false);
    assert_eq!(pool.fix_shared(PageId(2)).unwrap().u64_at(0), 222);
    rewrite_page_two(&disk, &pool, 333, false);
    file.write_at(&older, 2 * PAGE_BYTES as u64).unwrap();
    assert!(corruption_reason(pool.fix_shared(PageId(2)), 2).contains("another image"));
    assert!(corruption_reason(pool.verify_writes(), 2).contains("another image"));
}

/// A page the layer above freed (discarded) is forgotten: its next image is whatever is
/// written next, and reading back the pages written so far does not read it.
#[test]
fn a_discarded_page_is_forgotten() {
    let (_disk, file) = sim_file(15);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 4);
    pool.discard(PageId(3)).unwrap();
    assert_eq!(pool.stats().pages_unverified, 3);
    assert_eq!(pool.verify_writes().unwrap(), 3);
}

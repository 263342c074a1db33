//! Pages that are not what was written — a flipped bit, a page never written, another page's
//! bytes (a misdirected write), an I/O error — are errors naming the page, never data; the
//! frame taken for the failed read goes back to the free list; and the pool keeps working.

mod common;

use std::path::Path;

use bufferpool::{Error, PageId, verify_page};
use common::{DATA_PATH, PAGE_BYTES, corruption_reason, pool, sim_file, write_pages};
use disk::sim::{Fault, Operation, Trigger};

const FRAME_COUNT: usize = 8;

fn assert_no_frame_leaked(pool: &bufferpool::BufferPool) {
    pool.check_invariants();
    assert_eq!(pool.stats().frames_free, FRAME_COUNT, "the failed read's frame is free again");
}

#[test]
fn a_flipped_bit_is_a_checksum_error_on_every_kind_of_fix() {
    let (disk, file) = sim_file(1);
    write_pages(&pool(&file, FRAME_COUNT, false), 4);
    disk.flip_bit(Path::new(DATA_PATH), 2 * PAGE_BYTES as u64 + 1000, 3).unwrap();
    let pool = pool(&file, FRAME_COUNT, false);
    assert!(corruption_reason(pool.fix_shared(PageId(2)), 2).contains("checksum mismatch"));
    assert!(corruption_reason(pool.fix_exclusive(PageId(2)), 2).contains("checksum mismatch"));
    assert!(corruption_reason(pool.read(PageId(2), |view| view.u64_at(0)), 2).contains("checksum"));
    assert_no_frame_leaked(&pool);
    assert_eq!(pool.fix_shared(PageId(1)).unwrap().u64_at(0), 1, "other pages still read");
}

#[test]
fn a_page_never_written_is_not_served_as_zeros() {
    let (_disk, file) = sim_file(2);
    write_pages(&pool(&file, FRAME_COUNT, false), 4);
    // Page 6 lies beyond the written pages: reading it is a short read or zeros.
    let pool = pool(&file, FRAME_COUNT, false);
    assert!(pool.fix_shared(PageId(6)).is_err());
    // Page 2 replaced by zeros (a write lost after the file was extended).
    file.write_at(&disk::AlignedBuf::zeroed(PAGE_BYTES, 4096), 2 * PAGE_BYTES as u64).unwrap();
    assert!(corruption_reason(pool.fix_shared(PageId(2)), 2).contains("all zeros"));
    assert_no_frame_leaked(&pool);
}

#[test]
fn another_pages_bytes_in_place_are_a_misdirected_write() {
    let (_disk, file) = sim_file(3);
    write_pages(&pool(&file, FRAME_COUNT, false), 4);
    let mut image = disk::AlignedBuf::zeroed(PAGE_BYTES, 4096);
    file.read_at(&mut image, PAGE_BYTES as u64).unwrap();
    assert_eq!(verify_page(&image, PageId(1)), Ok(()));
    file.write_at(&image, 3 * PAGE_BYTES as u64).unwrap();
    let pool = pool(&file, FRAME_COUNT, false);
    assert!(corruption_reason(pool.fix_shared(PageId(3)), 3).contains("misdirected"));
    assert_no_frame_leaked(&pool);
}

#[test]
fn a_read_error_frees_the_frame_and_a_retry_succeeds() {
    let (disk, file) = sim_file(4);
    write_pages(&pool(&file, FRAME_COUNT, false), 4);
    let pool = pool(&file, FRAME_COUNT, false);
    let read_index = disk.operation_counts().get(Operation::Read);
    disk.inject(Fault::io_error(Operation::Read, Trigger::Once { index: read_index }));
    match pool.fix_shared(PageId(2)) {
        Err(Error::Disk(error)) => assert!(error.to_string().contains(DATA_PATH), "{error}"),
        other => panic!("expected the injected read error, got {other:?}"),
    }
    assert_no_frame_leaked(&pool);
    assert_eq!(pool.fix_shared(PageId(2)).unwrap().u64_at(0), 2, "the retry reads the page");
}

#[test]
fn a_corrupt_prefetched_page_is_dropped_and_reported_by_the_fix() {
    let (disk, file) = sim_file(5);
    write_pages(&pool(&file, FRAME_COUNT, false), 4);
    disk.flip_bit(Path::new(DATA_PATH), PAGE_BYTES as u64 + 64, 0).unwrap();
    let pool = pool(&file, FRAME_COUNT, false);
    assert_eq!(pool.prefetch(&[PageId(0), PageId(1)]).unwrap(), 1, "only the intact page");
    assert!(corruption_reason(pool.fix_shared(PageId(1)), 1).contains("checksum"));
    assert_eq!(pool.fix_shared(PageId(0)).unwrap().u64_at(0), 0);
}

/// The layer above's "checked" mark lasts while the frame keeps its image and is gone once the
/// page is read again from the file (which may have been damaged meanwhile).
#[test]
fn the_checked_mark_is_cleared_when_the_page_is_read_again() {
    let (_disk, file) = sim_file(6);
    let pool = pool(&file, FRAME_COUNT, false);
    write_pages(&pool, 2);
    let page = pool.new_page(PageId(1)).unwrap();
    assert!(!page.is_checked(), "a new image is unchecked");
    page.mark_checked();
    drop(page);
    assert!(pool.fix_shared(PageId(1)).unwrap().is_checked());
    pool.flush_dirty().unwrap();
    assert!(pool.discard(PageId(1)).unwrap());
    assert!(!pool.fix_shared(PageId(1)).unwrap().is_checked(), "read again from the file");
}

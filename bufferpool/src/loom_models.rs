//! Loom models of the pool's hand-offs, run by CI:
//! `RUSTFLAGS="--cfg loom" cargo test -p bufferpool --release --lib loom_models`.
//!
//! They run the real pool code (with loom's atomics and mutexes, see `sync.rs`) over a
//! [`SimDisk`] file, two frames, and no background writer, and check under every interleaving
//! (bounded preemptions):
//! - miss coalescing: two threads missing one page read it once and both see it;
//! - the eviction hand-off: a reader of a page that another thread evicts (to load another
//!   page into its frame) never returns the other page's bytes, optimistically or shared;
//! - write-back: two flushes racing a change never leave the file with an older image than
//!   the one whose write marked the frame clean;
//! - discard and reuse: a page discarded while its write-back is in flight, then allocated
//!   again in another frame, never has its new image overwritten by the stale one.
//!
//! Each model was seen to fail with its protocol step removed (the page check after latching,
//! the latch held across the read, the one-write-in-flight flag, discard's wait for a write in
//! flight).
//!
//! What they abstract: a [`SimDisk`] request runs under the disk's own lock, which loom does
//! not see, so a read or a write is one indivisible step, and the frames' bytes are `std`
//! atomics (see `sync.rs`). Nothing loom sees lies between write-back's latch release and its
//! submission, so a model that needs a write to stay in flight while other threads run wraps
//! the file in [`in_flight_file`], whose writes take one loom step before they land.

use std::path::Path;
use std::sync::Arc;

use disk::sim::Operation;
use disk::{AlignedBuf, Disk, File, OpenOptions, SimDisk, WatchedFile, WriteWatch};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

use crate::log_rule::NoLog;
use crate::options::PoolOptions;
use crate::page::{self, PageId};
use crate::pool::BufferPool;

const PAGE_BYTES: usize = 4096;

fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.max_branches = 100_000;
    builder.check(body);
}

/// A simulated data file holding pages `0..page_count`, page `n`'s body starting with `n`.
fn data_file(page_count: u64) -> (SimDisk, Arc<dyn File>) {
    let disk = SimDisk::with_seed(1);
    let file = disk
        .open(Path::new("data"), OpenOptions { create: true, ..OpenOptions::default() })
        .unwrap();
    for page in 0..page_count {
        let mut image = AlignedBuf::zeroed(PAGE_BYTES, 4096);
        image[4..8].copy_from_slice(b"DDPG");
        image[8..16].copy_from_slice(&page.to_le_bytes());
        image[24..32].copy_from_slice(&page.to_le_bytes());
        page::seal(&mut image);
        file.write_at(&image, page * PAGE_BYTES as u64).unwrap();
    }
    (disk, file)
}

/// Watches a data file's writes so that each stays in flight for a loom step before it lands:
/// the step (an atomic count of the writes submitted) is where loom may run other threads
/// between a write-back's submission and its completion, as a device may hold a write for as
/// long as it likes. Reads and everything else go straight to the inner file.
#[derive(Debug)]
struct InFlight {
    writes_submitted: AtomicU64,
}

impl WriteWatch for InFlight {
    fn before_write(&self, _buf: &[u8], _offset: u64) {
        self.writes_submitted.fetch_add(1, Ordering::Relaxed);
    }
}

/// `inner`, each of its writes in flight for a loom step ([`InFlight`]).
fn in_flight_file(inner: &Arc<dyn File>) -> Arc<dyn File> {
    let watch = InFlight { writes_submitted: AtomicU64::new(0) };
    Arc::new(WatchedFile::new(Arc::clone(inner), watch))
}

fn two_frame_pool(file: &Arc<dyn File>) -> Arc<BufferPool> {
    let options = PoolOptions {
        pool_bytes: 2 * PAGE_BYTES,
        page_bytes: PAGE_BYTES,
        background_writer: false,
        free_frames_reserve: None,
        frame_wait_max: std::time::Duration::from_secs(5),
    };
    Arc::new(BufferPool::open(Arc::clone(file), options, Arc::new(NoLog)).unwrap())
}

#[test]
fn concurrent_misses_on_one_page_read_it_once() {
    let (disk, file) = data_file(2);
    model(move || {
        let pool = two_frame_pool(&file);
        let reads_before = disk.operation_counts().get(Operation::Read);
        let other = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.fix_shared(PageId(1)).unwrap().u64_at(0))
        };
        let mine = pool.read(PageId(1), |view| view.u64_at(0)).unwrap();
        assert_eq!(mine, 1);
        assert_eq!(other.join().unwrap(), 1);
        assert_eq!(
            disk.operation_counts().get(Operation::Read) - reads_before,
            1,
            "one read for both"
        );
        pool.check_invariants();
    });
}

#[test]
fn a_reader_never_sees_the_page_that_evicted_its_own() {
    let (_disk, file) = data_file(3);
    model(move || {
        let pool = two_frame_pool(&file);
        // Both frames hold pages (0 and 1) on probation, neither hit.
        drop(pool.fix_shared(PageId(0)).unwrap());
        drop(pool.fix_shared(PageId(1)).unwrap());
        let evictor = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.fix_shared(PageId(2)).unwrap().u64_at(0))
        };
        assert_eq!(pool.read(PageId(0), |view| view.u64_at(0)).unwrap(), 0);
        assert_eq!(pool.fix_shared(PageId(1)).unwrap().u64_at(0), 1);
        assert_eq!(evictor.join().unwrap(), 2);
        pool.check_invariants();
    });
}

/// Two write-backs of one page racing a change to it: the file must end up with the last
/// image once the pool says the page is clean. (Without the one-write-in-flight rule an older
/// copy could land last while a newer write had already marked the frame clean; the writes
/// stay in flight for a step, [`in_flight_file`], so that loom can order them either way.)
#[test]
fn racing_write_backs_never_leave_an_older_image_behind_a_clean_frame() {
    let (_disk, file) = data_file(0);
    model(move || {
        let pool = two_frame_pool(&in_flight_file(&file));
        pool.new_page(PageId(0)).unwrap().writer().put_u64(0, 10);
        let flusher = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.flush_dirty().unwrap())
        };
        pool.fix_exclusive(PageId(0)).unwrap().writer().put_u64(0, 11);
        pool.flush_dirty().unwrap();
        flusher.join().unwrap();
        pool.flush_dirty().unwrap();
        let mut image = AlignedBuf::zeroed(PAGE_BYTES, 4096);
        file.read_at(&mut image, 0).unwrap();
        assert_eq!(page::verify(&image, PageId(0)), Ok(()));
        assert_eq!(image[24], 11, "the file holds the last image");
    });
}

/// A write-back of page 0 in flight (copied out under the shared latch, the latch released,
/// the write not yet landed) while another thread discards page 0, lets its frame go to
/// another page, allocates page 0 again in the other frame and writes the new image: the file
/// must end with the new image. This is the engine's free-then-reuse of a page id (seen as
/// "page N holds the last X bytes of a value" in the tree's model test, about one run in 80):
/// without discard's wait for the write in flight, the new frame's write and the stale one
/// are two writes of one page from two frames, so the one-write-in-flight flag of each frame
/// does not order them, and the stale image can land last.
///
/// The freed frame must go to another page first: a page allocated again in the very frame it
/// was discarded from finds the frame's write flag still set and waits for the stale write.
/// The free list hands out the last frame freed, so the read of page 1 takes frame 0 and page
/// 0 comes back in frame 1.
#[test]
fn a_discarded_page_allocated_again_is_not_overwritten_by_its_stale_write_back() {
    let (_disk, file) = data_file(2);
    model(move || {
        let pool = two_frame_pool(&in_flight_file(&file));
        pool.fix_exclusive(PageId(0)).unwrap().writer().put_u64(0, 10);
        let reuser = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                assert!(pool.discard(PageId(0)).unwrap(), "page 0 was in the pool");
                assert_eq!(pool.fix_shared(PageId(1)).unwrap().u64_at(0), 1);
                pool.new_page(PageId(0)).unwrap().writer().put_u64(0, 11);
                pool.flush_dirty().unwrap();
            })
        };
        pool.flush_dirty().unwrap();
        reuser.join().unwrap();
        let mut image = AlignedBuf::zeroed(PAGE_BYTES, 4096);
        file.read_at(&mut image, 0).unwrap();
        assert_eq!(page::verify(&image, PageId(0)), Ok(()));
        assert_eq!(image[24], 11, "the file holds the page's new image, not the discarded one");
        pool.check_invariants();
    });
}

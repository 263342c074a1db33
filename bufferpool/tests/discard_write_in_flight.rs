//! A page discarded while its write-back is in flight, then allocated again in another frame,
//! keeps its new image: the stale write of the discarded image lands before `discard` returns,
//! never after the new image's write.
//!
//! The bug this pins down (fixed in 2cd9332, seen as "page N holds the last X bytes of a value"
//! in the engine tree's model test, about one run in 80 under load): write-back copies a dirty
//! frame out under the shared latch, sets the frame's `writing` flag, releases the latch and
//! submits the write. `discard` took the exclusive latch in that window, marked the frame clean
//! and freed it. The engine then allocated the page id again (`new_page`), in another frame,
//! and wrote the new image; the one-write-in-flight flag is per frame, so nothing ordered the
//! two writes of the page, and the stale one could land last. Once the new frame was evicted,
//! the page read back with the freed page's old content.
//!
//! The test drives that interleaving exactly, with a data file that holds one write at its
//! submission until the test lets it land ([`Pause`]), and no timing: the stale write is
//! let go once the reusing thread has either finished (discard did not wait: the bug) or been
//! counted waiting for the write in discard (the fix).

mod common;

use std::sync::{Arc, Condvar, Mutex};

use bufferpool::{BufferPool, NoLog, PageId, verify_page};
use common::{PAGE_BYTES, options, pool, sim_file, write_pages};
use disk::{AlignedBuf, WatchedFile, WriteWatch};

/// Where the one held write is.
#[derive(Debug, Default)]
struct Hold {
    /// The offset of the next write to hold; taken by that write.
    armed_offset: Option<u64>,
    /// A write is held at its submission, not yet passed to the inner file.
    held: bool,
    /// The test let the held write go.
    released: bool,
}

/// Watches a data file's writes and holds the next write at one offset, before it reaches the
/// file, until [`Pause::release`]: a write submitted and not landed, for as long as the test
/// likes. Every other write goes straight through.
#[derive(Debug, Default)]
struct Pause {
    hold: Mutex<Hold>,
    changed: Condvar,
}

impl Pause {
    /// Holds the next write at `offset`.
    fn hold_next_write_at(&self, offset: u64) {
        let mut hold = self.hold.lock().unwrap();
        assert!(hold.armed_offset.is_none() && !hold.held, "one held write at a time");
        *hold = Hold { armed_offset: Some(offset), ..Hold::default() };
    }

    /// Returns once the armed write is held.
    fn wait_until_held(&self) {
        let mut hold = self.hold.lock().unwrap();
        while !hold.held {
            hold = self.changed.wait(hold).unwrap();
        }
    }

    /// Lets the held write land.
    fn release(&self) {
        let mut hold = self.hold.lock().unwrap();
        assert!(hold.held, "no write is held");
        hold.released = true;
        self.changed.notify_all();
    }
}

impl WriteWatch for Pause {
    /// Holds the calling thread if `offset` is the armed write's.
    fn before_write(&self, _buf: &[u8], offset: u64) {
        let mut hold = self.hold.lock().unwrap();
        if hold.armed_offset != Some(offset) {
            return;
        }
        hold.armed_offset = None;
        hold.held = true;
        self.changed.notify_all();
        while !hold.released {
            hold = self.changed.wait(hold).unwrap();
        }
        hold.held = false;
    }
}

/// Frames in the pool under test; the file holds four times as many pages, enough to push
/// page 0 out by reading the others.
const FRAME_COUNT: usize = bufferpool::FRAME_COUNT_MIN;
const PAGE_COUNT: u64 = 4 * FRAME_COUNT as u64;

#[test]
fn a_stale_write_back_never_lands_on_a_page_discarded_and_allocated_again() {
    let (_disk, inner) = sim_file(21);
    write_pages(&pool(&inner, FRAME_COUNT, false), PAGE_COUNT); // page n's body holds n
    let file = Arc::new(WatchedFile::new(Arc::clone(&inner), Pause::default()));
    let pool = Arc::new(
        BufferPool::open(file.clone(), options(FRAME_COUNT, false), Arc::new(NoLog)).unwrap(),
    );
    // Page 0 dirty in frame 0 (the free list hands out frame 0 first) with its old image.
    pool.fix_exclusive(PageId(0)).unwrap().writer().put_u64(0, 10);

    // 1. The write-back of the old image: staged, latch released, held at its submission.
    file.watch().hold_next_write_at(0);
    let flusher = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || pool.flush_dirty().unwrap())
    };
    file.watch().wait_until_held();

    // 2. Page 0 freed and allocated again in another frame: the freed frame goes to page 1
    //    first (the free list hands out the last frame freed), so page 0 comes back in frame 1,
    //    whose own write flag does not know about frame 0's write in flight.
    let reuser = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            assert!(pool.discard(PageId(0)).unwrap(), "page 0 was in the pool");
            assert_eq!(pool.fix_shared(PageId(1)).unwrap().u64_at(0), 1);
            pool.new_page(PageId(0)).unwrap().writer().put_u64(0, 11);
            pool.flush_dirty().unwrap();
        })
    };

    // 3. The stale write lands once the reuser has finished (its discard did not wait) or is
    //    waiting in discard for the write to land.
    while !reuser.is_finished() && pool.stats().discards_waited_for_write == 0 {
        std::thread::yield_now();
    }
    file.watch().release();
    flusher.join().unwrap();
    reuser.join().unwrap();

    let mut image = AlignedBuf::for_alignment(PAGE_BYTES, inner.info().alignment);
    inner.read_at(&mut image, 0).unwrap();
    assert_eq!(verify_page(&image, PageId(0)), Ok(()));
    let body_word = u64::from_le_bytes(image[24..32].try_into().unwrap());
    assert_eq!(body_word, 11, "the file holds the page's new image, not the discarded one");
    assert_eq!(pool.stats().discards_waited_for_write, 1, "discard waited for the write");

    // 4. The page read back after eviction holds the new image (the engine's symptom).
    for page in 2..PAGE_COUNT {
        assert_eq!(pool.fix_shared(PageId(page)).unwrap().u64_at(0), page);
    }
    let misses_before = pool.stats().misses;
    assert_eq!(pool.read(PageId(0), |view| view.u64_at(0)).unwrap(), 11);
    assert_eq!(pool.stats().misses, misses_before + 1, "page 0 was evicted and read again");
    pool.check_invariants();
}

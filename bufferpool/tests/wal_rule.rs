//! The WAL rule: the pool never writes a page whose LSN is beyond what the log says is durable.
//! A wrapper around the data file checks every page written against the log at that moment;
//! pages waiting for the log are deferred, the pool asks the log to advance, and a pool whose
//! every frame waits for a log that never advances reports itself exhausted instead of hanging.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use bufferpool::{BufferPool, Error, PageId, PoolOptions, page_lsn_of};
use common::{PAGE_BYTES, TestLog, options, sim_file};
use disk::{WatchedFile, WriteWatch};

/// Watches a data file's writes and panics if a page goes out ahead of the log.
#[derive(Debug)]
struct LogRuleCheck {
    log: Arc<TestLog>,
    pages_written: AtomicU64,
}

impl WriteWatch for LogRuleCheck {
    fn before_write(&self, image: &[u8], _offset: u64) {
        for page in image.chunks(PAGE_BYTES) {
            let lsn = page_lsn_of(page);
            let durable = self.log.durable.load(Ordering::SeqCst);
            assert!(
                lsn <= durable,
                "a page with LSN {lsn} was written with the log durable only to {durable}"
            );
            self.pages_written.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type CheckedFile = WatchedFile<LogRuleCheck>;

fn checked_pool(
    log: &Arc<TestLog>,
    frame_count: usize,
    background_writer: bool,
) -> (BufferPool, Arc<CheckedFile>) {
    let (_disk, inner) = sim_file(9);
    let check = LogRuleCheck { log: Arc::clone(log), pages_written: AtomicU64::new(0) };
    let file = Arc::new(WatchedFile::new(inner, check));
    // A pool whose every frame waits for a stuck log gives up after this long without progress.
    let options = PoolOptions {
        frame_wait_max: Duration::from_millis(200),
        ..options(frame_count, background_writer)
    };
    let pool = BufferPool::open(file.clone(), options, log.clone()).unwrap();
    (pool, file)
}

/// Dirties `page_count` new pages with LSNs `first_lsn..`.
fn dirty_pages(
    pool: &BufferPool,
    pages: std::ops::Range<u64>,
    first_lsn: u64,
) -> bufferpool::Result<()> {
    for page in pages.clone() {
        let mut held = pool.new_page(PageId(page))?;
        held.writer().put_u64(0, page);
        held.set_lsn(first_lsn + page - pages.start);
    }
    Ok(())
}

#[test]
fn flushing_writes_only_what_the_log_covers() {
    let log = Arc::new(TestLog::default());
    log.durable.store(14, Ordering::SeqCst);
    let (pool, file) = checked_pool(&log, 16, false);
    dirty_pages(&pool, 0..10, 10).unwrap(); // LSNs 10..=19
    assert_eq!(pool.rec_lsn_min(), Some(10));
    assert_eq!(pool.flush_dirty().unwrap(), 5, "LSNs 10..=14");
    assert_eq!(file.watch().pages_written.load(Ordering::SeqCst), 5);
    assert_eq!(pool.rec_lsn_min(), Some(15), "the oldest change still only in the pool");
    assert_eq!(pool.stats().writes_deferred_for_log, 5);
    log.durable.store(19, Ordering::SeqCst);
    assert_eq!(pool.flush_dirty().unwrap(), 5);
    assert_eq!(pool.rec_lsn_min(), None);
    pool.check_invariants();
}

#[test]
fn a_pool_full_of_pages_ahead_of_a_stuck_log_is_exhausted_not_hung() {
    let log = Arc::new(TestLog::default());
    let (pool, file) = checked_pool(&log, 8, false);
    dirty_pages(&pool, 0..8, 1).unwrap();
    match pool.fix_shared(PageId(100)) {
        Err(Error::Exhausted { frame_count: 8, reason }) => {
            assert!(reason.contains("LSN 8"), "{reason}")
        }
        other => panic!("expected an exhausted pool, got {other:?}"),
    }
    assert!(log.requests.load(Ordering::SeqCst) > 0, "the pool asked the log to advance");
    assert_eq!(file.watch().pages_written.load(Ordering::SeqCst), 0);
    pool.check_invariants();
}

#[test]
fn a_log_that_advances_on_request_lets_eviction_proceed() {
    for background_writer in [false, true] {
        let log = Arc::new(TestLog { advance_on_request: true, ..TestLog::default() });
        let (pool, file) = checked_pool(&log, 8, background_writer);
        dirty_pages(&pool, 0..64, 1).unwrap();
        assert!(
            file.watch().pages_written.load(Ordering::SeqCst) >= 56,
            "evicted pages were written"
        );
        assert!(log.requests.load(Ordering::SeqCst) > 0);
        log.durable.store(u64::MAX, Ordering::SeqCst);
        pool.flush_dirty().unwrap();
        for page in 0..64 {
            assert_eq!(pool.fix_shared(PageId(page)).unwrap().u64_at(0), page);
        }
        pool.check_invariants();
    }
}

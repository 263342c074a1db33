//! Helpers shared by the pool's scenario tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bufferpool::{BufferPool, LogDurability, NoLog, PageId, PoolOptions};
use disk::{Disk, File, OpenOptions, SimDisk};

pub(crate) const PAGE_BYTES: usize = 4096;
pub(crate) const DATA_PATH: &str = "data";

/// The reason of the corruption error `result` must be, after checking that it names `page`
/// of the data file.
pub(crate) fn corruption_reason(
    result: bufferpool::Result<impl std::fmt::Debug>,
    page: u64,
) -> String {
    match result {
        Err(bufferpool::Error::Corruption { page: named, reason, path }) => {
            assert_eq!(named, PageId(page));
            assert_eq!(path, Path::new(DATA_PATH));
            reason
        }
        other => panic!("page {page}: expected a corruption error, got {other:?}"),
    }
}

/// A seeded simulated disk and its data file.
pub(crate) fn sim_file(seed: u64) -> (SimDisk, Arc<dyn File>) {
    let disk = SimDisk::with_seed(seed);
    let file = disk
        .open(Path::new(DATA_PATH), OpenOptions { create: true, ..OpenOptions::default() })
        .expect("open the data file");
    (disk, file)
}

/// Pool options for `frame_count` 4 KiB frames.
pub(crate) fn options(frame_count: usize, background_writer: bool) -> PoolOptions {
    PoolOptions {
        pool_bytes: frame_count * PAGE_BYTES,
        page_bytes: PAGE_BYTES,
        background_writer,
        free_frames_reserve: None,
        frame_wait_max: std::time::Duration::from_secs(5),
    }
}

/// A pool without a log over `file`.
pub(crate) fn pool(
    file: &Arc<dyn File>,
    frame_count: usize,
    background_writer: bool,
) -> BufferPool {
    BufferPool::open(Arc::clone(file), options(frame_count, background_writer), Arc::new(NoLog))
        .expect("open the pool")
}

/// Writes pages `0..page_count`, each holding its own id at body offset 0, and flushes them.
pub(crate) fn write_pages(pool: &BufferPool, page_count: u64) {
    for page in 0..page_count {
        let mut held = pool.new_page(PageId(page)).expect("new page");
        held.writer().put_u64(0, page);
    }
    pool.flush_dirty().expect("flush");
}

/// A log whose durable LSN the test moves, counting the pool's requests.
#[derive(Debug, Default)]
pub(crate) struct TestLog {
    pub(crate) durable: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// Make everything requested durable at once (as a log flush would).
    pub(crate) advance_on_request: bool,
}

impl LogDurability for TestLog {
    fn lsn_durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    fn request_durable(&self, lsn: u64) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.advance_on_request {
            self.durable.fetch_max(lsn, Ordering::SeqCst);
        }
    }
}

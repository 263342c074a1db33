//! The directdb buffer pool: frames, page table, latches, eviction, batched write-back and
//! prefetch over any `disk` backend.
//!
//! - [`BufferPool`] caches the pages of one data file in `pool_bytes` of frames. Pages are
//!   fixed optimistically ([`BufferPool::read`]: no shared write on the hit path), shared
//!   ([`BufferPool::fix_shared`]) or exclusively ([`BufferPool::fix_exclusive`],
//!   [`BufferPool::new_page`]); guards release on drop.
//! - Misses read into a free frame; concurrent misses on one page share one read;
//!   [`BufferPool::prefetch`] reads a batch in one submission.
//! - Eviction puts a page read by a miss on probation in a short FIFO queue and evicts it there
//!   unless it is hit; pages hit on probation (or read again soon after it) are evicted by a
//!   CLOCK hand that counts their hits down (S3-FIFO's scheme, `eviction.rs`), so pages read
//!   once and scans leave first. Dirty pages are written back in batches by a background
//!   writer, never ahead of the log ([`LogDurability`], the WAL rule).
//! - Every page carries a crc32c checksum and its own id, set on write and checked on read
//!   ([`page`](crate::verify_page) layout in `page.rs`); damage is [`Error::Corruption`] naming the page.
//! - The pool remembers the checksum of the last image it wrote of each page until
//!   [`BufferPool::verify_writes`] has read it back: a read that finds an older image (a lost or
//!   misdirected write) is [`Error::Corruption`] too (`ledger.rs`).
//! - Over the mmap backend, unchanged pages are read in place in the mapping (no frame, no
//!   copy; the kernel decides residency) and changed pages are staged in frames and written back
//!   with `pwrite` (see `mapping.rs`).
//! - [`HybridLatch`] is the per-frame latch, model-checked with loom.
//!
//! Frame memory is read and written through atomics ([`PageView`], [`PageWriter`]), so
//! optimistic reads are not data races; the crate has no `unsafe`. The frames, their metadata
//! and the page table's hash part lie in `disk::HugeSlice`s, on 2 MiB pages where the kernel
//! gives them: a hit anywhere in a large pool then rarely misses the TLB. The page table's flat
//! part (an entry per page id, up to a limit set by the pool's size) is on 4 KiB pages, each
//! taking memory only once an entry on it is written (`table.rs`).
//!
//! ```
//! use std::sync::Arc;
//! use bufferpool::{BufferPool, NoLog, PageId, PoolOptions};
//! use disk::{Disk, OpenOptions, SimDisk, SimDiskOptions};
//!
//! let disk = SimDisk::new(SimDiskOptions { seed: 7, ..SimDiskOptions::default() });
//! let file = disk.open("data".as_ref(), OpenOptions { create: true, ..OpenOptions::default() })?;
//! let pool = BufferPool::open(
//!     file,
//!     PoolOptions { pool_bytes: 16 * 4096, ..PoolOptions::default() },
//!     Arc::new(NoLog),
//! )?;
//! pool.new_page(PageId(0))?.writer().put_u64(0, 42);
//! assert_eq!(pool.read(PageId(0), |page| page.u64_at(0))?, 42);
//! assert_eq!(pool.fix_shared(PageId(0))?.u64_at(0), 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod eviction;
mod frame;
mod guard;
mod latch;
mod ledger;
mod limits;
mod log_rule;
#[cfg(all(test, loom))]
mod loom_models;
mod mapping;
mod options;
mod page;
mod pool;
mod stats;
mod sync;
mod table;
mod view;
mod writeback;

pub use error::{Error, Result};
pub use guard::{ExclusivePage, SharedPage};
pub use latch::{ExclusiveGuard, HybridLatch, OptimisticToken, SHARED_COUNT_MAX, SharedGuard};
pub use limits::{
    FRAME_COUNT_MAX, FRAME_COUNT_MIN, PAGE_BYTES_MAX, PAGE_BYTES_MIN, PAGE_ID_MAX,
    PREFETCH_PAGES_MAX, WRITE_BATCH_PAGES_MAX,
};
pub use log_rule::{LogDurability, NoLog};
pub use options::PoolOptions;
pub use page::{PAGE_HEADER_BYTES, PageId, lsn_of as page_lsn_of, verify as verify_page};
pub use pool::BufferPool;
pub use stats::PoolStats;
pub use view::{PageView, PageWriter};

//! Every limit of the buffer pool, with the reason beside it.

/// Smallest page: the smallest unit a 4Kn device writes atomically-enough to reason about, and
/// the size every direct-I/O alignment on Linux divides.
pub const PAGE_BYTES_MIN: usize = 4096;
/// Largest page: beyond 64 KiB a page write is many device sectors that tear independently,
/// and a B+tree node that large spends its time moving bytes.
pub const PAGE_BYTES_MAX: usize = 64 << 10;
/// Fewest frames a pool may have: a write-back batch, the frames a prefetch may claim and the
/// pages a B+tree operation holds latched at once must all fit with room to spare. (Loom models
/// run with two frames, so that eviction happens within a few steps.)
pub const FRAME_COUNT_MIN: usize = if cfg!(loom) { 2 } else { 8 };
/// Most frames: 2^24 frames of 4 KiB is 64 GiB of pool (of 64 KiB pages, 1 TiB).
pub const FRAME_COUNT_MAX: usize = 1 << 24;
/// Largest page id: the page table has a 4-byte entry for every page id, in a reservation of
/// address space (16 GiB; see `table.rs`). 2^32 - 1 pages of 4 KiB is 16 TiB (SQLite's
/// largest database has as many pages). Loom models use a few page ids, and loom's atomics
/// must each be made, so their table is small.
pub const PAGE_ID_MAX: u64 = if cfg!(loom) { 7 } else { (1 << 32) - 2 };
/// Most dirty pages written in one submission. Batches of at least 32 keep a device with deep
/// queues busy; 64 bounds the staging memory of one batch (64 x 64 KiB = 4 MiB at most).
pub const WRITE_BATCH_PAGES_MAX: usize = 64;
/// Most pages one `prefetch` call reads, for the same staging-memory bound.
pub const PREFETCH_PAGES_MAX: usize = 64;
/// Optimistic attempts before a reader falls back to a shared latch: a page written often
/// enough to fail this many validations in a row is cheaper to read under the latch.
pub(crate) const OPTIMISTIC_ATTEMPT_MAX: u32 = 8;

const _: () = assert!(PAGE_BYTES_MIN.is_power_of_two() && PAGE_BYTES_MAX.is_power_of_two());
const _: () = assert!(WRITE_BATCH_PAGES_MAX >= 32, "the issue asks for batches of 32 or more");
const _: () = assert!(FRAME_COUNT_MIN >= 8 || cfg!(loom));

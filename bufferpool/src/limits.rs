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
/// Largest page id: 2^32 - 1 pages of 4 KiB is 16 TiB (SQLite's largest database has as many
/// pages). The page table's memory does not grow with it: the table has a 4-byte entry for
/// each page id only up to a limit set by the pool's size, and a hash table sized for the
/// frames above it (see `table.rs`). Loom models use a few page ids, and loom's atomics must
/// each be made, so their table is small.
pub const PAGE_ID_MAX: u64 = if cfg!(loom) { 7 } else { (1 << 32) - 2 };
/// The page table's flat part (a 4-byte entry per page id below its limit, see `table.rs`)
/// takes at most `pool_bytes / TABLE_FLAT_POOL_DIVISOR + TABLE_FLAT_BYTES_BASE`. A 64th of the
/// pool keeps the whole table (with its overflow part, at most 32 bytes per frame: a 128th of
/// a pool of 4 KiB pages) at most 2.4% of the pool + 4 MiB, leaving room for the frames'
/// metadata within the pool's memory bound (pool + 5% + 16 MiB); the base lets a small pool
/// reach the first 2^20 page ids (4 GiB of a file of 4 KiB pages) in one load. A 64 MiB pool's
/// flat part is 5 MiB (1,310,720 page ids, 5 GiB of file), a 1 GiB pool's 20 MiB (20 GiB).
pub(crate) const TABLE_FLAT_POOL_DIVISOR: usize = 64;
/// See [`TABLE_FLAT_POOL_DIVISOR`].
pub(crate) const TABLE_FLAT_BYTES_BASE: usize = 4 << 20;
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

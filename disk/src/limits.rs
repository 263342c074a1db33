//! Every limit of the `disk` crate, in one place, with the reason beside it.

/// The smallest memory alignment of any I/O buffer. Direct I/O on this machine needs only 512,
/// but 4 KiB keeps every buffer valid on 4Kn devices and lets a buffer hold whole pages.
pub const BUFFER_ALIGN_MIN_BYTES: usize = 4096;

/// The alignment assumed when the kernel reports none (no `STATX_DIOALIGN`, no block device).
/// 4 KiB is the largest logical block size in common use, so it is always accepted.
pub const ALIGN_FALLBACK_BYTES: u32 = 4096;

/// Largest alignment we accept from the kernel; anything bigger is a misreport.
pub const ALIGN_MAX_BYTES: u32 = 1 << 16;

/// Entries in each thread's io_uring submission queue. A batch larger than this is split into
/// several submissions; 256 covers the buffer pool's write-back batches (32..128 pages) and the
/// QD32 benchmark with room to spare, and the ring still costs only a few pages of memory.
pub const QUEUE_DEPTH_MAX: u32 = 256;

/// Size of the zero-filled writes `File::allocate` issues: large enough to run at sequential
/// bandwidth, small enough not to matter as a temporary allocation.
pub const ALLOCATE_CHUNK_BYTES: usize = 1 << 20;

/// Address space reserved for an mmap-backed file by default. Reserving costs no memory; it
/// bounds how large the file can grow without remapping (readers keep plain pointers into the
/// mapping, so it is never moved).
pub const MMAP_RESERVE_BYTES_DEFAULT: u64 = 1 << 40;

const _: () = assert!(BUFFER_ALIGN_MIN_BYTES.is_power_of_two());
const _: () = assert!(ALIGN_FALLBACK_BYTES as usize <= BUFFER_ALIGN_MIN_BYTES);
const _: () = assert!(ALLOCATE_CHUNK_BYTES % BUFFER_ALIGN_MIN_BYTES == 0);
const _: () = assert!(QUEUE_DEPTH_MAX.is_power_of_two());

/// Bytes read from one sysfs attribute by the device probe. sysfs attributes are at most one page
/// by sysfs's own rule; the bound keeps an odd file (a fake tree, something mounted over `/sys`)
/// from being read whole.
pub const SYSFS_ATTRIBUTE_BYTES_MAX: u64 = 4096;

/// Directory entries the device probe looks through for an existing regular file to ask `statx`
/// about, when it cannot create a temporary one there. Bounded so that probing a huge read-only
/// directory stays instant.
pub const PROBE_DIRECTORY_ENTRIES_MAX: usize = 1024;

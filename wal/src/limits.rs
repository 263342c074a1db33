//! Every limit of the log, in one place, with the reason beside it.

/// Bytes of a record header (see `record.rs` for the layout).
pub const RECORD_HEADER_BYTES: usize = 32;

/// Records start at multiples of this, so a forward scan for valid records after a damaged
/// one (recovery's corruption check) tries one position in eight, not every byte.
pub const RECORD_ALIGN_BYTES: usize = 8;

/// Largest payload of one record: 16 full 64 KiB page images. Larger values are logged in
/// pieces by the engine. Kept well below the smallest segment so a record always fits in a
/// fresh one.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 1 << 20;

/// Bytes reserved at the start of each segment for its header: one block of the largest
/// logical block size in use, so record writes never share a block with the header.
pub const SEGMENT_HEADER_BYTES: usize = 4096;

/// Smallest log block: a batch writes whole blocks, and a block is the segment file's direct-I/O
/// offset alignment, raised to this (the smallest logical sector in use).
pub const BLOCK_BYTES_MIN: u64 = 512;

/// Largest log block: the segment header block, which a block must divide so that records never
/// share a block with the header.
pub const BLOCK_BYTES_MAX: u64 = SEGMENT_HEADER_BYTES as u64;

/// Bytes of a shadow's fixed part, before its body (see `shadow.rs`).
pub const SHADOW_HEADER_BYTES: usize = 40;

/// The unit a shadow checksums the batch in, before the batch's last block: the smallest
/// block, so that a unit never straddles two blocks, and small enough that recovery can try
/// every single-bit correction of a damaged one (4,096 checksums of 512 bytes) in well under a
/// millisecond, with crc32c's Hamming distance of 6 at that length.
pub const SHADOW_UNIT_BYTES: usize = 512;

/// Units before the last block a shadow checksums, at most: the last 64 MiB of a batch (more
/// than a default segment), with 512 KiB of checksums, so a whole shadow fits in the read
/// window. A longer batch has its earlier units unchecked.
pub const SHADOW_UNIT_COUNT_MAX: usize = 1 << 17;

/// Default segment size: 16 MiB. Recovery reads the tail segment to its end (through a window
/// of [`READ_WINDOW_BYTES`]), so a segment bounds the cost of finding the end of the log
/// (about 16 ms at 1 GB/s).
pub const SEGMENT_BYTES_DEFAULT: u32 = 16 << 20;

/// Smallest segment size accepted: twice the largest record, so one always fits in a fresh
/// segment with room to spare.
pub const SEGMENT_BYTES_MIN: u32 = 2 << 20;

/// Largest segment size accepted (recovery reads the tail segment to its end).
pub const SEGMENT_BYTES_MAX: u32 = 1 << 30;

/// Bytes recovery and replay read from a segment at a time (and about what they hold, per
/// segment being read): a little more than the largest record and a block, so any record fits
/// in one window whatever block it starts in.
pub const READ_WINDOW_BYTES: usize = 2 << 20;

/// Recycled segments kept for reuse; more are removed. Two cover a checkpoint that frees a
/// segment while the writer fills the next one.
pub const SPARE_SEGMENT_COUNT_MAX: usize = 2;

const _: () = assert!(RECORD_HEADER_BYTES % RECORD_ALIGN_BYTES == 0);
const _: () = assert!(SEGMENT_HEADER_BYTES % RECORD_ALIGN_BYTES == 0);
const _: () = assert!(SEGMENT_BYTES_MIN as usize >= 2 * RECORD_PAYLOAD_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MIN as usize > RECORD_PAYLOAD_BYTES_MAX + SEGMENT_HEADER_BYTES);
const _: () = assert!(SEGMENT_BYTES_DEFAULT >= SEGMENT_BYTES_MIN);
const _: () = assert!(READ_WINDOW_BYTES >= RECORD_HEADER_BYTES + RECORD_PAYLOAD_BYTES_MAX + 4096);
const _: () = assert!(READ_WINDOW_BYTES % 4096 == 0);
const _: () = assert!(SEGMENT_BYTES_DEFAULT % 4096 == 0);
const _: () = assert!(BLOCK_BYTES_MIN.is_power_of_two() && BLOCK_BYTES_MAX.is_power_of_two());
const _: () = assert!(BLOCK_BYTES_MIN <= BLOCK_BYTES_MAX);
const _: () = assert!(BLOCK_BYTES_MIN % RECORD_ALIGN_BYTES as u64 == 0);
const _: () = assert!(SHADOW_HEADER_BYTES % RECORD_ALIGN_BYTES == 0);
const _: () = assert!(SHADOW_UNIT_BYTES as u64 == BLOCK_BYTES_MIN);
const _: () = assert!(BLOCK_BYTES_MAX == SEGMENT_HEADER_BYTES as u64);
const _: () = assert!(
    SHADOW_HEADER_BYTES + SHADOW_UNIT_COUNT_MAX * 4 + SEGMENT_HEADER_BYTES <= READ_WINDOW_BYTES
);

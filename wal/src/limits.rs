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

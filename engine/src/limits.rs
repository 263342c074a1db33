//! Every limit of the engine, with the reason beside it.

/// Longest key, in bytes. Keys live whole in leaf cells and, as separators, in branch cells
/// (never in overflow pages), so a key must leave room for three of the largest cells in the
/// smallest node: a split must leave either half able to take one more cell (see
/// `btree/node.rs`, "Why three cells"). A leaf cell with a 1024-byte key and an overflow
/// reference is 1043 bytes; three of them with their slots take 3147 of a 4 KiB page's 3984
/// bytes of node space.
pub const KEY_BYTES_MAX: usize = 1024;

/// Largest value, in bytes. Values that do not fit inline in a leaf cell live in a chain of
/// overflow pages, read whole: the limit bounds the chain a read walks (4,137 pages of 4 KiB)
/// and the memory one read returns. Larger objects belong in several keys.
pub const VALUE_BYTES_MAX: usize = 16 << 20;

/// Highest level of a B+tree node (leaves are level 0). Every branch but a shrinking root has
/// at least two children, so a tree of at most `bufferpool::PAGE_ID_MAX + 1` (2^32 - 1) pages
/// has at most 33 levels; a level above this limit in a node read from disk is corruption.
pub const LEVEL_MAX: u8 = 48;

const _: () = assert!(KEY_BYTES_MAX >= 1024, "keys of 1 KiB are promised to embedders");
const _: () = assert!(KEY_BYTES_MAX <= u16::MAX as usize, "a cell stores a key length as u16");
const _: () = assert!(VALUE_BYTES_MAX >= 16 << 20, "values of 16 MiB are promised to embedders");
const _: () = assert!(VALUE_BYTES_MAX <= u32::MAX as usize, "a cell stores a value length as u32");
const _: () = assert!(1u64 << LEVEL_MAX > bufferpool::PAGE_ID_MAX);

//! One B+tree node (a leaf or a branch) in one page body: the slotted layout, and every
//! operation on one node or on two siblings. No tree logic lives here and nothing locks: the
//! tree layer holds the latches and calls these functions on the pages it holds.
//!
//! # Layout
//!
//! The node lies in the page body (the page less the pool's 24-byte header). A small header,
//! then the slot array growing up, free space, and cells growing down from the body's end.
//!
//! ```text
//! Node header, at body offset 0 (all integers little-endian):
//! OFFSET SIZE FIELD
//!  0      1   kind              1 = leaf, 2 = branch (3 = overflow page, see overflow.rs;
//!                               0 = never formatted)
//!  1      1   level             0 for a leaf; 1..=LEVEL_MAX for a branch (children: level - 1)
//!  2      2   entry_count       cells in the node, and slots in the slot array
//!  4      2   cells_start       body offset of the cell area; it runs to the end of the body
//!  6      2   fragmented_bytes  bytes in the cell area that belong to no cell (freed, not yet
//!                               compacted)
//!  8      8   epoch             the checkpoint epoch the page was written in (copy-on-write:
//!                               a page of a checkpointed epoch is copied before it changes)
//! 16      8   link              leaf: the right sibling's page id, 0 (NO_PAGE) for the
//!                               rightmost leaf; branch: the leftmost child's page id
//! 24     64   hints             16 u32 key heads of evenly spaced slots, or zeros (see
//!                               "Hints")
//! 88     6n   slots             entry_count slots, in ascending key order, each:
//!                                 +0 u16 the cell's body offset
//!                                 +2 u32 the key's head: its first 4 bytes as a big-endian
//!                                        number, zero-padded (key_head)
//!  .      .   gap               free: slots grow up into it, cells grow down into it
//! cells_start .. body_bytes     cells, in any order, and fragmented_bytes of garbage
//!
//! Leaf cell:
//! OFFSET SIZE FIELD
//!  0      2   key_bytes         0..=KEY_BYTES_MAX
//!  2      1   flags             bit 0 (FLAG_OVERFLOW): the value is in overflow pages;
//!                               the other bits are zero
//!  3      4   value_bytes       the value's length, inline or in overflow pages
//!  7      k   key
//!  7+k    v   value             inline: value_bytes bytes; overflow: the u64 page id of the
//!                               chain's first page, then the u32 crc32c of the whole
//!                               value (v = 12)
//!
//! Branch cell:
//! OFFSET SIZE FIELD
//!  0      2   key_bytes         0..=KEY_BYTES_MAX
//!  2      8   child             page id of the subtree holding keys >= key (and < the next
//!                               cell's key)
//! 10      k   key
//! ```
//!
//! A branch with `n` cells has `n + 1` children: child 0 is `link` (keys below the first
//! cell's key), child `i + 1` is cell `i`'s. Leaf separators pushed up by a split are the
//! shortest prefix of the right node's first key that is above the left node's last key.
//!
//! # Invariants (checked by [`check_node`] on every node read from disk)
//!
//! 1. `kind` is leaf or branch; a leaf is level 0, a branch is level 1..=[`LEVEL_MAX`].
//! 2. `88 + 6 * entry_count <= cells_start <= body_bytes`.
//! 3. Every slot points at a cell that lies wholly in `cells_start..body_bytes`; cells do not
//!    overlap; the cells' bytes plus `fragmented_bytes` are exactly `body_bytes - cells_start`.
//! 4. Keys are at most [`KEY_BYTES_MAX`] bytes and strictly ascending in slot order; each
//!    slot's head is its key's ([`key_head`]).
//! 5. No cell exceeds [`cell_bytes_max`]. A leaf value is inline exactly when its inline cell
//!    would not exceed it ([`value_is_inline`]); a value in overflow pages is at most
//!    [`VALUE_BYTES_MAX`] bytes.
//! 6. Page ids (`link`, children, first overflow pages) are in `1..=PAGE_ID_MAX`: page 0 holds
//!    the data file header and is never a tree page, so 0 is "no page" (a leaf's `link` may be
//!    0). A branch's children are distinct.
//! 7. The hints are the ones [`hints_of`] computes from the slots.
//!
//! # Hints
//!
//! A binary search over a few hundred slots touches a new cache line at most of its first
//! probes, each waiting for the one before: on a cached lookup over a tree much larger than the
//! CPU caches, those misses are most of the time. So the header keeps a small sample of the
//! slot array: with `n > 32` slots and `d = n / 17`, hint `i` (0..16) is the head of slot
//! `d * (i + 1)`; with 32 slots or fewer the hints are zero and unused. A search reads the 64
//! bytes of hints (next to the header it reads anyway), narrows the slots to the `d` or so
//! between the last hint below the key's head and the first hint above it, and searches only
//! those. The hints are recomputed whenever slots change (insert, remove, rebuild).
//!
//! # Sizes, worked
//!
//! A 4 KiB page has a 4072-byte body and 3984 bytes of node space after the node header. The
//! largest cell is the larger of a quarter of the node space less a slot (3984 / 4 - 6 = 990)
//! and a leaf cell with the longest key and an overflow reference (7 + 1024 + 12 = 1043): 1043
//! bytes. With a 16-byte key, values up to 1043 - 7 - 16 = 1020 bytes are inline. A 64 KiB
//! page has 65424 bytes of node space and cells up to 16350 bytes.
//!
//! # Why three cells
//!
//! A node splits when a cell does not fit. Its cells then use at most `S` bytes (the node
//! space), each at most `C` (the largest cell and its slot). A split picks the cut whose larger
//! half is smallest; prefix sums move in steps of at most `C`, so that half holds at most
//! `S / 2 + C / 2`. For the new cell to fit either half, `S / 2 + C / 2 + C <= S`, that is
//! `3 * C <= S`: three of the largest cells must fit in the smallest node. [`split`] asserts
//! the result. The tree inserts with [`split_insert`] instead, which cuts the cells and the new
//! one together: at most `S + C` bytes, so the larger half holds at most `S / 2 + C`, within
//! `S` by the same bound. The same bound makes a leaf that was rebalanced rather than merged
//! end above a third of the node space, so it is not underfull; a rebalanced branch, which
//! gives a cell to its parent, ends above a sixth.
//!
//! # Garbage
//!
//! Read accessors ([`search`], [`key_at`], [`value_at`], [`child_at`], [`child_for_key`], ...)
//! never panic and run bounded loops on any bytes, because an optimistic reader may see a
//! node half written: lengths are clamped, offsets read outside the body read zeros. Their
//! answers are meaningful only on a node that [`check_node`] accepted. Mutating functions
//! assert their preconditions: they run only on checked nodes, so a failure is a bug.

use std::cmp::Ordering;

use bufferpool::{PAGE_BYTES_MAX, PAGE_BYTES_MIN, PAGE_HEADER_BYTES, PAGE_ID_MAX, PageId};

use super::body::{BodyRead, BodyWrite};
use super::overflow::OverflowRef;
use crate::limits::{KEY_BYTES_MAX, LEVEL_MAX, VALUE_BYTES_MAX};

const KIND_OFFSET: usize = 0;
const KIND_BYTES: usize = 1;
const LEVEL_OFFSET: usize = KIND_OFFSET + KIND_BYTES;
const LEVEL_BYTES: usize = 1;
const ENTRY_COUNT_OFFSET: usize = LEVEL_OFFSET + LEVEL_BYTES;
const ENTRY_COUNT_BYTES: usize = 2;
const CELLS_START_OFFSET: usize = ENTRY_COUNT_OFFSET + ENTRY_COUNT_BYTES;
const CELLS_START_BYTES: usize = 2;
const FRAGMENTED_BYTES_OFFSET: usize = CELLS_START_OFFSET + CELLS_START_BYTES;
const FRAGMENTED_BYTES_BYTES: usize = 2;
/// The epoch lies at this offset in every tree page, nodes and overflow pages alike.
pub(crate) const EPOCH_OFFSET: usize = FRAGMENTED_BYTES_OFFSET + FRAGMENTED_BYTES_BYTES;
const EPOCH_BYTES: usize = 8;
const LINK_OFFSET: usize = EPOCH_OFFSET + EPOCH_BYTES;
const LINK_BYTES: usize = 8;
const HINTS_OFFSET: usize = LINK_OFFSET + LINK_BYTES;
/// Hints in the header (see "Hints").
const HINT_COUNT: usize = 16;
const HINT_BYTES: usize = 4;
/// Bytes of the node header; the slot array starts here.
pub(crate) const NODE_HEADER_BYTES: usize = HINTS_OFFSET + HINT_COUNT * HINT_BYTES;
/// Bytes of one slot: the cell's body offset (u16), then its key's head (u32, [`key_head`]).
pub(crate) const SLOT_BYTES: usize = 6;
const SLOT_CELL_OFFSET_BYTES: usize = 2;
const SLOT_HEAD_OFFSET: usize = SLOT_CELL_OFFSET_BYTES;
const SLOT_HEAD_BYTES: usize = 4;
const _: () = assert!(SLOT_HEAD_OFFSET + SLOT_HEAD_BYTES == SLOT_BYTES);

/// Every cell starts with its key's length.
const CELL_KEY_BYTES_OFFSET: usize = 0;
const CELL_KEY_BYTES_BYTES: usize = 2;
const LEAF_FLAGS_OFFSET: usize = CELL_KEY_BYTES_OFFSET + CELL_KEY_BYTES_BYTES;
const LEAF_FLAGS_BYTES: usize = 1;
const LEAF_VALUE_BYTES_OFFSET: usize = LEAF_FLAGS_OFFSET + LEAF_FLAGS_BYTES;
const LEAF_VALUE_BYTES_BYTES: usize = 4;
/// Bytes of a leaf cell before its key.
pub(crate) const LEAF_CELL_HEADER_BYTES: usize = LEAF_VALUE_BYTES_OFFSET + LEAF_VALUE_BYTES_BYTES;
const BRANCH_CHILD_OFFSET: usize = CELL_KEY_BYTES_OFFSET + CELL_KEY_BYTES_BYTES;
const BRANCH_CHILD_BYTES: usize = 8;
/// Bytes of a branch cell before its key.
pub(crate) const BRANCH_CELL_HEADER_BYTES: usize = BRANCH_CHILD_OFFSET + BRANCH_CHILD_BYTES;
/// Bytes of a leaf cell's reference to an overflow chain: the first page's id, then the
/// value's crc32c.
pub(crate) const OVERFLOW_REFERENCE_BYTES: usize = 8 + 4;
/// Leaf cell flag: the value lives in overflow pages.
const FLAG_OVERFLOW: u8 = 1;

/// "No page": the `link` of the rightmost leaf, and the `next_page` of an overflow chain's last
/// page. Page 0 holds the data file header, so it is never a tree page (the file header uses 0
/// for "none" too).
pub(crate) const NO_PAGE: u64 = 0;

/// Whether `id` may name a tree page: not [`NO_PAGE`], and within the pool's page ids.
pub(crate) fn is_tree_page(id: u64) -> bool {
    id != NO_PAGE && id <= PAGE_ID_MAX
}

const BODY_BYTES_MIN: usize = PAGE_BYTES_MIN - PAGE_HEADER_BYTES;
const BODY_BYTES_MAX: usize = PAGE_BYTES_MAX - PAGE_HEADER_BYTES;

const _: () = assert!(NODE_HEADER_BYTES == 88);
// The hints are read eight bytes at a time, from a word-aligned offset of the page.
const _: () = assert!((PAGE_HEADER_BYTES + HINTS_OFFSET) % 8 == 0 && HINT_COUNT % 2 == 0);
const _: () = assert!(LEAF_CELL_HEADER_BYTES == 7 && BRANCH_CELL_HEADER_BYTES == 10);
// Offsets and lengths inside a body are stored as u16.
const _: () = assert!(BODY_BYTES_MAX <= u16::MAX as usize);
// Three of the largest cells and their slots fit in the node space of every page size (see
// "Why three cells").
const _: () =
    assert!(3 * (cell_bytes_max(BODY_BYTES_MIN) + SLOT_BYTES) <= node_bytes(BODY_BYTES_MIN));
const _: () =
    assert!(3 * (cell_bytes_max(BODY_BYTES_MAX) + SLOT_BYTES) <= node_bytes(BODY_BYTES_MAX));
// A leaf cell with the longest key and an overflow reference, and every branch cell, fit.
const _: () = assert!(BRANCH_CELL_HEADER_BYTES + KEY_BYTES_MAX <= cell_bytes_max(BODY_BYTES_MIN));
// Entry counts are stored as u16: the smallest cell and its slot take 9 bytes.
const _: () = assert!(BODY_BYTES_MAX / (LEAF_CELL_HEADER_BYTES + SLOT_BYTES) <= u16::MAX as usize);

/// What a page of the tree holds: the `kind` byte at body offset 0 of every tree page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// A leaf node: keys and values.
    Leaf = 1,
    /// A branch node: separator keys and child page ids.
    Branch = 2,
    /// A page of an overflow chain (see `overflow.rs`).
    Overflow = 3,
    /// A page of a checkpoint's free-page list (see `free_list.rs`).
    FreeList = 4,
}

impl PageKind {
    /// The kind a `kind` byte names, if any.
    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Leaf),
            2 => Some(Self::Branch),
            3 => Some(Self::Overflow),
            4 => Some(Self::FreeList),
            _ => None,
        }
    }
}

/// Bytes of node space in a body: what the header leaves for slots and cells.
pub(crate) const fn node_bytes(body_bytes: usize) -> usize {
    // Saturating: a byte image of any size (a fuzz input) must not make a reader panic.
    body_bytes.saturating_sub(NODE_HEADER_BYTES)
}

/// The largest cell a node in a body of `body_bytes` holds: a quarter of the node space less a
/// slot, or a leaf cell with the longest key and an overflow reference if that is larger
/// (in 4 KiB pages). See "Sizes, worked".
pub(crate) const fn cell_bytes_max(body_bytes: usize) -> usize {
    let quarter = (node_bytes(body_bytes) / 4).saturating_sub(SLOT_BYTES);
    let longest_key = LEAF_CELL_HEADER_BYTES + KEY_BYTES_MAX + OVERFLOW_REFERENCE_BYTES;
    if quarter > longest_key { quarter } else { longest_key }
}

/// Whether a value of `value_bytes` under a key of `key_bytes` is stored inline in its leaf
/// cell (otherwise it goes to an overflow chain, and the cell holds a reference).
pub(crate) fn value_is_inline(body_bytes: usize, key_bytes: usize, value_bytes: usize) -> bool {
    LEAF_CELL_HEADER_BYTES + key_bytes + value_bytes <= cell_bytes_max(body_bytes)
}

/// A leaf's value as stored in its cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafValue<'a> {
    /// The value's bytes, inline in the cell.
    Inline(&'a [u8]),
    /// A value in an overflow chain.
    Overflow(OverflowRef),
}

/// A cell to insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    /// A leaf entry.
    Leaf {
        /// The key.
        key: &'a [u8],
        /// The value, inline or a reference to its overflow chain.
        value: LeafValue<'a>,
    },
    /// A branch entry: a separator and the child holding keys from it on.
    Branch {
        /// The separator.
        key: &'a [u8],
        /// The child's page.
        child: PageId,
    },
}

impl Cell<'_> {
    /// The cell's key.
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            Cell::Leaf { key, .. } | Cell::Branch { key, .. } => key,
        }
    }

    /// Bytes the cell takes in a node, without its slot.
    pub(crate) fn cell_bytes(&self) -> usize {
        match self {
            Cell::Leaf { key, value: LeafValue::Inline(value) } => {
                LEAF_CELL_HEADER_BYTES + key.len() + value.len()
            }
            Cell::Leaf { key, value: LeafValue::Overflow(_) } => {
                LEAF_CELL_HEADER_BYTES + key.len() + OVERFLOW_REFERENCE_BYTES
            }
            Cell::Branch { key, .. } => BRANCH_CELL_HEADER_BYTES + key.len(),
        }
    }

    fn kind(&self) -> PageKind {
        match self {
            Cell::Leaf { .. } => PageKind::Leaf,
            Cell::Branch { .. } => PageKind::Branch,
        }
    }
}

/// A leaf's value read from its cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// The value's bytes.
    Inline(Vec<u8>),
    /// The value lives in this overflow chain (read it with `overflow::read_chain`).
    Overflow(OverflowRef),
}

/// Where a key is, or would go, in a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SearchResult {
    /// The key is at this slot.
    Found(usize),
    /// The key is absent; inserting it at this slot keeps the keys in order.
    NotFound(usize),
}

/// What [`check_node`] found in a valid node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeSummary {
    /// Leaf or branch.
    pub(crate) kind: PageKind,
    /// 0 for a leaf.
    pub(crate) level: u8,
    /// Cells in the node.
    pub(crate) entry_count: usize,
    /// Bytes of cells and slots.
    pub(crate) used_bytes: usize,
    /// Bytes a new cell and its slot may take (after compaction, if fragmented).
    pub(crate) free_bytes: usize,
    /// Of the free bytes, those between cells.
    pub(crate) fragmented_bytes: usize,
    /// A leaf's right sibling, or a branch's leftmost child.
    pub(crate) link: Option<PageId>,
    /// The checkpoint epoch the node was written in.
    pub(crate) epoch: u64,
}

// ---------------------------------------------------------------------------------------------
// Read accessors: safe on garbage (clamped lengths, bounded loops, zeros outside the body).

/// The node's kind, if its `kind` byte names one.
pub(crate) fn kind<B: BodyRead + ?Sized>(node: &B) -> Option<PageKind> {
    PageKind::from_byte(node.u8_at(KIND_OFFSET))
}

/// The node's level (0 for a leaf).
pub(crate) fn level<B: BodyRead + ?Sized>(node: &B) -> u8 {
    node.u8_at(LEVEL_OFFSET)
}

/// Cells in the node (clamped to what the body could hold).
pub(crate) fn entry_count<B: BodyRead + ?Sized>(node: &B) -> usize {
    let slot_capacity = node.body_bytes().saturating_sub(NODE_HEADER_BYTES) / SLOT_BYTES;
    usize::from(node.u16_at(ENTRY_COUNT_OFFSET)).min(slot_capacity)
}

fn cells_start<B: BodyRead + ?Sized>(node: &B) -> usize {
    usize::from(node.u16_at(CELLS_START_OFFSET))
}

fn fragmented_bytes<B: BodyRead + ?Sized>(node: &B) -> usize {
    usize::from(node.u16_at(FRAGMENTED_BYTES_OFFSET))
}

fn link<B: BodyRead + ?Sized>(node: &B) -> u64 {
    node.u64_at(LINK_OFFSET)
}

/// The checkpoint epoch a tree page (a node or an overflow page) was written in.
pub(crate) fn epoch<B: BodyRead + ?Sized>(page: &B) -> u64 {
    page.u64_at(EPOCH_OFFSET)
}

/// A leaf's right sibling (`None` for the rightmost leaf).
pub(crate) fn right_sibling<B: BodyRead + ?Sized>(node: &B) -> Option<PageId> {
    let link = link(node);
    (link != NO_PAGE).then_some(PageId(link))
}

fn is_branch<B: BodyRead + ?Sized>(node: &B) -> bool {
    kind(node) == Some(PageKind::Branch)
}

fn cell_header_bytes(branch: bool) -> usize {
    if branch { BRANCH_CELL_HEADER_BYTES } else { LEAF_CELL_HEADER_BYTES }
}

fn slot_offset(slot: usize) -> usize {
    NODE_HEADER_BYTES + slot * SLOT_BYTES
}

fn cell_offset<B: BodyRead + ?Sized>(node: &B, slot: usize) -> usize {
    usize::from(node.u16_at(slot_offset(slot)))
}

/// The first four bytes of `key` as a big-endian number, zero-padded. Heads order as keys do
/// (`key_head(a) < key_head(b)` implies `a < b`, since padding with the smallest byte keeps
/// the order), so a search settles most comparisons in the slot array, which is small and
/// contiguous, and reads a cell only where heads tie: a cached lookup's time goes to cache
/// misses, and a cell is one more.
pub(crate) fn key_head(key: &[u8]) -> u32 {
    let mut bytes = [0u8; SLOT_HEAD_BYTES];
    let count = key.len().min(SLOT_HEAD_BYTES);
    bytes[..count].copy_from_slice(&key[..count]);
    u32::from_be_bytes(bytes)
}

/// The slot's cell offset and key head, in one read.
#[inline]
fn slot_at<B: BodyRead + ?Sized>(node: &B, slot: usize) -> (usize, u32) {
    let [offset_low, offset_high, head @ .., _, _] = node.u64_at(slot_offset(slot)).to_le_bytes();
    (usize::from(u16::from_le_bytes([offset_low, offset_high])), u32::from_le_bytes(head))
}

/// Writes slot `slot`: the cell at body offset `cell`, whose key is `key`.
fn set_slot<B: BodyWrite + ?Sized>(node: &mut B, slot: usize, cell: usize, key: &[u8]) {
    node.put_u16(slot_offset(slot), to_u16(cell));
    node.put_u32(slot_offset(slot) + SLOT_HEAD_OFFSET, key_head(key));
}

/// The length of the key of the cell at `cell` (clamped to the limit).
fn key_bytes_of_cell<B: BodyRead + ?Sized>(node: &B, cell: usize) -> usize {
    usize::from(node.u16_at(cell + CELL_KEY_BYTES_OFFSET)).min(KEY_BYTES_MAX)
}

/// Bytes of the cell at body offset `cell`, as its header says (clamped to the body).
fn cell_bytes_at<B: BodyRead + ?Sized>(node: &B, branch: bool, cell: usize) -> usize {
    let key_bytes = key_bytes_of_cell(node, cell);
    let value_part_bytes = if branch {
        0
    } else if node.u8_at(cell + LEAF_FLAGS_OFFSET) & FLAG_OVERFLOW != 0 {
        OVERFLOW_REFERENCE_BYTES
    } else {
        (node.u32_at(cell + LEAF_VALUE_BYTES_OFFSET) as usize).min(node.body_bytes())
    };
    cell_header_bytes(branch) + key_bytes + value_part_bytes
}

/// The key at `slot`.
pub(crate) fn key_at<B: BodyRead + ?Sized>(node: &B, slot: usize) -> Vec<u8> {
    let cell = cell_offset(node, slot);
    let mut key = vec![0; key_bytes_of_cell(node, cell)];
    node.read_into(cell + cell_header_bytes(is_branch(node)), &mut key);
    key
}

/// How the key at `slot` compares with `key`.
pub(crate) fn compare_key_at<B: BodyRead + ?Sized>(node: &B, slot: usize, key: &[u8]) -> Ordering {
    compare_cell_key(node, cell_offset(node, slot), cell_header_bytes(is_branch(node)), key)
}

/// How the key of the cell at body offset `cell` (whose header takes `header_bytes`) compares
/// with `key`: eight bytes at a time, as big-endian integers (one or two word loads each, no
/// copy to a buffer and no call to `memcmp`: searches spend their time here).
#[inline]
fn compare_cell_key<B: BodyRead + ?Sized>(
    node: &B,
    cell: usize,
    header_bytes: usize,
    key: &[u8],
) -> Ordering {
    const CHUNK_BYTES: usize = 8;
    let stored_bytes = key_bytes_of_cell(node, cell);
    let key_start = cell + header_bytes;
    let common_bytes = stored_bytes.min(key.len());
    let mut compared = 0;
    while compared < common_bytes {
        let count = (common_bytes - compared).min(CHUNK_BYTES);
        // The stored chunk's first `count` bytes, most significant first; bytes past them
        // (the rest of the cell, or zeros past the body) are shifted out.
        let dropped_bits = (CHUNK_BYTES - count) * 8;
        let stored = node.u64_at(key_start + compared).swap_bytes() >> dropped_bits;
        let mut probe_bytes = [0u8; CHUNK_BYTES];
        probe_bytes[CHUNK_BYTES - count..].copy_from_slice(&key[compared..compared + count]);
        let probe = u64::from_be_bytes(probe_bytes);
        if stored != probe {
            return stored.cmp(&probe);
        }
        compared += count;
    }
    stored_bytes.cmp(&key.len())
}

/// Where `key` is, or would be inserted, in the node: a binary search of the slots between
/// the hints around the key's head (see "Hints").
pub(crate) fn search<B: BodyRead + ?Sized>(node: &B, key: &[u8]) -> SearchResult {
    let header_bytes = cell_header_bytes(is_branch(node));
    let probe_head = key_head(key);
    let (mut low, mut high) = hinted_range(node, entry_count(node), probe_head);
    while low < high {
        let middle = low + (high - low) / 2;
        let (cell, head) = slot_at(node, middle);
        let ordering = match head.cmp(&probe_head) {
            Ordering::Equal => compare_cell_key(node, cell, header_bytes, key),
            unequal => unequal,
        };
        match ordering {
            Ordering::Less => low = middle + 1,
            Ordering::Greater => high = middle,
            Ordering::Equal => return SearchResult::Found(middle),
        }
    }
    SearchResult::NotFound(low)
}

/// The spacing of the hinted slots in a node of `entry_count` slots (`None`: no hints).
fn hint_spacing(entry_count: usize) -> Option<usize> {
    (entry_count > 2 * HINT_COUNT).then_some(entry_count / (HINT_COUNT + 1))
}

/// The slots `low..high` that can hold a key whose head is `probe_head`: every slot below
/// `low` holds a smaller key and every slot from `high` on a larger one, as the hints say.
/// Worked: 170 slots, spacing 10, hints 3 and 4 (slots 40 and 50) below and above the head
/// give `40..50`. On garbage, the range is still within `0..entry_count`.
#[inline]
fn hinted_range<B: BodyRead + ?Sized>(
    node: &B,
    entry_count: usize,
    probe_head: u32,
) -> (usize, usize) {
    let Some(spacing) = hint_spacing(entry_count) else { return (0, entry_count) };
    let hints = read_hints(node);
    let not_below = hints.iter().position(|&hint| hint >= probe_head).unwrap_or(HINT_COUNT);
    let above = hints[not_below..].iter().position(|&hint| hint > probe_head);
    // Hint `i` is the head of slot `spacing * (i + 1)`.
    let low = not_below * spacing;
    let high = above.map_or(entry_count, |index| (not_below + index + 1) * spacing);
    (low, high)
}

/// The hints as stored, read a word at a time.
#[inline]
fn read_hints<B: BodyRead + ?Sized>(node: &B) -> [u32; HINT_COUNT] {
    let mut hints = [0; HINT_COUNT];
    for (pair_index, pair) in hints.chunks_exact_mut(2).enumerate() {
        let [b0, b1, b2, b3, b4, b5, b6, b7] =
            node.u64_at(HINTS_OFFSET + pair_index * 2 * HINT_BYTES).to_le_bytes();
        pair[0] = u32::from_le_bytes([b0, b1, b2, b3]);
        pair[1] = u32::from_le_bytes([b4, b5, b6, b7]);
    }
    hints
}

/// The hints a node's slots call for (see "Hints").
fn hints_of<B: BodyRead + ?Sized>(node: &B) -> [u32; HINT_COUNT] {
    let mut hints = [0; HINT_COUNT];
    if let Some(spacing) = hint_spacing(entry_count(node)) {
        for (index, hint) in hints.iter_mut().enumerate() {
            *hint = slot_at(node, spacing * (index + 1)).1;
        }
    }
    hints
}

/// Rewrites the hints from the slots: after any change to the slots.
fn update_hints<B: BodyWrite + ?Sized>(node: &mut B) {
    let hints = hints_of(node);
    let mut bytes = [0u8; HINT_COUNT * HINT_BYTES];
    for (chunk, hint) in bytes.chunks_exact_mut(HINT_BYTES).zip(hints) {
        chunk.copy_from_slice(&hint.to_le_bytes());
    }
    node.write(HINTS_OFFSET, &bytes);
}

/// A leaf's value at `slot`. An inline value is clamped to the body (on garbage).
pub(crate) fn value_at<B: BodyRead + ?Sized>(node: &B, slot: usize) -> Value {
    let cell = cell_offset(node, slot);
    let value_bytes = node.u32_at(cell + LEAF_VALUE_BYTES_OFFSET) as usize;
    let value_start = cell + LEAF_CELL_HEADER_BYTES + key_bytes_of_cell(node, cell);
    if node.u8_at(cell + LEAF_FLAGS_OFFSET) & FLAG_OVERFLOW != 0 {
        let first_page = PageId(node.u64_at(value_start));
        let value_crc32c = node.u32_at(value_start + 8);
        return Value::Overflow(OverflowRef { value_bytes, first_page, value_crc32c });
    }
    let mut value = vec![0; value_bytes.min(node.body_bytes())];
    node.read_into(value_start, &mut value);
    Value::Inline(value)
}

/// Children of a branch: one more than its cells.
pub(crate) fn child_count<B: BodyRead + ?Sized>(node: &B) -> usize {
    entry_count(node) + 1
}

/// A branch's child `child_index` (0: the leftmost child; `i + 1`: the child of cell `i`).
pub(crate) fn child_at<B: BodyRead + ?Sized>(node: &B, child_index: usize) -> PageId {
    match child_index.checked_sub(1) {
        None => PageId(link(node)),
        Some(slot) => PageId(node.u64_at(cell_offset(node, slot) + BRANCH_CHILD_OFFSET)),
    }
}

/// The child of a branch whose subtree holds `key`, and its index. If that child splits,
/// the new separator goes in at slot `child_index` (see [`insert`]); its right sibling is
/// child `child_index + 1`, separated from it by the key at slot `child_index`.
pub(crate) fn child_for_key<B: BodyRead + ?Sized>(node: &B, key: &[u8]) -> (usize, PageId) {
    let child_index = match search(node, key) {
        SearchResult::Found(slot) => slot + 1,
        SearchResult::NotFound(slot) => slot,
    };
    (child_index, child_at(node, child_index))
}

fn gap_bytes<B: BodyRead + ?Sized>(node: &B) -> usize {
    cells_start(node).saturating_sub(slot_offset(entry_count(node)))
}

/// Bytes a new cell and its slot may take (after compaction, if fragmented).
pub(crate) fn free_bytes<B: BodyRead + ?Sized>(node: &B) -> usize {
    (gap_bytes(node) + fragmented_bytes(node)).min(node_bytes(node.body_bytes()))
}

/// Bytes of cells and slots in the node.
pub(crate) fn used_bytes<B: BodyRead + ?Sized>(node: &B) -> usize {
    node_bytes(node.body_bytes()) - free_bytes(node)
}

/// Whether `cell` (and its slot) fits in the node.
pub(crate) fn fits<B: BodyRead + ?Sized>(node: &B, cell: &Cell<'_>) -> bool {
    cell.cell_bytes() + SLOT_BYTES <= free_bytes(node)
}

/// Whether the node uses less than a quarter of its node space: the tree layer then merges it
/// with a sibling, or rebalances the two.
pub(crate) fn is_underfull<B: BodyRead + ?Sized>(node: &B) -> bool {
    used_bytes(node) < node_bytes(node.body_bytes()) / 4
}

// ---------------------------------------------------------------------------------------------
// Mutations: on checked nodes only; preconditions are asserted.

fn to_u16(value: usize) -> u16 {
    u16::try_from(value).expect("body offsets and counts fit in u16 (checked at compile time)")
}

/// The header fields a node keeps when its cells are rewritten.
#[derive(Clone, Copy, Debug)]
struct HeaderFields {
    kind: PageKind,
    level: u8,
    epoch: u64,
    link: u64,
}

fn header_fields<B: BodyRead + ?Sized>(node: &B) -> HeaderFields {
    let kind = kind(node).expect("a checked node");
    HeaderFields { kind, level: level(node), epoch: epoch(node), link: link(node) }
}

/// Writes the header of an empty node.
fn write_header<B: BodyWrite + ?Sized>(node: &mut B, fields: HeaderFields) {
    let mut header = [0u8; NODE_HEADER_BYTES];
    header[KIND_OFFSET] = fields.kind as u8;
    header[LEVEL_OFFSET] = fields.level;
    header[CELLS_START_OFFSET..FRAGMENTED_BYTES_OFFSET]
        .copy_from_slice(&to_u16(node.body_bytes()).to_le_bytes());
    header[EPOCH_OFFSET..LINK_OFFSET].copy_from_slice(&fields.epoch.to_le_bytes());
    header[LINK_OFFSET..HINTS_OFFSET].copy_from_slice(&fields.link.to_le_bytes());
    node.write(0, &header);
}

fn assert_body_size(body_bytes: usize) {
    let page_bytes = body_bytes + PAGE_HEADER_BYTES;
    assert!(
        page_bytes.is_power_of_two() && (PAGE_BYTES_MIN..=PAGE_BYTES_MAX).contains(&page_bytes),
        "a {body_bytes}-byte body is not the body of a valid page size"
    );
}

/// Formats an empty leaf of checkpoint epoch `epoch` (the body is zeroed first).
pub(crate) fn format_leaf<B: BodyWrite + ?Sized>(
    node: &mut B,
    epoch: u64,
    right_sibling: Option<PageId>,
) {
    assert_body_size(node.body_bytes());
    let link = right_sibling.map_or(NO_PAGE, |page| page.0);
    assert!(link == NO_PAGE || is_tree_page(link), "right sibling {link} is not a page id");
    node.write_body(&vec![0; node.body_bytes()]);
    write_header(node, HeaderFields { kind: PageKind::Leaf, level: 0, epoch, link });
}

/// Formats an empty branch of checkpoint epoch `epoch` at `level` (1 or more) whose only child
/// is `leftmost_child`.
pub(crate) fn format_branch<B: BodyWrite + ?Sized>(
    node: &mut B,
    epoch: u64,
    level: u8,
    leftmost_child: PageId,
) {
    assert_body_size(node.body_bytes());
    assert!((1..=LEVEL_MAX).contains(&level), "a branch at level {level}");
    assert!(is_tree_page(leftmost_child.0), "child {leftmost_child} is not a page id");
    node.write_body(&vec![0; node.body_bytes()]);
    let link = leftmost_child.0;
    write_header(node, HeaderFields { kind: PageKind::Branch, level, epoch, link });
}

/// Sets the epoch of a node: for the copy of a page that copy-on-write makes in the current
/// epoch (copy the body, then set its epoch).
pub(crate) fn set_epoch<B: BodyWrite + ?Sized>(node: &mut B, epoch: u64) {
    assert!(kind(node).is_some_and(|kind| kind != PageKind::Overflow), "not a node");
    node.put_u64(EPOCH_OFFSET, epoch);
}

/// Sets a leaf's right sibling.
pub(crate) fn set_right_sibling<B: BodyWrite + ?Sized>(node: &mut B, right: Option<PageId>) {
    assert_eq!(kind(node), Some(PageKind::Leaf));
    let link = right.map_or(NO_PAGE, |page| page.0);
    assert!(link == NO_PAGE || is_tree_page(link), "right sibling {link} is not a page id");
    node.put_u64(LINK_OFFSET, link);
}

/// Sets a branch's child `child_index` (see [`child_at`]).
pub(crate) fn set_child<B: BodyWrite + ?Sized>(node: &mut B, child_index: usize, child: PageId) {
    assert_eq!(kind(node), Some(PageKind::Branch));
    assert!(child_index < child_count(node), "child {child_index} of {}", child_count(node));
    assert!(is_tree_page(child.0), "child {child} is not a page id");
    match child_index.checked_sub(1) {
        None => node.put_u64(LINK_OFFSET, child.0),
        Some(slot) => node.put_u64(cell_offset(node, slot) + BRANCH_CHILD_OFFSET, child.0),
    }
}

fn assert_cell_valid(body_bytes: usize, cell: &Cell<'_>) {
    assert!(cell.key().len() <= KEY_BYTES_MAX, "a {}-byte key", cell.key().len());
    match cell {
        Cell::Leaf { key, value: LeafValue::Inline(value) } => assert!(
            value_is_inline(body_bytes, key.len(), value.len()),
            "a {}-byte value under a {}-byte key belongs in overflow pages",
            value.len(),
            key.len()
        ),
        Cell::Leaf { key, value: LeafValue::Overflow(reference) } => {
            assert!(
                !value_is_inline(body_bytes, key.len(), reference.value_bytes),
                "a {}-byte value under a {}-byte key belongs inline",
                reference.value_bytes,
                key.len()
            );
            assert!(reference.value_bytes <= VALUE_BYTES_MAX, "a value over the limit");
            assert!(is_tree_page(reference.first_page.0), "overflow page {}", reference.first_page);
        }
        Cell::Branch { child, .. } => assert!(is_tree_page(child.0), "child {child}"),
    }
    debug_assert!(cell.cell_bytes() <= cell_bytes_max(body_bytes));
}

/// Panics unless `cell` may go in at `slot` of `node`, room aside: of the node's kind, within
/// the limits, its key strictly between the keys at `slot - 1` and `slot`.
fn assert_insertable<B: BodyRead + ?Sized>(node: &B, slot: usize, cell: &Cell<'_>) {
    let count = entry_count(node);
    assert_eq!(kind(node), Some(cell.kind()), "a cell of the wrong kind");
    assert!(slot <= count, "insert at slot {slot} of {count}");
    assert_cell_valid(node.body_bytes(), cell);
    let key = cell.key();
    assert!(
        slot == 0 || compare_key_at(node, slot - 1, key) == Ordering::Less,
        "keys out of order"
    );
    assert!(
        slot == count || compare_key_at(node, slot, key) == Ordering::Greater,
        "keys out of order"
    );
}

/// The cell's bytes as they lie in a node.
fn encode_cell(cell: &Cell<'_>) -> Vec<u8> {
    let mut image = Vec::with_capacity(cell.cell_bytes());
    image.extend_from_slice(&to_u16(cell.key().len()).to_le_bytes());
    match cell {
        Cell::Leaf { key, value } => {
            let (flags, value_bytes) = match value {
                LeafValue::Inline(value) => (0, value.len()),
                LeafValue::Overflow(reference) => (FLAG_OVERFLOW, reference.value_bytes),
            };
            image.push(flags);
            let value_bytes = u32::try_from(value_bytes).expect("values are below 4 GiB");
            image.extend_from_slice(&value_bytes.to_le_bytes());
            image.extend_from_slice(key);
            match value {
                LeafValue::Inline(value) => image.extend_from_slice(value),
                LeafValue::Overflow(reference) => {
                    image.extend_from_slice(&reference.first_page.0.to_le_bytes());
                    image.extend_from_slice(&reference.value_crc32c.to_le_bytes());
                }
            }
        }
        Cell::Branch { key, child } => {
            image.extend_from_slice(&child.0.to_le_bytes());
            image.extend_from_slice(key);
        }
    }
    debug_assert_eq!(image.len(), cell.cell_bytes());
    image
}

/// The bytes of the cell at `slot`, copied out.
fn cell_image_at<B: BodyRead + ?Sized>(node: &B, slot: usize) -> Vec<u8> {
    let cell = cell_offset(node, slot);
    let mut image = vec![0; cell_bytes_at(node, is_branch(node), cell)];
    node.read_into(cell, &mut image);
    image
}

fn set_entry_count<B: BodyWrite + ?Sized>(node: &mut B, count: usize) {
    node.put_u16(ENTRY_COUNT_OFFSET, to_u16(count));
}

fn set_cells_start<B: BodyWrite + ?Sized>(node: &mut B, offset: usize) {
    node.put_u16(CELLS_START_OFFSET, to_u16(offset));
}

fn set_fragmented_bytes<B: BodyWrite + ?Sized>(node: &mut B, bytes: usize) {
    node.put_u16(FRAGMENTED_BYTES_OFFSET, to_u16(bytes));
}

/// Inserts `cell` at `slot`, compacting the node first if the free space is fragmented.
///
/// # Panics
/// If the cell does not fit ([`fits`]), is of the wrong kind or over a limit, or its key is not
/// strictly between the keys at `slot - 1` and `slot`.
pub(crate) fn insert<B: BodyWrite + ?Sized>(node: &mut B, slot: usize, cell: &Cell<'_>) {
    debug_assert_checked(node);
    assert_insertable(node, slot, cell);
    assert!(fits(node, cell), "a {}-byte cell does not fit", cell.cell_bytes());
    let count = entry_count(node);
    let key = cell.key();

    let image = encode_cell(cell);
    if gap_bytes(node) < image.len() + SLOT_BYTES {
        compact(node);
    }
    let cell_offset = cells_start(node) - image.len();
    node.write(cell_offset, &image);
    if slot < count {
        node.copy_within(slot_offset(slot), slot_offset(slot + 1), (count - slot) * SLOT_BYTES);
    }
    set_slot(node, slot, cell_offset, key);
    set_entry_count(node, count + 1);
    set_cells_start(node, cell_offset);
    update_hints(node);
    debug_assert_checked(node);
}

/// Removes the cell at `slot`. Its bytes become free: at once if it was the lowest cell,
/// otherwise as fragmented space that the next compaction reclaims.
pub(crate) fn remove<B: BodyWrite + ?Sized>(node: &mut B, slot: usize) {
    debug_assert_checked(node);
    let count = entry_count(node);
    assert!(slot < count, "remove slot {slot} of {count}");
    let cell = cell_offset(node, slot);
    let cell_bytes = cell_bytes_at(node, is_branch(node), cell);
    if slot + 1 < count {
        node.copy_within(slot_offset(slot + 1), slot_offset(slot), (count - slot - 1) * SLOT_BYTES);
    }
    node.put_u16(slot_offset(count - 1), 0);
    node.put_u32(slot_offset(count - 1) + SLOT_HEAD_OFFSET, 0);
    set_entry_count(node, count - 1);
    if cell == cells_start(node) {
        set_cells_start(node, cell + cell_bytes);
    } else {
        set_fragmented_bytes(node, fragmented_bytes(node) + cell_bytes);
    }
    update_hints(node);
    debug_assert_checked(node);
}

/// Whether a leaf's value at `slot` can be replaced by `value` in place.
pub(crate) fn can_replace<B: BodyRead + ?Sized>(
    node: &B,
    slot: usize,
    value: &LeafValue<'_>,
) -> bool {
    let cell = cell_offset(node, slot);
    let value_part_bytes = match value {
        LeafValue::Inline(value) => value.len(),
        LeafValue::Overflow(_) => OVERFLOW_REFERENCE_BYTES,
    };
    let new_bytes = LEAF_CELL_HEADER_BYTES + key_bytes_of_cell(node, cell) + value_part_bytes;
    new_bytes <= free_bytes(node) + cell_bytes_at(node, false, cell)
}

/// Replaces a leaf's value at `slot` (the key stays). The caller frees the old value's
/// overflow chain, if it had one (read it with [`value_at`] first).
///
/// # Panics
/// If the new value does not fit ([`can_replace`]) or is stored the wrong way.
pub(crate) fn replace_value<B: BodyWrite + ?Sized>(
    node: &mut B,
    slot: usize,
    value: LeafValue<'_>,
) {
    assert_eq!(kind(node), Some(PageKind::Leaf), "only leaves have values");
    assert!(slot < entry_count(node), "replace slot {slot} of {}", entry_count(node));
    assert!(can_replace(node, slot, &value), "the new value does not fit");
    let key = key_at(node, slot);
    let cell = Cell::Leaf { key: &key, value };
    assert_cell_valid(node.body_bytes(), &cell);
    let offset = cell_offset(node, slot);
    if cell.cell_bytes() == cell_bytes_at(node, false, offset) {
        node.write(offset, &encode_cell(&cell));
        debug_assert_checked(node);
        return;
    }
    remove(node, slot);
    insert(node, slot, &cell);
}

/// Rewrites the node with its cells packed at the end of the body, in slot order, and no
/// fragmented space.
pub(crate) fn compact<B: BodyWrite + ?Sized>(node: &mut B) {
    let cells = cells_of(node);
    let image = build_node(node.body_bytes(), header_fields(node), &cells);
    node.write_body(&image);
}

/// A node image holding `cells` (raw cell bytes, in key order), packed at the end.
fn build_node(body_bytes: usize, fields: HeaderFields, cells: &[Vec<u8>]) -> Vec<u8> {
    let mut image = vec![0u8; body_bytes];
    let used_bytes: usize = cells.iter().map(|cell| cell.len() + SLOT_BYTES).sum();
    assert!(used_bytes <= node_bytes(body_bytes), "{used_bytes} bytes of cells overflow a node");
    let header_bytes = cell_header_bytes(fields.kind == PageKind::Branch);
    write_header(image.as_mut_slice(), fields);
    let mut cells_start = body_bytes;
    for (slot, cell) in cells.iter().enumerate() {
        cells_start -= cell.len();
        image[cells_start..cells_start + cell.len()].copy_from_slice(cell);
        let key_bytes = usize::from(cell.as_slice().u16_at(CELL_KEY_BYTES_OFFSET));
        let key = &cell[header_bytes..header_bytes + key_bytes];
        set_slot(image.as_mut_slice(), slot, cells_start, key);
    }
    set_entry_count(image.as_mut_slice(), cells.len());
    set_cells_start(image.as_mut_slice(), cells_start);
    update_hints(image.as_mut_slice());
    image
}

// ---------------------------------------------------------------------------------------------
// Two nodes: split, merge, rebalance.

/// The key of a raw cell image.
fn key_of_image(image: &[u8], branch: bool) -> &[u8] {
    let key_bytes = usize::from(image.u16_at(CELL_KEY_BYTES_OFFSET));
    &image[cell_header_bytes(branch)..cell_header_bytes(branch) + key_bytes]
}

/// The shortest key `s` with `left_last < s <= right_first`: a prefix of `right_first`.
pub(crate) fn shortest_separator(left_last: &[u8], right_first: &[u8]) -> Vec<u8> {
    assert!(left_last < right_first, "separating keys out of order");
    let common_bytes =
        left_last.iter().zip(right_first).take_while(|(left, right)| left == right).count();
    right_first[..=common_bytes].to_vec()
}

/// The cut of `sizes` that makes the larger side smallest. `middle` says whether the cell at
/// the cut goes to neither side (it moves up, for branches). The cut is searched in `cuts`.
fn balanced_cut(sizes: &[usize], middle: bool, cuts: std::ops::Range<usize>) -> usize {
    let total: usize = sizes.iter().sum();
    let mut best = (usize::MAX, cuts.start);
    let mut left_bytes: usize = sizes[..cuts.start].iter().sum();
    for cut in cuts {
        let right_bytes = total - left_bytes - if middle { sizes[cut] } else { 0 };
        let larger = left_bytes.max(right_bytes);
        if larger < best.0 {
            best = (larger, cut);
        }
        left_bytes += sizes[cut];
    }
    best.1
}

/// What two siblings hold once redistributed: each side's cells, and for branches the cell
/// that moves up between them.
struct Halves {
    left: Vec<Vec<u8>>,
    right: Vec<Vec<u8>>,
    separator: Vec<u8>,
    /// Branches only: the right node's leftmost child (the child of the cell that moved up).
    right_leftmost: u64,
}

/// Cuts `cells` (of one level, in key order) into two halves as even in bytes as possible.
fn cut_halves(mut cells: Vec<Vec<u8>>, branch: bool) -> Halves {
    let sizes: Vec<usize> = cells.iter().map(|cell| cell.len() + SLOT_BYTES).collect();
    if branch {
        assert!(cells.len() >= 3, "a branch split needs three cells, has {}", cells.len());
        let cut = balanced_cut(&sizes, true, 1..cells.len() - 1);
        let mut right = cells.split_off(cut);
        let middle = right.remove(0);
        let separator = key_of_image(&middle, true).to_vec();
        let right_leftmost = middle.as_slice().u64_at(BRANCH_CHILD_OFFSET);
        Halves { left: cells, right, separator, right_leftmost }
    } else {
        assert!(cells.len() >= 2, "a leaf split needs two cells, has {}", cells.len());
        let cut = balanced_cut(&sizes, false, 1..cells.len());
        let right = cells.split_off(cut);
        let left_last = key_of_image(cells.last().expect("cut >= 1"), false);
        let separator = shortest_separator(left_last, key_of_image(&right[0], false));
        Halves { left: cells, right, separator, right_leftmost: NO_PAGE }
    }
}

fn cells_of<B: BodyRead + ?Sized>(node: &B) -> Vec<Vec<u8>> {
    (0..entry_count(node)).map(|slot| cell_image_at(node, slot)).collect()
}

/// Splits a full node: moves the upper half of `left`'s cells (by bytes) to `right`, a new
/// page `right_page` that this formats, and returns the separator for the parent (insert it
/// with child `right_page` at the slot after `left`'s). Leaves: `right` takes over `left`'s
/// right sibling and becomes it; the separator is the shortest key between the halves.
/// Branches: the middle cell moves up; its child becomes `right`'s leftmost.
///
/// `right` takes `left`'s epoch: nodes change only in the current epoch (copy-on-write copies
/// `left` first if it is of a checkpointed one). Afterwards either node takes any cell up to
/// [`cell_bytes_max`] (see "Why three cells").
pub(crate) fn split<L, R>(left: &mut L, right: &mut R, right_page: PageId) -> Vec<u8>
where
    L: BodyWrite + ?Sized,
    R: BodyWrite + ?Sized,
{
    debug_assert_checked(left);
    let separator = split_cells(left, right, right_page, cells_of(left));
    let room_bytes = cell_bytes_max(left.body_bytes()) + SLOT_BYTES;
    assert!(free_bytes(left) >= room_bytes, "the left half of a split has no room");
    assert!(free_bytes(right) >= room_bytes, "the right half of a split has no room");
    separator
}

/// Inserts `cell` at `slot` of a node it does not fit ([`fits`] is false) by splitting the
/// node: its cells and the new one are cut as evenly as possible by bytes, the upper half
/// going to `right`, and the separator for the parent is returned, as [`split`] does.
///
/// Cutting with the new cell in, rather than splitting first and inserting into one half,
/// keeps nodes fuller: a leaf holding three 1 KB records and taking a fourth ends as two and
/// two, where the halves of three are one and two and the fourth makes them one and three.
/// Either half holds at most `S / 2 + C` bytes (see "Why three cells"), so both fit.
///
/// # Panics
/// As [`insert`]: if the cell is of the wrong kind, over a limit or out of order at `slot`;
/// and if it would fit without a split.
pub(crate) fn split_insert<L, R>(
    left: &mut L,
    right: &mut R,
    right_page: PageId,
    slot: usize,
    cell: &Cell<'_>,
) -> Vec<u8>
where
    L: BodyWrite + ?Sized,
    R: BodyWrite + ?Sized,
{
    debug_assert_checked(left);
    assert_insertable(left, slot, cell);
    assert!(!fits(left, cell), "a split for a cell that fits");
    let mut cells = cells_of(left);
    cells.insert(slot, encode_cell(cell));
    split_cells(left, right, right_page, cells)
}

/// Writes `cells` (of `left`'s level, in key order) cut in two halves over `left` and `right`
/// and returns the separator: the body of [`split`] and [`split_insert`].
fn split_cells<L, R>(
    left: &mut L,
    right: &mut R,
    right_page: PageId,
    cells: Vec<Vec<u8>>,
) -> Vec<u8>
where
    L: BodyWrite + ?Sized,
    R: BodyWrite + ?Sized,
{
    let body_bytes = left.body_bytes();
    assert_eq!(right.body_bytes(), body_bytes, "siblings of different page sizes");
    assert!(is_tree_page(right_page.0), "right page {right_page} is not a page id");
    let fields = header_fields(left);
    let branch = fields.kind == PageKind::Branch;
    let halves = cut_halves(cells, branch);
    let (left_link, right_link) =
        if branch { (fields.link, halves.right_leftmost) } else { (right_page.0, fields.link) };
    left.write_body(&build_node(
        body_bytes,
        HeaderFields { link: left_link, ..fields },
        &halves.left,
    ));
    right.write_body(&build_node(
        body_bytes,
        HeaderFields { link: right_link, ..fields },
        &halves.right,
    ));
    debug_assert_checked(left);
    debug_assert_checked(right);
    halves.separator
}

/// The branch cell a separator becomes when it moves down between `left` and `right`.
fn separator_cell<B: BodyRead + ?Sized>(right: &B, separator: &[u8]) -> Vec<u8> {
    encode_cell(&Cell::Branch { key: separator, child: PageId(link(right)) })
}

/// Whether `right` merges into `left`, its left sibling: their cells (and for branches, the
/// separator between them, moving down) fit in one node.
pub(crate) fn can_merge<L, R>(left: &L, right: &R, separator: &[u8]) -> bool
where
    L: BodyRead + ?Sized,
    R: BodyRead + ?Sized,
{
    let separator_bytes =
        if is_branch(left) { BRANCH_CELL_HEADER_BYTES + separator.len() + SLOT_BYTES } else { 0 };
    used_bytes(left) + used_bytes(right) + separator_bytes <= node_bytes(left.body_bytes())
}

/// Moves every cell of `right` into `left`, its left sibling. Leaves: `left` takes over
/// `right`'s right sibling. Branches: `separator` (the parent's key between them) comes down
/// as a cell with `right`'s leftmost child. The caller then removes the separator from the
/// parent and frees `right`'s page.
///
/// # Panics
/// If they do not fit ([`can_merge`]), or are not siblings of one kind and level.
pub(crate) fn merge<L, R>(left: &mut L, right: &R, separator: &[u8])
where
    L: BodyWrite + ?Sized,
    R: BodyRead + ?Sized,
{
    debug_assert_checked(left);
    debug_assert_checked(right);
    assert_siblings(left, right);
    assert!(can_merge(left, right, separator), "siblings too full to merge");
    let fields = header_fields(left);
    let mut cells = cells_of(left);
    let link = if fields.kind == PageKind::Branch {
        cells.push(separator_cell(right, separator));
        fields.link
    } else {
        link(right)
    };
    cells.extend(cells_of(right));
    left.write_body(&build_node(left.body_bytes(), HeaderFields { link, ..fields }, &cells));
    debug_assert_checked(left);
}

fn assert_siblings<L, R>(left: &L, right: &R)
where
    L: BodyRead + ?Sized,
    R: BodyRead + ?Sized,
{
    assert_eq!(left.body_bytes(), right.body_bytes(), "siblings of different page sizes");
    assert_eq!(kind(left), kind(right), "siblings of different kinds");
    assert_eq!(level(left), level(right), "siblings at different levels");
}

/// Redistributes the cells of two siblings evenly (by bytes) and returns the new separator,
/// which replaces `separator` in the parent. For when one is underfull and [`can_merge`] says
/// no. The new separator may be longer than the old one: the caller checks that the parent
/// has room for the difference.
///
/// # Panics
/// If they are not siblings of one kind and level, or hold too few cells to share.
pub(crate) fn rebalance<L, R>(left: &mut L, right: &mut R, separator: &[u8]) -> Vec<u8>
where
    L: BodyWrite + ?Sized,
    R: BodyWrite + ?Sized,
{
    debug_assert_checked(left);
    debug_assert_checked(right);
    assert_siblings(left, right);
    let (left_fields, right_fields) = (header_fields(left), header_fields(right));
    let branch = left_fields.kind == PageKind::Branch;
    let mut cells = cells_of(left);
    if branch {
        cells.push(separator_cell(right, separator));
    }
    cells.extend(cells_of(right));
    let halves = cut_halves(cells, branch);
    let link = if branch { halves.right_leftmost } else { right_fields.link };
    let body_bytes = left.body_bytes();
    left.write_body(&build_node(body_bytes, left_fields, &halves.left));
    right.write_body(&build_node(body_bytes, HeaderFields { link, ..right_fields }, &halves.right));
    debug_assert_checked(left);
    debug_assert_checked(right);
    halves.separator
}

// ---------------------------------------------------------------------------------------------
// Validation of a node read from disk.

/// Checks every offset, length, limit and ordering of a node read from a page of `page_bytes`
/// (invariants 1 to 6 at the top of this module). Never panics, whatever the bytes; the
/// error says what is wrong, for a corruption error naming the page.
pub(crate) fn check_node<B: BodyRead + ?Sized>(
    node: &B,
    page_bytes: usize,
) -> Result<NodeSummary, String> {
    check_page_bytes(node, page_bytes)?;
    let summary = check_header(node)?;
    let branch = summary.kind == PageKind::Branch;
    let mut extents = Vec::with_capacity(summary.entry_count);
    let mut children = Vec::with_capacity(if branch { summary.entry_count + 1 } else { 0 });
    let mut previous_key: Option<Vec<u8>> = None;
    for slot in 0..summary.entry_count {
        let cell = check_cell(node, branch, slot)?;
        extents.push((cell.offset, cell.offset + cell.cell_bytes));
        let key = key_at(node, slot);
        if previous_key.as_ref().is_some_and(|previous| *previous >= key) {
            return Err(format!("slot {slot}: keys not strictly ascending"));
        }
        if slot_at(node, slot).1 != key_head(&key) {
            return Err(format!("slot {slot}: the key head does not match the key"));
        }
        previous_key = Some(key);
        children.extend(cell.child);
    }
    check_cell_area(node, &mut extents)?;
    if read_hints(node) != hints_of(node) {
        return Err("the hints do not match the slots".into());
    }
    if branch {
        children.push(link(node));
        children.sort_unstable();
        if children.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err("a branch names one child twice".into());
        }
    }
    Ok(summary)
}

/// Checks that `page_bytes` is a valid page size and that `body` is that page's body; returns
/// the body's size.
pub(crate) fn check_page_bytes<B: BodyRead + ?Sized>(
    body: &B,
    page_bytes: usize,
) -> Result<usize, String> {
    if !page_bytes.is_power_of_two() || !(PAGE_BYTES_MIN..=PAGE_BYTES_MAX).contains(&page_bytes) {
        return Err(format!("page size {page_bytes} is not a valid page size"));
    }
    let body_bytes = page_bytes - PAGE_HEADER_BYTES;
    if body.body_bytes() != body_bytes {
        return Err(format!("a {}-byte body in a {page_bytes}-byte page", body.body_bytes()));
    }
    Ok(body_bytes)
}

fn check_header<B: BodyRead + ?Sized>(node: &B) -> Result<NodeSummary, String> {
    let body_bytes = node.body_bytes();
    let kind = match PageKind::from_byte(node.u8_at(KIND_OFFSET)) {
        Some(kind @ (PageKind::Leaf | PageKind::Branch)) => kind,
        Some(PageKind::Overflow) => return Err("an overflow page, not a node".into()),
        Some(PageKind::FreeList) => return Err("a free-list page, not a node".into()),
        None if node.u8_at(KIND_OFFSET) == 0 => return Err("kind 0: never formatted".into()),
        None => return Err(format!("unknown node kind {}", node.u8_at(KIND_OFFSET))),
    };
    let level = level(node);
    match kind {
        PageKind::Leaf if level != 0 => return Err(format!("a leaf at level {level}")),
        PageKind::Branch if !(1..=LEVEL_MAX).contains(&level) => {
            return Err(format!("a branch at level {level} (1..={LEVEL_MAX})"));
        }
        _ => {}
    }
    let entry_count = usize::from(node.u16_at(ENTRY_COUNT_OFFSET));
    let cells_start = cells_start(node);
    let slots_end = slot_offset(entry_count);
    if cells_start > body_bytes {
        return Err(format!("cells start at {cells_start}, past the {body_bytes}-byte body"));
    }
    if slots_end > cells_start {
        return Err(format!(
            "{entry_count} slots end at {slots_end}, past the cells at {cells_start}"
        ));
    }
    let fragmented_bytes = fragmented_bytes(node);
    if fragmented_bytes > body_bytes - cells_start {
        return Err(format!("{fragmented_bytes} fragmented bytes in a smaller cell area"));
    }
    let link = link(node);
    let link = match kind {
        PageKind::Leaf if link == NO_PAGE => None,
        _ if is_tree_page(link) => Some(PageId(link)),
        _ => return Err(format!("link {link} is not a page id")),
    };
    let free_bytes = cells_start - slots_end + fragmented_bytes;
    let used_bytes = node_bytes(body_bytes) - free_bytes;
    let epoch = epoch(node);
    Ok(NodeSummary {
        kind,
        level,
        entry_count,
        used_bytes,
        free_bytes,
        fragmented_bytes,
        link,
        epoch,
    })
}

/// One cell, as [`check_cell`] found it.
struct CheckedCell {
    offset: usize,
    cell_bytes: usize,
    /// A branch cell's child.
    child: Option<u64>,
}

fn check_cell<B: BodyRead + ?Sized>(
    node: &B,
    branch: bool,
    slot: usize,
) -> Result<CheckedCell, String> {
    let body_bytes = node.body_bytes();
    let offset = cell_offset(node, slot);
    let header_end = offset + cell_header_bytes(branch);
    if offset < cells_start(node) || header_end > body_bytes {
        return Err(format!("slot {slot} points at {offset}, outside the cell area"));
    }
    let key_bytes = usize::from(node.u16_at(offset + CELL_KEY_BYTES_OFFSET));
    if key_bytes > KEY_BYTES_MAX {
        return Err(format!("slot {slot}: a {key_bytes}-byte key (at most {KEY_BYTES_MAX})"));
    }
    let cell_bytes = cell_bytes_at(node, branch, offset);
    if offset + cell_bytes > body_bytes {
        return Err(format!("slot {slot}: a {cell_bytes}-byte cell at {offset} overruns the body"));
    }
    if cell_bytes > cell_bytes_max(body_bytes) {
        return Err(format!(
            "slot {slot}: a {cell_bytes}-byte cell (at most {})",
            cell_bytes_max(body_bytes)
        ));
    }
    let child = if branch {
        let child = node.u64_at(offset + BRANCH_CHILD_OFFSET);
        if !is_tree_page(child) {
            return Err(format!("slot {slot}: child {child} is not a page id"));
        }
        Some(child)
    } else {
        check_leaf_value(node, slot, offset, key_bytes)?;
        None
    };
    Ok(CheckedCell { offset, cell_bytes, child })
}

fn check_leaf_value<B: BodyRead + ?Sized>(
    node: &B,
    slot: usize,
    offset: usize,
    key_bytes: usize,
) -> Result<(), String> {
    let flags = node.u8_at(offset + LEAF_FLAGS_OFFSET);
    if flags & !FLAG_OVERFLOW != 0 {
        return Err(format!("slot {slot}: unknown flags {flags:#04x}"));
    }
    let value_bytes = node.u32_at(offset + LEAF_VALUE_BYTES_OFFSET) as usize;
    let inline = value_is_inline(node.body_bytes(), key_bytes, value_bytes);
    if flags & FLAG_OVERFLOW == 0 {
        // The cell size check already bounds an inline value; this is its canonical form.
        if !inline {
            return Err(format!("slot {slot}: a {value_bytes}-byte value inline"));
        }
        return Ok(());
    }
    if inline {
        return Err(format!(
            "slot {slot}: a {value_bytes}-byte value in overflow pages belongs inline"
        ));
    }
    if value_bytes > VALUE_BYTES_MAX {
        return Err(format!("slot {slot}: a {value_bytes}-byte value (at most {VALUE_BYTES_MAX})"));
    }
    let first_page = node.u64_at(offset + LEAF_CELL_HEADER_BYTES + key_bytes);
    if !is_tree_page(first_page) {
        return Err(format!("slot {slot}: overflow page {first_page} is not a page id"));
    }
    Ok(())
}

/// Cells must not overlap, and with the fragmented bytes must fill the cell area exactly.
fn check_cell_area<B: BodyRead + ?Sized>(
    node: &B,
    extents: &mut [(usize, usize)],
) -> Result<(), String> {
    extents.sort_unstable();
    if let Some(pair) = extents.windows(2).find(|pair| pair[0].1 > pair[1].0) {
        return Err(format!("cells at {} and {} overlap", pair[0].0, pair[1].0));
    }
    let cell_bytes: usize = extents.iter().map(|(start, end)| end - start).sum();
    let area_bytes = node.body_bytes() - cells_start(node);
    if cell_bytes + fragmented_bytes(node) != area_bytes {
        return Err(format!(
            "{cell_bytes} bytes of cells and {} fragmented do not fill the {area_bytes}-byte cell area",
            fragmented_bytes(node)
        ));
    }
    Ok(())
}

/// In debug builds, asserts that a node the code is about to change, or has changed, passes
/// [`check_node`] (a full check is O(node), too slow for every release operation).
fn debug_assert_checked<B: BodyRead + ?Sized>(node: &B) {
    if cfg!(debug_assertions) {
        let page_bytes = node.body_bytes() + PAGE_HEADER_BYTES;
        if let Err(reason) = check_node(node, page_bytes) {
            panic!("a node the code holds fails its check: {reason}");
        }
    }
}

#[cfg(test)]
mod tests;

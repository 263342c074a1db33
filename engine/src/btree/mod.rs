//! The B+tree: its pages and, to come, the tree built from them.
//!
//! - `body.rs`: [`body::BodyRead`] / [`body::BodyWrite`], the bytes of a page body, in the
//!   pool or in a plain byte image.
//! - `node.rs`: the slotted layout of leaf and branch nodes, and every operation on one node
//!   or two siblings (search, insert, remove, split, merge, rebalance, `check_node`).
//! - `overflow.rs`: chains of overflow pages for values too large for a leaf cell.
//! - `free_list.rs`: the pages in which a checkpoint records the free pages.
//!
//! The byte layouts are at the top of `node.rs` and `overflow.rs`, and in `docs/FORMAT.md`
//! ("B+tree node"). Nothing here takes a latch: the tree layer holds pages and passes them in.

// The tree layer that calls this API is not written yet; until it is, only the tests use
// parts of it.

// Merges, rebalancing and in-place value replacement are built and tested at the node level;
// the tree does not call them yet (see tree.rs), so parts of the node API are unused outside
// tests for now.
#![allow(
    dead_code,
    reason = "node operations the tree does not call yet: merge, rebalance, replace"
)]

pub(crate) mod body;
pub(crate) mod free_list;
pub(crate) mod node;
pub(crate) mod overflow;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod tree;

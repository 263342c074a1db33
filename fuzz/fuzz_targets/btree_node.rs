//! B+tree page bodies from arbitrary bytes: `check_node` and every read accessor must return
//! without panicking or looping, whatever the bytes; a node the checker accepts must behave as
//! a valid node (every key found at its slot), and inserting a key into it, splitting it,
//! merging the halves back and compacting it must give nodes the checker accepts. The same
//! bytes are read as a free-list page, which must decode or be refused, never panic. Overflow
//! chains built from arbitrary pages must read back at their stated length or fail with an
//! error. The input's layout and what is asserted: `engine::fuzzing::targets::btree_node`.
//!
//! Run: `cargo +nightly fuzz run btree_node` (from `fuzz/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| engine::fuzzing::targets::btree_node(data));

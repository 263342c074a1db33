//! B+tree page bodies from arbitrary bytes: `check_node` and every read accessor must return
//! without panicking or looping, whatever the bytes; a node the checker accepts must behave as
//! a valid node (every key found at its slot), and inserting a key into it, splitting it,
//! merging the halves back and compacting it must give nodes the checker accepts. Overflow
//! chains built from arbitrary pages must read back at their stated length or fail with an
//! error. See `engine::fuzzing` for what is asserted.
//!
//! Run: `cargo +nightly fuzz run btree_node` (from `fuzz/`).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// Page sizes the fuzzer picks from: the smallest (most inputs), a middle and the largest.
const PAGE_BYTES_CHOICES: [usize; 3] = [4096, 8192, 65536];
/// Pool page header bytes: a body is the page less these.
const PAGE_HEADER_BYTES: usize = 24;
/// Pages offered to an overflow chain walk.
const CHAIN_PAGE_COUNT_MAX: usize = 8;
/// Keys inserted into a node that is then damaged (enough to fill a 4 KiB node with short
/// keys; each insert checks the whole node, so more only slows the fuzzer down).
const KEY_COUNT_MAX: usize = 300;

#[derive(Debug, Arbitrary)]
struct Input {
    page_size_choice: u8,
    /// 0: a node of raw bytes; 1: a node whose bytes are repeated to fill the body (so that
    /// short inputs still reach deep into large bodies); 2: a valid node built from `keys`,
    /// then damaged by `patches`; 3: an overflow chain.
    mode: u8,
    /// The node's kind byte, when not zero (random bytes rarely name a node kind).
    kind: u8,
    probe_key: Vec<u8>,
    body: Vec<u8>,
    chain_pages: Vec<Vec<u8>>,
    value_bytes: u32,
    first_page: u8,
    branch: bool,
    keys: Vec<Vec<u8>>,
    patches: Vec<(u16, u8)>,
}

fuzz_target!(|input: Input| {
    let page_bytes =
        PAGE_BYTES_CHOICES[usize::from(input.page_size_choice) % PAGE_BYTES_CHOICES.len()];
    let body_bytes = page_bytes - PAGE_HEADER_BYTES;
    match input.mode % 4 {
        3 => {
            let pages: Vec<Vec<u8>> = input
                .chain_pages
                .into_iter()
                .take(CHAIN_PAGE_COUNT_MAX)
                .map(|mut page| {
                    page.resize(body_bytes, 0);
                    page
                })
                .collect();
            let value_bytes = input.value_bytes as usize;
            engine::fuzzing::overflow_chain(
                page_bytes,
                &pages,
                value_bytes,
                u64::from(input.first_page),
            );
        }
        2 => {
            let keys = &input.keys[..input.keys.len().min(KEY_COUNT_MAX)];
            let patches = &input.patches;
            let probe_key = &input.probe_key;
            engine::fuzzing::damaged_btree_node(page_bytes, input.branch, keys, patches, probe_key);
        }
        mode => {
            let mut body = if mode == 1 && !input.body.is_empty() {
                input.body.iter().copied().cycle().take(body_bytes).collect()
            } else {
                input.body
            };
            body.resize(body_bytes, 0);
            if input.kind != 0 {
                body[0] = input.kind % 4;
            }
            engine::fuzzing::btree_node(page_bytes, &body, &input.probe_key);
        }
    }
});

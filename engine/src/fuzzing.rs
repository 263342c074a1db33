//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`) and the engine's
//! own property tests: each feeds bytes that claim to be read from disk to a decoder. Not part
//! of the engine's API.
//!
//! Each function panics only when a promise is broken: a decoder that panics or loops on
//! garbage, a node the checker accepts that does not behave as a valid node must, or a node
//! the code produces from it that the checker refuses.

use std::collections::BTreeSet;

use bufferpool::{PAGE_HEADER_BYTES, PAGE_ID_MAX, PageId};

use crate::btree::body::BodyRead as _;
use crate::btree::free_list;
use crate::btree::node::{self, Cell, LeafValue, PageKind, SearchResult};
use crate::btree::overflow::{self, ChainError, OverflowRef};

/// Slots whose keys and values are read, at most, in one call (a hostile entry count may
/// claim 32,000 slots; every one is read by `check_node` anyway).
const READ_SLOT_COUNT_MAX: usize = 256;
/// The file size, in pages, that free-list runs are checked against (it bounds the pages a
/// hostile run may list, and so the memory one input takes).
const FREE_LIST_PAGE_COUNT_MAX: u64 = 1 << 16;

/// Treats `body` as the body of a B+tree node in a page of `page_bytes`: reads it through
/// every read accessor (which must not panic, whatever the bytes), checks it, and if the check
/// passes, checks that the node behaves as a valid node and that inserting `probe_key`,
/// splitting, merging and compacting give nodes the check accepts.
pub fn btree_node(page_bytes: usize, body: &[u8], probe_key: &[u8]) {
    read_every_accessor(body, probe_key);
    let Ok(summary) = node::check_node(body, page_bytes) else { return };
    check_valid_node_behaves(body, summary.entry_count);
    let mut changed = body.to_vec();
    if let Some(child) = (summary.kind == PageKind::Branch).then(|| unused_child(body)) {
        insert_probe(&mut changed, probe_key, Cell::Branch { key: probe_key, child });
    } else {
        let value = LeafValue::Inline(b"probe");
        insert_probe(&mut changed, probe_key, Cell::Leaf { key: probe_key, value });
    }
    split_and_merge(&changed, page_bytes);
    node::compact(&mut changed);
    assert_eq!(
        node::check_node(&changed, page_bytes).map(|found| found.entry_count),
        Ok(node::entry_count(&changed)),
        "a compacted node fails its check"
    );
}

/// Treats `body` as a free-list page in a page of `page_bytes`, written by the checkpoint of
/// the epoch it claims (so that the epoch check lets the runs through): checking it, and its
/// runs as open checks a chain's, must return whatever the bytes; a page the check accepts
/// must read the same once written again by `format_page`.
pub fn free_list_page(page_bytes: usize, body: &[u8]) {
    let epoch = node::epoch(body);
    let Ok(page) = free_list::check_page(body, page_bytes, epoch) else { return };
    let mut runs = free_list::Runs::new(2, FREE_LIST_PAGE_COUNT_MAX);
    for run in &page.runs {
        if runs.push(*run).is_err() {
            break;
        }
    }
    let mut written = vec![0u8; body.len()];
    free_list::format_page(&mut written[..], epoch, page.next_page, &page.runs);
    assert_eq!(
        free_list::check_page(&written[..], page_bytes, epoch).as_ref(),
        Ok(&page),
        "a free-list page reads differently once written again"
    );
}

/// Builds a valid node of `page_bytes` from `keys` (a branch, or a leaf with inline values and
/// overflow references), runs [`btree_node`] on it, then overwrites bytes as `patches` say
/// (`(offset, byte)`, offsets wrapped into the body) and runs [`btree_node`] again: damage to a
/// real node reaches the checker's deeper checks, which random bytes rarely pass the header
/// to reach.
pub fn damaged_btree_node(
    page_bytes: usize,
    branch: bool,
    keys: &[Vec<u8>],
    patches: &[(u16, u8)],
    probe_key: &[u8],
) {
    let body_bytes = page_bytes - PAGE_HEADER_BYTES;
    let mut body = vec![0u8; body_bytes];
    if branch {
        node::format_branch(&mut body, 1, 1, PageId(1));
    } else {
        node::format_leaf(&mut body, 1, None);
    }
    for (index, key) in keys.iter().enumerate() {
        let child = PageId(u64::try_from(index).expect("few keys") + 2);
        let reference = OverflowRef { value_bytes: body_bytes, first_page: child, value_crc32c: 0 };
        let value = match index % 3 {
            0 => LeafValue::Overflow(reference),
            _ => LeafValue::Inline(b"value"),
        };
        let cell = if branch { Cell::Branch { key, child } } else { Cell::Leaf { key, value } };
        insert_probe(&mut body, key, cell);
    }
    btree_node(page_bytes, &body, probe_key);
    for &(offset, byte) in patches {
        body[usize::from(offset) % body_bytes] = byte;
    }
    btree_node(page_bytes, &body, probe_key);
}

/// Every read accessor, on any bytes. The results are thrown away: this is about not
/// panicking and not looping.
fn read_every_accessor(body: &[u8], probe_key: &[u8]) {
    let count = node::entry_count(body);
    let _ = (node::kind(body), node::level(body), node::right_sibling(body));
    let _ = (node::free_bytes(body), node::used_bytes(body), node::is_underfull(body));
    let _ = (node::search(body, probe_key), node::child_for_key(body, probe_key));
    for slot in (0..count.min(READ_SLOT_COUNT_MAX)).chain(count..count + 2) {
        let _ = node::key_at(body, slot);
        let _ = node::value_at(body, slot);
        let _ = node::compare_key_at(body, slot, probe_key);
        let _ = node::child_at(body, slot);
        let _ = node::can_replace(body, slot, &LeafValue::Inline(probe_key));
    }
    let _ = overflow::check_page(body, body.len() + PAGE_HEADER_BYTES);
}

/// What a node that passed the check promises: every key is found at its own slot, between
/// its neighbours; every child is reachable by its separator.
fn check_valid_node_behaves(body: &[u8], entry_count: usize) {
    for slot in 0..entry_count.min(READ_SLOT_COUNT_MAX) {
        let key = node::key_at(body, slot);
        assert_eq!(node::search(body, &key), SearchResult::Found(slot), "a key not found");
        if node::kind(body) == Some(PageKind::Branch) {
            let child = node::child_at(body, slot + 1);
            assert_eq!(node::child_for_key(body, &key), (slot + 1, child));
        }
    }
}

/// A page id that is none of a branch's children.
fn unused_child(body: &[u8]) -> PageId {
    let children: BTreeSet<u64> =
        (0..node::child_count(body)).map(|index| node::child_at(body, index).0).collect();
    let unused = (1..=PAGE_ID_MAX).find(|id| !children.contains(id)).expect("few children");
    PageId(unused)
}

/// Inserts `cell` if its key is absent, then checks the node and finds the key. A cell that
/// does not fit is inserted by a split instead (on a copy): both halves must pass the check
/// and hold the old keys and the new one, in order.
fn insert_probe(body: &mut Vec<u8>, probe_key: &[u8], cell: Cell<'_>) {
    let body_bytes = body.len();
    if probe_key.len() > crate::KEY_BYTES_MAX
        || cell.cell_bytes() > node::cell_bytes_max(body_bytes)
    {
        return;
    }
    let SearchResult::NotFound(slot) = node::search(body, probe_key) else { return };
    let page_bytes = body_bytes + PAGE_HEADER_BYTES;
    if !node::fits(body, &cell) {
        split_insert_probe(body, page_bytes, slot, &cell);
        return;
    }
    node::insert(body, slot, &cell);
    assert!(node::check_node(body, page_bytes).is_ok(), "a node fails its check after an insert");
    assert_eq!(node::search(body, probe_key), SearchResult::Found(slot));
}

/// Inserts `cell` at `slot` of a copy of `body`, which it does not fit, by a split.
fn split_insert_probe(body: &[u8], page_bytes: usize, slot: usize, cell: &Cell<'_>) {
    let branch = node::kind(body) == Some(PageKind::Branch);
    let mut keys: Vec<Vec<u8>> =
        (0..node::entry_count(body)).map(|index| node::key_at(body, index)).collect();
    keys.insert(slot, cell.key().to_vec());
    let right_page = if branch { unused_child(body) } else { PageId(PAGE_ID_MAX) };
    let mut left = body.to_vec();
    let mut right = vec![0u8; body.len()];
    let separator = node::split_insert(&mut left, &mut right, right_page, slot, cell);
    for half in [&left, &right] {
        assert!(
            node::check_node(half, page_bytes).is_ok(),
            "a split insert's half fails its check"
        );
    }
    let mut halves: Vec<Vec<u8>> =
        (0..node::entry_count(&left)).map(|index| node::key_at(&left, index)).collect();
    if branch {
        halves.push(separator); // the middle key moved up
    }
    halves.extend((0..node::entry_count(&right)).map(|index| node::key_at(&right, index)));
    assert_eq!(halves, keys, "a split insert lost, added or reordered keys");
}

/// Splits a node in two, checks both, and merges them back into the same entries.
fn split_and_merge(body: &[u8], page_bytes: usize) {
    let branch = node::kind(body) == Some(PageKind::Branch);
    let entry_count = node::entry_count(body);
    if entry_count < if branch { 3 } else { 2 } {
        return;
    }
    let keys: Vec<Vec<u8>> = (0..entry_count).map(|slot| node::key_at(body, slot)).collect();
    let right_page = if branch { unused_child(body) } else { PageId(PAGE_ID_MAX) };
    let mut left = body.to_vec();
    let mut right = vec![0u8; body.len()];
    let separator = node::split(&mut left, &mut right, right_page);
    for half in [&left, &right] {
        assert!(node::check_node(half, page_bytes).is_ok(), "a split half fails its check");
    }
    assert!(node::can_merge(&left, &right, &separator), "the halves of a split do not merge");
    node::merge(&mut left, &right, &separator);
    let merged: Vec<Vec<u8>> =
        (0..node::entry_count(&left)).map(|slot| node::key_at(&left, slot)).collect();
    assert_eq!(merged, keys, "split and merge changed the keys");
}

/// Reads an overflow chain from `pages` (page id `n` is `pages[n]`; page ids past the end
/// fail to read): must return the value or an error, never panic or loop. A value read back
/// must have the length the reference gives, and the chain's page list must agree.
pub fn overflow_chain(page_bytes: usize, pages: &[Vec<u8>], value_bytes: usize, first_page: u64) {
    let body_bytes = page_bytes.saturating_sub(PAGE_HEADER_BYTES);
    if overflow::chunk_bytes_max(body_bytes) == 0 {
        return;
    }
    for page in pages {
        let _ = overflow::check_page(page.as_slice(), page_bytes);
    }
    let read_page = |page: PageId, target: &mut [u8]| -> Result<(), String> {
        let index = usize::try_from(page.0).map_err(|_| "no such page".to_string())?;
        let body = pages.get(index).ok_or_else(|| format!("no page {page}"))?;
        body.as_slice().read_into(0, target);
        Ok(())
    };
    let unverified = OverflowRef { value_bytes, first_page: PageId(first_page), value_crc32c: 0 };
    let value = overflow::read_chain_unverified(unverified, body_bytes, read_page);
    if let Ok(bytes) = &value {
        // The chain read back is served only under its own crc32c, never under another.
        let value_crc32c = crc32c::crc32c(bytes);
        let reference = OverflowRef { value_crc32c, ..unverified };
        let verified = overflow::read_chain(reference, body_bytes, read_page);
        assert_eq!(verified.as_ref().ok(), Some(bytes), "a chain that read whole, verified");
        let other = OverflowRef { value_crc32c: value_crc32c ^ 1, ..unverified };
        let refused = overflow::read_chain(other, body_bytes, read_page);
        assert!(matches!(refused, Err(ChainError::Corrupt { .. })), "another crc32c");
    }
    let reference = unverified;
    let listed = overflow::chain_pages(reference, body_bytes, read_page);
    match (&value, &listed) {
        (Ok(value), Ok(listed)) => {
            assert_eq!(value.len(), value_bytes, "a value of the wrong length");
            assert_eq!(listed.len(), overflow::page_count(body_bytes, value_bytes));
        }
        (Err(ChainError::Corrupt { .. } | ChainError::Read(_)), _) => {}
        (Ok(_), Err(error)) => panic!("a chain read whole, yet its pages are not listed: {error}"),
    }
}

/// Treats `bytes` as the two header slots of a data file (split at `split`): choosing the
/// header must give a header, nothing, or an error — never a panic — and a header it gives
/// must encode back to the slot it came from.
pub fn data_header(bytes: &[u8], split: usize) {
    use crate::header::{self, Header, SLOT_BYTES};
    let split = split.min(bytes.len());
    let (first, second) = bytes.split_at(split);
    if let Ok(Some(chosen)) = header::choose(std::path::Path::new("fuzz"), [first, second]) {
        let encoded = chosen.encode();
        let from_first = Header::decode(first).ok() == Some(chosen) && first.len() >= SLOT_BYTES;
        if from_first {
            assert_eq!(encoded[..128], first[..128], "a decoded header encodes back to its bytes");
        }
    }
}

/// Feeds `records` (tag, payload) to the commit-record decoder, in order: never a panic, and a
/// commit it returns re-encodes to records that decode to the same commit.
pub fn commit_records(records: &[(u8, Vec<u8>)]) {
    use crate::commit_record::{self, Decoder, TAG_COMMIT, TAG_PART};
    let mut decoder = Decoder::default();
    for (tag, payload) in records {
        match decoder.feed(*tag, payload) {
            Ok(Some(commit)) => {
                let payloads = commit_record::encode(commit.commit_ts, &commit.writes);
                let mut again = Decoder::default();
                let last = payloads.len() - 1;
                let mut decoded = None;
                for (index, payload) in payloads.iter().enumerate() {
                    let tag = if index == last { TAG_COMMIT } else { TAG_PART };
                    decoded = again.feed(tag, payload).expect("encoded records decode");
                }
                assert_eq!(decoded.as_ref(), Some(&commit), "a commit round-trips");
            }
            Ok(None) => {}
            Err(_) => decoder = Decoder::default(),
        }
    }
}

/// One entry point per engine cargo-fuzz target, bytes in: each decodes its input exactly as
/// libFuzzer's `fuzz_target!` would (`arbitrary_take_rest`; bytes that do not decode are
/// skipped), so that a stable test replays the targets' corpora through the same code
/// (`tests/fuzz_corpora.rs`).
pub mod targets {
    use arbitrary::{Arbitrary, Unstructured};
    use bufferpool::PAGE_HEADER_BYTES;

    /// Page sizes `btree_node` picks from: the smallest (most inputs), a middle and the largest.
    const PAGE_BYTES_CHOICES: [usize; 3] = [4096, 8192, 65536];
    /// Pages offered to an overflow chain walk.
    const CHAIN_PAGE_COUNT_MAX: usize = 8;
    /// Keys inserted into a node that is then damaged (enough to fill a 4 KiB node with short
    /// keys; each insert checks the whole node, so more only slows the fuzzer down).
    const KEY_COUNT_MAX: usize = 300;

    #[derive(Debug, Arbitrary)]
    struct BtreeNodeInput {
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

    /// Target `btree_node`: B+tree page bodies, free-list pages and overflow chains from
    /// arbitrary bytes (see [`super::btree_node`], [`super::free_list_page`],
    /// [`super::damaged_btree_node`] and [`super::overflow_chain`]).
    pub fn btree_node(data: &[u8]) {
        let Ok(input) = BtreeNodeInput::arbitrary_take_rest(Unstructured::new(data)) else {
            return;
        };
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
                super::overflow_chain(page_bytes, &pages, value_bytes, u64::from(input.first_page));
            }
            2 => {
                let keys = &input.keys[..input.keys.len().min(KEY_COUNT_MAX)];
                let (patches, probe_key) = (&input.patches, &input.probe_key);
                super::damaged_btree_node(page_bytes, input.branch, keys, patches, probe_key);
            }
            mode => {
                let mut body = if mode == 1 && !input.body.is_empty() {
                    input.body.iter().copied().cycle().take(body_bytes).collect()
                } else {
                    input.body
                };
                body.resize(body_bytes, 0);
                if input.kind != 0 {
                    body[0] = input.kind % 5;
                }
                super::btree_node(page_bytes, &body, &input.probe_key);
                super::free_list_page(page_bytes, &body);
            }
        }
    }

    /// Target `commit_records`: log records claiming to be commit records (see
    /// [`super::commit_records`]).
    pub fn commit_records(data: &[u8]) {
        let Ok(records) = Vec::<(u8, Vec<u8>)>::arbitrary_take_rest(Unstructured::new(data)) else {
            return;
        };
        super::commit_records(&records);
    }

    /// Target `data_header`: the data file's two header slots from arbitrary bytes (see
    /// [`super::data_header`]).
    pub fn data_header(data: &[u8]) {
        let Ok((split, bytes)) = <(u16, Vec<u8>)>::arbitrary_take_rest(Unstructured::new(data))
        else {
            return;
        };
        super::data_header(&bytes, usize::from(split));
    }
}

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::btree::body::PageBody;
use crate::btree::overflow::{self, OverflowRef};
use crate::btree::test_support::{
    EPOCH, PAGE_BYTES, PageStore, assert_doc_rows, body_bytes, empty_branch, empty_leaf, sim_pool,
};

fn inline<'a>(key: &'a [u8], value: &'a [u8]) -> Cell<'a> {
    Cell::Leaf { key, value: LeafValue::Inline(value) }
}

fn keys_of(node: &[u8]) -> Vec<Vec<u8>> {
    (0..entry_count(node)).map(|slot| key_at(node, slot)).collect()
}

fn check(node: &[u8]) -> NodeSummary {
    let page_bytes = node.len() + PAGE_HEADER_BYTES;
    check_node(node, page_bytes).unwrap_or_else(|reason| panic!("check_node: {reason}"))
}

/// Inserts `key` with an inline value at its place.
fn put(node: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let SearchResult::NotFound(slot) = search(node, key) else { panic!("{key:?} is present") };
    insert(node, slot, &inline(key, value));
}

/// A leaf built byte by byte from the table at the top of `node.rs`: if the code and the
/// table drift apart, this fails.
#[test]
fn a_hand_built_leaf_matches_the_layout() {
    let mut body = vec![0u8; 4072];
    body[0] = 1; // kind: leaf
    body[1] = 0; // level
    body[2..4].copy_from_slice(&2u16.to_le_bytes()); // entry_count
    body[4..6].copy_from_slice(&3900u16.to_le_bytes()); // cells_start
    body[6..8].copy_from_slice(&134u16.to_le_bytes()); // fragmented_bytes: 77 + 57
    body[8..16].copy_from_slice(&12u64.to_le_bytes()); // epoch
    body[16..24].copy_from_slice(&9u64.to_le_bytes()); // link: right sibling 9
    // 24..88: hints, zero with two slots.
    body[88..90].copy_from_slice(&4000u16.to_le_bytes()); // slot 0: "apple"
    body[90..94].copy_from_slice(&u32::from_be_bytes(*b"appl").to_le_bytes()); // its head
    body[94..96].copy_from_slice(&3900u16.to_le_bytes()); // slot 1: "pear"
    body[96..100].copy_from_slice(&u32::from_be_bytes(*b"pear").to_le_bytes());
    // "apple" -> "red", inline: 7 + 5 + 3 = 15 bytes at 4000..4015.
    body[4000..4002].copy_from_slice(&5u16.to_le_bytes());
    body[4002] = 0;
    body[4003..4007].copy_from_slice(&3u32.to_le_bytes());
    body[4007..4012].copy_from_slice(b"apple");
    body[4012..4015].copy_from_slice(b"red");
    // "pear" -> a 10,000-byte value from overflow page 77, crc32c 0xC0FFEE11: 7 + 4 + 12 = 23
    // bytes at 3900..3923.
    body[3900..3902].copy_from_slice(&4u16.to_le_bytes());
    body[3902] = 1;
    body[3903..3907].copy_from_slice(&10_000u32.to_le_bytes());
    body[3907..3911].copy_from_slice(b"pear");
    body[3911..3919].copy_from_slice(&77u64.to_le_bytes());
    body[3919..3923].copy_from_slice(&0xC0FF_EE11u32.to_le_bytes());
    body[3923..4000].fill(0xEE); // garbage of removed cells
    body[4015..4072].fill(0xEE);

    let summary = check(&body);
    assert_eq!(summary.kind, PageKind::Leaf);
    assert_eq!((summary.level, summary.entry_count), (0, 2));
    assert_eq!(summary.fragmented_bytes, 134);
    assert_eq!(summary.free_bytes, 3900 - 100 + 134);
    assert_eq!(summary.used_bytes, 15 + 23 + 2 * 6);
    assert_eq!(summary.link, Some(PageId(9)));
    assert_eq!((summary.epoch, epoch(&body)), (12, 12));
    assert_eq!(right_sibling(&body), Some(PageId(9)));
    assert_eq!(keys_of(&body), [b"apple".to_vec(), b"pear".to_vec()]);
    assert_eq!(value_at(&body, 0), Value::Inline(b"red".to_vec()));
    let reference =
        OverflowRef { value_bytes: 10_000, first_page: PageId(77), value_crc32c: 0xC0FF_EE11 };
    assert_eq!(value_at(&body, 1), Value::Overflow(reference));
    assert_eq!(search(&body, b"banana"), SearchResult::NotFound(1));
    assert_eq!(search(&body, b"pear"), SearchResult::Found(1));
    assert_eq!(search(&body, b"zebra"), SearchResult::NotFound(2));

    // The code writes the same cells byte for byte.
    assert_eq!(encode_cell(&inline(b"apple", b"red")), body[4000..4015]);
    let overflow_cell = Cell::Leaf { key: b"pear", value: LeafValue::Overflow(reference) };
    assert_eq!(encode_cell(&overflow_cell), body[3900..3923]);
    // Compaction packs the cells in slot order at the end and clears the garbage.
    compact(&mut body);
    assert_eq!(body.u16_at(CELLS_START_OFFSET), 4072 - 38);
    assert_eq!(body.u16_at(FRAGMENTED_BYTES_OFFSET), 0);
    assert_eq!(body[4072 - 15..], encode_cell(&inline(b"apple", b"red")));
    assert_eq!(keys_of(&body), [b"apple".to_vec(), b"pear".to_vec()]);
}

/// A branch built byte by byte from the table at the top of `node.rs`.
#[test]
fn a_hand_built_branch_matches_the_layout() {
    let mut body = vec![0u8; 4072];
    body[0] = 2; // kind: branch
    body[1] = 3; // level
    body[2..4].copy_from_slice(&2u16.to_le_bytes());
    body[4..6].copy_from_slice(&(4072u16 - 22).to_le_bytes());
    body[8..16].copy_from_slice(&4u64.to_le_bytes()); // epoch
    body[16..24].copy_from_slice(&5u64.to_le_bytes()); // leftmost child
    body[88..90].copy_from_slice(&(4072u16 - 11).to_le_bytes()); // slot 0: "m"
    body[90..94].copy_from_slice(&0x6D00_0000u32.to_le_bytes()); // its head: "m", zero-padded
    body[94..96].copy_from_slice(&(4072u16 - 22).to_le_bytes()); // slot 1: "t"
    body[96..100].copy_from_slice(&0x7400_0000u32.to_le_bytes());
    let cell = |key: u8, child: u64| {
        let mut cell = vec![1, 0];
        cell.extend_from_slice(&child.to_le_bytes());
        cell.push(key);
        cell
    };
    body[4072 - 11..].copy_from_slice(&cell(b'm', 6));
    body[4072 - 22..4072 - 11].copy_from_slice(&cell(b't', 7));

    let summary = check(&body);
    assert_eq!((summary.kind, summary.level, summary.entry_count), (PageKind::Branch, 3, 2));
    assert_eq!((summary.link, summary.epoch), (Some(PageId(5)), 4));
    assert_eq!(child_count(&body), 3);
    let children: Vec<PageId> = (0..3).map(|index| child_at(&body, index)).collect();
    assert_eq!(children, [PageId(5), PageId(6), PageId(7)]);
    assert_eq!(child_for_key(&body, b"a"), (0, PageId(5)));
    assert_eq!(child_for_key(&body, b""), (0, PageId(5)));
    assert_eq!(child_for_key(&body, b"m"), (1, PageId(6)));
    assert_eq!(child_for_key(&body, b"p"), (1, PageId(6)));
    assert_eq!(child_for_key(&body, b"t"), (2, PageId(7)));
    assert_eq!(child_for_key(&body, b"zz"), (2, PageId(7)));
    assert_eq!(encode_cell(&Cell::Branch { key: b"m", child: PageId(6) }), cell(b'm', 6));
}

#[test]
fn the_documented_tables_match_the_code() {
    let row = |offset: usize, size: usize, field| (offset.to_string(), size.to_string(), field);
    assert_doc_rows(
        "### Node header *(checked)*",
        &[
            row(KIND_OFFSET, KIND_BYTES, "kind"),
            row(LEVEL_OFFSET, LEVEL_BYTES, "level"),
            row(ENTRY_COUNT_OFFSET, ENTRY_COUNT_BYTES, "entry_count"),
            row(CELLS_START_OFFSET, CELLS_START_BYTES, "cells_start"),
            row(FRAGMENTED_BYTES_OFFSET, FRAGMENTED_BYTES_BYTES, "fragmented_bytes"),
            row(EPOCH_OFFSET, EPOCH_BYTES, "epoch"),
            row(LINK_OFFSET, LINK_BYTES, "link"),
            row(HINTS_OFFSET, HINT_COUNT * HINT_BYTES, "hints"),
            (NODE_HEADER_BYTES.to_string(), format!("{SLOT_BYTES} × entry_count"), "slots"),
        ],
    );
    assert_doc_rows(
        "### Leaf cell *(checked)*",
        &[
            row(CELL_KEY_BYTES_OFFSET, CELL_KEY_BYTES_BYTES, "key_bytes"),
            row(LEAF_FLAGS_OFFSET, LEAF_FLAGS_BYTES, "flags"),
            row(LEAF_VALUE_BYTES_OFFSET, LEAF_VALUE_BYTES_BYTES, "value_bytes"),
            (LEAF_CELL_HEADER_BYTES.to_string(), "key_bytes".into(), "key"),
            (
                format!("{LEAF_CELL_HEADER_BYTES} + key_bytes"),
                format!("value_bytes, or {OVERFLOW_REFERENCE_BYTES}"),
                "value",
            ),
        ],
    );
    assert_doc_rows(
        "### Branch cell *(checked)*",
        &[
            row(CELL_KEY_BYTES_OFFSET, CELL_KEY_BYTES_BYTES, "key_bytes"),
            row(BRANCH_CHILD_OFFSET, BRANCH_CHILD_BYTES, "child"),
            (BRANCH_CELL_HEADER_BYTES.to_string(), "key_bytes".into(), "key"),
        ],
    );
    // The sizes table: `cell_bytes_max` in its last column.
    let sizes = crate::btree::test_support::format_doc_table("### Sizes and limits");
    assert_eq!(sizes.len(), 3);
    for row in sizes {
        let page_bytes: usize = row[0].parse().expect("a page size");
        let body = body_bytes(page_bytes);
        let expected =
            [page_bytes, body, node_bytes(body), cell_bytes_max(body)].map(|n| n.to_string());
        assert_eq!(row, expected);
    }
    assert_eq!(cell_bytes_max(body_bytes(4096)), 1043);
    assert_eq!(cell_bytes_max(body_bytes(8192)), 2014);
    assert_eq!(cell_bytes_max(body_bytes(65536)), 16350);
}

#[test]
fn inserts_removes_and_replaces_keep_order_and_reuse_space() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    for key in [b"m".as_slice(), b"c", b"x", b"a", b"q"] {
        put(&mut node, key, key);
    }
    assert_eq!(keys_of(&node), [b"a".to_vec(), b"c".into(), b"m".into(), b"q".into(), b"x".into()]);
    remove(&mut node, 2); // "m": not the lowest cell, so it becomes fragmented space
    assert_eq!(check(&node).fragmented_bytes, 7 + 2);
    remove(&mut node, 3); // "x" was inserted third; "q" last, at cells_start
    let summary = check(&node);
    assert_eq!(summary.entry_count, 3);
    assert_eq!(keys_of(&node), [b"a".to_vec(), b"c".into(), b"q".into()]);

    replace_value(&mut node, 0, LeafValue::Inline(b"z")); // same size: in place
    assert_eq!(value_at(&node, 0), Value::Inline(b"z".to_vec()));
    replace_value(&mut node, 1, LeafValue::Inline(&[7; 300]));
    assert_eq!(value_at(&node, 1), Value::Inline(vec![7; 300]));
    replace_value(&mut node, 1, LeafValue::Inline(b""));
    assert_eq!(value_at(&node, 1), Value::Inline(Vec::new()));
    assert_eq!(keys_of(&node), [b"a".to_vec(), b"c".into(), b"q".into()]);
}

#[test]
fn a_fragmented_node_is_compacted_when_a_cell_needs_the_space() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    let value = [5u8; 500];
    let mut index = 0u8;
    while fits(&node, &inline(&[index], &value)) {
        put(&mut node, &[index], &value);
        index += 1;
    }
    assert_eq!(index, 7, "seven 514-byte cells and slots in 3984 bytes");
    for slot in [5, 3, 1] {
        remove(&mut node, slot);
    }
    let before = check(&node);
    assert_eq!(before.fragmented_bytes, 3 * 508, "none of them was the lowest cell");
    let big = [6u8; 1000];
    let cell = inline(b"\x01", &big);
    assert!(gap_bytes(&node) < cell.cell_bytes() + SLOT_BYTES);
    assert!(fits(&node, &cell));
    put(&mut node, b"\x01", &big);
    let after = check(&node);
    assert_eq!(after.fragmented_bytes, 0, "compacted");
    assert_eq!(after.entry_count, 5);
    assert_eq!(value_at(&node, 1), Value::Inline(big.to_vec()));
    assert_eq!(after.free_bytes, before.free_bytes - 1008 - 6);
}

#[test]
fn a_full_node_refuses_a_cell_and_says_so() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    let mut index = 0u16;
    loop {
        let key = index.to_be_bytes();
        if !fits(&node, &inline(&key, b"v")) {
            break;
        }
        put(&mut node, &key, b"v");
        index += 1;
    }
    // A 10-byte cell (7 + 2 + 1) and its 6-byte slot: 3984 / 16 = 249.
    assert_eq!(index, 249);
    assert!(free_bytes(&node) < 16);
    let result = std::panic::catch_unwind(move || {
        let mut node = node;
        put(&mut node, b"\xff\xff", b"v");
    });
    assert!(result.is_err(), "an insert that does not fit is a bug, caught by an assertion");
}

#[test]
fn a_leaf_split_moves_the_upper_half_and_links_the_siblings() {
    let mut left = empty_leaf(PAGE_BYTES, Some(PageId(40)));
    for index in 0..40u8 {
        put(&mut left, format!("key{index:03}").as_bytes(), &[index; 80]);
    }
    let keys = keys_of(&left);
    let mut right = vec![0u8; left.len()];
    let separator = split(&mut left, &mut right, PageId(41));
    let (left_keys, right_keys) = (keys_of(&left), keys_of(&right));
    assert_eq!([left_keys.clone(), right_keys.clone()].concat(), keys);
    assert_eq!(left_keys.len(), 20, "equal cells split evenly");
    assert!(left_keys.last().unwrap().as_slice() < separator.as_slice());
    assert!(separator.as_slice() <= right_keys[0].as_slice());
    assert_eq!(separator, b"key02", "the shortest key between key019 and key020");
    assert_eq!(right_sibling(&left), Some(PageId(41)));
    assert_eq!(right_sibling(&right), Some(PageId(40)));
    assert!(can_merge(&left, &right, &separator));
    merge(&mut left, &right, &separator);
    assert_eq!(keys_of(&left), keys);
    assert_eq!(right_sibling(&left), Some(PageId(40)));
}

#[test]
fn a_split_insert_of_a_fourth_1kb_record_leaves_two_and_two_wherever_it_goes() {
    let value = [7u8; 1000];
    for slot in 0..=3usize {
        let mut left = empty_leaf(PAGE_BYTES, Some(PageId(40)));
        let keys: Vec<Vec<u8>> = (0..4u8).map(|index| vec![b'k', b'0' + 2 * index]).collect();
        for (index, key) in keys.iter().enumerate() {
            if index != slot {
                put(&mut left, key, &value);
            }
        }
        let cell = inline(&keys[slot], &value);
        assert!(!fits(&left, &cell), "three 1 KB records fill a 4 KiB page");
        let mut right = vec![0u8; left.len()];
        let separator = split_insert(&mut left, &mut right, PageId(41), slot, &cell);
        check(&left);
        check(&right);
        assert_eq!((entry_count(&left), entry_count(&right)), (2, 2), "new record at {slot}");
        assert_eq!([keys_of(&left), keys_of(&right)].concat(), keys);
        assert!(keys_of(&left)[1] < separator && separator <= keys_of(&right)[0]);
        assert_eq!(
            (right_sibling(&left), right_sibling(&right)),
            (Some(PageId(41)), Some(PageId(40)))
        );
        assert_eq!(value_at(&right, 1), Value::Inline(value.to_vec()));
    }
}

#[test]
fn a_branch_split_insert_places_the_new_child_and_moves_the_middle_key_up() {
    let mut left = empty_branch(PAGE_BYTES, 1, PageId(100));
    let key = [b'k'; 500];
    for index in 0..7u8 {
        let mut key = key;
        key[499] = b'a' + 2 * index;
        insert(
            &mut left,
            usize::from(index),
            &Cell::Branch { key: &key, child: PageId(101 + u64::from(index)) },
        );
    }
    let mut new_key = key;
    new_key[499] = b'b'; // between the first and second
    let cell = Cell::Branch { key: &new_key, child: PageId(900) };
    assert!(!fits(&left, &cell));
    let mut right = vec![0u8; left.len()];
    let separator = split_insert(&mut left, &mut right, PageId(500), 1, &cell);
    check(&left);
    check(&right);
    // Eight equal cells a, b, c, e, g, i, k, m: three left, the fourth moves up, four right.
    assert_eq!(separator.last(), Some(&b'e'));
    assert_eq!((entry_count(&left), entry_count(&right)), (3, 4));
    let children: Vec<PageId> =
        (0..child_count(&left)).map(|index| child_at(&left, index)).collect();
    assert_eq!(children, [100, 101, 900, 102].map(PageId), "the new child follows its key");
    assert_eq!(child_at(&right, 0), PageId(103), "e's child is the right node's leftmost");
}

/// The fuzz target's probe of a full node goes through a split insert, whose halves it checks
/// (`fuzzing::split_insert_probe`): a full leaf and a full branch, probed at the front, the
/// middle and the end.
#[test]
fn the_fuzz_probe_of_a_full_node_splits_it() {
    let mut leaf = empty_leaf(PAGE_BYTES, None);
    let mut index = 0u32;
    while fits(&leaf, &inline(b"k9999999", b"probe")) {
        put(&mut leaf, format!("k{:07}", 2 * index + 1).as_bytes(), b"probe");
        index += 1;
    }
    let mut branch = empty_branch(PAGE_BYTES, 1, PageId(100));
    let mut count = 0usize;
    while fits(&branch, &Cell::Branch { key: b"k9999999", child: PageId(1) }) {
        let key = format!("k{:07}", 2 * count + 1);
        let cell = Cell::Branch { key: key.as_bytes(), child: PageId(101 + count as u64) };
        insert(&mut branch, count, &cell);
        count += 1;
    }
    for probe in [&b"k0000000"[..], b"k0000100", b"k9999999"] {
        crate::fuzzing::btree_node(PAGE_BYTES, &leaf, probe);
        crate::fuzzing::btree_node(PAGE_BYTES, &branch, probe);
    }
}

#[test]
fn a_split_insert_of_a_cell_that_fits_is_a_bug() {
    let mut left = empty_leaf(PAGE_BYTES, None);
    put(&mut left, b"a", b"1");
    let result = std::panic::catch_unwind(move || {
        let mut left = left;
        let mut right = vec![0u8; left.len()];
        split_insert(&mut left, &mut right, PageId(41), 1, &inline(b"b", b"2"));
    });
    assert!(result.is_err(), "a split that is not needed is a caller's bug");
}

#[test]
fn a_branch_split_moves_the_middle_key_up() {
    let mut left = empty_branch(PAGE_BYTES, 2, PageId(100));
    for index in 0..9u8 {
        let key = [b'a' + index];
        insert(
            &mut left,
            usize::from(index),
            &Cell::Branch { key: &key, child: PageId(101 + u64::from(index)) },
        );
    }
    let mut right = vec![0u8; left.len()];
    let separator = split(&mut left, &mut right, PageId(500));
    assert_eq!(separator, b"e", "a, b, c, d | e | f, g, h, i");
    assert_eq!(keys_of(&left), [b"a".to_vec(), b"b".into(), b"c".into(), b"d".into()]);
    assert_eq!(keys_of(&right), [b"f".to_vec(), b"g".into(), b"h".into(), b"i".into()]);
    assert_eq!(child_at(&left, 0), PageId(100));
    assert_eq!(child_at(&right, 0), PageId(105), "e's child is the right node's leftmost");
    assert_eq!(child_at(&right, 4), PageId(109));
    assert_eq!((level(&left), level(&right)), (2, 2));

    // Take two from the right: it is still not underfull (tiny cells), but merging fits.
    remove(&mut right, 0);
    remove(&mut right, 0);
    assert!(can_merge(&left, &right, &separator));
    merge(&mut left, &right, &separator);
    let merged: Vec<PageId> = (0..child_count(&left)).map(|index| child_at(&left, index)).collect();
    let expected: Vec<PageId> = [100, 101, 102, 103, 104, 105, 108, 109].map(PageId).to_vec();
    assert_eq!(merged, expected);
    assert_eq!(
        keys_of(&left),
        [
            b"a".to_vec(),
            b"b".into(),
            b"c".into(),
            b"d".into(),
            b"e".into(),
            b"h".into(),
            b"i".into()
        ]
    );
}

#[test]
fn rebalance_evens_out_two_leaves_and_returns_the_new_separator() {
    let mut left = empty_leaf(PAGE_BYTES, Some(PageId(2)));
    let mut right = empty_leaf(PAGE_BYTES, None);
    for index in 0..34u8 {
        put(&mut right, &[b'k', index], &[index; 100]);
    }
    put(&mut left, b"a", &[0; 100]);
    assert!(is_underfull(&left));
    assert!(!can_merge(&left, &right, b"k"));
    let all = [keys_of(&left), keys_of(&right)].concat();
    let separator = rebalance(&mut left, &mut right, b"k");
    assert!(!is_underfull(&left) && !is_underfull(&right));
    assert_eq!([keys_of(&left), keys_of(&right)].concat(), all);
    // 35 cells of 114 and 115 bytes with their slots (4024 in all): 18 on the left (2069
    // bytes) and 17 on the right (1955) is the most even cut (17 and 18 would leave 2070).
    assert_eq!(keys_of(&left).len(), 18);
    assert_eq!(separator, [b'k', 17], "the shortest key between k16 and k17");
    assert_eq!(right_sibling(&left), Some(PageId(2)));
    assert_eq!(right_sibling(&right), None);
}

#[test]
fn rebalance_rotates_branch_keys_through_the_separator() {
    let mut left = empty_branch(PAGE_BYTES, 1, PageId(1));
    let mut right = empty_branch(PAGE_BYTES, 1, PageId(10));
    insert(&mut left, 0, &Cell::Branch { key: b"b", child: PageId(2) });
    for index in 0..6u8 {
        let key = [b'n' + index];
        insert(
            &mut right,
            usize::from(index),
            &Cell::Branch { key: &key, child: PageId(11 + u64::from(index)) },
        );
    }
    let separator = rebalance(&mut left, &mut right, b"m");
    // Children 1, 2 | 10 ("m"), 11 ("n"), ..., 16 ("s"): eight cells b m n o p q r s, cut in
    // the middle; the cut cell moves up.
    assert_eq!(separator, b"o");
    assert_eq!(keys_of(&left), [b"b".to_vec(), b"m".into(), b"n".into()]);
    assert_eq!(keys_of(&right), [b"p".to_vec(), b"q".into(), b"r".into(), b"s".into()]);
    let children = |node: &Vec<u8>| -> Vec<u64> {
        (0..child_count(node)).map(|index| child_at(node, index).0).collect()
    };
    assert_eq!(children(&left), [1, 2, 10, 11]);
    assert_eq!(children(&right), [12, 13, 14, 15, 16]);
}

#[test]
fn links_and_children_are_set_in_place() {
    let mut leaf = empty_leaf(PAGE_BYTES, None);
    put(&mut leaf, b"k", b"v");
    set_right_sibling(&mut leaf, Some(PageId(77)));
    assert_eq!(right_sibling(&leaf), Some(PageId(77)));
    set_right_sibling(&mut leaf, None);
    assert_eq!((right_sibling(&leaf), leaf.u64_at(LINK_OFFSET)), (None, NO_PAGE));
    let mut branch = empty_branch(PAGE_BYTES, 1, PageId(1));
    insert(&mut branch, 0, &Cell::Branch { key: b"k", child: PageId(2) });
    set_child(&mut branch, 0, PageId(10));
    set_child(&mut branch, 1, PageId(20));
    assert_eq!((child_at(&branch, 0), child_at(&branch, 1)), (PageId(10), PageId(20)));
    assert_eq!(check(&branch).link, Some(PageId(10)));
    // A copy-on-write copy: the same cells in a page of the current epoch.
    let mut copy = branch.clone();
    set_epoch(&mut copy, EPOCH + 1);
    assert_eq!((epoch(&branch), epoch(&copy)), (EPOCH, EPOCH + 1));
    assert_eq!(check(&copy).epoch, EPOCH + 1);
    assert_eq!(keys_of(&copy), keys_of(&branch));
}

#[test]
fn the_shortest_separator_is_a_prefix_of_the_right_key() {
    assert_eq!(shortest_separator(b"abc", b"abd"), b"abd");
    assert_eq!(shortest_separator(b"abc", b"b"), b"b");
    assert_eq!(shortest_separator(b"ab", b"abc"), b"abc");
    assert_eq!(shortest_separator(b"", b"\x00"), b"\x00");
    assert_eq!(shortest_separator(b"apple", b"banana"), b"b");
}

#[test]
fn the_largest_keys_and_values_fit_and_split() {
    let key_max = vec![b'k'; KEY_BYTES_MAX];
    let body = body_bytes(PAGE_BYTES);
    assert!(value_is_inline(body, KEY_BYTES_MAX, 12));
    assert!(!value_is_inline(body, KEY_BYTES_MAX, 13));
    assert!(value_is_inline(body, 16, 1020));
    assert!(!value_is_inline(body, 16, 1021));
    let mut node = empty_leaf(PAGE_BYTES, None);
    let reference =
        OverflowRef { value_bytes: VALUE_BYTES_MAX, first_page: PageId(3), value_crc32c: 7 };
    let mut keys = Vec::new();
    for last in 0..3u8 {
        let mut key = key_max.clone();
        key[KEY_BYTES_MAX - 1] = last;
        let cell = Cell::Leaf { key: &key, value: LeafValue::Overflow(reference) };
        assert!(fits(&node, &cell), "three of the largest cells fit in a 4 KiB node");
        assert_eq!(cell.cell_bytes(), cell_bytes_max(body));
        insert(&mut node, usize::from(last), &cell);
        keys.push(key);
    }
    let mut right = vec![0u8; node.len()];
    let separator = split(&mut node, &mut right, PageId(9));
    assert_eq!(separator.len(), KEY_BYTES_MAX, "the keys differ only in their last byte");
    assert_eq!([keys_of(&node), keys_of(&right)].concat(), keys);
}

/// With more than 32 slots the header holds the heads of every `n / 17`-th slot, and a search
/// looks only between the hints around the key's head; the hints follow every change.
#[test]
fn hints_sample_the_slots_and_narrow_the_search() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    let key = |index: u32| (index * 3).to_be_bytes();
    // 170 keys whose heads are 0, 3, 6, ...: spacing 10, hint `i` is slot 10 (i + 1)'s head.
    for index in (0..170).rev() {
        put(&mut node, &key(index), b"v");
    }
    check(&node);
    let expected: Vec<u32> = (1..=16).map(|index| index * 10 * 3).collect();
    assert_eq!(read_hints(&node).to_vec(), expected);
    assert_eq!(hinted_range(&node, 170, 135), (40, 50), "between the hints 120 and 150");
    assert_eq!(hinted_range(&node, 170, 120), (30, 50), "a head equal to a hint");
    assert_eq!(hinted_range(&node, 170, 0), (0, 10));
    assert_eq!(hinted_range(&node, 170, u32::MAX), (160, 170));
    for index in 0..170 {
        assert_eq!(search(&node, &key(index)), SearchResult::Found(index as usize));
        let absent = (index * 3 + 1).to_be_bytes();
        assert_eq!(search(&node, &absent), SearchResult::NotFound(index as usize + 1));
    }
    // Removals move the hints; at 32 slots there are none.
    for _ in 0..100 {
        remove(&mut node, 0);
    }
    check(&node);
    assert_eq!(read_hints(&node)[0], slot_at(&node, 70 / 17).1);
    while entry_count(&node) > 32 {
        remove(&mut node, 5);
    }
    check(&node);
    assert_eq!(read_hints(&node), [0; HINT_COUNT]);
}

/// Keys that share their first four bytes have one head: the hints cannot narrow the search,
/// which must still find every key.
#[test]
fn a_search_among_equal_heads_finds_every_key() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    let key = |index: u16| [b"user".as_slice(), &index.to_be_bytes()].concat();
    for index in 0..100 {
        put(&mut node, &key(index * 2), b"v");
    }
    check(&node);
    assert_eq!(hinted_range(&node, 100, key_head(b"user")), (0, 100));
    for index in 0..100 {
        assert_eq!(search(&node, &key(index * 2)), SearchResult::Found(usize::from(index)));
        assert_eq!(
            search(&node, &key(index * 2 + 1)),
            SearchResult::NotFound(usize::from(index) + 1)
        );
    }
}

#[test]
fn check_node_refuses_hints_that_do_not_match_the_slots() {
    let mut node = empty_leaf(PAGE_BYTES, None);
    for index in 0..40u32 {
        put(&mut node, &index.to_be_bytes(), b"v");
    }
    check(&node);
    node[HINTS_OFFSET + 5] ^= 1;
    let error = check_node(&node, PAGE_BYTES).expect_err("damaged hints");
    assert!(error.contains("hints do not match"), "{error}");
}

/// Each kind of damage, done to a valid node, is refused with a reason that names it.
#[test]
fn check_node_names_every_kind_of_damage() {
    let mut valid = empty_leaf(PAGE_BYTES, Some(PageId(3)));
    for key in [b"b".as_slice(), b"d", b"f"] {
        put(&mut valid, key, b"value");
    }
    remove(&mut valid, 1); // some fragmented space
    put(&mut valid, b"c", b"v");
    check(&valid);
    let first_cell = cell_offset(&valid, 0);
    // "c", inserted last: an overflow reference there grows the cell into the next one, not
    // past the body.
    let lowest_cell = cells_start(&valid);
    assert_eq!(cell_offset(&valid, 1), lowest_cell);
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("never formatted", Box::new(|node| node[0] = 0)),
        ("an overflow page", Box::new(|node| node[0] = 3)),
        ("unknown node kind", Box::new(|node| node[0] = 9)),
        ("a leaf at level", Box::new(|node| node[1] = 1)),
        ("slots end at", Box::new(|node| node.put_u16(ENTRY_COUNT_OFFSET, 3000))),
        ("past the", Box::new(|node| node.put_u16(CELLS_START_OFFSET, 5000))),
        ("outside the cell area", Box::new(|node| node.put_u16(slot_offset(1), 40))),
        ("-byte key", Box::new(move |node| node.put_u16(first_cell, 2000))),
        ("overruns the body", Box::new(move |node| node.put_u32(first_cell + 3, 60_000))),
        (
            "not strictly ascending",
            Box::new(|node| {
                let (first, second) = (slot_offset(0), slot_offset(1));
                let slots = node[first..second + SLOT_BYTES].to_vec();
                node[first..second].copy_from_slice(&slots[SLOT_BYTES..]);
                node[second..second + SLOT_BYTES].copy_from_slice(&slots[..SLOT_BYTES]);
            }),
        ),
        (
            "key head does not match",
            Box::new(|node| node[slot_offset(1) + SLOT_HEAD_OFFSET + 3] ^= 1),
        ),
        ("unknown flags", Box::new(move |node| node[first_cell + 2] = 2)),
        ("belongs inline", Box::new(move |node| node[lowest_cell + 2] = 1)),
        (
            "do not fill",
            Box::new(|node| {
                let fragmented = node.u16_at(FRAGMENTED_BYTES_OFFSET);
                node.put_u16(FRAGMENTED_BYTES_OFFSET, fragmented - 1);
            }),
        ),
        (
            "fragmented bytes in a smaller",
            Box::new(|node| node.put_u16(FRAGMENTED_BYTES_OFFSET, 4000)),
        ),
        ("not a page id", Box::new(|node| node.put_u64(LINK_OFFSET, PAGE_ID_MAX + 1))),
    ];
    for (expected, damage) in cases {
        let mut node = valid.clone();
        damage(&mut node);
        let reason = check_node(&node, PAGE_BYTES).expect_err(expected);
        assert!(reason.contains(expected), "{expected:?} not in {reason:?}");
    }
    assert!(check_node(&valid, 8192).unwrap_err().contains("-byte body in a"));
    assert!(check_node(&valid, 5000).unwrap_err().contains("not a valid page size"));
}

/// Two cells that overlap, with every other field consistent: cell "z" is the value bytes of
/// cell "a", and the fragmented space is reduced by its size so the accounting adds up.
#[test]
fn check_node_refuses_overlapping_cells() {
    let inner = {
        let mut cell = vec![1, 0, 0, 0, 0, 0, 0];
        cell.push(b'z');
        cell
    };
    let mut node = empty_leaf(PAGE_BYTES, None);
    put(&mut node, b"a", &inner);
    put(&mut node, b"b", b"value");
    put(&mut node, b"c", b"v");
    remove(&mut node, 1);
    let summary = check(&node);
    assert_eq!(summary.fragmented_bytes, 13);
    let inner_offset = cell_offset(&node, 0) + LEAF_CELL_HEADER_BYTES + 1;
    assert_eq!(node[inner_offset..inner_offset + 8], inner);
    set_slot(&mut node, 2, inner_offset, b"z");
    node.put_u16(ENTRY_COUNT_OFFSET, 3);
    node.put_u16(FRAGMENTED_BYTES_OFFSET, 13 - 8);
    let reason = check_node(&node, PAGE_BYTES).unwrap_err();
    assert!(reason.contains("overlap"), "{reason}");
}

#[test]
fn check_node_refuses_a_branch_naming_a_child_twice_or_no_page() {
    let mut node = empty_branch(PAGE_BYTES, 1, PageId(4));
    insert(&mut node, 0, &Cell::Branch { key: b"k", child: PageId(5) });
    check(&node);
    let mut twice = node.clone();
    twice.put_u64(LINK_OFFSET, 5);
    assert!(check_node(&twice, PAGE_BYTES).unwrap_err().contains("twice"));
    let mut no_page = node.clone();
    no_page.put_u64(LINK_OFFSET, NO_PAGE);
    assert!(check_node(&no_page, PAGE_BYTES).unwrap_err().contains("not a page id"));
    let mut level_zero = node;
    level_zero[LEVEL_OFFSET] = 0;
    assert!(check_node(&level_zero, PAGE_BYTES).unwrap_err().contains("a branch at level 0"));
}

/// The node code on a page held in the pool writes exactly the bytes it writes in a plain
/// image, and an optimistic read through the pool finds what was written.
#[test]
fn a_node_in_the_pool_behaves_as_a_byte_image() {
    let pool = sim_pool(PAGE_BYTES, 16);
    let mut image = empty_leaf(PAGE_BYTES, None);
    let mut page = pool.new_page(PageId(1)).expect("a new page");
    let mut body = PageBody::new(&mut page);
    format_leaf(&mut body, EPOCH, None);
    let mut state = 12345u64;
    for step in 0..600u32 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = (state >> 40).to_be_bytes()[5..].to_vec();
        let value = vec![step.to_le_bytes()[0]; usize::try_from(state % 200).unwrap()];
        match (search(&image, &key), state % 3) {
            (SearchResult::Found(slot), 0) => {
                remove(&mut image, slot);
                remove(&mut body, slot);
            }
            (SearchResult::Found(slot), _)
                if can_replace(&image, slot, &LeafValue::Inline(&value)) =>
            {
                replace_value(&mut image, slot, LeafValue::Inline(&value));
                replace_value(&mut body, slot, LeafValue::Inline(&value));
            }
            (SearchResult::NotFound(slot), _) if fits(&image, &inline(&key, &value)) => {
                insert(&mut image, slot, &inline(&key, &value));
                insert(&mut body, slot, &inline(&key, &value));
            }
            _ => {}
        }
        assert_eq!(body.to_vec(), image, "step {step}");
    }
    let mut right_page = pool.new_page(PageId(2)).expect("a new page");
    let mut right = PageBody::new(&mut right_page);
    let mut right_image = vec![0u8; image.len()];
    assert_eq!(
        split(&mut body, &mut right, PageId(2)),
        split(&mut image, &mut right_image, PageId(2))
    );
    assert_eq!((body.to_vec(), right.to_vec()), (image.clone(), right_image));
    drop((page, right_page));
    let key = key_at(&image, 3);
    assert_eq!(pool.read(PageId(1), |view| search(view, &key)).unwrap(), SearchResult::Found(3));
    let summary = pool.read(PageId(1), |view| check_node(view, PAGE_BYTES)).unwrap();
    assert_eq!(summary, check_node(&image, PAGE_BYTES));
}

// ---------------------------------------------------------------------------------------------
// A model test: leaves under one root branch, against a BTreeMap.

/// A two-level tree: a root branch over leaves in `PAGE_BYTES`-sized pages, with values in
/// overflow chains. The root lies in a 64 KiB body so that it never needs to split: this
/// tests nodes, not a tree. Merges and rebalances run as a tree layer would run them.
struct MiniTree {
    page_bytes: usize,
    root: Vec<u8>,
    store: PageStore,
    /// Splits, merges and rebalances so far.
    splits: usize,
    merges: usize,
    rebalances: usize,
}

impl MiniTree {
    fn new(page_bytes: usize) -> Self {
        let mut store = PageStore::default();
        let first_leaf = store.allocate();
        store.pages.insert(first_leaf, empty_leaf(page_bytes, None));
        let root = empty_branch(65536, 1, first_leaf);
        Self { page_bytes, root, store, splits: 0, merges: 0, rebalances: 0 }
    }

    fn body_bytes(&self) -> usize {
        body_bytes(self.page_bytes)
    }

    fn take(&mut self, page: PageId) -> Vec<u8> {
        self.store.pages.remove(&page).expect("a page of the tree")
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        let (child_index, leaf_page) = child_for_key(&self.root, key);
        let stored = if value_is_inline(self.body_bytes(), key.len(), value.len()) {
            LeafValue::Inline(value)
        } else {
            LeafValue::Overflow(self.write_chain(value))
        };
        let mut leaf = self.take(leaf_page);
        if let SearchResult::Found(slot) = search(&leaf, key) {
            self.free_value(&leaf, slot);
            if can_replace(&leaf, slot, &stored) {
                replace_value(&mut leaf, slot, stored);
                self.store.pages.insert(leaf_page, leaf);
                return;
            }
            remove(&mut leaf, slot);
        }
        let cell = Cell::Leaf { key, value: stored };
        if !fits(&leaf, &cell) {
            let right_page = self.store.allocate();
            let mut right = vec![0u8; leaf.len()];
            let SearchResult::NotFound(slot) = search(&leaf, key) else { unreachable!() };
            let separator = split_insert(&mut leaf, &mut right, right_page, slot, &cell);
            self.splits += 1;
            let parent_cell = Cell::Branch { key: &separator, child: right_page };
            insert(&mut self.root, child_index, &parent_cell);
            self.store.pages.insert(right_page, right);
        } else {
            insert_at_place(&mut leaf, &cell);
        }
        self.store.pages.insert(leaf_page, leaf);
    }

    fn delete(&mut self, key: &[u8]) {
        let (child_index, leaf_page) = child_for_key(&self.root, key);
        let mut leaf = self.take(leaf_page);
        if let SearchResult::Found(slot) = search(&leaf, key) {
            self.free_value(&leaf, slot);
            remove(&mut leaf, slot);
        }
        let underfull = is_underfull(&leaf);
        self.store.pages.insert(leaf_page, leaf);
        if underfull && child_count(&self.root) > 1 {
            self.fix_underfull(child_index.saturating_sub(1));
        }
    }

    /// Merges or rebalances children `left_index` and `left_index + 1` of the root.
    fn fix_underfull(&mut self, left_index: usize) {
        let (left_page, right_page) =
            (child_at(&self.root, left_index), child_at(&self.root, left_index + 1));
        let separator = key_at(&self.root, left_index);
        let mut left = self.take(left_page);
        let mut right = self.take(right_page);
        remove(&mut self.root, left_index);
        if can_merge(&left, &right, &separator) {
            merge(&mut left, &right, &separator);
            self.merges += 1;
        } else {
            let separator = rebalance(&mut left, &mut right, &separator);
            self.rebalances += 1;
            let cell = Cell::Branch { key: &separator, child: right_page };
            insert(&mut self.root, left_index, &cell);
            self.store.pages.insert(right_page, right);
        }
        self.store.pages.insert(left_page, left);
    }

    fn write_chain(&mut self, value: &[u8]) -> OverflowRef {
        let body_bytes = self.body_bytes();
        let store = std::cell::RefCell::new(&mut self.store);
        let allocate = || Ok::<_, String>(store.borrow_mut().allocate());
        let write_page = |page, body: &[u8]| {
            store.borrow_mut().pages.insert(page, body.to_vec());
            Ok(())
        };
        overflow::write_chain(value, body_bytes, EPOCH, allocate, write_page).expect("no errors")
    }

    fn free_value(&mut self, leaf: &[u8], slot: usize) {
        if let Value::Overflow(reference) = value_at(leaf, slot) {
            let read_page = |page, target: &mut [u8]| self.store.read(page, target);
            let pages =
                overflow::chain_pages(reference, self.body_bytes(), read_page).expect("a chain");
            for page in pages {
                self.store.pages.remove(&page).expect("a page of the chain");
            }
        }
    }

    /// Every node checks; the leaves, in root order, are linked left to right, lie within
    /// their separators, and hold exactly the model; no page is leaked.
    fn verify(&self, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
        assert_eq!(check_node(&self.root, 65536).map(|summary| summary.level), Ok(1));
        let mut entries = Vec::new();
        let mut chain_page_count = 0;
        let child_count = child_count(&self.root);
        for child_index in 0..child_count {
            let leaf = &self.store.pages[&child_at(&self.root, child_index)];
            check_node(leaf, self.page_bytes).expect("a leaf checks");
            let expected_sibling =
                (child_index + 1 < child_count).then(|| child_at(&self.root, child_index + 1));
            assert_eq!(right_sibling(leaf), expected_sibling);
            let keys = keys_of(leaf);
            if let (Some(first), true) = (keys.first(), child_index > 0) {
                assert!(*first >= key_at(&self.root, child_index - 1));
            }
            if let (Some(last), true) = (keys.last(), child_index + 1 < child_count) {
                assert!(*last < key_at(&self.root, child_index));
            }
            for (slot, key) in keys.into_iter().enumerate() {
                let value = match value_at(leaf, slot) {
                    Value::Inline(value) => value,
                    Value::Overflow(reference) => {
                        chain_page_count +=
                            overflow::page_count(self.body_bytes(), reference.value_bytes);
                        let read_page = |page, target: &mut [u8]| self.store.read(page, target);
                        overflow::read_chain(reference, self.body_bytes(), read_page)
                            .expect("a chain")
                    }
                };
                entries.push((key, value));
            }
        }
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
        assert_eq!(entries, expected);
        assert_eq!(self.store.pages.len(), child_count + chain_page_count, "pages leaked");
    }
}

/// A long seeded run of the model test's operations, which must split, merge and rebalance:
/// the property test below is only as good as the paths it reaches.
#[test]
fn the_model_test_reaches_splits_merges_and_rebalances() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut tree = MiniTree::new(PAGE_BYTES);
    let mut model = BTreeMap::new();
    for _ in 0..3000 {
        let operation = operation_strategy().new_tree(&mut runner).unwrap().current();
        apply(&mut tree, &mut model, operation);
    }
    tree.verify(&model);
    assert!(tree.splits > 50, "{} splits", tree.splits);
    assert!(tree.merges > 10, "{} merges", tree.merges);
    assert!(tree.rebalances > 3, "{} rebalances", tree.rebalances);
    let overflow_values = (0..child_count(&tree.root))
        .flat_map(|index| {
            let leaf = &tree.store.pages[&child_at(&tree.root, index)];
            (0..entry_count(leaf)).map(|slot| value_at(leaf, slot))
        })
        .filter(|value| matches!(value, Value::Overflow(_)))
        .count();
    assert!(overflow_values > 10, "{overflow_values} values in overflow pages");
}

fn apply(tree: &mut MiniTree, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, operation: Operation) {
    match operation {
        Operation::Put { key, value_bytes, fill } => {
            let value = value_of(value_bytes, fill);
            tree.put(&key, &value);
            model.insert(key, value);
        }
        Operation::Delete { key } => {
            tree.delete(&key);
            model.remove(&key);
        }
        Operation::DeleteExisting { pick } => {
            if !model.is_empty() {
                let key = model.keys().nth(pick.index(model.len())).cloned().unwrap();
                tree.delete(&key);
                model.remove(&key);
            }
        }
    }
}

fn insert_at_place(node: &mut Vec<u8>, cell: &Cell<'_>) {
    let SearchResult::NotFound(slot) = search(node, cell.key()) else { panic!("present") };
    insert(node, slot, cell);
}

#[derive(Clone, Debug)]
enum Operation {
    Put { key: Vec<u8>, value_bytes: usize, fill: u8 },
    Delete { key: Vec<u8> },
    DeleteExisting { pick: prop::sample::Index },
}

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => prop::collection::vec(prop::sample::select(b"abcd".to_vec()), 0..10),
        3 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(prop::sample::select(b"ab".to_vec()), 900..=KEY_BYTES_MAX),
    ]
}

fn operation_strategy() -> impl Strategy<Value = Operation> {
    let value_bytes = prop_oneof![6 => 0..48usize, 3 => 48..1200usize, 1 => 1200..12_000usize];
    prop_oneof![
        6 => (key_strategy(), value_bytes, any::<u8>())
            .prop_map(|(key, value_bytes, fill)| Operation::Put { key, value_bytes, fill }),
        1 => key_strategy().prop_map(|key| Operation::Delete { key }),
        4 => any::<prop::sample::Index>().prop_map(|pick| Operation::DeleteExisting { pick }),
    ]
}

fn value_of(value_bytes: usize, fill: u8) -> Vec<u8> {
    (0..value_bytes).map(|index| fill.wrapping_add(index.to_le_bytes()[0])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random puts (inserts and replacements, inline and in overflow pages) and deletes, with
    /// the splits, merges and rebalances they cause, leave the leaves holding exactly what a
    /// BTreeMap holds, and every node valid.
    #[test]
    fn leaves_hold_what_a_btreemap_holds(
        page_bytes in prop_oneof![3 => Just(4096usize), 1 => Just(8192usize)],
        operations in prop::collection::vec(operation_strategy(), 1..250),
    ) {
        let mut tree = MiniTree::new(page_bytes);
        let mut model = BTreeMap::new();
        for operation in operations {
            apply(&mut tree, &mut model, operation);
            tree.verify(&model);
        }
        // Delete everything: the leaves merge back into one.
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for key in keys {
            tree.delete(&key);
            model.remove(&key);
        }
        tree.verify(&model);
        prop_assert_eq!(child_count(&tree.root), 1);
    }

    /// A branch filled with random separators splits into two whose keys and children, with
    /// the separator between them, are the original's; they merge back into it; and after
    /// removals, merge or rebalance keeps every key and child in order.
    #[test]
    fn branches_split_merge_and_rebalance_without_losing_a_child(
        keys in prop::collection::btree_set(key_strategy(), 3..400),
        order in any::<u64>(),
        removals in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
    ) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut keys: Vec<Vec<u8>> = keys.into_iter().collect();
        keys.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(order));
        let leftmost = PageId(1 << 30);
        let mut node = empty_branch(PAGE_BYTES, 3, leftmost);
        let mut model = BTreeMap::new();
        for (index, key) in keys.iter().enumerate() {
            let child = PageId(u64::try_from(index).unwrap() + 1);
            let cell = Cell::Branch { key, child };
            if !fits(&node, &cell) {
                break;
            }
            insert_at_place(&mut node, &cell);
            model.insert(key.clone(), child);
        }
        prop_assume!(model.len() >= 3);
        let entries = |node: &Vec<u8>| -> Vec<(Vec<u8>, PageId)> {
            (0..entry_count(node)).map(|slot| (key_at(node, slot), child_at(node, slot + 1))).collect()
        };
        let mut right = vec![0u8; node.len()];
        let separator = split(&mut node, &mut right, PageId(1_000_000));
        let mut joined = entries(&node);
        joined.push((separator.clone(), child_at(&right, 0)));
        joined.extend(entries(&right));
        prop_assert_eq!(&joined, &model.clone().into_iter().collect::<Vec<_>>());
        prop_assert_eq!(child_at(&node, 0), leftmost);

        for pick in removals {
            let side = if pick.index(2) == 0 { &mut node } else { &mut right };
            if entry_count(side) > 1 {
                let slot = pick.index(entry_count(side));
                let key = key_at(side, slot);
                remove(side, slot);
                model.remove(&key);
            }
        }
        let separator = if can_merge(&node, &right, &separator) {
            merge(&mut node, &right, &separator);
            prop_assert_eq!(entries(&node), model.clone().into_iter().collect::<Vec<_>>());
            None
        } else {
            Some(rebalance(&mut node, &mut right, &separator))
        };
        if let Some(separator) = separator {
            let mut joined = entries(&node);
            joined.push((separator, child_at(&right, 0)));
            joined.extend(entries(&right));
            prop_assert_eq!(joined, model.into_iter().collect::<Vec<_>>());
        }
    }

    /// Whatever the bytes, the checker and every read accessor return without panicking.
    #[test]
    fn arbitrary_bytes_never_panic_a_reader(
        page_bytes in prop_oneof![Just(4096usize), Just(8192usize)],
        kind in 0..4u8,
        seed in prop::collection::vec(any::<u8>(), 0..4096),
        probe_key in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut body: Vec<u8> = seed.iter().copied().cycle().take(body_bytes(page_bytes)).collect();
        body.resize(body_bytes(page_bytes), 0);
        body[0] = kind;
        crate::fuzzing::btree_node(page_bytes, &body, &probe_key);
        crate::fuzzing::btree_node(page_bytes, &body[..body.len() / 2], &probe_key);
    }

    /// A valid node with a few bytes damaged: the checker either refuses it or it behaves as a
    /// valid node (a damaged value byte is still a valid node), and nothing panics. Half the
    /// damage goes to the header and the slots, where it hurts most.
    #[test]
    fn damaged_nodes_never_panic_a_reader(
        branch in any::<bool>(),
        keys in prop::collection::vec(key_strategy(), 1..60),
        patches in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        probe_key in key_strategy(),
    ) {
        let body_bytes = body_bytes(PAGE_BYTES);
        let patches: Vec<(u16, u8)> = patches
            .into_iter()
            .map(|(pick, byte)| {
                let range = if pick.index(2) == 0 { 64 + 2 * keys.len() } else { body_bytes };
                (to_u16(pick.index(range)), byte)
            })
            .collect();
        crate::fuzzing::damaged_btree_node(PAGE_BYTES, branch, &keys, &patches, &probe_key);
    }
}

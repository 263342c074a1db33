use proptest::prelude::*;

use super::*;
use crate::btree::test_support::{EPOCH, PAGE_BYTES, PageStore, assert_doc_rows, body_bytes};

/// Writes `value` into `store` and returns its reference.
fn write(store: &mut PageStore, value: &[u8], page_bytes: usize) -> OverflowRef {
    let store = std::cell::RefCell::new(store);
    let allocate = || Ok::<_, String>(store.borrow_mut().allocate());
    let write_page = |page, body: &[u8]| {
        store.borrow_mut().pages.insert(page, body.to_vec());
        Ok(())
    };
    write_chain(value, body_bytes(page_bytes), EPOCH, allocate, write_page).expect("no errors")
}

fn read(store: &PageStore, reference: OverflowRef) -> Result<Vec<u8>, ChainError<String>> {
    read_chain(reference, body_bytes(PAGE_BYTES), |page, target| store.read(page, target))
}

fn pages(store: &PageStore, reference: OverflowRef) -> Result<Vec<PageId>, ChainError<String>> {
    chain_pages(reference, body_bytes(PAGE_BYTES), |page, target| store.read(page, target))
}

fn value(value_bytes: usize) -> Vec<u8> {
    (0..value_bytes).map(|index| (index % 251).to_le_bytes()[0]).collect()
}

/// An overflow page built byte by byte from the table at the top of `overflow.rs`.
#[test]
fn a_hand_built_chain_matches_the_layout() {
    let mut first = vec![0u8; 4072];
    first[0] = 3;
    first[4..8].copy_from_slice(&5000u32.to_le_bytes());
    first[8..16].copy_from_slice(&EPOCH.to_le_bytes());
    first[16..24].copy_from_slice(&8u64.to_le_bytes());
    first[24..].fill(0xAA);
    let mut last = vec![0u8; 4072];
    last[0] = 3;
    last[4..8].copy_from_slice(&(5000u32 - 4048).to_le_bytes());
    last[8..16].copy_from_slice(&EPOCH.to_le_bytes());
    last[16..24].copy_from_slice(&0u64.to_le_bytes());
    last[24..24 + 952].fill(0xBB);
    let mut store = PageStore::default();
    store.pages.insert(PageId(7), first.clone());
    store.pages.insert(PageId(8), last.clone());
    let expected = [vec![0xAA; 4048], vec![0xBB; 952]].concat();
    let value_crc32c = crc32c::crc32c(&expected);
    let reference = OverflowRef { value_bytes: 5000, first_page: PageId(7), value_crc32c };
    assert_eq!(read(&store, reference), Ok(expected.clone()));
    assert_eq!(pages(&store, reference), Ok(vec![PageId(7), PageId(8)]));
    let summary =
        OverflowSummary { remaining_bytes: 5000, next_page: Some(PageId(8)), epoch: EPOCH };
    assert_eq!(check_page(&first, PAGE_BYTES), Ok(summary));
    // The code writes the same pages.
    let mut written = PageStore { next_page: 6, ..PageStore::default() };
    assert_eq!(write(&mut written, &expected, PAGE_BYTES), reference);
    assert_eq!(written.pages[&PageId(7)], first);
    assert_eq!(written.pages[&PageId(8)], last);
}

#[test]
fn the_documented_table_matches_the_code() {
    let row = |offset: usize, size: usize, field| (offset.to_string(), size.to_string(), field);
    assert_doc_rows(
        "### Overflow page *(checked)*",
        &[
            row(KIND_OFFSET, KIND_BYTES, "kind"),
            row(RESERVED_OFFSET, RESERVED_BYTES, "reserved"),
            row(REMAINING_BYTES_OFFSET, REMAINING_BYTES_BYTES, "remaining_bytes"),
            row(EPOCH_OFFSET, EPOCH_BYTES, "epoch"),
            row(NEXT_PAGE_OFFSET, NEXT_PAGE_BYTES, "next_page"),
            (
                OVERFLOW_HEADER_BYTES.to_string(),
                format!("min(remaining_bytes, body_bytes - {OVERFLOW_HEADER_BYTES})"),
                "chunk",
            ),
        ],
    );
    // The worked example.
    assert_eq!(page_count(body_bytes(4096), 10_000), 3);
    assert_eq!(chunk_bytes_max(body_bytes(4096)), 4048);
}

/// A lost or misdirected write leaves an earlier value's page where a chain page should be: a
/// valid overflow page, with the right `remaining_bytes` when the values have one length. Only
/// the value's crc32c in the reference tells it apart; the chain's structure cannot.
#[test]
fn a_stale_page_of_an_earlier_value_fails_the_value_checksum() {
    let chunk = chunk_bytes_max(body_bytes(PAGE_BYTES));
    let mut store = PageStore::default();
    let old_value = vec![0x11; 2 * chunk];
    let old = write(&mut store, &old_value, PAGE_BYTES);
    let new_value = vec![0x22; 2 * chunk];
    let new = write(&mut store, &new_value, PAGE_BYTES);
    assert_eq!(read(&store, new), Ok(new_value));
    let old_pages = pages(&store, old).unwrap();
    let new_pages = pages(&store, new).unwrap();
    // The new chain's second page never reached the disk: the old value's second page, which
    // has the same header apart from its place, lies where it should be.
    let mut stale = store.pages.get(&old_pages[1]).unwrap().clone();
    stale[EPOCH_OFFSET..NEXT_PAGE_OFFSET].copy_from_slice(&EPOCH.to_le_bytes());
    store.pages.insert(new_pages[1], stale);
    assert_eq!(pages(&store, new), Ok(new_pages.clone()), "the chain's structure is intact");
    match read(&store, new) {
        Err(ChainError::Corrupt { page, reason }) => {
            assert_eq!(page, new_pages[0], "named by the chain's first page");
            assert!(reason.contains("crc32c") && reason.contains("misdirected"), "{reason}");
        }
        other => panic!("a stale chain page was served: {other:?}"),
    }
}

#[test]
fn values_round_trip_at_every_chunk_boundary() {
    let chunk = chunk_bytes_max(body_bytes(PAGE_BYTES));
    assert_eq!(chunk, 4048);
    for value_bytes in [1, chunk - 1, chunk, chunk + 1, 2 * chunk, 2 * chunk + 1, 100_000] {
        let mut store = PageStore::default();
        let original = value(value_bytes);
        let reference = write(&mut store, &original, PAGE_BYTES);
        assert_eq!(reference.value_bytes, value_bytes);
        assert_eq!(store.pages.len(), page_count(body_bytes(PAGE_BYTES), value_bytes));
        assert_eq!(read(&store, reference).as_deref(), Ok(original.as_slice()), "{value_bytes}");
        let listed = pages(&store, reference).expect("a chain");
        assert_eq!(listed, store.pages.keys().copied().collect::<Vec<_>>());
        for page in store.pages.values() {
            assert!(check_page(page, PAGE_BYTES).is_ok());
        }
    }
}

#[test]
fn the_largest_value_round_trips_in_the_largest_pages() {
    let mut store = PageStore::default();
    let original = value(VALUE_BYTES_MAX);
    let reference = write(&mut store, &original, 65536);
    assert_eq!(store.pages.len(), page_count(body_bytes(65536), VALUE_BYTES_MAX));
    let read_page = |page, target: &mut [u8]| store.read(page, target);
    assert!(read_chain(reference, body_bytes(65536), read_page) == Ok(original));
}

/// Every kind of damage to a chain is an error naming the page, never a panic or a loop.
#[test]
fn a_damaged_chain_is_an_error_naming_the_page() {
    let mut store = PageStore::default();
    let reference = write(&mut store, &value(10_000), PAGE_BYTES);
    let [first, second, third] = [1, 2, 3].map(PageId);
    assert_eq!(pages(&store, reference), Ok(vec![first, second, third]));
    let damaged = |page: PageId, offset: usize, bytes: &[u8]| {
        let mut copy = PageStore { pages: store.pages.clone(), next_page: 0 };
        copy.pages.get_mut(&page).unwrap()[offset..offset + bytes.len()].copy_from_slice(bytes);
        copy
    };
    let cases = [
        (damaged(second, 0, &[2]), second, "not an overflow page"),
        (damaged(second, 2, &[1]), second, "reserved"),
        (damaged(second, 4, &9999u32.to_le_bytes()), second, "the chain expects 5952"),
        (damaged(second, 16, &2u64.to_le_bytes()), second, "the chain expects 1904"),
        (damaged(second, 16, &1u64.to_le_bytes()), first, "the chain expects 1904"),
        (damaged(second, 16, &0u64.to_le_bytes()), second, "the chain ends 5952 bytes before"),
        (damaged(second, 16, &(1u64 << 50).to_le_bytes()), second, "not a page id"),
        (damaged(third, 16, &1u64.to_le_bytes()), third, "the value ends here"),
        (damaged(first, 4, &0u32.to_le_bytes()), first, "0 bytes of value remain"),
    ];
    for (store, page, reason) in cases {
        for result in [read(&store, reference).map(|_| ()), pages(&store, reference).map(|_| ())] {
            match result {
                Err(ChainError::Corrupt { page: named, reason: found }) => {
                    assert_eq!(named, page, "{reason}: {found}");
                    assert!(found.contains(reason), "{reason:?} not in {found:?}");
                }
                other => panic!("{reason}: {other:?}"),
            }
        }
    }
    let missing =
        PageStore { pages: store.pages.clone().into_iter().take(2).collect(), next_page: 0 };
    assert_eq!(read(&missing, reference), Err(ChainError::Read("no page 3".into())));
    let too_long = OverflowRef { value_bytes: VALUE_BYTES_MAX + 1, ..reference };
    assert!(matches!(read(&store, too_long), Err(ChainError::Corrupt { .. })));
    let wrong_length = OverflowRef { value_bytes: 9_000, ..reference };
    assert!(matches!(read(&store, wrong_length), Err(ChainError::Corrupt { .. })));
}

proptest! {
    /// Chains of random pages (bytes chosen by proptest, some copied from a real chain) are
    /// read back or refused, never with a panic or a loop.
    #[test]
    fn arbitrary_chains_never_panic_a_reader(
        value_bytes in 0..20_000usize,
        first_page in 0..6u64,
        patches in prop::collection::vec((0..6usize, 0..32usize, any::<u8>()), 0..12),
    ) {
        let mut store = PageStore::default();
        write(&mut store, &value(12_000), PAGE_BYTES);
        let mut pages: Vec<Vec<u8>> = vec![vec![0; body_bytes(PAGE_BYTES)]];
        pages.extend(store.pages.values().cloned());
        pages.resize(6, vec![0xFF; body_bytes(PAGE_BYTES)]);
        for (page, offset, byte) in patches {
            pages[page][offset] = byte;
        }
        crate::fuzzing::overflow_chain(PAGE_BYTES, &pages, value_bytes, first_page);
    }
}

//! The data file's header: two slots at the start of the file, written alternately by
//! checkpoints, so that a torn header write leaves the other slot — the previous checkpoint —
//! intact. The valid slot with the higher sequence wins (docs/FORMAT.md, "Data file header").
//!
//! ```text
//! OFFSET SIZE FIELD
//!      0    8 magic            "DDB-DATA"
//!      8    4 format_version   FORMAT_VERSION
//!     12    4 page_bytes       the page size the file was created with
//!     16    8 sequence         checkpoints written so far; the valid slot with the higher wins
//!     24    8 epoch            the checkpoint epoch of the tree below
//!     32    8 root_page        root of the B+tree (0: empty tree)
//!     40    8 free_list_page   first page of the free-page list (0: no page is free)
//!     48    8 page_count       pages the file uses; every page from here on is free
//!     56    8 redo_lsn         log position recovery replays from
//!     64    8 commit_ts        the last commit timestamp the tree holds
//!     72   52 reserved         zero
//!    124    4 header_crc       crc32c of bytes 0..124
//!    128    - unused           zero to the end of the slot
//! ```
//!
//! Slot `n` lies at byte `n * SLOT_BYTES`; the tree's pages start after both slots.

use crate::error::{Error, Result};

/// Bytes of one header slot: one 4 KiB block, so a slot is written (or torn) on its own.
pub(crate) const SLOT_BYTES: usize = 4096;
/// Header slots at the start of the file.
pub(crate) const SLOT_COUNT: usize = 2;
/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 5;
const MAGIC: &[u8; 8] = b"DDB-DATA";

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const PAGE_BYTES_OFFSET: usize = VERSION_OFFSET + 4;
const SEQUENCE_OFFSET: usize = PAGE_BYTES_OFFSET + 4;
const EPOCH_OFFSET: usize = SEQUENCE_OFFSET + 8;
const ROOT_PAGE_OFFSET: usize = EPOCH_OFFSET + 8;
const FREE_LIST_PAGE_OFFSET: usize = ROOT_PAGE_OFFSET + 8;
const PAGE_COUNT_OFFSET: usize = FREE_LIST_PAGE_OFFSET + 8;
const REDO_LSN_OFFSET: usize = PAGE_COUNT_OFFSET + 8;
const COMMIT_TS_OFFSET: usize = REDO_LSN_OFFSET + 8;
const RESERVED_OFFSET: usize = COMMIT_TS_OFFSET + 8;
const CRC_OFFSET: usize = 124;
const FIELDS_BYTES: usize = CRC_OFFSET + 4;

const _: () = assert!(RESERVED_OFFSET <= CRC_OFFSET);
const _: () = assert!(FIELDS_BYTES <= SLOT_BYTES);

/// What a checkpoint records about the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) page_bytes: u32,
    pub(crate) sequence: u64,
    pub(crate) epoch: u64,
    pub(crate) root_page: u64,
    pub(crate) free_list_page: u64,
    pub(crate) page_count: u64,
    pub(crate) redo_lsn: u64,
    pub(crate) commit_ts: u64,
}

/// Why one slot is not a valid header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SlotError {
    /// All zeros: never written.
    Empty,
    /// Bytes that are not a directdb header.
    NotDirectdb,
    /// The magic is right and the checksum is wrong: a torn or damaged slot.
    Damaged,
    /// A valid header of another format version.
    ForeignVersion(u32),
}

impl Header {
    /// The slot a checkpoint with this header's sequence writes.
    pub(crate) fn slot_index(&self) -> usize {
        usize::try_from(self.sequence % SLOT_COUNT as u64).expect("below SLOT_COUNT")
    }

    /// The slot's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut slot = vec![0u8; SLOT_BYTES];
        slot[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(MAGIC);
        slot[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        slot[PAGE_BYTES_OFFSET..PAGE_BYTES_OFFSET + 4]
            .copy_from_slice(&self.page_bytes.to_le_bytes());
        for (offset, value) in [
            (SEQUENCE_OFFSET, self.sequence),
            (EPOCH_OFFSET, self.epoch),
            (ROOT_PAGE_OFFSET, self.root_page),
            (FREE_LIST_PAGE_OFFSET, self.free_list_page),
            (PAGE_COUNT_OFFSET, self.page_count),
            (REDO_LSN_OFFSET, self.redo_lsn),
            (COMMIT_TS_OFFSET, self.commit_ts),
        ] {
            slot[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        }
        let crc = crc32c::crc32c(&slot[..CRC_OFFSET]);
        slot[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    /// Decodes one slot. Never panics on any bytes.
    pub(crate) fn decode(slot: &[u8]) -> Result<Header, SlotError> {
        if slot.len() < FIELDS_BYTES || slot[..FIELDS_BYTES].iter().all(|&byte| byte == 0) {
            return Err(SlotError::Empty);
        }
        if &slot[MAGIC_OFFSET..MAGIC_OFFSET + 8] != MAGIC {
            return Err(SlotError::NotDirectdb);
        }
        if u32_at(slot, CRC_OFFSET) != crc32c::crc32c(&slot[..CRC_OFFSET]) {
            return Err(SlotError::Damaged);
        }
        let version = u32_at(slot, VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(SlotError::ForeignVersion(version));
        }
        Ok(Header {
            page_bytes: u32_at(slot, PAGE_BYTES_OFFSET),
            sequence: u64_at(slot, SEQUENCE_OFFSET),
            epoch: u64_at(slot, EPOCH_OFFSET),
            root_page: u64_at(slot, ROOT_PAGE_OFFSET),
            free_list_page: u64_at(slot, FREE_LIST_PAGE_OFFSET),
            page_count: u64_at(slot, PAGE_COUNT_OFFSET),
            redo_lsn: u64_at(slot, REDO_LSN_OFFSET),
            commit_ts: u64_at(slot, COMMIT_TS_OFFSET),
        })
    }
}

/// Picks the current header from the two slots' bytes, per the decision table:
///
/// | slot A          | slot B          | result                                            |
/// |-----------------|-----------------|---------------------------------------------------|
/// | valid           | valid           | the higher sequence                               |
/// | valid           | empty / damaged | A (B was never written, or its write was torn)    |
/// | empty           | empty           | `Ok(None)`: a new database                        |
/// | foreign version | any             | `Error::Incompatible` (left untouched)            |
/// | not directdb    | any             | `Error::NotDirectdb`                              |
/// | damaged         | damaged / empty | `Error::Corruption`: no checkpoint survives       |
///
/// A valid slot's page size must also be a page size this build supports.
pub(crate) fn choose(path: &std::path::Path, slots: [&[u8]; SLOT_COUNT]) -> Result<Option<Header>> {
    let decoded = slots.map(Header::decode);
    for result in &decoded {
        match result {
            Err(SlotError::ForeignVersion(version)) => {
                return Err(Error::Incompatible {
                    path: path.to_path_buf(),
                    reason: format!(
                        "data file format version {version}; this build reads version {FORMAT_VERSION}"
                    ),
                });
            }
            Err(SlotError::NotDirectdb) => {
                return Err(Error::NotDirectdb { path: path.to_path_buf() });
            }
            _ => {}
        }
    }
    let best = decoded
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .max_by_key(|header| header.sequence);
    if let Some(header) = best {
        let page_bytes = header.page_bytes as usize;
        if !page_bytes.is_power_of_two()
            || !(bufferpool::PAGE_BYTES_MIN..=bufferpool::PAGE_BYTES_MAX).contains(&page_bytes)
        {
            return Err(Error::Corruption {
                path: path.to_path_buf(),
                what: "header".into(),
                reason: format!("page size {page_bytes} is not a supported page size"),
            });
        }
        return Ok(Some(*header));
    }
    if decoded.iter().all(|result| *result == Err(SlotError::Empty)) {
        return Ok(None);
    }
    Err(Error::Corruption {
        path: path.to_path_buf(),
        what: "header".into(),
        reason: "both header slots are damaged: no checkpoint survives".into(),
    })
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    fn header(sequence: u64) -> Header {
        Header {
            page_bytes: 8192,
            sequence,
            epoch: 3,
            root_page: 17,
            free_list_page: 40,
            page_count: 99,
            redo_lsn: 0x1234_5678,
            commit_ts: 77,
        }
    }

    /// A slot built byte by byte from the table at the top of the module.
    #[test]
    fn a_hand_built_slot_matches_the_layout() {
        let mut slot = vec![0u8; SLOT_BYTES];
        slot[0..8].copy_from_slice(b"DDB-DATA");
        slot[8..12].copy_from_slice(&5u32.to_le_bytes());
        slot[12..16].copy_from_slice(&8192u32.to_le_bytes());
        for (offset, value) in
            [(16, 5u64), (24, 3), (32, 17), (40, 40), (48, 99), (56, 0x1234_5678), (64, 77)]
        {
            slot[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        }
        let crc = crc32c::crc32c(&slot[..124]);
        slot[124..128].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Header::decode(&slot), Ok(header(5)));
        assert_eq!(header(5).encode(), slot);
    }

    #[test]
    fn the_decision_table() {
        let path = Path::new("data.ddb");
        let empty = vec![0u8; SLOT_BYTES];
        let (older, newer) = (header(4).encode(), header(5).encode());
        let mut torn = newer.clone();
        torn[30] ^= 1;
        assert_eq!(choose(path, [&older, &newer]).unwrap(), Some(header(5)));
        assert_eq!(choose(path, [&newer, &older]).unwrap(), Some(header(5)));
        assert_eq!(choose(path, [&older, &torn]).unwrap(), Some(header(4)), "a torn newer slot");
        assert_eq!(choose(path, [&older, &empty]).unwrap(), Some(header(4)));
        assert_eq!(choose(path, [&empty, &empty]).unwrap(), None);
        assert!(matches!(choose(path, [&torn, &empty]), Err(Error::Corruption { .. })));
        let mut foreign = header(6).encode();
        foreign[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let crc = crc32c::crc32c(&foreign[..124]);
        foreign[124..128].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(choose(path, [&older, &foreign]), Err(Error::Incompatible { .. })));
        let text = b"#!/bin/sh\necho not a database\n".repeat(200);
        assert!(matches!(
            choose(path, [&text[..SLOT_BYTES], &empty]),
            Err(Error::NotDirectdb { .. })
        ));
        let mut odd_page = header(7);
        odd_page.page_bytes = 5000;
        assert!(matches!(
            choose(path, [&odd_page.encode(), &empty]),
            Err(Error::Corruption { .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Header::decode(&bytes);
            let _ = choose(Path::new("x"), [&bytes, &bytes]);
            crate::fuzzing::data_header(&bytes, bytes.len() / 2);
        }
    }
}

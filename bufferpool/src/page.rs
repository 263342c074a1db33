//! The page as it lies in the data file: a small header the pool owns, then the body the layer
//! above (the B+tree) owns. The pool seals the header when it writes a page and checks it when
//! it reads one, so a page that was torn, misdirected, flipped or never written is an error
//! naming the page, never data.
//!
//! ```text
//! OFFSET SIZE FIELD
//!      0    4 checksum   crc32c of bytes 4..page_bytes (the rest of the header and the body)
//!      4    4 magic      PAGE_MAGIC: this is a pool page (all zeros: never written)
//!      8    8 page_id    the page's own id: a page written to the wrong place fails the check
//!     16    8 page_lsn   LSN of the last log record applied to the page (the WAL rule's key)
//!     24    - body       page_bytes - 24 bytes for the layer above
//! ```
//!
//! All integers are little-endian. The checksum covers the page id, so a page written to
//! another page's place is caught even if its bytes are intact.

use std::fmt;

/// The id of a page: its index in the data file (page `n` lies at byte `n * page_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PageId(pub u64);

impl fmt::Display for PageId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

pub(crate) const CHECKSUM_OFFSET: usize = 0;
pub(crate) const CHECKSUM_BYTES: usize = 4;
pub(crate) const MAGIC_OFFSET: usize = CHECKSUM_OFFSET + CHECKSUM_BYTES;
pub(crate) const MAGIC_BYTES: usize = 4;
pub(crate) const PAGE_ID_OFFSET: usize = MAGIC_OFFSET + MAGIC_BYTES;
pub(crate) const PAGE_ID_BYTES: usize = 8;
pub(crate) const PAGE_LSN_OFFSET: usize = PAGE_ID_OFFSET + PAGE_ID_BYTES;
pub(crate) const PAGE_LSN_BYTES: usize = 8;
/// Bytes of the pool's page header; the body starts here.
pub const PAGE_HEADER_BYTES: usize = PAGE_LSN_OFFSET + PAGE_LSN_BYTES;
/// "DDPG" read as a little-endian u32.
pub(crate) const PAGE_MAGIC: u32 = u32::from_le_bytes(*b"DDPG");

const _: () = assert!(PAGE_HEADER_BYTES == 24);
// The frame memory is an array of 8-byte words: the header fields that the pool reads from a
// frame (page id, page LSN) must each be one whole word.
const _: () = assert!(PAGE_ID_OFFSET % 8 == 0 && PAGE_LSN_OFFSET % 8 == 0);
const _: () = assert!(PAGE_HEADER_BYTES % 8 == 0);

/// Word index of the page id and the page LSN in a frame's words.
pub(crate) const PAGE_ID_WORD: usize = PAGE_ID_OFFSET / 8;
pub(crate) const PAGE_LSN_WORD: usize = PAGE_LSN_OFFSET / 8;
/// The first header word of a page as it sits in a frame: the magic in the high half, the
/// checksum (meaningful only on disk) zero.
pub(crate) const FRAME_MAGIC_WORD: u64 = (PAGE_MAGIC as u64) << 32;

/// Fills in the checksum of a page image whose magic, page id and LSN are already in place.
pub(crate) fn seal(image: &mut [u8]) {
    let checksum = crc32c::crc32c(&image[MAGIC_OFFSET..]);
    image[CHECKSUM_OFFSET..CHECKSUM_OFFSET + CHECKSUM_BYTES]
        .copy_from_slice(&checksum.to_le_bytes());
}

/// Checks a page image read from `page`'s place: the magic, the checksum, the page id. The
/// error says what is wrong, for [`crate::Error::Corruption`].
pub fn verify(image: &[u8], page: PageId) -> Result<(), String> {
    assert!(image.len() >= PAGE_HEADER_BYTES, "a page is larger than its header");
    let magic = u32_at(image, MAGIC_OFFSET);
    if magic != PAGE_MAGIC {
        if image.iter().all(|&byte| byte == 0) {
            return Err("the page is all zeros: never written, or its write was lost".into());
        }
        return Err(format!("no page magic (found {magic:#010x}): not a directdb page"));
    }
    let stored = u32_at(image, CHECKSUM_OFFSET);
    let computed = crc32c::crc32c(&image[MAGIC_OFFSET..]);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): torn or damaged"
        ));
    }
    let holds = u64_at(image, PAGE_ID_OFFSET);
    if holds != page.0 {
        return Err(format!("the page holds page {holds}: a misdirected write"));
    }
    Ok(())
}

/// The checksum an image carries in its header (checked or not).
pub(crate) fn checksum_of(image: &[u8]) -> u32 {
    u32_at(image, CHECKSUM_OFFSET)
}

/// The page LSN of an image (checked or not).
pub fn lsn_of(image: &[u8]) -> u64 {
    u64_at(image, PAGE_LSN_OFFSET)
}

fn u32_at(image: &[u8], offset: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&image[offset..offset + 4]);
    u32::from_le_bytes(bytes)
}

fn u64_at(image: &[u8], offset: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&image[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page built byte by byte from the table at the top of this module: if the code and the
    /// table drift apart, this fails.
    #[test]
    fn a_hand_built_image_matches_the_layout() {
        let mut image = vec![0u8; 4096];
        image[4..8].copy_from_slice(b"DDPG");
        image[8..16].copy_from_slice(&7u64.to_le_bytes());
        image[16..24].copy_from_slice(&0x1234u64.to_le_bytes());
        image[24] = 0xEE;
        let checksum = crc32c::crc32c(&image[4..]);
        image[0..4].copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(verify(&image, PageId(7)), Ok(()));
        assert_eq!(lsn_of(&image), 0x1234);
        let mut resealed = image.clone();
        resealed[0..4].fill(0);
        seal(&mut resealed);
        assert_eq!(resealed, image);
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let mut image = vec![0u8; 4096];
        assert!(verify(&image, PageId(1)).unwrap_err().contains("all zeros"));
        image[4..8].copy_from_slice(b"DDPG");
        image[8..16].copy_from_slice(&1u64.to_le_bytes());
        seal(&mut image);
        assert_eq!(verify(&image, PageId(1)), Ok(()));
        assert!(verify(&image, PageId(2)).unwrap_err().contains("misdirected"));
        image[100] ^= 0x10;
        assert!(verify(&image, PageId(1)).unwrap_err().contains("checksum mismatch"));
        image[4] = b'X';
        assert!(verify(&image, PageId(1)).unwrap_err().contains("not a directdb page"));
    }
}

//! The shadow of a batch: written by the same write as the batch, right after the block holding
//! the batch's last byte (block B), it holds a second copy of B's used bytes and a checksum of
//! every 512-byte unit of the batch before B.
//!
//! Nothing written later vouches for the last batch of the log (`durable_lsn`, `record.rs`), so
//! without redundancy a bit flipped in it reads exactly like a write torn at that byte, and
//! recovery would cut acknowledged records. With the shadow, recovery (`repair.rs`) restores B
//! from the copy, whatever the damage, and a unit before B with one bit flipped from the unit
//! whose checksum the shadow holds: the checksum (crc32c, whose Hamming distance over 4,096 bits
//! is 6) tells which bit. The next batch rewrites B and overwrites the shadow with its own
//! records or its own shadow, so the shadow costs one or two blocks and 4 bytes per 512 of the
//! batch, per batch write, and no log space: it lies beyond the end of the log, in LSN space
//! the log has not used yet.
//!
//! ```text
//! OFFSET SIZE FIELD                (little-endian)
//!  0      8   magic                "SHADOW\0\0"
//!  8      8   block_lsn_inverted   !(LSN of B's first byte)
//! 16      8   salt                 the salt of the segment the shadow lies in
//! 24      4   used_bytes           bytes of B copied: from B's start to the batch's end
//! 28      4   unit_count_inverted  !n: the 512-byte units before B that have a checksum
//! 32      4   shadow_crc           crc32c(bytes 0..32 ++ the body)
//! 36      4   reserved             0xFFFF_FFFF
//! 40      -   body: n unit checksums (u32 each, crc32c of the units B - 512n .. B, in order),
//!             then 0xFF padding to a multiple of 8 bytes, then the image: B's first used_bytes
//!             bytes, each inverted (!byte)
//! ```
//!
//! Worked example (512-byte blocks): a batch written from LSN 8,192 ends at 9,288. Its last
//! byte, 9,287, lies in B = [9,216, 9,728), so `used_bytes` = 72; the units before B are the
//! two from 8,192 to 9,216, so n = 2. The shadow starts at 9,728, B's end, and takes 40 + 8 + 72
//! = 120 bytes: one block.
//!
//! Invariants a decoded shadow satisfies (checked in [`decode`], in this order):
//! 1. the magic matches and the salt is its segment's, so a shadow left in a recycled file by an
//!    earlier use of the file never decodes;
//! 2. it lies exactly at the end of the block it names: `position - block_lsn` is a block size
//!    (a power of two in `BLOCK_BYTES_MIN..=BLOCK_BYTES_MAX`) that `position` is a multiple of;
//! 3. `used_bytes` is a multiple of 8 (a batch ends at a record boundary) from 8 to that size;
//!    `n` is at most [`SHADOW_UNIT_COUNT_MAX`] and the units lie at or after LSN 0; `reserved`
//!    is all ones;
//! 4. the checksum covers the header and the whole body, so a shadow torn or partly overwritten
//!    by a later shorter one never decodes.
//!
//! Why inverted: a plain copy of B would hold record headers at positions their `lsn` fields do
//! not name, and recovery reports such a header as a misdirected write (`recovery.rs`).
//! Inverted, a record header's `lsn` field reads as a number at or above 2^63, which names no
//! position of any segment, and zero padding reads as 0xFF. The header's 8-byte words are laid
//! out so that none of the fixed or derived ones names an 8-aligned position either, read as
//! the `lsn` field of a record header 8 bytes before it: the magic's first byte is odd ('S' =
//! 0x53); the block's LSN is inverted; the word holding `used_bytes` has `!n` in its high half,
//! and the word holding the checksum has the all-ones `reserved` there, so both read as at
//! least 2^63. The random words (the salt, the unit checksums) name a position of a given
//! segment with odds below 2^-34, and must then also pass a record header's 32-bit checksum
//! under the salt.

use crate::limits::{
    BLOCK_BYTES_MAX, BLOCK_BYTES_MIN, RECORD_ALIGN_BYTES, SEGMENT_HEADER_BYTES,
    SHADOW_HEADER_BYTES, SHADOW_UNIT_BYTES, SHADOW_UNIT_COUNT_MAX,
};
const _: () = assert!(BLOCK_BYTES_MAX == SEGMENT_HEADER_BYTES as u64);
use crate::lsn::Lsn;

const MAGIC_OFFSET: usize = 0;
const BLOCK_LSN_INVERTED_OFFSET: usize = MAGIC_OFFSET + 8;
const SALT_OFFSET: usize = BLOCK_LSN_INVERTED_OFFSET + 8;
const USED_BYTES_OFFSET: usize = SALT_OFFSET + 8;
const UNIT_COUNT_INVERTED_OFFSET: usize = USED_BYTES_OFFSET + 4;
const SHADOW_CRC_OFFSET: usize = UNIT_COUNT_INVERTED_OFFSET + 4;
const RESERVED_OFFSET: usize = SHADOW_CRC_OFFSET + 4;
const BODY_OFFSET: usize = RESERVED_OFFSET + 4;
const _: () = assert!(BODY_OFFSET == SHADOW_HEADER_BYTES);

/// Bytes of one unit checksum in the body.
const UNIT_CRC_BYTES: usize = 4;

/// The magic number at the start of every shadow. Its first byte is odd: see the module doc.
pub(crate) const MAGIC: [u8; 8] = *b"SHADOW\0\0";
const _: () = assert!(MAGIC[0] % 2 == 1);
/// The value of `reserved`: all ones, so that the word it ends reads as at least 2^63.
const RESERVED: u32 = u32::MAX;
/// The padding after the unit checksums: inverted zeros, like the image's.
const PADDING_BYTE: u8 = 0xFF;

/// A shadow read back and found valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shadow {
    /// The LSN of the first byte of B, the batch's last block.
    pub(crate) block_lsn: Lsn,
    /// B's first bytes, as the batch wrote them (no longer inverted).
    pub(crate) image: Vec<u8>,
    /// The crc32c of each 512-byte unit before B, the first at [`Shadow::first_unit_lsn`].
    pub(crate) unit_crcs: Vec<u32>,
}

impl Shadow {
    /// The LSN just after the last byte the shadow holds: the end of the batch that wrote it.
    pub(crate) fn end(&self) -> Lsn {
        self.block_lsn.plus(self.image.len() as u64)
    }

    /// The LSN of the first unit with a checksum (B's start if there is none).
    pub(crate) fn first_unit_lsn(&self) -> Lsn {
        Lsn(self.block_lsn.0 - (self.unit_crcs.len() * SHADOW_UNIT_BYTES) as u64)
    }
}

/// Bytes of the body's checksums and their padding, for `unit_count` units.
fn unit_crcs_bytes(unit_count: usize) -> usize {
    (unit_count * UNIT_CRC_BYTES).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// Bytes a shadow of `used_bytes` with `unit_count` unit checksums takes, before the zeros to
/// the end of its last block.
pub(crate) fn encoded_bytes(used_bytes: usize, unit_count: usize) -> usize {
    SHADOW_HEADER_BYTES + unit_crcs_bytes(unit_count) + used_bytes
}

/// The shadow of a batch whose last block starts at `block_lsn` with the bytes `image` (from
/// the block's start to the batch's end), preceded by the batch's `units` (whole 512-byte
/// units, ending at `block_lsn`), for a segment with `salt`. It is to be written at the block's
/// end.
pub(crate) fn encode(units: &[u8], image: &[u8], block_lsn: Lsn, salt: u64) -> Vec<u8> {
    assert!(!image.is_empty(), "a batch ends after its block's start");
    assert!(image.len() as u64 <= BLOCK_BYTES_MAX, "a block holds at most BLOCK_BYTES_MAX");
    assert_eq!(image.len() % RECORD_ALIGN_BYTES, 0, "a batch ends at a record boundary");
    assert_eq!(units.len() % SHADOW_UNIT_BYTES, 0, "whole units");
    let unit_count = units.len() / SHADOW_UNIT_BYTES;
    assert!(unit_count <= SHADOW_UNIT_COUNT_MAX);
    assert!(units.len() as u64 <= block_lsn.0, "the units lie at or after LSN 0");
    let used_bytes = u32::try_from(image.len()).expect("bounded by BLOCK_BYTES_MAX");
    let unit_count_u32 = u32::try_from(unit_count).expect("bounded by SHADOW_UNIT_COUNT_MAX");
    let mut out = Vec::with_capacity(encoded_bytes(image.len(), unit_count));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(!block_lsn.0).to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    out.extend_from_slice(&used_bytes.to_le_bytes());
    out.extend_from_slice(&(!unit_count_u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // shadow_crc, set below
    out.extend_from_slice(&RESERVED.to_le_bytes());
    for unit in units.chunks_exact(SHADOW_UNIT_BYTES) {
        out.extend_from_slice(&crc32c::crc32c(unit).to_le_bytes());
    }
    out.resize(SHADOW_HEADER_BYTES + unit_crcs_bytes(unit_count), PADDING_BYTE);
    out.extend(image.iter().map(|&byte| !byte));
    debug_assert_eq!(out.len(), encoded_bytes(image.len(), unit_count));
    let crc = shadow_crc(&out);
    out[SHADOW_CRC_OFFSET..RESERVED_OFFSET].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The checksum of an encoded shadow: its header before the checksum, then its body.
fn shadow_crc(encoded: &[u8]) -> u32 {
    let header = crc32c::crc32c(&encoded[..SHADOW_CRC_OFFSET]);
    crc32c::crc32c_append(header, &encoded[BODY_OFFSET..])
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

/// Bytes the shadow whose header starts `bytes` claims to take, if the header has the magic and
/// `salt` (nothing else is checked yet): at most the largest shadow, which fits in the read
/// window (`limits.rs`). Only says how much to read before [`decode`] judges it; `None` says
/// there is no shadow of this segment there, without reading more (most positions beyond the
/// end of a recycled segment hold old records, and each would otherwise cost a read).
pub(crate) fn claimed_bytes(bytes: &[u8], salt: u64) -> Option<usize> {
    let header = bytes.get(..SHADOW_HEADER_BYTES)?;
    if header[MAGIC_OFFSET..BLOCK_LSN_INVERTED_OFFSET] != MAGIC
        || read_u64(header, SALT_OFFSET) != salt
    {
        return None;
    }
    let used_bytes = (read_u32(header, USED_BYTES_OFFSET) as usize).min(SEGMENT_HEADER_BYTES);
    let unit_count =
        (!read_u32(header, UNIT_COUNT_INVERTED_OFFSET) as usize).min(SHADOW_UNIT_COUNT_MAX);
    Some(encoded_bytes(used_bytes, unit_count))
}

/// Decodes the shadow at the start of `bytes`, read at `position` of a segment with `salt`
/// (`bytes` may run on past the shadow). `Err` says why there is no valid shadow there.
pub(crate) fn decode(bytes: &[u8], position: Lsn, salt: u64) -> Result<Shadow, &'static str> {
    let Some(header) = bytes.get(..SHADOW_HEADER_BYTES) else {
        return Err("no room for a shadow header");
    };
    if header[MAGIC_OFFSET..BLOCK_LSN_INVERTED_OFFSET] != MAGIC {
        return Err("no shadow magic");
    }
    if read_u64(header, SALT_OFFSET) != salt {
        return Err("a shadow of another use of the file (salt)");
    }
    let block_lsn = Lsn(!read_u64(header, BLOCK_LSN_INVERTED_OFFSET));
    let block_bytes = position.0.saturating_sub(block_lsn.0);
    let is_block_size = block_bytes.is_power_of_two()
        && (BLOCK_BYTES_MIN..=BLOCK_BYTES_MAX).contains(&block_bytes)
        && position.0 % block_bytes == 0;
    if !is_block_size {
        return Err("the shadow does not lie at the end of the block it names");
    }
    let used_bytes = read_u32(header, USED_BYTES_OFFSET) as usize;
    let used_fits = (RECORD_ALIGN_BYTES as u64..=block_bytes).contains(&(used_bytes as u64));
    if !used_fits || used_bytes % RECORD_ALIGN_BYTES != 0 {
        return Err("the shadow's length is not a batch end in its block");
    }
    let unit_count = !read_u32(header, UNIT_COUNT_INVERTED_OFFSET) as usize;
    let units_bytes = unit_count.saturating_mul(SHADOW_UNIT_BYTES) as u64;
    if unit_count > SHADOW_UNIT_COUNT_MAX || units_bytes > block_lsn.0 {
        return Err("the shadow claims units it cannot have");
    }
    if read_u32(header, RESERVED_OFFSET) != RESERVED {
        return Err("the shadow's reserved bytes are not all ones");
    }
    let Some(encoded) = bytes.get(..encoded_bytes(used_bytes, unit_count)) else {
        return Err("the shadow runs past the end of the segment");
    };
    if read_u32(header, SHADOW_CRC_OFFSET) != shadow_crc(encoded) {
        return Err("shadow checksum mismatch (torn, overwritten or damaged)");
    }
    let body = &encoded[BODY_OFFSET..];
    let unit_crcs = (0..unit_count).map(|index| read_u32(body, index * UNIT_CRC_BYTES)).collect();
    let image = body[unit_crcs_bytes(unit_count)..].iter().map(|&byte| !byte).collect();
    Ok(Shadow { block_lsn, image, unit_crcs })
}

/// `unit` with the one bit flipped that gives it the checksum `expected`, if a single bit
/// does. crc32c's Hamming distance is 6 over a 512-byte unit (4,096 bits; Koopman's tables give
/// 6 up to 5,243 bits, and the unit test below checks the part the correction relies on, that
/// each of the 4,096 single-bit changes has its own checksum): two units with the same checksum
/// differ in at least 6 bits, so at most one single-bit change can match, and a unit that
/// differs from the written one by a torn sector's worth of bits is not mistaken for a flip of
/// it except by chance (odds about 4,096 / 2^32), which the records' own checksums then catch.
/// Tries every bit: 4,096 checksums of 512 bytes, a fraction of a millisecond, and only for a
/// damaged unit at recovery.
pub(crate) fn correct_one_bit(unit: &[u8], expected: u32) -> Option<Vec<u8>> {
    assert_eq!(unit.len(), SHADOW_UNIT_BYTES, "one unit");
    let mut candidate = unit.to_vec();
    for index in 0..candidate.len() {
        for bit in 0..8 {
            candidate[index] ^= 1 << bit;
            if crc32c::crc32c(&candidate) == expected {
                return Some(candidate);
            }
            candidate[index] ^= 1 << bit;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: u64 = 0x0123_4567_89AB_CDEF;

    /// The layout table above, built by hand byte by byte: if the comment and the code drift
    /// apart, this fails. The worked example: units [8,192, 9,216), B = [9,216, 9,728), 72 used
    /// bytes.
    #[test]
    fn hand_built_byte_image_round_trips() {
        let units: Vec<u8> = (0..1024u32).map(|index| u8::try_from(index % 253).unwrap()).collect();
        let block: Vec<u8> = (0..72u8).collect();
        let mut image = vec![0u8; 40 + 8 + 72];
        image[0..8].copy_from_slice(b"SHADOW\0\0");
        image[8..16].copy_from_slice(&(!9216u64).to_le_bytes());
        image[16..24].copy_from_slice(&SALT.to_le_bytes());
        image[24..28].copy_from_slice(&72u32.to_le_bytes());
        image[28..32].copy_from_slice(&(!2u32).to_le_bytes());
        image[36..40].copy_from_slice(&u32::MAX.to_le_bytes());
        image[40..44].copy_from_slice(&crc32c::crc32c(&units[..512]).to_le_bytes());
        image[44..48].copy_from_slice(&crc32c::crc32c(&units[512..]).to_le_bytes());
        for (index, &byte) in block.iter().enumerate() {
            image[48 + index] = !byte;
        }
        let mut covered = image[..32].to_vec();
        covered.extend_from_slice(&image[40..]);
        image[32..36].copy_from_slice(&crc32c::crc32c(&covered).to_le_bytes());

        assert_eq!(encode(&units, &block, Lsn(9216), SALT), image);
        let mut read = image.clone();
        read.resize(512, 0); // the zeros to the end of the block
        assert_eq!(claimed_bytes(&read, SALT), Some(120));
        assert_eq!(claimed_bytes(&read, SALT ^ 1), None);
        let shadow = decode(&read, Lsn(9728), SALT).unwrap();
        let unit_crcs = vec![crc32c::crc32c(&units[..512]), crc32c::crc32c(&units[512..])];
        assert_eq!(shadow, Shadow { block_lsn: Lsn(9216), image: block, unit_crcs });
        assert_eq!((shadow.end(), shadow.first_unit_lsn()), (Lsn(9288), Lsn(8192)));
    }

    #[test]
    fn each_damage_is_rejected() {
        let encoded = encode(&[3; 1536], &[0x5A; 512], Lsn(4096), SALT);
        assert_eq!(encoded.len(), 40 + 16 + 512, "three checksums, padded to 16 bytes");
        assert!(decode(&encoded, Lsn(4608), SALT).is_ok());
        for index in 0..encoded.len() {
            let mut flipped = encoded.clone();
            flipped[index] ^= 0x04;
            assert!(decode(&flipped, Lsn(4608), SALT).is_err(), "flip at byte {index} accepted");
        }
        assert!(decode(&encoded, Lsn(4608), SALT ^ 1).unwrap_err().contains("salt"));
        let short = &encoded[..encoded.len() - 1];
        assert!(decode(short, Lsn(4608), SALT).unwrap_err().contains("past the end"));
        assert!(decode(&encoded[..39], Lsn(4608), SALT).unwrap_err().contains("no room"));
        assert!(decode(&[0; 64], Lsn(4608), SALT).unwrap_err().contains("magic"));
        // Units before LSN 0.
        let encoded = encode(&[3; 512], &[1; 8], Lsn(512), SALT);
        assert!(decode(&encoded, Lsn(1024), SALT).is_ok());
        let mut before_zero = encoded.clone();
        before_zero[28..32].copy_from_slice(&(!2u32).to_le_bytes());
        assert!(decode(&before_zero, Lsn(1024), SALT).unwrap_err().contains("units"));
    }

    /// A shadow is valid only at the end of the block it names, for a block size in range.
    #[test]
    fn a_shadow_elsewhere_is_rejected() {
        let encoded = encode(&[], &[7; 64], Lsn(8192), SALT);
        for (position, valid) in [
            (8192 + 512, true),
            (8192 + 1024, true),
            (8192 + 4096, true),
            (8192 + 8192, false), // a block larger than BLOCK_BYTES_MAX
            (8192 + 256, false),  // smaller than BLOCK_BYTES_MIN
            (8192 + 1536, false), // not a power of two
            (8192, false),
            (0, false),
        ] {
            assert_eq!(decode(&encoded, Lsn(position), SALT).is_ok(), valid, "at {position}");
        }
        // 512 + 8192 = 8704 is no multiple of 1024: not the end of a 1024-byte block.
        let encoded = encode(&[], &[7; 64], Lsn(8704 - 1024), SALT);
        assert!(decode(&encoded, Lsn(8704), SALT).is_err());
        // More bytes than the block holds.
        let encoded = encode(&[], &[7; 1024], Lsn(8192), SALT);
        assert!(decode(&encoded, Lsn(8192 + 512), SALT).unwrap_err().contains("length"));
    }

    /// The properties the module doc promises the misplaced-header search: every 8-byte word of
    /// a shadow's header that is not random is odd or at least 2^63, and so is the image of a
    /// record header's `lsn`.
    #[test]
    fn no_header_word_names_a_position() {
        let mut block = vec![0u8; 512 - 48];
        block[8..16].copy_from_slice(&4096u64.to_le_bytes()); // a record header's lsn field
        let encoded = encode(&[0; 512], &block, Lsn(4096), SALT);
        let word = |offset: usize| read_u64(&encoded, offset);
        assert_eq!(word(MAGIC_OFFSET) % 2, 1, "the magic is odd");
        for offset in [BLOCK_LSN_INVERTED_OFFSET, USED_BYTES_OFFSET, SHADOW_CRC_OFFSET] {
            assert!(word(offset) >= 1 << 63, "the word at {offset}");
        }
        assert!(word(BODY_OFFSET) >= 1 << 63, "a checksum and the padding");
        assert!(word(BODY_OFFSET + 8 + 8) >= 1 << 63, "the image of an lsn field");
    }

    /// Every single-bit change of a unit is found and undone; a unit with two bits changed, or
    /// one that is simply other bytes (a torn sector's), is not taken for one.
    #[test]
    fn one_flipped_bit_is_corrected_and_nothing_else() {
        let unit: Vec<u8> =
            (0..512u32).map(|index| u8::try_from(index * 7 % 256).unwrap()).collect();
        let expected = crc32c::crc32c(&unit);
        let mut syndromes = std::collections::BTreeSet::new();
        for bit in 0..4096 {
            let mut flipped = unit.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            syndromes.insert(crc32c::crc32c(&flipped) ^ expected);
            if bit % 97 == 0 {
                assert_eq!(correct_one_bit(&flipped, expected).as_deref(), Some(&unit[..]));
            }
        }
        assert_eq!(syndromes.len(), 4096, "every single-bit change has its own checksum");
        assert!(!syndromes.contains(&0));
        let mut two = unit.clone();
        two[10] ^= 1;
        two[300] ^= 0x10;
        assert_eq!(correct_one_bit(&two, expected), None);
        assert_eq!(correct_one_bit(&[0; 512], expected), None);
    }
}

//! Segment files: their names, their header, and where an LSN lives in them.
//!
//! The log is one stream of bytes cut into segments of `segment_bytes`. Each segment file starts
//! with a [`SEGMENT_HEADER_BYTES`] header block; the rest holds records. Segment `i` holds LSNs
//! `[i * data_bytes, (i + 1) * data_bytes)`, `data_bytes = segment_bytes - SEGMENT_HEADER_BYTES`.
//!
//! Worked example (16 MiB segments): data_bytes = 16,773,120. LSN 20,000,000 lies in segment 1
//! (20,000,000 / 16,773,120 = 1) at file offset 4096 + (20,000,000 - 16,773,120) = 3,230,976.
//!
//! ```text
//! Segment header, little-endian; the rest of the header block is zero.
//! OFFSET SIZE FIELD
//!  0      8   magic            "DDB-WAL\0"
//!  8      4   format_version   2
//! 12      4   segment_bytes    the segment size the log was created with
//! 16      8   segment_index    must match the file name
//! 24      8   salt             random, new each time the file is (re)initialised
//! 32      8   first_lsn        segment_index * data_bytes
//! 40     20   reserved         zero
//! 60      4   header_crc       crc32c(bytes 0..60)
//! ```
//!
//! Files: `wal-<index as 16 hex digits>.seg`; recycled files waiting for reuse are
//! `wal-spare-<n>.seg` and are never read as log.

use disk::File;

use crate::limits::{BLOCK_BYTES_MIN, SEGMENT_HEADER_BYTES};
use crate::lsn::Lsn;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const SEGMENT_BYTES_OFFSET: usize = VERSION_OFFSET + 4;
const INDEX_OFFSET: usize = SEGMENT_BYTES_OFFSET + 4;
const SALT_OFFSET: usize = INDEX_OFFSET + 8;
const FIRST_LSN_OFFSET: usize = SALT_OFFSET + 8;
const RESERVED_OFFSET: usize = FIRST_LSN_OFFSET + 8;
const CRC_OFFSET: usize = RESERVED_OFFSET + 20;
/// Bytes of the header that carry fields; the rest of the block is zero.
pub(crate) const HEADER_FIELDS_BYTES: usize = CRC_OFFSET + 4;
const _: () = assert!(HEADER_FIELDS_BYTES == 64);
const _: () = assert!(HEADER_FIELDS_BYTES <= SEGMENT_HEADER_BYTES);

/// The magic number at the start of every segment.
pub(crate) const MAGIC: [u8; 8] = *b"DDB-WAL\0";
/// The segment format this code writes and reads. Version 2 added the shadow of each batch's
/// last block (`shadow.rs`); version 1 logs are refused (`docs/FORMAT.md`, "Version rules").
pub(crate) const FORMAT_VERSION: u32 = 2;

const FOREIGN_VERSION: &str = "segment format version";

/// Why a header block does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// An intact header of a format version this build does not read: the log belongs to
    /// another build and must be left alone.
    ForeignVersion(String),
    /// No valid header: never written, torn while being written, or damaged.
    Invalid(String),
}

#[cfg(test)]
impl HeaderError {
    pub(crate) fn reason(&self) -> &str {
        match self {
            HeaderError::ForeignVersion(reason) | HeaderError::Invalid(reason) => reason,
        }
    }
}

/// A segment's decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) segment_bytes: u32,
    pub(crate) index: u64,
    pub(crate) salt: u64,
}

impl SegmentHeader {
    /// The header block's bytes.
    pub(crate) fn encode(&self) -> [u8; HEADER_FIELDS_BYTES] {
        let geometry = Geometry::new(self.segment_bytes);
        let mut bytes = [0u8; HEADER_FIELDS_BYTES];
        bytes[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
        bytes[VERSION_OFFSET..SEGMENT_BYTES_OFFSET].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[SEGMENT_BYTES_OFFSET..INDEX_OFFSET]
            .copy_from_slice(&self.segment_bytes.to_le_bytes());
        bytes[INDEX_OFFSET..SALT_OFFSET].copy_from_slice(&self.index.to_le_bytes());
        bytes[SALT_OFFSET..FIRST_LSN_OFFSET].copy_from_slice(&self.salt.to_le_bytes());
        let first_lsn = geometry.segment_start(self.index).0;
        bytes[FIRST_LSN_OFFSET..RESERVED_OFFSET].copy_from_slice(&first_lsn.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..HEADER_FIELDS_BYTES].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes and checks a header block; `Err` says what is wrong.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        Self::decode_fields(bytes).map_err(|reason| {
            if reason.starts_with(FOREIGN_VERSION) {
                HeaderError::ForeignVersion(reason)
            } else {
                HeaderError::Invalid(reason)
            }
        })
    }

    fn decode_fields(bytes: &[u8]) -> Result<Self, String> {
        let Some(fields) = bytes.get(..HEADER_FIELDS_BYTES) else {
            return Err("segment shorter than its header".into());
        };
        let u32_at =
            |offset: usize| u32::from_le_bytes(fields[offset..offset + 4].try_into().expect("4"));
        let u64_at =
            |offset: usize| u64::from_le_bytes(fields[offset..offset + 8].try_into().expect("8"));
        if fields[MAGIC_OFFSET..VERSION_OFFSET] != MAGIC {
            return Err("not a directdb log segment (bad magic)".into());
        }
        if u32_at(CRC_OFFSET) != crc32c::crc32c(&fields[..CRC_OFFSET]) {
            return Err("segment header checksum mismatch".into());
        }
        let version = u32_at(VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(format!(
                "segment format version {version}; this build reads {FORMAT_VERSION}"
            ));
        }
        let segment_bytes = u32_at(SEGMENT_BYTES_OFFSET);
        Geometry::check(segment_bytes)?;
        let header = Self { segment_bytes, index: u64_at(INDEX_OFFSET), salt: u64_at(SALT_OFFSET) };
        let first_lsn = Geometry::new(segment_bytes).segment_start(header.index).0;
        if u64_at(FIRST_LSN_OFFSET) != first_lsn {
            return Err("segment header's first LSN disagrees with its index".into());
        }
        Ok(header)
    }
}

/// Where LSNs live for one segment size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) segment_bytes: u32,
    pub(crate) data_bytes: u64,
}

impl Geometry {
    pub(crate) fn new(segment_bytes: u32) -> Self {
        Self::check(segment_bytes).expect("segment size checked by the caller");
        Self { segment_bytes, data_bytes: u64::from(segment_bytes) - SEGMENT_HEADER_BYTES as u64 }
    }

    /// Whether a segment size is usable.
    pub(crate) fn check(segment_bytes: u32) -> Result<(), String> {
        use crate::limits::{SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&segment_bytes) {
            return Err(format!(
                "segment size {segment_bytes} is outside {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}"
            ));
        }
        if segment_bytes % 4096 != 0 {
            return Err(format!("segment size {segment_bytes} is not a multiple of 4096"));
        }
        Ok(())
    }

    /// The segment holding `lsn`.
    pub(crate) fn segment_of(&self, lsn: Lsn) -> u64 {
        lsn.0 / self.data_bytes
    }

    /// The first LSN of segment `index`.
    pub(crate) fn segment_start(&self, index: u64) -> Lsn {
        Lsn(index.checked_mul(self.data_bytes).expect("segment index overflow"))
    }

    /// The byte offset of `lsn` in its segment's file.
    pub(crate) fn file_offset(&self, lsn: Lsn) -> u64 {
        SEGMENT_HEADER_BYTES as u64 + lsn.0 % self.data_bytes
    }
}

/// The log block of a segment file: its direct-I/O offset alignment, at least
/// [`BLOCK_BYTES_MIN`]. Batches write whole blocks, and a batch's shadow covers its last block.
pub(crate) fn block_bytes(file: &dyn File) -> u64 {
    u64::from(file.info().alignment.offset_bytes).max(BLOCK_BYTES_MIN)
}

/// The file name of segment `index`.
pub(crate) fn file_name(index: u64) -> String {
    format!("wal-{index:016x}.seg")
}

/// The segment index a file name stands for, if it is a segment's name.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".seg")?;
    if digits.len() != 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// The file name of spare number `number`.
pub(crate) fn spare_file_name(number: u64) -> String {
    format!("wal-spare-{number}.seg")
}

/// Whether a file name is a spare's.
pub(crate) fn is_spare_file_name(name: &str) -> bool {
    name.strip_prefix("wal-spare-")
        .and_then(|rest| rest.strip_suffix(".seg"))
        .is_some_and(|digits| digits.parse::<u64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT_BYTES: u32 = 16 << 20;

    #[test]
    fn hand_built_header_round_trips() {
        let mut image = [0u8; 64];
        image[0..8].copy_from_slice(b"DDB-WAL\0");
        image[8..12].copy_from_slice(&2u32.to_le_bytes());
        image[12..16].copy_from_slice(&SEGMENT_BYTES.to_le_bytes());
        image[16..24].copy_from_slice(&3u64.to_le_bytes());
        image[24..32].copy_from_slice(&0xFEED_u64.to_le_bytes());
        image[32..40].copy_from_slice(&(3 * (u64::from(SEGMENT_BYTES) - 4096)).to_le_bytes());
        let crc = crc32c::crc32c(&image[..60]);
        image[60..64].copy_from_slice(&crc.to_le_bytes());
        let header = SegmentHeader { segment_bytes: SEGMENT_BYTES, index: 3, salt: 0xFEED };
        assert_eq!(header.encode(), image);
        assert_eq!(SegmentHeader::decode(&image).unwrap(), header);
    }

    #[test]
    fn damaged_headers_are_rejected_with_a_reason() {
        let header = SegmentHeader { segment_bytes: SEGMENT_BYTES, index: 1, salt: 9 };
        let good = header.encode();
        for index in 0..good.len() {
            let mut damaged = good;
            damaged[index] ^= 1;
            assert!(SegmentHeader::decode(&damaged).is_err(), "flip at {index} accepted");
        }
        assert!(SegmentHeader::decode(&[0; 10]).unwrap_err().reason().contains("shorter"));
        assert!(SegmentHeader::decode(&[0; 64]).unwrap_err().reason().contains("magic"));
        for version in [1, 3] {
            let mut foreign = good;
            foreign[8..12].copy_from_slice(&u32::to_le_bytes(version));
            let crc = crc32c::crc32c(&foreign[..60]);
            foreign[60..64].copy_from_slice(&crc.to_le_bytes());
            let decoded = SegmentHeader::decode(&foreign);
            assert!(matches!(decoded, Err(HeaderError::ForeignVersion(_))), "version {version}");
        }
    }

    #[test]
    fn worked_example_of_the_geometry() {
        let geometry = Geometry::new(SEGMENT_BYTES);
        assert_eq!(geometry.data_bytes, 16_773_120);
        assert_eq!(geometry.segment_of(Lsn(20_000_000)), 1);
        assert_eq!(geometry.file_offset(Lsn(20_000_000)), 3_230_976);
        assert_eq!(geometry.segment_start(1), Lsn(16_773_120));
        assert!(Geometry::check(SEGMENT_BYTES + 512).is_err());
        assert!(Geometry::check(4096).is_err());
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(0x2a), "wal-000000000000002a.seg");
        assert_eq!(parse_file_name(&file_name(0x2a)), Some(0x2a));
        assert_eq!(parse_file_name("wal-2a.seg"), None);
        assert_eq!(parse_file_name("wal-spare-1.seg"), None);
        assert!(is_spare_file_name(&spare_file_name(5)));
        assert!(!is_spare_file_name(&file_name(5)));
    }
}

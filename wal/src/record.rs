//! One log record: a 32-byte header, the payload, and zero padding to an 8-byte boundary.
//!
//! ```text
//! OFFSET SIZE FIELD            (little-endian)
//!  0      4   header_crc       crc32c(segment salt as 8 LE bytes ++ header bytes 4..32)
//!  4      4   payload_crc      crc32c(payload)
//!  8      8   lsn              this record's position; must equal where it is found
//! 16      8   durable_lsn      every log byte below this was durable when the record was written
//! 24      4   payload_bytes    at most RECORD_PAYLOAD_BYTES_MAX
//! 28      1   kind             1 = data, 2 = segment end (0 never parses: zeroed space is no record)
//! 29      1   tag              the caller's record type (data records), 0 for segment end
//! 30      2   reserved         zero
//! 32      n   payload
//! 32+n    p   zero padding, so the next record starts at a multiple of 8
//! ```
//!
//! Invariants a decoded record satisfies (checked in [`decode`], in this order):
//! 1. the header checksum matches, under the salt of the segment it lies in — so a record left
//!    in a recycled segment by its previous use never parses;
//! 2. `lsn` equals the position it was read from — so a record copied or misdirected elsewhere
//!    never parses;
//! 3. `kind` is known and `reserved` is zero; a segment end has no payload and tag 0;
//! 4. the payload fits the limit and the segment, and its checksum matches.

use crate::limits::{RECORD_ALIGN_BYTES, RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX};
use crate::lsn::Lsn;
use crate::planted::{self, Bug};

const HEADER_CRC_OFFSET: usize = 0;
const PAYLOAD_CRC_OFFSET: usize = HEADER_CRC_OFFSET + 4;
const LSN_OFFSET: usize = PAYLOAD_CRC_OFFSET + 4;
const DURABLE_LSN_OFFSET: usize = LSN_OFFSET + 8;
const PAYLOAD_BYTES_OFFSET: usize = DURABLE_LSN_OFFSET + 8;
const KIND_OFFSET: usize = PAYLOAD_BYTES_OFFSET + 4;
const TAG_OFFSET: usize = KIND_OFFSET + 1;
const RESERVED_OFFSET: usize = TAG_OFFSET + 1;
const HEADER_END: usize = RESERVED_OFFSET + 2;
const _: () = assert!(HEADER_END == RECORD_HEADER_BYTES);

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A record of the caller's.
    Data = 1,
    /// The rest of this segment is unused; the log continues at the next segment's start.
    SegmentEnd = 2,
}

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where the record starts.
    pub lsn: Lsn,
    /// The caller's record type.
    pub tag: u8,
    /// The caller's bytes.
    pub payload: Vec<u8>,
}

/// The decoded header of a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) lsn: Lsn,
    pub(crate) durable_lsn: Lsn,
    pub(crate) payload_bytes: usize,
    pub(crate) kind: Kind,
    pub(crate) tag: u8,
}

impl Header {
    /// Bytes the whole record occupies, padding included.
    pub(crate) fn encoded_bytes(&self) -> usize {
        encoded_bytes(self.payload_bytes)
    }
}

/// Bytes a record with a payload of `payload_bytes` occupies, padding included.
pub(crate) fn encoded_bytes(payload_bytes: usize) -> usize {
    (RECORD_HEADER_BYTES + payload_bytes).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// Bytes the record whose header starts `header` occupies, padding included (for records this
/// writer encoded itself; never used on bytes read from disk).
pub(crate) fn encoded_bytes_of(header: &[u8]) -> usize {
    encoded_bytes(read_u32(header, PAYLOAD_BYTES_OFFSET) as usize)
}

/// Bytes the record whose header starts `header_bytes` claims to occupy, read from disk and not
/// yet checked: at most the largest record, and the header's own length if it is cut short.
/// Only says how much to read before [`decode`] judges the record.
pub(crate) fn claimed_bytes(header_bytes: &[u8]) -> usize {
    match header_bytes.get(..HEADER_END) {
        Some(header) => {
            let payload_bytes = read_u32(header, PAYLOAD_BYTES_OFFSET) as usize;
            encoded_bytes(payload_bytes.min(RECORD_PAYLOAD_BYTES_MAX))
        }
        None => HEADER_END,
    }
}

/// Writes a record into `out` (exactly [`encoded_bytes`] long).
pub(crate) fn encode(out: &mut [u8], header: &Header, payload: &[u8], salt: u64) {
    assert_eq!(out.len(), header.encoded_bytes());
    assert_eq!(payload.len(), header.payload_bytes);
    assert!(header.payload_bytes <= RECORD_PAYLOAD_BYTES_MAX);
    assert!(header.lsn.0 % RECORD_ALIGN_BYTES as u64 == 0, "records start 8-aligned");
    let payload_bytes = u32::try_from(payload.len()).expect("bounded by the payload limit");
    out[PAYLOAD_CRC_OFFSET..LSN_OFFSET].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out[LSN_OFFSET..DURABLE_LSN_OFFSET].copy_from_slice(&header.lsn.0.to_le_bytes());
    out[PAYLOAD_BYTES_OFFSET..KIND_OFFSET].copy_from_slice(&payload_bytes.to_le_bytes());
    out[KIND_OFFSET] = header.kind as u8;
    out[TAG_OFFSET] = header.tag;
    out[RESERVED_OFFSET..HEADER_END].fill(0);
    out[HEADER_END..HEADER_END + payload.len()].copy_from_slice(payload);
    out[HEADER_END + payload.len()..].fill(0);
    reseal(out, header.durable_lsn, salt);
}

/// Sets `durable_lsn` in an encoded record and recomputes its header checksum. Called by the
/// writer just before a record first goes to disk; never on a record already written (its
/// bytes must not change when its block is rewritten).
pub(crate) fn reseal(out: &mut [u8], durable_lsn: Lsn, salt: u64) {
    out[DURABLE_LSN_OFFSET..PAYLOAD_BYTES_OFFSET].copy_from_slice(&durable_lsn.0.to_le_bytes());
    let crc = header_crc(&out[..HEADER_END], salt);
    out[HEADER_CRC_OFFSET..PAYLOAD_CRC_OFFSET].copy_from_slice(&crc.to_le_bytes());
}

fn header_crc(header: &[u8], salt: u64) -> u32 {
    let seeded = crc32c::crc32c(&salt.to_le_bytes());
    crc32c::crc32c_append(seeded, &header[PAYLOAD_CRC_OFFSET..HEADER_END])
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

/// Decodes the record at the start of `bytes` (which run to the end of the segment's data),
/// expected at `lsn` in a segment with `salt`. `Err` says why there is no valid record there.
pub(crate) fn decode(bytes: &[u8], lsn: Lsn, salt: u64) -> Result<(Header, &[u8]), &'static str> {
    let Some(header_bytes) = bytes.get(..HEADER_END) else {
        return Err("no room for a record header before the segment ends");
    };
    if header_bytes.iter().all(|&byte| byte == 0) {
        return Err("zeroed space");
    }
    if read_u32(header_bytes, HEADER_CRC_OFFSET) != header_crc(header_bytes, salt) {
        return Err("header checksum mismatch (torn, stale or damaged)");
    }
    if read_u64(header_bytes, LSN_OFFSET) != lsn.0 {
        return Err("header names another LSN");
    }
    let kind = match header_bytes[KIND_OFFSET] {
        1 => Kind::Data,
        2 => Kind::SegmentEnd,
        _ => return Err("unknown record kind"),
    };
    if header_bytes[RESERVED_OFFSET..HEADER_END] != [0, 0] {
        return Err("reserved header bytes are not zero");
    }
    let payload_bytes = read_u32(header_bytes, PAYLOAD_BYTES_OFFSET) as usize;
    let tag = header_bytes[TAG_OFFSET];
    if kind == Kind::SegmentEnd && (payload_bytes != 0 || tag != 0) {
        return Err("segment end with a payload or a tag");
    }
    if payload_bytes > RECORD_PAYLOAD_BYTES_MAX {
        return Err("payload length over the limit");
    }
    let Some(payload) = bytes.get(HEADER_END..HEADER_END + payload_bytes) else {
        return Err("payload runs past the end of the segment");
    };
    if read_u32(header_bytes, PAYLOAD_CRC_OFFSET) != crc32c::crc32c(payload)
        && !planted::active(Bug::AcceptTornTail)
    {
        return Err("payload checksum mismatch (torn or damaged)");
    }
    let durable_lsn = Lsn(read_u64(header_bytes, DURABLE_LSN_OFFSET));
    Ok((Header { lsn, durable_lsn, payload_bytes, kind, tag }, payload))
}

/// The LSN that the record header at the start of `bytes` names, if the header was written by
/// this log under `salt` for a position in `segment` other than `position`: its checksum
/// matches under the salt, and its `lsn` field is another 8-aligned position of the segment.
/// The writer puts every record at its own LSN and a segment's salt is new each time the file
/// is initialised, so no crash leaves such a header: it was copied there by a misdirected
/// write. Garbage matching the checksum by chance (odds 2^-32) would also have to name a
/// position of this segment, so a stale or random header is not taken for one.
pub(crate) fn misplaced(
    bytes: &[u8],
    position: Lsn,
    segment: std::ops::Range<Lsn>,
    salt: u64,
) -> Option<Lsn> {
    let header_bytes = bytes.get(..HEADER_END)?;
    // The cheap test first: recovery runs this at every 8-aligned position of a segment.
    let named = Lsn(read_u64(header_bytes, LSN_OFFSET));
    let aligned = named.0 % RECORD_ALIGN_BYTES as u64 == 0;
    if named == position || !aligned || !segment.contains(&named) {
        return None;
    }
    (read_u32(header_bytes, HEADER_CRC_OFFSET) == header_crc(header_bytes, salt)).then_some(named)
}

/// Whether `bytes` (a segment's data area, which starts at `lsn`) begins with what a record
/// of this log would look like, judged without the segment's salt: the LSN field names this
/// position, the kind is known, and the payload checksum matches. A file that was never part of
/// the log at this position — zero-filled, or a recycled file whose records carry other LSNs —
/// never does. Used when a segment's header is unreadable, to tell "never initialised" from
/// "damaged after use".
pub(crate) fn looks_like_record(bytes: &[u8], lsn: Lsn) -> bool {
    let Some(header_bytes) = bytes.get(..HEADER_END) else { return false };
    let payload_bytes = read_u32(header_bytes, PAYLOAD_BYTES_OFFSET) as usize;
    read_u64(header_bytes, LSN_OFFSET) == lsn.0
        && matches!(header_bytes[KIND_OFFSET], 1 | 2)
        && payload_bytes <= RECORD_PAYLOAD_BYTES_MAX
        && bytes.get(HEADER_END..HEADER_END + payload_bytes).is_some_and(|payload| {
            read_u32(header_bytes, PAYLOAD_CRC_OFFSET) == crc32c::crc32c(payload)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: u64 = 0x0123_4567_89AB_CDEF;

    fn data_header(lsn: u64, payload_bytes: usize) -> Header {
        Header { lsn: Lsn(lsn), durable_lsn: Lsn(64), payload_bytes, kind: Kind::Data, tag: 7 }
    }

    /// The layout table above, built by hand byte by byte: if the comment and the code drift
    /// apart, this fails.
    #[test]
    fn hand_built_byte_image_round_trips() {
        let payload = b"hello";
        let mut image = vec![0u8; 40]; // 32 + 5, padded to 40
        image[8..16].copy_from_slice(&4096u64.to_le_bytes()); // lsn
        image[16..24].copy_from_slice(&64u64.to_le_bytes()); // durable_lsn
        image[24..28].copy_from_slice(&5u32.to_le_bytes()); // payload_bytes
        image[28] = 1; // kind: data
        image[29] = 7; // tag
        image[32..37].copy_from_slice(payload);
        image[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        let mut salted = SALT.to_le_bytes().to_vec();
        salted.extend_from_slice(&image[4..32]);
        image[0..4].copy_from_slice(&crc32c::crc32c(&salted).to_le_bytes());

        let header = data_header(4096, 5);
        let mut encoded = vec![0xAA; header.encoded_bytes()];
        encode(&mut encoded, &header, payload, SALT);
        assert_eq!(encoded, image);
        let (decoded, decoded_payload) = decode(&image, Lsn(4096), SALT).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(decoded_payload, payload);
    }

    #[test]
    fn each_damage_is_rejected() {
        let header = data_header(800, 20);
        let mut record = vec![0; header.encoded_bytes()];
        encode(&mut record, &header, &[9; 20], SALT);
        assert!(decode(&record, Lsn(800), SALT).is_ok());
        assert_eq!(decode(&record, Lsn(808), SALT).unwrap_err(), "header names another LSN");
        assert!(decode(&record, Lsn(800), SALT ^ 1).unwrap_err().contains("checksum"));
        assert!(decode(&record[..40], Lsn(800), SALT).unwrap_err().contains("past the end"));
        assert_eq!(decode(&[0; 64], Lsn(800), SALT).unwrap_err(), "zeroed space");
        for index in 0..record.len() - 4 {
            let mut flipped = record.clone();
            flipped[index] ^= 0x10;
            assert!(decode(&flipped, Lsn(800), SALT).is_err(), "flip at byte {index} accepted");
        }
    }

    #[test]
    fn looks_like_record_ignores_the_salt_but_not_the_position() {
        let header = data_header(4096, 10);
        let mut record = vec![0; header.encoded_bytes()];
        encode(&mut record, &header, &[5; 10], SALT);
        assert!(looks_like_record(&record, Lsn(4096)));
        assert!(!looks_like_record(&record, Lsn(4104)), "another position");
        assert!(!looks_like_record(&[0; 64], Lsn(0)), "zero-filled space");
        record[HEADER_END] ^= 1;
        assert!(!looks_like_record(&record, Lsn(4096)), "damaged payload");
    }

    #[test]
    fn misplaced_names_a_record_of_the_segment_found_elsewhere() {
        let header = data_header(4096, 10);
        let mut record = vec![0; header.encoded_bytes()];
        encode(&mut record, &header, &[5; 10], SALT);
        let segment = Lsn(0)..Lsn(1 << 20);
        assert_eq!(misplaced(&record, Lsn(8192), segment.clone(), SALT), Some(Lsn(4096)));
        assert_eq!(misplaced(&record, Lsn(4096), segment.clone(), SALT), None, "in its place");
        assert_eq!(misplaced(&record, Lsn(8192), segment.clone(), SALT ^ 1), None, "stale salt");
        assert_eq!(misplaced(&record, Lsn(8192), Lsn(1 << 20)..Lsn(2 << 20), SALT), None);
        assert_eq!(misplaced(&[0; 64], Lsn(8192), segment.clone(), SALT), None);
        record[9] ^= 1; // the lsn field: the header checksum no longer matches
        assert_eq!(misplaced(&record, Lsn(8192), segment, SALT), None);
    }

    #[test]
    fn reseal_changes_only_durable_lsn_and_checksum() {
        let header = data_header(0, 3);
        let mut record = vec![0; header.encoded_bytes()];
        encode(&mut record, &header, b"abc", SALT);
        reseal(&mut record, Lsn(4000), SALT);
        let (decoded, _) = decode(&record, Lsn(0), SALT).unwrap();
        assert_eq!(decoded.durable_lsn, Lsn(4000));
        assert_eq!(Header { durable_lsn: Lsn(64), ..decoded }, header);
    }
}

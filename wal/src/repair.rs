//! Repairing the last batch of the log from its shadow (`shadow.rs`).
//!
//! Recovery calls [`find`] where its walk meets the first position P without a valid record,
//! with the valid shadows it found beyond P in the segment, before it decides between a torn
//! tail and corruption. A bit flipped in the last batch leaves P invalid and the shadow intact;
//! a write of the batch torn at P leaves at most part of it. A shadow repairs the batch only
//! when all of these hold:
//!
//! | rule | why |
//! |---|---|
//! | it is valid: magic, this segment's salt, at the end of the block B it names, checksum (`shadow::decode`) | a torn or damaged shadow, or one of an earlier use of the file, is never used |
//! | its batch ends after P, and its checked units lie inside the segment | it describes bytes the walk needs |
//! | each unit from the one holding P (or the shadow's first unit, if that is later) up to B has the checksum the shadow holds for it, as on disk or with one bit corrected | the bytes are the ones the batch wrote; a torn unit holds other bytes, which no single bit turns into them (`shadow::correct_one_bit`) |
//! | the repaired bytes agree with every byte on disk below P in their first unit (in B, if P lies in B) | the walk read those as valid records already |
//! | laid over the segment (B from the shadow's image), the walk from P passes valid data records that end exactly where the shadow ends | the repaired bytes are records of this segment at their own LSNs, and the batch ended there |
//!
//! Blocks before B are full of records once written, and a record's bytes never change, so a
//! shadow kept from an earlier batch (a torn write of the next kept it) still checks the units
//! it names correctly, and its image of B is a prefix of what later batches wrote there: it can
//! only restore bytes the log still holds. The exception would be a shadow written before
//! recovery cut the log, which describes records the cut discarded: recovery zeroes every valid
//! shadow beyond the end of the log that reaches past it (`recovery.rs`, `Wal::open`'s
//! `zero_garbage`), so none survives a cut.
//!
//! A torn write that kept a batch's shadow but lost sectors of the batch may thus restore them
//! when they hold what the batch wrote (B from the image, a unit whose lost and written bytes
//! differ in one bit) for a batch that was never acknowledged: allowed, since the walk stays
//! sequential and the log it recovers is still a prefix of what was appended.

use std::sync::Arc;

use crate::error::Result;
use crate::limits::SHADOW_UNIT_BYTES;
use crate::lsn::Lsn;
use crate::record::{self, Kind};
use crate::segment_reader::{Overlay, SegmentReader};
use crate::shadow::{self, Shadow};

/// The overlay that repairs the walk at `lsn` (the first invalid position, in the segment of
/// `reader`, whose first LSN is `segment_start`) from one of `shadows` (valid shadows of the
/// segment), installed on `reader`; `None` (and `reader` as it was) if none passes every rule
/// above.
pub(crate) fn find(
    reader: &mut SegmentReader,
    segment_start: Lsn,
    lsn: Lsn,
    shadows: &[Shadow],
) -> Result<Option<Arc<Overlay>>> {
    for shadow in shadows {
        let covers = shadow.first_unit_lsn() >= segment_start && shadow.end() > lsn;
        if !covers {
            continue;
        }
        if let Some(overlay) = try_shadow(reader, segment_start, lsn, shadow)? {
            return Ok(Some(overlay));
        }
    }
    Ok(None)
}

/// Lays the bytes `shadow` repairs over the segment if they agree below `lsn` and make the walk
/// from `lsn` end where the shadow ends; returns the overlay, installed on `reader`, or `None`
/// with `reader` as it was.
fn try_shadow(
    reader: &mut SegmentReader,
    segment_start: Lsn,
    lsn: Lsn,
    shadow: &Shadow,
) -> Result<Option<Arc<Overlay>>> {
    let Some((from, bytes)) = repaired_bytes(reader, segment_start, lsn, shadow)? else {
        return Ok(None);
    };
    let offset = usize::try_from(from.0 - segment_start.0).expect("inside the segment");
    // Nothing lies below `lsn` in the repaired bytes if they start after it (the record at
    // `lsn` begins before the shadow's first unit).
    let below_bytes = usize::try_from(lsn.0.saturating_sub(from.0)).expect("inside a block");
    if reader.read(offset, offset + below_bytes)? != &bytes[..below_bytes] {
        return Ok(None);
    }
    let overlay = Arc::new(Overlay { offset, bytes });
    reader.set_overlay(Some(Arc::clone(&overlay)));
    if walks_to(reader, segment_start, lsn, shadow.end())? {
        return Ok(Some(overlay));
    }
    reader.set_overlay(None);
    Ok(None)
}

/// The bytes the batch of `shadow` wrote from the unit holding `lsn` (from the shadow's first
/// unit if that is later, from B's start if `lsn` lies in B) to its end, and where they start:
/// each unit before B as on disk if it has the checksum the shadow holds for it, or with the
/// one bit corrected that gives it that checksum, then B's image. `None` if a unit has
/// neither.
fn repaired_bytes(
    reader: &mut SegmentReader,
    segment_start: Lsn,
    lsn: Lsn,
    shadow: &Shadow,
) -> Result<Option<(Lsn, Vec<u8>)>> {
    let unit_bytes = SHADOW_UNIT_BYTES as u64;
    let from = Lsn(lsn.0 - lsn.0 % unit_bytes).max(shadow.first_unit_lsn()).min(shadow.block_lsn);
    let first_index = usize::try_from((from.0 - shadow.first_unit_lsn().0) / unit_bytes)
        .expect("bounded by SHADOW_UNIT_COUNT_MAX");
    let mut bytes = Vec::new();
    for (index, &expected) in shadow.unit_crcs.iter().enumerate().skip(first_index) {
        let unit_lsn = shadow.first_unit_lsn().plus(index as u64 * unit_bytes);
        let offset = usize::try_from(unit_lsn.0 - segment_start.0).expect("inside the segment");
        let unit = reader.read(offset, offset + SHADOW_UNIT_BYTES)?;
        if crc32c::crc32c(unit) == expected {
            bytes.extend_from_slice(unit);
        } else if let Some(corrected) = shadow::correct_one_bit(unit, expected) {
            bytes.extend_from_slice(&corrected);
        } else {
            return Ok(None);
        }
    }
    bytes.extend_from_slice(&shadow.image);
    Ok(Some((from, bytes)))
}

/// Whether the records from `from` are valid data records, one after the other, and the last
/// ends exactly at `end`.
fn walks_to(reader: &mut SegmentReader, segment_start: Lsn, from: Lsn, end: Lsn) -> Result<bool> {
    let salt = reader.salt();
    let mut lsn = from;
    while lsn < end {
        let offset = usize::try_from(lsn.0 - segment_start.0).expect("inside the segment");
        match record::decode(reader.record_at(offset)?, lsn, salt) {
            Ok((header, _)) if header.kind == Kind::Data => {
                lsn = lsn.plus(header.encoded_bytes() as u64);
            }
            // A segment end is followed by zeros to the segment's end, where no shadow fits.
            Ok(_) | Err(_) => return Ok(false),
        }
    }
    Ok(lsn == end)
}

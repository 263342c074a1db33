//! [`Replay`]: the records recovery found, read one at a time.
//!
//! Recovery first walks the log to find where it ends and whether it is damaged (see
//! `recovery.rs`), keeping no payloads. `Replay` then reads the same records again, segment by
//! segment through a window, so replaying a log of any length holds one record and one window
//! (a few MiB) at a time instead of every payload at once. The second read costs the log's
//! length in sequential reads once more, which is small beside applying the records.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::limits::RECORD_HEADER_BYTES;
use crate::lsn::Lsn;
use crate::record::{self, Kind, Record};
use crate::segment::Geometry;
use crate::segment_reader::{SegmentFile, SegmentReader};

/// The log's records from the LSN recovery started at to the end of the valid log, in order.
///
/// Each item is a record, or an error if the log changed under it since [`crate::Wal::open`]
/// checked it (a record that decoded then and does not now): that ends the replay. Truncating
/// the log ([`crate::Wal::release_before`]) before the replay is drained recycles segments it
/// still has to read, and makes it fail that way; replay first.
pub struct Replay {
    geometry: Geometry,
    /// The segments from the one holding `next` to the one holding the tail, in order.
    segments: VecDeque<SegmentReader>,
    next: Lsn,
    tail: Lsn,
    failed: bool,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Replay")
            .field("next", &self.next)
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl Replay {
    pub(crate) fn new(
        geometry: Geometry,
        segments: Vec<SegmentFile>,
        start: Lsn,
        tail: Lsn,
    ) -> Self {
        let segments =
            segments.into_iter().map(|segment| SegmentReader::new(segment, geometry)).collect();
        Self { geometry, segments, next: start, tail, failed: false }
    }

    /// Whether there is nothing to replay (the log holds no byte from the start LSN on).
    pub fn is_empty(&self) -> bool {
        self.next >= self.tail
    }

    /// Where the valid log ends: the LSN after the last record replay yields.
    pub fn end_lsn(&self) -> Lsn {
        self.tail
    }

    fn read_next(&mut self) -> Result<Option<Record>> {
        while self.next < self.tail {
            let lsn = self.next;
            let index = self.geometry.segment_of(lsn);
            while self.segments.front().is_some_and(|reader| reader.segment().header.index < index)
            {
                self.segments.pop_front();
            }
            let Some(reader) =
                self.segments.front_mut().filter(|reader| reader.segment().header.index == index)
            else {
                return Err(Error::Corruption {
                    path: std::path::PathBuf::from(crate::segment::file_name(index)),
                    lsn,
                    reason: "replay reached a segment recovery did not find".into(),
                });
            };
            let segment_start = self.geometry.segment_start(index);
            let offset = usize::try_from(lsn.0 - segment_start.0).expect("inside the segment");
            let next_segment = self.geometry.segment_start(index + 1);
            if reader.data_bytes() - offset < RECORD_HEADER_BYTES {
                self.next = next_segment; // no room for a record: recovery went on there too
                continue;
            }
            let salt = reader.salt();
            let bytes = reader.record_at(offset)?;
            match record::decode(bytes, lsn, salt) {
                Ok((header, payload)) if header.kind == Kind::Data => {
                    let record = Record { lsn, tag: header.tag, payload: payload.to_vec() };
                    self.next = lsn.plus(header.encoded_bytes() as u64);
                    return Ok(Some(record));
                }
                Ok(_) => self.next = next_segment,
                Err(reason) => {
                    return Err(Error::Corruption {
                        path: reader.path().to_path_buf(),
                        lsn,
                        reason: format!(
                            "{reason}: the record was valid when the log was opened and is not \
                             now (the log changed under its replay)"
                        ),
                    });
                }
            }
        }
        self.segments.clear();
        Ok(None)
    }
}

impl Iterator for Replay {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.failed {
            return None;
        }
        let read = self.read_next();
        self.failed = read.is_err();
        read.transpose()
    }
}

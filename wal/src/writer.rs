//! The writer's side of the log: the tail buffer that appends go into, the batches the group
//! commit leader writes, and the segment files they go to.
//!
//! The buffer holds the log from `buffer_start` (the start of the block holding the durable
//! point) to `lsn_next`. Each batch writes all of it, whole blocks, so the partly filled tail
//! block is rewritten by the next batch. Bytes of records already written never change in a
//! rewrite, so a torn rewrite cannot damage them (each sector is old or new, and both hold the
//! same bytes for them). In the same write, right after the batch's last block, goes the
//! batch's shadow (`shadow.rs`), which the next batch overwrites: recovery repairs the batch
//! from it when the batch is damaged after it was acknowledged.
//!
//! Invariants (checked by [`Tail::check_invariants`]):
//! 1. `buffer_start <= lsn_durable <= lsn_next`, `buffer_start` is block-aligned, and
//!    `buffer.len() == lsn_next - buffer_start`.
//! 2. Every record appended since the last batch is listed in `unsealed`, so its `durable_lsn`
//!    is set just before it is first written.
//! 3. The segment holding `lsn_next` is open and initialised (its header is durable), unless
//!    `lsn_next` is exactly a segment's first byte: then the next append opens it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use disk::{AlignedBuf, Disk, File, FlushMethod, IoMode, OpenOptions};

use crate::error::{Error, Result};
use crate::group_commit::CommitState;
use crate::limits::{
    RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES, SHADOW_UNIT_BYTES,
    SHADOW_UNIT_COUNT_MAX,
};
use crate::lsn::Lsn;
use crate::planted::{self, Bug};
use crate::record::{self, Header, Kind};
use crate::segment::{self, Geometry, SegmentHeader};
use crate::shadow;

/// An open, initialised segment.
#[derive(Debug, Clone)]
pub(crate) struct OpenSegment {
    pub(crate) file: Arc<dyn File>,
    pub(crate) salt: u64,
}

/// The appending end of the log.
pub(crate) struct Tail {
    pub(crate) disk: Arc<dyn Disk>,
    pub(crate) directory: PathBuf,
    pub(crate) geometry: Geometry,
    pub(crate) block_bytes: u64,
    pub(crate) flush_method: FlushMethod,
    pub(crate) lsn_next: Lsn,
    pub(crate) lsn_durable: Lsn,
    pub(crate) buffer_start: Lsn,
    pub(crate) buffer: Vec<u8>,
    /// Offsets in `buffer` of records appended since the last batch.
    pub(crate) unsealed: Vec<usize>,
    /// Open segments by index: the current one, possibly the next.
    pub(crate) segments: BTreeMap<u64, OpenSegment>,
    /// Recycled files waiting for reuse.
    pub(crate) spares: Vec<PathBuf>,
    pub(crate) spare_counter: u64,
    pub(crate) failure: Option<String>,
    /// The segment a leader is initialising outside the lock, if any. Nobody else initialises
    /// it meanwhile: two initialisations would give it two salts.
    pub(crate) preparing: Option<u64>,
    pub(crate) stats: TailStats,
}

/// Counters kept under the log's lock.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct TailStats {
    pub(crate) records_appended: u64,
    pub(crate) bytes_appended: u64,
    pub(crate) batches_written: u64,
    pub(crate) bytes_written: u64,
    pub(crate) segments_initialised: u64,
    pub(crate) segments_recycled: u64,
    pub(crate) segments_prepared_ahead: u64,
}

/// What a leader writes: whole blocks of one or two segments, up to `end`.
pub(crate) struct Batch {
    pub(crate) writes: Vec<(Arc<dyn File>, u64, AlignedBuf)>,
    pub(crate) end: Lsn,
    pub(crate) flush_method: FlushMethod,
}

impl Tail {
    /// Appends a record; returns `(start, end)`: where it is, and the LSN to wait for. `None`
    /// when the record needs a segment that another thread is initialising: retry shortly.
    pub(crate) fn append(&mut self, tag: u8, payload: &[u8]) -> Result<Option<(Lsn, Lsn)>> {
        if let Some(reason) = &self.failure {
            return Err(Error::Failed { reason: reason.clone() });
        }
        if payload.len() > RECORD_PAYLOAD_BYTES_MAX {
            return Err(Error::RecordTooLarge {
                payload_bytes: payload.len(),
                limit_bytes: RECORD_PAYLOAD_BYTES_MAX,
            });
        }
        let encoded_bytes = record::encoded_bytes(payload.len()) as u64;
        let segment_index = self.geometry.segment_of(self.lsn_next);
        // The previous record may have ended exactly at its segment's end, leaving `lsn_next`
        // on the first byte of a segment nobody has opened yet.
        let opened = self.ensure_segment(segment_index);
        if !self.sticky(opened)? {
            return Ok(None);
        }
        let segment_end = self.geometry.segment_start(segment_index + 1);
        if self.lsn_next.plus(encoded_bytes) > segment_end {
            let opened = self.ensure_segment(segment_index + 1);
            if !self.sticky(opened)? {
                return Ok(None);
            }
            self.end_segment(segment_end);
        }
        let start = self.lsn_next;
        self.push_record(Kind::Data, tag, payload);
        self.stats.records_appended += 1;
        self.stats.bytes_appended += encoded_bytes;
        Ok(Some((start, self.lsn_next)))
    }

    /// Records a failure to initialise a segment as the log's failure. A failed `fdatasync` or
    /// directory sync leaves the file's durable state unknown, and a retry could report success
    /// without making the earlier work durable (Linux marks the pages clean after a failed
    /// flush), so the log stops until it is reopened and recovered.
    fn sticky<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(error) = &result {
            self.failure.get_or_insert_with(|| format!("initialising a log segment: {error}"));
        }
        result
    }

    /// Closes the current segment, which ends at `segment_end`: a segment-end record if there
    /// is room for one, then zeros to its end. The next segment is already open.
    fn end_segment(&mut self, segment_end: Lsn) {
        let room_bytes = segment_end.0 - self.lsn_next.0;
        if room_bytes >= RECORD_HEADER_BYTES as u64 {
            self.push_record(Kind::SegmentEnd, 0, &[]);
        }
        let padding_bytes =
            usize::try_from(segment_end.0 - self.lsn_next.0).expect("below a segment");
        self.buffer.resize(self.buffer.len() + padding_bytes, 0);
        self.lsn_next = segment_end;
    }

    fn push_record(&mut self, kind: Kind, tag: u8, payload: &[u8]) {
        let header = Header {
            lsn: self.lsn_next,
            durable_lsn: self.lsn_durable,
            payload_bytes: payload.len(),
            kind,
            tag,
        };
        let salt = self.salt_of(self.lsn_next);
        let offset = self.buffer.len();
        self.buffer.resize(offset + header.encoded_bytes(), 0);
        record::encode(&mut self.buffer[offset..], &header, payload, salt);
        self.unsealed.push(offset);
        self.lsn_next = self.lsn_next.plus(header.encoded_bytes() as u64);
    }

    fn salt_of(&self, lsn: Lsn) -> u64 {
        let index = self.geometry.segment_of(lsn);
        self.segments.get(&index).expect("the segment of lsn_next is open").salt
    }

    /// Opens segment `index`, initialising it here (new salt, durable header, durable
    /// directory entry) unless it is already open. `false` when another thread is initialising
    /// it: the caller retries once it is installed.
    pub(crate) fn ensure_segment(&mut self, index: u64) -> Result<bool> {
        if self.segments.contains_key(&index) {
            return Ok(true);
        }
        if self.preparing == Some(index) {
            return Ok(false);
        }
        let segment = self.segment_job(index).run()?;
        self.segments.insert(index, segment);
        self.stats.segments_initialised += 1;
        Ok(true)
    }

    /// The job of initialising segment `index`, taking a spare for it if one is free.
    fn segment_job(&mut self, index: u64) -> SegmentJob {
        let spare = self.spares.pop();
        if spare.is_some() {
            self.stats.segments_recycled += 1;
        }
        SegmentJob {
            disk: Arc::clone(&self.disk),
            directory: self.directory.clone(),
            segment_bytes: self.geometry.segment_bytes,
            index,
            spare,
        }
    }

    /// The next segment's initialisation, for a leader to run outside the lock, once the
    /// current segment is half full and nobody has started it.
    pub(crate) fn next_segment_job(&mut self) -> Option<SegmentJob> {
        let current = self.geometry.segment_of(self.lsn_next);
        let used_bytes = self.lsn_next.0 - self.geometry.segment_start(current).0;
        let next = current + 1;
        let wanted = used_bytes >= self.geometry.data_bytes / 2
            && self.failure.is_none()
            && self.preparing.is_none()
            && !self.segments.contains_key(&next);
        if !wanted {
            return None;
        }
        self.preparing = Some(next);
        Some(self.segment_job(next))
    }

    /// Installs a segment prepared outside the lock (or records why it could not be).
    pub(crate) fn install(&mut self, index: u64, result: Result<OpenSegment>) {
        assert_eq!(self.preparing, Some(index), "installing a segment nobody prepared");
        self.preparing = None;
        match result {
            Ok(segment) => {
                self.segments.insert(index, segment);
                self.stats.segments_initialised += 1;
                self.stats.segments_prepared_ahead += 1;
            }
            Err(error) => {
                self.failure.get_or_insert_with(|| format!("initialising a log segment: {error}"));
            }
        }
    }

    /// Stamps `durable_lsn` into every record not yet written and cuts the buffer into one
    /// aligned write per segment it spans, the last followed by the shadow of the batch's last
    /// block when it fits in that block's segment.
    fn seal_and_cut(&mut self) -> Vec<(Arc<dyn File>, u64, AlignedBuf)> {
        let durable_lsn = self.lsn_durable;
        for offset in std::mem::take(&mut self.unsealed) {
            let lsn = self.buffer_start.plus(offset as u64);
            let salt = self.salt_of(lsn);
            let header_end = offset + RECORD_HEADER_BYTES;
            let length = record::encoded_bytes_of(&self.buffer[offset..header_end]);
            record::reseal(&mut self.buffer[offset..offset + length], durable_lsn, salt);
        }
        let shadow = self.shadow();
        let block_bytes = usize::try_from(self.block_bytes).expect("at most 4096");
        let mut writes = Vec::new();
        let mut lsn = self.buffer_start;
        while lsn < self.lsn_next {
            let index = self.geometry.segment_of(lsn);
            let part_end = self.geometry.segment_start(index + 1).min(self.lsn_next);
            let from = usize::try_from(lsn.0 - self.buffer_start.0).expect("buffer offset");
            let to = usize::try_from(part_end.0 - self.buffer_start.0).expect("buffer offset");
            let records_bytes = (to - from).next_multiple_of(block_bytes);
            // The shadow starts right after the block holding the batch's last byte, which is
            // the last block of the last part.
            let shadow = shadow.as_deref().filter(|_| part_end == self.lsn_next).unwrap_or(&[]);
            let shadow_bytes = shadow.len().next_multiple_of(block_bytes);
            let file = &self.segments.get(&index).expect("segments of the buffer are open").file;
            let mut buf =
                AlignedBuf::for_alignment(records_bytes + shadow_bytes, file.info().alignment);
            buf[..to - from].copy_from_slice(&self.buffer[from..to]);
            buf[records_bytes..records_bytes + shadow.len()].copy_from_slice(shadow);
            writes.push((Arc::clone(file), self.geometry.file_offset(lsn), buf));
            lsn = part_end;
        }
        writes
    }

    /// The batch's shadow (`shadow.rs`), to be written from the end of block B, the block
    /// holding the batch's last byte: B's bytes from its start to `lsn_next`, and the checksum of
    /// each 512-byte unit the batch writes in B's segment before B (at most
    /// [`SHADOW_UNIT_COUNT_MAX`]). `None` if it would not end inside B's segment: a batch ending
    /// in the last block or two of a segment (with a segment end record, or a record that ends
    /// at the segment's end) has no shadow.
    fn shadow(&self) -> Option<Vec<u8>> {
        let last_byte = Lsn(self.lsn_next.0 - 1);
        let block_lsn = Lsn(last_byte.0 - last_byte.0 % self.block_bytes);
        let used_bytes = usize::try_from(self.lsn_next.0 - block_lsn.0).expect("within a block");
        let index = self.geometry.segment_of(last_byte);
        let checked_units_bytes = (SHADOW_UNIT_COUNT_MAX * SHADOW_UNIT_BYTES) as u64;
        // The batch's write starts at `buffer_start`, a block boundary; a unit never straddles
        // a block, and a segment starts at a multiple of 4096.
        let first_unit_lsn = self
            .buffer_start
            .max(self.geometry.segment_start(index))
            .max(Lsn(block_lsn.0.saturating_sub(checked_units_bytes)));
        let unit_count =
            usize::try_from((block_lsn.0 - first_unit_lsn.0) / SHADOW_UNIT_BYTES as u64)
                .expect("bounded by SHADOW_UNIT_COUNT_MAX");
        let shadow_bytes = shadow::encoded_bytes(used_bytes, unit_count) as u64;
        let segment_end = self.geometry.segment_start(index + 1);
        if block_lsn.plus(self.block_bytes + shadow_bytes) > segment_end {
            return None;
        }
        let offset_of =
            |lsn: Lsn| usize::try_from(lsn.0 - self.buffer_start.0).expect("buffer offset");
        let units = &self.buffer[offset_of(first_unit_lsn)..offset_of(block_lsn)];
        let image = &self.buffer[offset_of(block_lsn)..offset_of(self.lsn_next)];
        Some(shadow::encode(units, image, block_lsn, self.salt_of(last_byte)))
    }

    /// Moves the durable point to `end` and drops the buffered blocks wholly below it.
    fn advance(&mut self, end: Lsn) {
        self.lsn_durable = end;
        let new_start = Lsn(end.0 - end.0 % self.block_bytes);
        let dropped = usize::try_from(new_start.0 - self.buffer_start.0).expect("buffer offset");
        self.buffer.drain(..dropped);
        // Records appended by other committers while this batch was being written sit at
        // offsets measured from the old buffer start: move them with it. Each lies at or after
        // `end`, so past the dropped blocks.
        for offset in &mut self.unsealed {
            assert!(*offset >= dropped, "an unsealed record lies in a dropped block");
            *offset -= dropped;
        }
        self.buffer_start = new_start;
        // Segments wholly below the buffer are finished: close them.
        let first_needed = self.geometry.segment_of(self.buffer_start);
        self.segments.retain(|&index, _| index >= first_needed);
    }

    pub(crate) fn check_invariants(&self) {
        assert!(self.buffer_start <= self.lsn_durable, "buffer starts after the durable point");
        assert!(self.lsn_durable <= self.lsn_next, "durable point beyond the appended log");
        assert_eq!(self.buffer_start.0 % self.block_bytes, 0, "buffer start not block-aligned");
        assert_eq!(self.buffer.len() as u64, self.lsn_next.0 - self.buffer_start.0);
        let index = self.geometry.segment_of(self.lsn_next);
        let on_boundary = self.lsn_next == self.geometry.segment_start(index);
        assert!(self.segments.contains_key(&index) || on_boundary, "tail segment not open");
        for &offset in &self.unsealed {
            assert!(self.buffer_start.plus(offset as u64) >= self.lsn_durable, "sealed twice");
        }
    }
}

impl CommitState for Tail {
    type Batch = Batch;

    fn lsn_durable(&self) -> Lsn {
        self.lsn_durable
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }

    fn take_batch(&mut self) -> Option<Batch> {
        if self.lsn_next == self.lsn_durable {
            return None;
        }
        let writes = self.seal_and_cut();
        Some(Batch { writes, end: self.lsn_next, flush_method: self.flush_method })
    }

    fn finish_batch(&mut self, batch: Batch, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.stats.batches_written += 1;
                self.stats.bytes_written +=
                    batch.writes.iter().map(|(_, _, buf)| buf.len() as u64).sum::<u64>();
                self.advance(batch.end);
            }
            // The first failure is the one reported; the log is unusable from here on.
            Err(reason) => {
                self.failure.get_or_insert(reason);
            }
        }
    }
}

/// Writes a batch and makes it durable with its flush method. Runs without the log's lock.
pub(crate) fn write_batch(batch: &Batch) -> Result<(), String> {
    let method = batch.flush_method;
    for (file, offset, buf) in &batch.writes {
        method.write(&**file, buf, *offset).map_err(|error| error.to_string())?;
    }
    if method.needs_sync() {
        for (file, _, _) in &batch.writes {
            file.sync_data().map_err(|error| error.to_string())?;
        }
    }
    Ok(())
}

/// The work of initialising one segment, detached from the log's lock so a leader can do it
/// ahead of need without stalling committers.
pub(crate) struct SegmentJob {
    disk: Arc<dyn Disk>,
    directory: PathBuf,
    segment_bytes: u32,
    pub(crate) index: u64,
    /// A recycled file to rename into place if the segment's file does not exist.
    spare: Option<PathBuf>,
}

impl SegmentJob {
    /// Opens the segment's file for writing: reuses it, renames the spare to it, or creates and
    /// pre-zeroes a new one; writes a header with a fresh salt; makes header and directory entry
    /// durable.
    pub(crate) fn run(self) -> Result<OpenSegment> {
        let path = self.directory.join(segment::file_name(self.index));
        let disk = &self.disk;
        if !disk.exists(&path)?
            && let Some(spare) = &self.spare
        {
            disk.rename(spare, &path)?;
        }
        let options =
            OpenOptions { create: true, io_mode: Some(IoMode::Direct), ..OpenOptions::default() };
        let file = disk.open(&path, options)?;
        file.allocate(u64::from(self.segment_bytes))?;
        let salt = rand::random::<u64>();
        let header = SegmentHeader { segment_bytes: self.segment_bytes, index: self.index, salt };
        let mut block = AlignedBuf::for_alignment(SEGMENT_HEADER_BYTES, file.info().alignment);
        block[..segment::HEADER_FIELDS_BYTES].copy_from_slice(&header.encode());
        // The header must be durable before any record in this segment is: records are only
        // valid under this salt.
        file.write_at(&block, 0)?;
        file.sync_data()?;
        // The file may be new or renamed from a spare: make its name durable too (one directory
        // fsync per segment).
        planted::unless(Bug::SkipSegmentDirSync, || disk.sync_dir(&self.directory))?;
        Ok(OpenSegment { file, salt })
    }
}

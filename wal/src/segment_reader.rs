//! Reading a segment's data area through a window of [`READ_WINDOW_BYTES`], so that recovery
//! and replay hold a few MiB however large the segments are.
//!
//! Recovery used to read each segment whole and keep every segment it had walked, and handed
//! the caller every record's payload at once: opening a database whose log held 16 MiB segments
//! took 30-60 MiB of heap for a moment, memory a budgeted process does not have.
//!
//! A segment may carry an [`Overlay`]: bytes recovery repaired from a shadow (`repair.rs`), laid
//! over the file's bytes in every read, so that the walk, the replay and the writer's tail block
//! all see the repaired bytes whether or not they have been written back yet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{AlignedBuf, File};

use crate::error::Result;
use crate::limits::{READ_WINDOW_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::record;
use crate::segment::{Geometry, SegmentHeader};

/// Bytes [`SegmentReader::chunk_at`] makes readable at once.
const CHUNK_BYTES: usize = 64 << 10;
const _: () = assert!(CHUNK_BYTES >= RECORD_HEADER_BYTES);

/// A segment whose header was read and found valid, and whose file holds a whole segment.
#[derive(Clone)]
pub(crate) struct SegmentFile {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn File>,
    pub(crate) header: SegmentHeader,
    /// Bytes read in place of the file's, if recovery repaired bytes of this segment.
    pub(crate) overlay: Option<Arc<Overlay>>,
}

/// Bytes of a segment's data area that reads take from memory instead of the file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overlay {
    /// Where they start in the data area.
    pub(crate) offset: usize,
    pub(crate) bytes: Vec<u8>,
}

impl Overlay {
    /// Lays the overlay over `window`, which holds the data area from `window_start`.
    fn apply(&self, window_start: usize, window: &mut [u8]) {
        let from = self.offset.max(window_start);
        let to = (self.offset + self.bytes.len()).min(window_start + window.len());
        if from < to {
            window[from - window_start..to - window_start]
                .copy_from_slice(&self.bytes[from - self.offset..to - self.offset]);
        }
    }
}

/// Windowed reads of one segment's data area (everything after the header block).
pub(crate) struct SegmentReader {
    segment: SegmentFile,
    data_bytes: usize,
    /// Allocated on the first read and released by [`SegmentReader::release`].
    window: Option<AlignedBuf>,
    /// The data offset of `window[0]`.
    window_start: usize,
    /// Bytes of `window` read from the file.
    window_len: usize,
}

impl SegmentReader {
    pub(crate) fn new(segment: SegmentFile, geometry: Geometry) -> Self {
        let data_bytes = usize::try_from(geometry.data_bytes).expect("a segment fits memory");
        Self { segment, data_bytes, window: None, window_start: 0, window_len: 0 }
    }

    pub(crate) fn segment(&self) -> &SegmentFile {
        &self.segment
    }

    pub(crate) fn path(&self) -> &Path {
        &self.segment.path
    }

    pub(crate) fn salt(&self) -> u64 {
        self.segment.header.salt
    }

    /// Lays `overlay` over the segment's bytes from now on (`None`: the file's bytes again).
    pub(crate) fn set_overlay(&mut self, overlay: Option<Arc<Overlay>>) {
        self.segment.overlay = overlay;
        self.window_len = 0; // read again, with or without the overlay
    }

    /// Bytes in the data area.
    pub(crate) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Frees the window (the next read allocates it again).
    pub(crate) fn release(&mut self) {
        self.window = None;
        self.window_len = 0;
    }

    /// The bytes from `offset` that the record starting there claims, as far as the data area
    /// goes: what [`record::decode`] needs to judge the record at `offset`. A header whose
    /// length field is damaged claims at most the largest record.
    pub(crate) fn record_at(&mut self, offset: usize) -> Result<&[u8]> {
        let header_end = (offset + RECORD_HEADER_BYTES).min(self.data_bytes);
        self.cover(offset, header_end)?;
        let claimed = record::claimed_bytes(self.window_slice(offset, header_end));
        let end = (offset + claimed).min(self.data_bytes).max(header_end);
        self.cover(offset, end)?;
        Ok(self.window_slice(offset, end))
    }

    /// At least [`CHUNK_BYTES`] from `offset` (fewer only at the end of the data area), and as
    /// many more as the window holds already.
    pub(crate) fn chunk_at(&mut self, offset: usize) -> Result<&[u8]> {
        self.cover(offset, (offset + CHUNK_BYTES).min(self.data_bytes))?;
        Ok(self.window_slice(offset, self.window_start + self.window_len))
    }

    /// The bytes `[from, to)` of the data area (at most a window's worth).
    pub(crate) fn read(&mut self, from: usize, to: usize) -> Result<&[u8]> {
        self.cover(from, to)?;
        Ok(self.window_slice(from, to))
    }

    fn window_slice(&self, from: usize, to: usize) -> &[u8] {
        let window = self.window.as_ref().expect("covered");
        &window[from - self.window_start..to - self.window_start]
    }

    /// Makes `[from, to)` of the data area readable in the window, reading from the file if it
    /// is not already.
    fn cover(&mut self, from: usize, to: usize) -> Result<()> {
        assert!(from <= to && to <= self.data_bytes, "outside the segment's data");
        let window_end = self.window_start + self.window_len;
        if self.window.is_some() && self.window_start <= from && to <= window_end {
            return Ok(());
        }
        let alignment = self.segment.file.info().alignment;
        let block_bytes = (alignment.offset_bytes as usize).max(512);
        let start = from - from % block_bytes;
        let length = READ_WINDOW_BYTES.min(self.data_bytes - start);
        assert!(to - start <= length, "a record is larger than the read window");
        let window = self
            .window
            .get_or_insert_with(|| AlignedBuf::for_alignment(READ_WINDOW_BYTES, alignment));
        // From a block boundary, and the data area's length is a multiple of 4096 (and of the
        // block size), so `length` is too: the read is aligned and stays inside the file.
        self.window_len = 0;
        let file_offset = (SEGMENT_HEADER_BYTES + start) as u64;
        self.segment.file.read_at(&mut window[..length], file_offset)?;
        if let Some(overlay) = &self.segment.overlay {
            overlay.apply(start, &mut window[..length]);
        }
        self.window_start = start;
        self.window_len = length;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use disk::{Disk, OpenOptions, SimDisk};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::limits::RECORD_PAYLOAD_BYTES_MAX;

    /// Whatever the window held before, `record_at` and `chunk_at` give the bytes a whole read
    /// of the data area would: `record_at` as far as the header there claims (at most the
    /// largest record, at most the data's end), `chunk_at` at least a chunk.
    #[test]
    fn windowed_reads_match_the_whole_data_area() {
        let geometry = Geometry::new(8 << 20);
        let data_bytes = usize::try_from(geometry.data_bytes).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut data = vec![0u8; data_bytes];
        rng.fill(&mut data[..]);
        // Headers claiming lengths from tiny to over the limit, some near the end.
        let mut claimed_at = Vec::new();
        for _ in 0..200 {
            let offset = rng.random_range(0..data_bytes - 32) / 8 * 8;
            let limit = u32::try_from(RECORD_PAYLOAD_BYTES_MAX).unwrap();
            let payload_bytes: u32 = rng.random_range(0..limit + 5000);
            data[offset + 24..offset + 28].copy_from_slice(&payload_bytes.to_le_bytes());
            claimed_at.push(offset);
        }
        claimed_at.extend([0, data_bytes - 32, data_bytes - 8, data_bytes - 1_000_000]);
        let disk = SimDisk::with_seed(1);
        let path = std::path::Path::new("/segment");
        let file = disk.open(path, OpenOptions::create()).unwrap();
        let mut image = AlignedBuf::zeroed(SEGMENT_HEADER_BYTES + data_bytes, 4096);
        image[SEGMENT_HEADER_BYTES..].copy_from_slice(&data);
        file.write_at(&image, 0).unwrap();
        let header = SegmentHeader { segment_bytes: geometry.segment_bytes, index: 0, salt: 1 };
        let segment = SegmentFile { path: path.to_path_buf(), file, header, overlay: None };
        let mut reader = SegmentReader::new(segment, geometry);

        for &offset in &claimed_at {
            let expected_end = (offset + record::claimed_bytes(&data[offset..])).min(data_bytes);
            assert_eq!(
                reader.record_at(offset).unwrap(),
                &data[offset..expected_end.max(offset + 32).min(data_bytes)]
            );
            let chunk = reader.chunk_at(offset).unwrap();
            assert!(chunk.len() >= CHUNK_BYTES.min(data_bytes - offset));
            assert_eq!(chunk, &data[offset..offset + chunk.len()]);
            if rng.random_bool(0.1) {
                reader.release();
            }
        }
    }
}

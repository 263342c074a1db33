//! Finding the end of the log after a crash, and telling a torn tail from corruption.
//!
//! Recovery reads records from the start LSN it is given until the first position that holds
//! no valid record. What that position means is decided by what lies beyond it:
//!
//! | beyond the first invalid record at P                                | verdict        |
//! |---------------------------------------------------------------------|----------------|
//! | nothing valid (zeros, stale records of an older salt, garbage)       | torn tail: the log ends at P |
//! | valid records, all with `durable_lsn <= P`                          | torn tail: they were in the same unacknowledged batch as P |
//! | a valid record with `durable_lsn > P`                               | corruption: P was durable (acknowledged) before that record was written |
//! | anywhere in P's segment, a header valid under the salt naming another position of the segment | corruption: a misdirected write |
//! | a segment end leads to a segment that is missing or has a bad header | corruption     |
//! | the segment ends without a segment end (a record filled it, or no room for one), and the next segment is missing or has a bad header, and its data does not start with a record at its first LSN | the log ends at the segment's end |
//! | the same, but its data starts with a record at its first LSN (judged on what the file holds, if it is short) | corruption: it was in use and its header was damaged |
//! | the same, but the next segment has a valid header and is shorter than a segment | corruption: it was cut after it was initialised |
//! | the first segment needed is missing or its header is bad            | corruption     |
//! | no segment has a readable header, and none holds a record at its first LSN | a new log (the segment files are removed) |
//! | no segment has a readable header, but one holds a record at its first LSN | corruption |
//! | a segment header of another format version                          | `Error::Incompatible`; nothing is changed |
//!
//! Before any of these verdicts, the first invalid record may be repaired: if a valid shadow
//! beyond it in its segment rebuilds its batch by the rules in `repair.rs`, the rebuilt bytes
//! are laid over the segment and the walk goes on through them (at most once per recovery: only
//! the last batch's shadow can be found intact). `Wal::open` writes them back before the log
//! accepts appends.
//!
//! After a cut, the segment files after the tail's segment are removed before the log is written
//! again (their records were never acknowledged), and in the tail's segment every record valid
//! under the salt beyond the tail, and every valid shadow beyond it whose batch ends past it, is
//! zeroed: a shadow of the discarded records must never repair the records written there next.
//!
//! `durable_lsn` is stamped into each record when it is first written, so a record of a later
//! batch proves that every earlier batch had completed. What no later record vouches for — the
//! last batch — its shadow vouches for: any damage to its last block, and one flipped bit per
//! 512-byte unit before it, is repaired; other damage there still reads as a torn tail (see
//! `docs/DURABILITY.md`, "The blind spot"). A misdirected write of it is caught where it landed:
//! no crash leaves a record header of this segment's salt at a position other than the one it
//! names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{AlignedBuf, Disk, File, IoMode, OpenOptions};

use crate::error::{Error, Result};
use crate::limits::{
    BLOCK_BYTES_MIN, RECORD_ALIGN_BYTES, RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX,
    SEGMENT_HEADER_BYTES, SHADOW_HEADER_BYTES,
};
use crate::lsn::Lsn;
use crate::record::{self, Kind};
use crate::repair;
use crate::replay::Replay;
use crate::segment::{self, Geometry, HeaderError, SegmentHeader};
use crate::segment_reader::{SegmentFile, SegmentReader};
use crate::shadow::{self, Shadow};

/// What recovery found.
pub(crate) struct Recovered {
    pub(crate) geometry: Geometry,
    /// Where the valid log ends: the next record goes here.
    pub(crate) tail: Lsn,
    /// The segment holding `tail`, if it exists and is initialised.
    pub(crate) tail_segment: Option<SegmentReader>,
    /// End of the last record beyond `tail` in its segment that is valid under the segment's
    /// salt (left by a torn batch), or of the last valid shadow beyond it that reaches past it;
    /// `[tail, garbage_end)` is zeroed before the log is written again.
    pub(crate) garbage_end: Option<Lsn>,
    /// The bytes repaired from a shadow, if the walk needed them: written back before the log
    /// is written again.
    pub(crate) repaired: Option<Repaired>,
    pub(crate) spares: Vec<PathBuf>,
    pub(crate) spare_counter: u64,
    /// Segment files after the tail's segment: they hold nothing acknowledged (the log ends
    /// before them) and are removed before the log is written again, or a later recovery could
    /// walk into their stale records.
    pub(crate) beyond_tail: Vec<PathBuf>,
}

/// Bytes of a segment that recovery repaired from a shadow.
pub(crate) struct Repaired {
    /// The segment, with the repaired bytes as its overlay.
    pub(crate) segment: SegmentFile,
    /// The first invalid record the shadow repaired: where the log on disk was damaged.
    pub(crate) lsn: Lsn,
}

/// Recovers the log in `directory` from `start` (a record boundary: 0 or a checkpoint's LSN):
/// what the writer needs, and the records from `start` to the tail, to be read.
pub(crate) fn recover(
    disk: &Arc<dyn Disk>,
    directory: &Path,
    segment_bytes: u32,
    start: Lsn,
) -> Result<(Recovered, Replay)> {
    let inventory = Inventory::read(disk, directory)?;
    let Some(geometry) = inventory.geometry(disk)? else {
        inventory.refuse_if_any_looks_used(disk)?;
        if start != Lsn::ZERO {
            return Err(corruption(
                directory,
                start,
                "no initialised log segment, but recovery must start here",
            ));
        }
        let geometry = Geometry::new(segment_bytes);
        return Ok((inventory.fresh(geometry), Replay::new(geometry, Vec::new(), start, start)));
    };
    let mut scan =
        Scan { disk, inventory: &inventory, geometry, loaded: BTreeMap::new(), repaired: None };
    let first_index = geometry.segment_of(start);
    if scan.load(first_index)?.is_none() {
        let path = inventory.path_of(first_index);
        return Err(corruption(
            &path,
            start,
            "the segment holding the recovery start is missing or uninitialised",
        ));
    }
    let (tail, garbage_end) = scan.run(start)?;
    let tail_index = geometry.segment_of(tail);
    let walked =
        scan.loaded.range(first_index..=tail_index).filter_map(|(_, reader)| reader.as_ref());
    let replay =
        Replay::new(geometry, walked.map(|reader| reader.segment().clone()).collect(), start, tail);
    let repaired = scan.repaired.map(|(index, lsn)| {
        let reader = scan.loaded.get(&index).and_then(Option::as_ref).expect("walked");
        Repaired { segment: reader.segment().clone(), lsn }
    });
    let tail_segment = scan.loaded.remove(&tail_index).flatten();
    let beyond_tail =
        inventory.segments.range(tail_index + 1..).map(|(_, path)| path.clone()).collect();
    let recovered = Recovered {
        geometry,
        tail,
        tail_segment,
        garbage_end,
        repaired,
        spares: inventory.spares,
        spare_counter: inventory.spare_counter,
        beyond_tail,
    };
    Ok((recovered, replay))
}

fn corruption(path: &Path, lsn: Lsn, reason: impl Into<String>) -> Error {
    Error::Corruption { path: path.to_path_buf(), lsn, reason: reason.into() }
}

/// The files in the log's directory.
struct Inventory {
    directory: PathBuf,
    segments: BTreeMap<u64, PathBuf>,
    spares: Vec<PathBuf>,
    spare_counter: u64,
}

impl Inventory {
    /// The path of segment `index`: the file found, or where it would be.
    fn path_of(&self, index: u64) -> PathBuf {
        self.segments
            .get(&index)
            .cloned()
            .unwrap_or_else(|| self.directory.join(segment::file_name(index)))
    }

    fn read(disk: &Arc<dyn Disk>, directory: &Path) -> Result<Self> {
        let mut inventory = Self {
            directory: directory.to_path_buf(),
            segments: BTreeMap::new(),
            spares: Vec::new(),
            spare_counter: 0,
        };
        for path in disk.list_dir(directory)? {
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
            if let Some(index) = segment::parse_file_name(name) {
                inventory.segments.insert(index, path);
            } else if segment::is_spare_file_name(name) {
                inventory.spare_counter = inventory.spare_counter.max(spare_number(name) + 1);
                inventory.spares.push(path);
            }
        }
        Ok(inventory)
    }

    /// The log's geometry, from the first segment with a valid header; `None` if there is none
    /// (a new log, or one whose first segment was never initialised).
    fn geometry(&self, disk: &Arc<dyn Disk>) -> Result<Option<Geometry>> {
        for path in self.segments.values() {
            if let Some(header) = read_header(disk, path)? {
                return Ok(Some(Geometry::new(header.segment_bytes)));
            }
        }
        Ok(None)
    }

    /// With no readable header anywhere, a segment file whose data still holds a record at its
    /// first LSN (judged with the geometry its size implies) means the headers were damaged:
    /// treating the directory as a new log would recycle the files and lose the log.
    fn refuse_if_any_looks_used(&self, disk: &Arc<dyn Disk>) -> Result<()> {
        for (&index, path) in &self.segments {
            let file = open_segment(disk, path)?;
            let Ok(segment_bytes) = u32::try_from(file.size_bytes()?) else { continue };
            if Geometry::check(segment_bytes).is_err() {
                continue;
            }
            let geometry = Geometry::new(segment_bytes);
            if looks_used(disk, path, index, geometry)? {
                let reason = "the segment header is unreadable but the segment holds records";
                return Err(corruption(path, geometry.segment_start(index), reason));
            }
        }
        Ok(())
    }

    /// A log with no initialised segment: starts at LSN 0; the segment files found are removed
    /// and the spare files kept.
    fn fresh(self, geometry: Geometry) -> Recovered {
        Recovered {
            geometry,
            tail: Lsn::ZERO,
            tail_segment: None,
            garbage_end: None,
            repaired: None,
            spares: self.spares,
            spare_counter: self.spare_counter,
            // Uninitialised files under segment names are removed, never listed as spares: a
            // "spare" named like a live segment would be renamed away from under the log.
            beyond_tail: self.segments.into_values().collect(),
        }
    }
}

fn spare_number(name: &str) -> u64 {
    name.trim_start_matches("wal-spare-").trim_end_matches(".seg").parse().unwrap_or(0)
}

fn open_segment(disk: &Arc<dyn Disk>, path: &Path) -> Result<Arc<dyn File>> {
    let options = OpenOptions { io_mode: Some(IoMode::Direct), ..OpenOptions::existing() };
    Ok(disk.open(path, options)?)
}

/// The header of the segment at `path`, or `None` if the file is too short or its header is
/// not valid (a segment whose initialisation never completed, or a damaged one: callers that
/// care tell them apart with [`looks_used`]). An intact header of another format version is an
/// error: the log belongs to another build and must not be touched.
fn read_header(disk: &Arc<dyn Disk>, path: &Path) -> Result<Option<SegmentHeader>> {
    let file = open_segment(disk, path)?;
    let mut block = AlignedBuf::for_alignment(SEGMENT_HEADER_BYTES, file.info().alignment);
    match file.read_at(&mut block, 0) {
        Ok(()) => match SegmentHeader::decode(&block) {
            Ok(header) => Ok(Some(header)),
            Err(HeaderError::ForeignVersion(reason)) => {
                Err(Error::Incompatible { path: path.to_path_buf(), reason })
            }
            Err(HeaderError::Invalid(_)) => Ok(None),
        },
        Err(disk::Error::ShortRead { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Fails with [`Error::Incompatible`] if the file at `path` has an intact header of another
/// format version.
pub(crate) fn check_not_foreign(disk: &Arc<dyn Disk>, path: &Path) -> Result<()> {
    read_header(disk, path).map(drop)
}

/// Whether the segment file at `path`, if it is segment `index` of a log with `geometry`, holds
/// a record at its first LSN: then it was part of the log, and an unreadable header on it is
/// damage, not an initialisation that never completed.
fn looks_used(disk: &Arc<dyn Disk>, path: &Path, index: u64, geometry: Geometry) -> Result<bool> {
    let file = open_segment(disk, path)?;
    // Judge what the file holds of its data area, in whole blocks: a file cut short still shows
    // whether it starts with a record. (Reading the whole area used to fail on such a file and
    // answer "no", and a segment cut after it was written lost its records without a word.)
    // Only the first record matters, so no more than the largest one is read.
    let block_bytes = u64::from(file.info().alignment.offset_bytes).max(1);
    let held_bytes = file.size_bytes()?.saturating_sub(SEGMENT_HEADER_BYTES as u64);
    let record_bytes_max = record::encoded_bytes(RECORD_PAYLOAD_BYTES_MAX) as u64;
    let wanted_bytes = geometry.data_bytes.min(record_bytes_max.next_multiple_of(block_bytes));
    let read_bytes = held_bytes.min(wanted_bytes) / block_bytes * block_bytes;
    if read_bytes == 0 {
        return Ok(false);
    }
    let data_bytes = usize::try_from(read_bytes).expect("segment fits memory");
    let mut data = AlignedBuf::for_alignment(data_bytes, file.info().alignment);
    match file.read_at(&mut data, SEGMENT_HEADER_BYTES as u64) {
        Ok(()) => Ok(record::looks_like_record(&data, geometry.segment_start(index))),
        Err(disk::Error::ShortRead { .. }) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The first record position at or after `from` (a multiple of [`RECORD_ALIGN_BYTES`] in the
/// segment's data) whose header is not all zeros, or `None` if there is none. A zeroed header
/// never decodes, and the space beyond the log's tail is mostly zeros (pre-zeroed segments), so
/// the scan for stale records behind a torn tail jumps over it in one pass instead of decoding
/// at every position: on a 2 MiB segment that was 256K decodes and most of a recovery's time.
/// Worked example: `from` = 64 and the first non-zero byte at 1000: every header starting at or
/// before 1000 - 32 = 968 is all zeros, so the first position that can hold a record is the
/// first multiple of 8 at or after 969, which is 976.
fn next_candidate(data: &[u8], from: usize) -> Option<usize> {
    debug_assert_eq!(from % RECORD_ALIGN_BYTES, 0);
    // Whole 64-byte runs first (an OR over each compiles to vector instructions), then words.
    let rest = data.get(from..)?;
    let zero_run_count = rest.chunks_exact(ZERO_RUN_BYTES).take_while(|run| is_zero(run)).count();
    let words_from = from + zero_run_count * ZERO_RUN_BYTES;
    let word_index =
        data[words_from..].chunks_exact(RECORD_ALIGN_BYTES).position(|word| !is_zero(word));
    // Every whole word zero: any header that fits in `data` is all zeros (a part word at the
    // end cannot hold one).
    let word_start = words_from + word_index? * RECORD_ALIGN_BYTES;
    let first_nonzero =
        word_start + data[word_start..].iter().position(|&byte| byte != 0).expect("non-zero word");
    let earliest = (first_nonzero + 1).saturating_sub(RECORD_HEADER_BYTES);
    Some(earliest.next_multiple_of(RECORD_ALIGN_BYTES).max(from))
}

/// The first record header in `[0, end)` of the segment's data area (whose LSNs are
/// `segment`) that names another position of the segment ([`record::misplaced`]): where it
/// lies and the LSN it names. Reads the area through the reader's window, a chunk at a time,
/// and tests each 8-aligned position's `lsn` field before its checksum, so a segment full of
/// valid records costs a comparison per eight bytes.
fn find_misplaced(
    reader: &mut SegmentReader,
    segment: std::ops::Range<Lsn>,
    end: usize,
) -> Result<Option<(Lsn, Lsn)>> {
    let salt = reader.salt();
    let mut next = 0;
    while next < end {
        let chunk = reader.chunk_at(next)?;
        if chunk.len() < RECORD_HEADER_BYTES {
            break;
        }
        // Positions whose whole header lies in the chunk; the next chunk starts after them.
        let position_count = (chunk.len() - RECORD_HEADER_BYTES) / RECORD_ALIGN_BYTES + 1;
        for index in 0..position_count {
            let at = index * RECORD_ALIGN_BYTES;
            if next + at >= end {
                return Ok(None);
            }
            let found = segment.start.plus((next + at) as u64);
            if let Some(named) = record::misplaced(&chunk[at..], found, segment.clone(), salt) {
                return Ok(Some((found, named)));
            }
        }
        next += position_count * RECORD_ALIGN_BYTES;
    }
    Ok(None)
}

/// Bytes [`next_candidate`] checks for zeros at a time before it looks at words.
const ZERO_RUN_BYTES: usize = 64;
const _: () = assert!(ZERO_RUN_BYTES % RECORD_ALIGN_BYTES == 0);

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0, |any, &byte| any | byte) == 0
}

/// What a position beyond the first invalid record holds.
enum Beyond {
    /// Nothing that matters: zeros, garbage, a record or shadow that can never be valid here.
    Nothing,
    /// A record valid under the segment's salt, ending here: left by the torn batch.
    Record(Lsn),
    /// A valid shadow.
    Shadow(Shadow),
    /// A record header of this segment naming this other LSN (a misdirected write).
    Misplaced(Lsn),
    /// A valid record written after the tail was durable: the tail is damage, not a tear.
    Witness,
}

/// Judges the position `candidate` (a data offset of `reader`'s segment, whose LSNs are
/// `segment`) beyond `tail`, the first invalid record.
fn judge_beyond(
    reader: &mut SegmentReader,
    segment: &std::ops::Range<Lsn>,
    candidate: usize,
    tail: Lsn,
) -> Result<Beyond> {
    let salt = reader.salt();
    let candidate_lsn = segment.start.plus(candidate as u64);
    let bytes = reader.record_at(candidate)?;
    if let Some(named) = record::misplaced(bytes, candidate_lsn, segment.clone(), salt) {
        return Ok(Beyond::Misplaced(named));
    }
    // The tail was judged invalid already, and a shadow there names the block before it, so
    // it holds nothing past the tail.
    if candidate_lsn == tail {
        return Ok(Beyond::Nothing);
    }
    if let Ok((header, _)) = record::decode(bytes, candidate_lsn, salt) {
        if header.durable_lsn > tail {
            return Ok(Beyond::Witness);
        }
        return Ok(Beyond::Record(candidate_lsn.plus(header.encoded_bytes() as u64)));
    }
    // Shadows start at block boundaries, and every block size is a multiple of the smallest.
    if candidate_lsn.0 % BLOCK_BYTES_MIN != 0 {
        return Ok(Beyond::Nothing);
    }
    let header_end = (candidate + SHADOW_HEADER_BYTES).min(reader.data_bytes());
    let Some(claimed_bytes) = shadow::claimed_bytes(reader.read(candidate, header_end)?, salt)
    else {
        return Ok(Beyond::Nothing);
    };
    let end = (candidate + claimed_bytes).min(reader.data_bytes());
    Ok(match shadow::decode(reader.read(candidate, end)?, candidate_lsn, salt) {
        Ok(found) => Beyond::Shadow(found),
        Err(_) => Beyond::Nothing,
    })
}

/// What [`Scan::classify`] found beyond the first invalid record.
struct Verdict {
    /// The end of the garbage to zero if the log ends there.
    garbage_end: Option<Lsn>,
    /// The valid shadows beyond it, in LSN order.
    shadows: Vec<Shadow>,
    /// The corruption to report, unless a shadow repairs the record.
    corruption: Option<Error>,
}

/// What the scan found at one position.
enum Step {
    Data { encoded_bytes: usize },
    SegmentEnd,
    NoRoom,
    Invalid(&'static str),
}

struct Scan<'a> {
    disk: &'a Arc<dyn Disk>,
    inventory: &'a Inventory,
    geometry: Geometry,
    /// Segments opened so far (their headers checked; their data read through a window, which
    /// the scan releases once it has passed them); `None` for one missing, short or
    /// uninitialised.
    loaded: BTreeMap<u64, Option<SegmentReader>>,
    /// The segment whose block the walk restored from its shadow, and the invalid record the
    /// shadow repaired.
    repaired: Option<(u64, Lsn)>,
}

impl Scan<'_> {
    /// Opens segment `index` (once); `None` if it is missing, short or has a bad header.
    fn load(&mut self, index: u64) -> Result<Option<&mut SegmentReader>> {
        if !self.loaded.contains_key(&index) {
            let loaded = self.open_segment(index)?;
            self.loaded.insert(index, loaded);
        }
        Ok(self.loaded.get_mut(&index).expect("inserted").as_mut())
    }

    fn open_segment(&self, index: u64) -> Result<Option<SegmentReader>> {
        let Some(path) = self.inventory.segments.get(&index) else { return Ok(None) };
        let Some(header) = read_header(self.disk, path)? else { return Ok(None) };
        if header.index != index || header.segment_bytes != self.geometry.segment_bytes {
            return Ok(None); // a renamed spare whose initialisation did not complete
        }
        let file = open_segment(self.disk, path)?;
        if file.size_bytes()? < u64::from(self.geometry.segment_bytes) {
            return Ok(None);
        }
        let segment = SegmentFile { path: path.clone(), file, header, overlay: None };
        Ok(Some(SegmentReader::new(segment, self.geometry)))
    }

    /// Frees the read window of segment `index`, which the scan has passed.
    fn release(&mut self, index: u64) {
        if let Some(Some(reader)) = self.loaded.get_mut(&index) {
            reader.release();
        }
    }

    /// Collects records from `start` to the end of the valid log; returns the tail and the end
    /// of any garbage beyond it.
    fn run(&mut self, start: Lsn) -> Result<(Lsn, Option<Lsn>)> {
        let mut lsn = start;
        loop {
            let index = self.geometry.segment_of(lsn);
            if self.load(index)?.is_none() {
                // Reached only on a segment's first byte, after a record that ended exactly at
                // the previous segment's end (the first segment was checked by the caller). The
                // log ends here if the writer never initialised this segment.
                let segment_start = self.geometry.segment_start(index);
                assert_eq!(lsn, segment_start, "mid-segment without a segment");
                self.refuse_if_damaged(index)?;
                return Ok((lsn, None));
            }
            match self.step(lsn)? {
                Step::Data { encoded_bytes } => lsn = lsn.plus(encoded_bytes as u64),
                Step::SegmentEnd => {
                    self.release(index);
                    let next_start = self.geometry.segment_start(index + 1);
                    if self.load(index + 1)?.is_none() {
                        let path = self.inventory.path_of(index + 1);
                        let reason = "a segment end leads to a missing or uninitialised segment";
                        return Err(corruption(&path, next_start, reason));
                    }
                    lsn = next_start;
                }
                // No room for a record: the log continues in the next segment if the writer
                // got there, else it ends here.
                Step::NoRoom if self.load(index + 1)?.is_some() => {
                    self.release(index);
                    lsn = self.geometry.segment_start(index + 1);
                }
                Step::NoRoom => {
                    self.refuse_if_damaged(index + 1)?;
                    return Ok((lsn, None));
                }
                Step::Invalid(reason) => {
                    let verdict = self.classify(start, lsn, reason)?;
                    // The walk goes on through the repaired bytes (it re-reads `lsn`).
                    if self.repaired.is_none() && self.repair(lsn, &verdict.shadows)? {
                        continue;
                    }
                    return match verdict.corruption {
                        Some(error) => Err(error),
                        None => Ok((lsn, verdict.garbage_end)),
                    };
                }
            }
        }
    }

    /// The log may end where segment `index` would begin only if the writer never initialised
    /// it. If its file holds a record at its first LSN, it was in use and its header was
    /// damaged; if it has a valid header but is short, it was cut: either way that is
    /// corruption, not the end of the log.
    fn refuse_if_damaged(&self, index: u64) -> Result<()> {
        let Some(path) = self.inventory.segments.get(&index) else { return Ok(()) };
        if self.is_cut_short(path, index)? {
            let reason = "the segment has a valid header but is shorter than a segment: it was \
                          cut after it was initialised";
            return Err(corruption(path, self.geometry.segment_start(index), reason));
        }
        if looks_used(self.disk, path, index, self.geometry)? {
            let reason = "the segment header is unreadable but the segment holds the log's records";
            return Err(corruption(path, self.geometry.segment_start(index), reason));
        }
        Ok(())
    }

    /// Whether the file at `path` has a valid header for segment `index` of this log but is
    /// shorter than a segment. No crash leaves that: the header is written only once the
    /// pre-zeroed file is durable at its full size. So the file was cut after it was
    /// initialised, and the records it held are gone (a short file that is not initialised is
    /// what a crash during pre-zeroing leaves, and is no sign of damage).
    fn is_cut_short(&self, path: &Path, index: u64) -> Result<bool> {
        let Some(header) = read_header(self.disk, path)? else { return Ok(false) };
        if header.index != index || header.segment_bytes != self.geometry.segment_bytes {
            return Ok(false);
        }
        let size_bytes = open_segment(self.disk, path)?.size_bytes()?;
        Ok(size_bytes < u64::from(self.geometry.segment_bytes))
    }

    /// Repairs the batch damaged at `lsn` from one of `shadows` (found beyond it), if one
    /// passes the rules of `repair.rs`; the segment's reader then reads the repaired bytes.
    fn repair(&mut self, lsn: Lsn, shadows: &[Shadow]) -> Result<bool> {
        let index = self.geometry.segment_of(lsn);
        let segment_start = self.geometry.segment_start(index);
        let reader = self.load(index)?.expect("the scan only enters loaded segments");
        let repaired = repair::find(reader, segment_start, lsn, shadows)?.is_some();
        if repaired {
            self.repaired = Some((index, lsn));
        }
        Ok(repaired)
    }

    /// What lies at `lsn` (in a loaded segment).
    fn step(&mut self, lsn: Lsn) -> Result<Step> {
        let index = self.geometry.segment_of(lsn);
        let segment_start = self.geometry.segment_start(index);
        let reader = self.load(index)?.expect("the scan only enters loaded segments");
        let offset = usize::try_from(lsn.0 - segment_start.0).expect("inside the segment");
        let room_bytes = reader.data_bytes() - offset;
        let salt = reader.salt();
        Ok(match record::decode(reader.record_at(offset)?, lsn, salt) {
            Ok((header, _)) if header.kind == Kind::Data => {
                Step::Data { encoded_bytes: header.encoded_bytes() }
            }
            Ok(_) => Step::SegmentEnd,
            Err(_) if room_bytes < RECORD_HEADER_BYTES => Step::NoRoom,
            Err(reason) => Step::Invalid(reason),
        })
    }

    /// Decides whether the invalid record at `lsn`, where the walk from `start` stopped, is a
    /// torn tail or corruption, and collects the shadows beyond it, which may yet repair it.
    /// Returns at once with a misplaced header below the recovery start, which no repair
    /// explains.
    fn classify(&mut self, start: Lsn, lsn: Lsn, reason: &str) -> Result<Verdict> {
        let index = self.geometry.segment_of(lsn);
        let segment_start = self.geometry.segment_start(index);
        let reader = self.loaded.get_mut(&index).and_then(Option::as_mut).expect("loaded");
        let segment = segment_start..self.geometry.segment_start(index + 1);
        // Below the recovery start too: the write that left `lsn` looking torn may have landed
        // over records a checkpoint had already let go, which the walk did not read. A landing
        // on the walked records would have stopped the walk there, before `lsn`.
        let unwalked_bytes = if self.geometry.segment_of(start) == index {
            usize::try_from(start.0 - segment_start.0).expect("inside the segment")
        } else {
            0
        };
        if let Some((found, named)) = find_misplaced(reader, segment, unwalked_bytes)? {
            return Err(self.misplaced(lsn, reason, found, named));
        }
        let mut verdict = self.scan_beyond(lsn, reason)?;
        if verdict.corruption.is_none()
            && let Some(witness) = self.later_witness(lsn)?
        {
            verdict.corruption = Some(self.damaged(lsn, reason, witness));
        }
        Ok(verdict)
    }

    /// Judges every position from `lsn` (the first invalid record) to the end of its segment,
    /// a chunk at a time, skipping zeroed space: the first misplaced header, or record written
    /// after `lsn` was durable, is the corruption to report. Collects the valid shadows, and
    /// the end of the garbage to zero: the last record beyond `lsn` valid under the segment's
    /// salt, or valid shadow reaching past `lsn`. Only those (left by the torn batch) could ever
    /// line up behind new appends, or repair the records appended there, at a later recovery.
    /// Anything else — zeros, a recycled file's records and shadows under an older salt, torn
    /// ones — can never become valid, so it need not be zeroed.
    fn scan_beyond(&mut self, lsn: Lsn, reason: &str) -> Result<Verdict> {
        let index = self.geometry.segment_of(lsn);
        let segment_start = self.geometry.segment_start(index);
        let segment = segment_start..self.geometry.segment_start(index + 1);
        let reader = self.loaded.get_mut(&index).and_then(Option::as_mut).expect("loaded");
        let data_bytes = reader.data_bytes();
        let mut verdict = Verdict { garbage_end: None, shadows: Vec::new(), corruption: None };
        // Where the first corruption was found, and the LSN named there if it is a misplaced
        // header (the error is made once the reader is no longer borrowed).
        let mut first_corruption: Option<(Lsn, Option<Lsn>)> = None;
        // From `lsn` itself: a misplaced header may lie there too.
        let mut next = usize::try_from(lsn.0 - segment_start.0).expect("inside the segment");
        while next < data_bytes {
            let chunk = reader.chunk_at(next)?;
            let chunk_bytes = chunk.len();
            let Some(found) = next_candidate(chunk, 0) else {
                if next + chunk_bytes == data_bytes {
                    break;
                }
                // Every header wholly inside the chunk is zeros; the next position to judge
                // is the first whose header runs past the chunk's end.
                next +=
                    (chunk_bytes + 1 - RECORD_HEADER_BYTES).next_multiple_of(RECORD_ALIGN_BYTES);
                continue;
            };
            let candidate = next + found;
            next = candidate + RECORD_ALIGN_BYTES;
            let candidate_lsn = segment_start.plus(candidate as u64);
            match judge_beyond(reader, &segment, candidate, lsn)? {
                Beyond::Nothing => {}
                Beyond::Record(end) => verdict.garbage_end = verdict.garbage_end.max(Some(end)),
                Beyond::Shadow(found) => {
                    if found.end() > lsn {
                        let bytes = shadow::encoded_bytes(found.image.len(), found.unit_crcs.len());
                        let end = Some(candidate_lsn.plus(bytes as u64));
                        verdict.garbage_end = verdict.garbage_end.max(end);
                    }
                    verdict.shadows.push(found);
                }
                Beyond::Misplaced(named) => {
                    first_corruption.get_or_insert((candidate_lsn, Some(named)));
                }
                Beyond::Witness => {
                    first_corruption.get_or_insert((candidate_lsn, None));
                }
            }
        }
        reader.release();
        verdict.corruption = first_corruption.map(|(found, named)| match named {
            Some(named) => self.misplaced(lsn, reason, found, named),
            None => self.damaged(lsn, reason, found),
        });
        Ok(verdict)
    }

    /// The first record of a later segment with a valid header (walked from its start to its
    /// first invalid record) written after `lsn` was durable: it proves `lsn` was damaged after
    /// being acknowledged.
    fn later_witness(&mut self, lsn: Lsn) -> Result<Option<Lsn>> {
        let later: Vec<u64> = self
            .inventory
            .segments
            .range(self.geometry.segment_of(lsn) + 1..)
            .map(|(&index, _)| index)
            .collect();
        for index in later {
            let segment_start = self.geometry.segment_start(index);
            let Some(reader) = self.load(index)? else { continue };
            let salt = reader.salt();
            let mut offset = 0;
            let mut witness = None;
            while offset < reader.data_bytes() {
                let at = segment_start.plus(offset as u64);
                let Ok((header, _)) = record::decode(reader.record_at(offset)?, at, salt) else {
                    break;
                };
                if header.durable_lsn > lsn {
                    witness = Some(at);
                    break;
                }
                if header.kind == Kind::SegmentEnd {
                    break;
                }
                offset += header.encoded_bytes();
            }
            reader.release();
            if witness.is_some() {
                return Ok(witness);
            }
        }
        Ok(None)
    }

    /// A header of this segment's records found at `found`, naming `named`: a write of the log
    /// landed at the wrong place, so the records it carried are missing from theirs (the log
    /// may look torn at `lsn` because of it).
    fn misplaced(&self, lsn: Lsn, reason: &str, found: Lsn, named: Lsn) -> Error {
        let index = self.geometry.segment_of(lsn);
        let path = self.inventory.path_of(index);
        corruption(
            &path,
            lsn,
            format!(
                "{reason}; the record of LSN {named} lies at LSN {found}: a write of the log \
                 landed at the wrong place"
            ),
        )
    }

    fn damaged(&self, lsn: Lsn, reason: &str, witness: Lsn) -> Error {
        let index = self.geometry.segment_of(lsn);
        let path = self.inventory.path_of(index);
        corruption(
            &path,
            lsn,
            format!("{reason}; the record at LSN {witness} was written after this one was durable"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skip gives the same positions as decoding at every one would consider: those whose
    /// header is not all zeros.
    #[test]
    fn next_candidate_skips_exactly_the_zeroed_headers() {
        let mut data = vec![0u8; 4096];
        for (index, offset) in [100usize, 101, 1000, 2047, 4000, 4095].into_iter().enumerate() {
            data[offset] = u8::try_from(index + 1).unwrap();
        }
        let mut from = 0;
        let mut found = Vec::new();
        while let Some(candidate) = next_candidate(&data, from) {
            found.push(candidate);
            from = candidate + RECORD_ALIGN_BYTES;
        }
        let expected: Vec<usize> = (0..data.len())
            .step_by(RECORD_ALIGN_BYTES)
            .filter(|&c| data[c..].iter().take(RECORD_HEADER_BYTES).any(|&byte| byte != 0))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(next_candidate(&[0; 64], 0), None);
        assert_eq!(next_candidate(&data, 8192), None);
    }
}

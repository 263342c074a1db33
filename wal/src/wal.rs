//! [`Wal`]: the log's public face.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{AlignedBuf, Disk, FlushMethod};

use crate::error::{Error, Result};
use crate::group_commit::GroupCommit;
use crate::limits::{READ_WINDOW_BYTES, SEGMENT_HEADER_BYTES, SPARE_SEGMENT_COUNT_MAX};
use crate::lsn::Lsn;
use crate::options::WalOptions;
use crate::recovery::{self, Recovered, Repaired};
use crate::replay::Replay;
use crate::segment::{self, Geometry};
use crate::segment_reader::{SegmentFile, SegmentReader};
use crate::writer::{OpenSegment, Tail, TailStats, write_batch};

/// Where an appended record went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The record's LSN.
    pub lsn: Lsn,
    /// The LSN just after it: the record is durable once [`Wal::lsn_durable`] reaches this.
    pub lsn_end: Lsn,
}

/// What the log reports about itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WalStats {
    /// How appends are made durable.
    pub flush_method: FlushMethod,
    /// Why that method.
    pub flush_reason: String,
    /// The next record's LSN.
    pub lsn_next: Lsn,
    /// Everything below this is durable.
    pub lsn_durable: Lsn,
    /// Records appended since open.
    pub records_appended: u64,
    /// Record bytes appended since open (headers and padding included).
    pub bytes_appended: u64,
    /// Batches written and made durable (one per group commit).
    pub batches_written: u64,
    /// Bytes written by those batches (tail blocks are rewritten and each batch carries its
    /// shadow, so more than appended).
    pub bytes_written: u64,
    /// Segments initialised (new or reused) since open.
    pub segments_initialised: u64,
    /// Of those, segments recycled from spares.
    pub segments_recycled: u64,
    /// Of those, segments a leader initialised ahead of need, outside the lock.
    pub segments_prepared_ahead: u64,
    /// The failure that stopped the log, if one did.
    pub failure: Option<String>,
}

/// A write-ahead log in one directory of a [`Disk`]. `Send + Sync`: share it among committers.
pub struct Wal {
    commit: GroupCommit<Tail>,
    directory: PathBuf,
    flush_reason: String,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Wal").field("directory", &self.directory).finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (or creates) the log in `directory` and recovers it: returns the log, ready for
    /// appends, and a [`Replay`] of every record from `replay_from` (0, or the LSN a checkpoint
    /// recorded) to the end of the valid log, in order, read as it is iterated. A torn tail is
    /// cut; damage to a record the log had made durable is [`Error::Corruption`], found here,
    /// before any record is handed out.
    pub fn open(
        disk: Arc<dyn Disk>,
        directory: impl AsRef<Path>,
        options: WalOptions,
        replay_from: Lsn,
    ) -> Result<(Wal, Replay)> {
        let directory = directory.as_ref().to_path_buf();
        Geometry::check(options.segment_bytes)
            .map_err(|reason| Error::InvalidOptions { reason })?;
        disk.create_dir_all(&directory)?;
        let (recovered, replay) =
            recovery::recover(&disk, &directory, options.segment_bytes, replay_from)?;
        let mut tail = start_tail(disk, directory.clone(), &options, recovered)?;
        let flush_reason = check_flush_method(&mut tail, options.flush_reason);
        tail.check_invariants();
        let wal = Wal { commit: GroupCommit::new(tail), directory, flush_reason };
        Ok((wal, replay))
    }

    /// Appends a record to the log buffer. It is durable once [`Wal::wait_durable`] returns for
    /// its `lsn_end`.
    pub fn append(&self, tag: u8, payload: &[u8]) -> Result<Appended> {
        loop {
            match self.commit.with_state(|tail| tail.append(tag, payload))? {
                Some((lsn, lsn_end)) => return Ok(Appended { lsn, lsn_end }),
                // The record needs the next segment, which a leader is initialising right now.
                None => std::thread::yield_now(),
            }
        }
    }

    /// Returns once everything below `lsn` is durable; many waiters share one flush.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        self.finish_wait(self.commit.wait_durable(lsn, write_batch))
    }

    /// The group commit's answer as the log's; a caller that led a batch then prepares the
    /// next segment.
    fn finish_wait(&self, waited: std::result::Result<bool, String>) -> Result<()> {
        let led = waited.map_err(|reason| Error::Failed { reason })?;
        if led {
            self.prepare_next_segment();
        }
        Ok(())
    }

    /// Initialises the next segment outside the lock once the current one is half full, so
    /// that entering it does not stall every committer behind a pre-zeroing write. Run by
    /// leaders, after their batch.
    fn prepare_next_segment(&self) {
        let Some(job) = self.commit.with_state(Tail::next_segment_job) else { return };
        let index = job.index;
        let result = job.run();
        self.commit.with_state(|tail| tail.install(index, result));
    }

    /// Appends a record and waits until it is durable: [`Wal::append`] then
    /// [`Wal::wait_durable`], with the log's lock taken once for both.
    pub fn append_durable(&self, tag: u8, payload: &[u8]) -> Result<Appended> {
        loop {
            let (appended, waited) = self.commit.append_then_wait(
                |tail| {
                    let appended = tail.append(tag, payload);
                    let target = match &appended {
                        Ok(Some((_, lsn_end))) => Some(*lsn_end),
                        Ok(None) | Err(_) => None,
                    };
                    (appended, target)
                },
                write_batch,
            );
            // The record needs the next segment, which a leader is initialising right now.
            let Some((lsn, lsn_end)) = appended? else {
                std::thread::yield_now();
                continue;
            };
            self.finish_wait(waited.expect("an appended record is waited for"))?;
            return Ok(Appended { lsn, lsn_end });
        }
    }

    /// Makes everything appended so far durable; returns the durable point.
    pub fn flush(&self) -> Result<Lsn> {
        let target = self.lsn_next();
        self.wait_durable(target)?;
        Ok(target)
    }

    /// Reads the log back from `from` (a record boundary: 0 or the LSN a checkpoint recorded) as
    /// recovery would after a crash now, for a consistency check: makes everything appended
    /// durable, then walks the segments on disk under the log's lock (appends and flushes wait
    /// meanwhile) and checks that the valid log reaches the durable point. Returns the records
    /// from `from` on, each checked (checksum, LSN) as it is read. The caller keeps the segments
    /// from being released ([`Wal::release_before`]) until it has read them.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming the segment and LSN where the log on disk is damaged or
    /// ends before its durable point; the log's sticky failure, if it has one.
    pub fn verify(&self, from: Lsn) -> Result<Replay> {
        self.flush()?;
        self.commit.with_state(|tail| {
            if let Some(failure) = &tail.failure {
                return Err(Error::Failed { reason: failure.clone() });
            }
            let (recovered, replay) =
                recovery::recover(&tail.disk, &tail.directory, tail.geometry.segment_bytes, from)?;
            // Recovery would repair the record, but the log on disk is damaged: a check reports
            // that, as it reports damage elsewhere.
            if let Some(repaired) = &recovered.repaired {
                return Err(Error::Corruption {
                    path: repaired.segment.path.clone(),
                    lsn: repaired.lsn,
                    reason: format!(
                        "the record here is damaged, below the durable point {}; the shadow of \
                         its batch repairs it, as recovery would",
                        tail.lsn_durable
                    ),
                });
            }
            if recovered.tail < tail.lsn_durable {
                return Err(Error::Corruption {
                    path: tail.directory.clone(),
                    lsn: recovered.tail,
                    reason: format!(
                        "the log on disk ends here, before its durable point {}",
                        tail.lsn_durable
                    ),
                });
            }
            Ok(replay)
        })
    }

    /// Everything below this LSN is durable.
    pub fn lsn_durable(&self) -> Lsn {
        self.commit.with_state(|tail| tail.lsn_durable)
    }

    /// The LSN the next record will get.
    pub fn lsn_next(&self) -> Lsn {
        self.commit.with_state(|tail| tail.lsn_next)
    }

    /// Recycles (or removes) every segment wholly below `lsn`, which must be at or below the
    /// LSN recovery will start from (a checkpoint's). Keeps up to
    /// [`SPARE_SEGMENT_COUNT_MAX`] recycled files for reuse.
    pub fn release_before(&self, lsn: Lsn) -> Result<()> {
        self.commit.with_state(|tail| release(tail, lsn))
    }

    /// The log's counters and its flush policy.
    pub fn stats(&self) -> WalStats {
        self.commit.with_state(|tail| {
            let TailStats {
                records_appended,
                bytes_appended,
                batches_written,
                bytes_written,
                segments_initialised,
                segments_recycled,
                segments_prepared_ahead,
            } = tail.stats.clone();
            WalStats {
                flush_method: tail.flush_method,
                flush_reason: self.flush_reason.clone(),
                lsn_next: tail.lsn_next,
                lsn_durable: tail.lsn_durable,
                records_appended,
                bytes_appended,
                batches_written,
                bytes_written,
                segments_initialised,
                segments_recycled,
                segments_prepared_ahead,
                failure: tail.failure.clone(),
            }
        })
    }

    /// Panics if an internal invariant does not hold (for tests).
    pub fn check_invariants(&self) {
        self.commit.with_state(|tail| tail.check_invariants());
    }
}

/// Applies [`FlushMethod::for_file`] to the log's segment files; returns the reason to report.
fn check_flush_method(tail: &mut Tail, reason: String) -> String {
    let Some(segment) = tail.segments.values().next() else { return reason };
    match tail.flush_method.for_file(segment.file.info()) {
        (method, Some(change)) => {
            tail.flush_method = method;
            format!("{change} (asked: {reason})")
        }
        (_, None) => reason,
    }
}

/// Builds the writer's tail from what recovery found: retires the segments beyond the tail,
/// writes back what recovery repaired from a shadow, zeroes the garbage a torn batch left beyond
/// the tail, reloads the tail block into the buffer (repaired, if it was), and opens the tail's
/// segment.
fn start_tail(
    disk: Arc<dyn Disk>,
    directory: PathBuf,
    options: &WalOptions,
    recovered: Recovered,
) -> Result<Tail> {
    let geometry = recovered.geometry;
    let tail_lsn = recovered.tail;
    let mut tail = Tail {
        disk,
        directory,
        geometry,
        block_bytes: 4096,
        flush_method: options.flush_method,
        lsn_next: tail_lsn,
        lsn_durable: tail_lsn,
        buffer_start: tail_lsn,
        buffer: Vec::new(),
        unsealed: Vec::new(),
        segments: Default::default(),
        spares: recovered.spares,
        spare_counter: recovered.spare_counter,
        failure: None,
        preparing: None,
        stats: TailStats::default(),
    };
    discard(&tail, &recovered.beyond_tail)?;
    if let Some(repaired) = &recovered.repaired {
        write_repair(geometry, repaired)?;
    }
    if let Some(mut reader) = recovered.tail_segment {
        let loaded = reader.segment().clone();
        let block_bytes = segment::block_bytes(&*loaded.file);
        assert!(
            4096 % block_bytes == 0,
            "block size {block_bytes} does not divide the header block"
        );
        tail.block_bytes = block_bytes;
        let segment_start = geometry.segment_start(loaded.header.index);
        tail.buffer_start = Lsn(tail_lsn.0 - tail_lsn.0 % block_bytes);
        let from = usize::try_from(tail.buffer_start.0 - segment_start.0).expect("in segment");
        let to = usize::try_from(tail_lsn.0 - segment_start.0).expect("in segment");
        tail.buffer = reader.read(from, to)?.to_vec();
        drop(reader);
        if let Some(garbage_end) = recovered.garbage_end {
            zero_garbage(&tail, &loaded, garbage_end)?;
        }
        let segment = OpenSegment { file: loaded.file, salt: loaded.header.salt };
        tail.segments.insert(loaded.header.index, segment);
    } else {
        let opened = tail.ensure_segment(geometry.segment_of(tail_lsn))?;
        assert!(opened, "no segment is being prepared while the log opens");
        let file = &tail.segments.values().next().expect("just opened").file;
        tail.block_bytes = segment::block_bytes(&**file);
    }
    Ok(tail)
}

/// Writes the bytes recovery repaired from a shadow back to their segment, durably, before
/// anything else is written: the next batch rewrites the tail block and overwrites the shadow,
/// and a torn rewrite would leave the damaged sectors with nothing to repair them from. A torn
/// write here leaves each sector damaged or repaired, with the shadow still in place.
fn write_repair(geometry: Geometry, repaired: &Repaired) -> Result<()> {
    let segment = &repaired.segment;
    let overlay = segment.overlay.as_ref().expect("a repaired segment has an overlay");
    let block_bytes = usize::try_from(segment::block_bytes(&*segment.file)).expect("small");
    let mut from = overlay.offset - overlay.offset % block_bytes;
    let to = (overlay.offset + overlay.bytes.len()).next_multiple_of(block_bytes);
    let mut reader = SegmentReader::new(segment.clone(), geometry);
    // A batch may be longer than the reader's window: a chunk at a time.
    while from < to {
        let chunk_end = to.min(from + REPAIR_CHUNK_BYTES);
        let mut buf = AlignedBuf::for_alignment(chunk_end - from, segment.file.info().alignment);
        buf.copy_from_slice(reader.read(from, chunk_end)?);
        segment.file.write_at(&buf, (SEGMENT_HEADER_BYTES + from) as u64)?;
        from = chunk_end;
    }
    segment.file.sync_data()?;
    Ok(())
}

/// Bytes [`write_repair`] writes at a time: a multiple of every block size that, from any block
/// boundary, fits in the reader's window.
const REPAIR_CHUNK_BYTES: usize = 1 << 20;
const _: () = assert!(REPAIR_CHUNK_BYTES % SEGMENT_HEADER_BYTES == 0);
const _: () = assert!(REPAIR_CHUNK_BYTES + SEGMENT_HEADER_BYTES <= READ_WINDOW_BYTES);

/// Overwrites `[tail, garbage_end)` with zeros (keeping the valid bytes of the tail block) and
/// makes it durable, so no record of the torn batch can ever line up behind new appends.
fn zero_garbage(tail: &Tail, loaded: &SegmentFile, garbage_end: Lsn) -> Result<()> {
    let segment_start = tail.geometry.segment_start(loaded.header.index);
    let segment_end = segment_start.plus(tail.geometry.data_bytes);
    let end = Lsn(garbage_end.0.next_multiple_of(tail.block_bytes)).min(segment_end);
    let length_bytes = usize::try_from(end.0 - tail.buffer_start.0).expect("below a segment");
    let mut zeros = AlignedBuf::for_alignment(length_bytes, loaded.file.info().alignment);
    zeros[..tail.buffer.len()].copy_from_slice(&tail.buffer);
    loaded.file.write_at(&zeros, tail.geometry.file_offset(tail.buffer_start))?;
    loaded.file.sync_data()?;
    Ok(())
}

/// Removes the segment files after the tail's segment. They hold nothing acknowledged, and
/// they are removed rather than kept as spares: a spare keeps its header, and reused under its
/// own index, a crash between the rename and the new header would bring its stale records back.
/// Each header is read first, so a file of another format version stops the open instead of
/// being deleted.
fn discard(tail: &Tail, paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        recovery::check_not_foreign(&tail.disk, path)?;
    }
    for path in paths {
        tail.disk.remove(path)?;
    }
    if !paths.is_empty() {
        tail.disk.sync_dir(&tail.directory)?;
    }
    Ok(())
}

/// Turns segment files into spares (or removes them past the spare limit) and makes that
/// durable before the log is written again.
fn retire(tail: &mut Tail, paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        if tail.spares.len() < SPARE_SEGMENT_COUNT_MAX {
            let spare = tail.directory.join(segment::spare_file_name(tail.spare_counter));
            tail.spare_counter += 1;
            tail.disk.rename(path, &spare)?;
            tail.spares.push(spare);
        } else {
            tail.disk.remove(path)?;
        }
    }
    if !paths.is_empty() {
        tail.disk.sync_dir(&tail.directory)?;
    }
    Ok(())
}

fn release(tail: &mut Tail, lsn: Lsn) -> Result<()> {
    let limit = tail.geometry.segment_of(lsn.min(tail.buffer_start));
    let mut released = Vec::new();
    for path in tail.disk.list_dir(&tail.directory)? {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        let Some(index) = segment::parse_file_name(name) else { continue };
        if index < limit && !tail.segments.contains_key(&index) {
            released.push(path);
        }
    }
    retire(tail, &released)
}

//! [`BufferPool`]: the frames, the page table and the fix paths (hit, miss, prefetch).
//!
//! Hit path: a lock-free page-table lookup (see `table.rs`), then the frame's latch — optimistic
//! (no shared write at all), shared or exclusive — and a check that the frame still holds the
//! page. Miss path: a free frame (evicting if needed, see `eviction.rs`), the page-table entry
//! installed under the table's mutex *before* the read, with the frame's latch held
//! exclusively, so that every other thread missing the same page finds the entry and waits on
//! the latch instead of reading the page again; then one read into a staging buffer, the
//! checksum checked, the bytes copied into the frame.

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::{Arc, OnceLock};

use disk::{AlignedBuf, File, HugeSlice, IoRequest};

use crate::error::{Error, Result};
use crate::eviction::{Ghosts, Probation};
use crate::frame::{FrameMeta, NO_PAGE};
use crate::guard::{ExclusivePage, SharedPage};
use crate::latch::ExclusiveGuard;
use crate::ledger::WriteLedger;
use crate::limits::{OPTIMISTIC_ATTEMPT_MAX, PAGE_ID_MAX, PREFETCH_PAGES_MAX};
use crate::log_rule::LogDurability;
use crate::mapping::{InPlace, Mapping};
use crate::options::PoolOptions;
use crate::page::{self, FRAME_MAGIC_WORD, PAGE_ID_WORD, PAGE_LSN_WORD, PageId};
use crate::stats::{Counter, Counters, PoolStats};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::table::PageTable;
use crate::view::{PageView, copy_in};
use crate::writeback::BackgroundWriter;

/// A page cache over one data file: page `n` lives at byte `n * page_bytes`.
///
/// ```
/// use std::sync::Arc;
/// use bufferpool::{BufferPool, NoLog, PageId, PoolOptions};
/// use disk::{Disk, OpenOptions, SimDisk, SimDiskOptions};
///
/// let disk = SimDisk::new(SimDiskOptions { seed: 1, ..SimDiskOptions::default() });
/// let file = disk.open("data".as_ref(), OpenOptions { create: true, ..OpenOptions::default() })?;
/// let options = PoolOptions { pool_bytes: 64 * 4096, ..PoolOptions::default() };
/// let pool = BufferPool::open(file, options, Arc::new(NoLog))?;
/// {
///     let mut page = pool.new_page(PageId(3))?;
///     page.writer().write(0, b"hello");
///     page.set_lsn(1);
/// }
/// pool.flush_dirty()?;
/// let greeting = pool.read(PageId(3), |page| {
///     let mut bytes = [0; 5];
///     page.read_into(0, &mut bytes);
///     bytes
/// })?;
/// assert_eq!(&greeting, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BufferPool {
    core: Arc<PoolCore>,
    writer: Option<BackgroundWriter>,
}

/// The state shared by the pool's users and its background writer.
#[derive(Debug)]
pub(crate) struct PoolCore {
    pub(crate) file: Arc<dyn File>,
    pub(crate) log: Arc<dyn LogDurability>,
    pub(crate) page_bytes: usize,
    words_per_page: usize,
    /// Page bytes of every frame, as words (see `view.rs` for why atomics), on huge pages
    /// where the kernel gives them (see `disk::HugeSlice`).
    memory: HugeSlice<StdAtomicU64>,
    pub(crate) frames: HugeSlice<FrameMeta>,
    pub(crate) table: PageTable,
    pub(crate) free: Mutex<Vec<u32>>,
    pub(crate) clock_hand: AtomicU64,
    /// Pages read or created recently, oldest first (see `eviction.rs`).
    pub(crate) probation: Probation,
    /// Pages evicted from probation lately (see `eviction.rs`).
    pub(crate) ghosts: Ghosts,
    pub(crate) counters: Counters,
    pub(crate) reserve_frames: usize,
    failure: OnceLock<String>,
    /// Spare staging buffers for reads and writes, so the miss path does not allocate.
    staging: Mutex<Vec<AlignedBuf>>,
    pub(crate) writer_signal: crate::writeback::WriterSignal,
    /// In-place reads of a mapped file (mmap mode); `None` for every other file.
    pub(crate) mapping: Option<Mapping>,
    /// Frames freed or cleaned since open (see `eviction.rs`).
    pub(crate) progress: StdAtomicU64,
    pub(crate) frame_wait_max: std::time::Duration,
    /// The checksums of the last images written, until read back (see `ledger.rs`).
    pub(crate) ledger: WriteLedger,
}

impl BufferPool {
    /// A pool of `options.pool_bytes` over `file`, writing pages back only as far as `log`
    /// says is durable.
    pub fn open(
        file: Arc<dyn File>,
        options: PoolOptions,
        log: Arc<dyn LogDurability>,
    ) -> Result<Self> {
        options.validate(u64::from(file.info().alignment.offset_bytes))?;
        let frame_count = options.frame_count();
        let words_per_page = options.page_bytes / 8;
        let file_is_mapped = file.mapped_words().is_some();
        // The kernel zeroes the frames' pages as they are first used: nothing is written here,
        // and a pool larger than its data takes only the memory it uses.
        let word_count = frame_count * words_per_page;
        let memory =
            HugeSlice::<StdAtomicU64>::zeroed(word_count)
                .map_err(memory_error::<StdAtomicU64>("frames", word_count))?;
        let frames =
            HugeSlice::new(frame_count, |_| FrameMeta::new())
                .map_err(memory_error::<FrameMeta>("frame metadata", frame_count))?;
        let table = PageTable::new(options.pool_bytes, frame_count)?;
        let core = Arc::new(PoolCore {
            file,
            log,
            page_bytes: options.page_bytes,
            words_per_page,
            memory,
            frames,
            table,
            // Popped from the end: frame 0 is handed out first.
            free: Mutex::new((0..frame_count).rev().map(frame_index).collect()),
            clock_hand: AtomicU64::new(0),
            probation: Probation::new(frame_count),
            ghosts: Ghosts::new(frame_count),
            counters: Counters::default(),
            reserve_frames: options.reserve_frames(),
            failure: OnceLock::new(),
            staging: Mutex::new(Vec::new()),
            writer_signal: crate::writeback::WriterSignal::default(),
            mapping: file_is_mapped.then(|| Mapping::new(frame_count)),
            progress: StdAtomicU64::new(0),
            frame_wait_max: options.frame_wait_max,
            ledger: WriteLedger::default(),
        });
        let writer = options.background_writer.then(|| BackgroundWriter::start(Arc::clone(&core)));
        Ok(Self { core, writer })
    }

    /// Bytes of one page.
    pub fn page_bytes(&self) -> usize {
        self.core.page_bytes
    }

    /// Frames in the pool.
    pub fn frame_count(&self) -> usize {
        self.core.frames.len()
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        self.core.file.path()
    }

    /// Runs `read` on the page without taking its latch (an optimistic read): `read` may see
    /// the page while a writer changes it, so it must cope with any bytes (the view's reads
    /// never panic), and its result is returned only if no writer came by in the meantime.
    /// After a few failed validations, or on a miss, it runs under the shared latch instead.
    #[inline]
    pub fn read<R>(&self, page: PageId, mut read: impl FnMut(&PageView<'_>) -> R) -> Result<R> {
        self.read_checked(page, |view, _checked| read(view))
    }

    /// As [`BufferPool::read`], also telling `read` whether the layer above has marked the page
    /// checked (see [`SharedPage::is_checked`]). The flag is read inside the validated read: it
    /// is cleared only by a writer giving the frame a new image, so a validated `true` belongs
    /// to the image `read` saw.
    #[inline]
    pub fn read_checked<R>(
        &self,
        page: PageId,
        mut read: impl FnMut(&PageView<'_>, bool) -> R,
    ) -> Result<R> {
        let core = &*self.core;
        core.check_page(page)?;
        for _ in 0..OPTIMISTIC_ATTEMPT_MAX {
            let Some(frame) = core.table.lookup(page) else {
                if let Some(mapping) = &core.mapping
                    && let InPlace::Read(result) =
                        core.read_in_place(mapping, page, &mut |view| read(view, false))?
                {
                    return Ok(result);
                }
                break;
            };
            let meta = core.meta(frame);
            let Some(token) = meta.latch.optimistic() else { break };
            if meta.page.load(Ordering::Relaxed) != page.0 {
                continue; // a stale entry: the frame moved on, or is moving; look again
            }
            let checked = meta.checked.load(Ordering::Acquire);
            let result = read(&PageView::new(core.words(frame)), checked);
            if meta.latch.validate(token) {
                meta.touch();
                core.counters.add(Counter::Hits, 1);
                return Ok(result);
            }
            core.counters.add(Counter::OptimisticRetries, 1);
        }
        let held = self.fix_shared(page)?;
        Ok(read(&held, held.is_checked()))
    }

    /// Holds `page` shared, reading it first if it is not in the pool.
    #[inline]
    pub fn fix_shared(&self, page: PageId) -> Result<SharedPage<'_>> {
        let core = &*self.core;
        core.check_page(page)?;
        loop {
            if let Some(frame) = core.table.lookup(page) {
                let meta = core.meta(frame);
                let latch = meta.latch.lock_shared();
                if meta.page.load(Ordering::Relaxed) == page.0 {
                    meta.touch();
                    core.counters.add(Counter::Hits, 1);
                    return Ok(SharedPage::new(
                        core.words(frame),
                        page,
                        latch,
                        Some(&meta.checked),
                    ));
                }
                continue;
            }
            if let Some(mapping) = &core.mapping
                && let InPlace::Read((words, latch)) = core.fix_in_place(mapping, page)?
            {
                return Ok(SharedPage::new(words, page, latch, None));
            }
            if let Some((frame, latch)) = core.load(page)? {
                return Ok(SharedPage::new(
                    core.words(frame),
                    page,
                    latch.downgrade(),
                    Some(&core.meta(frame).checked),
                ));
            }
        }
    }

    /// Holds `page` exclusively, reading it first if it is not in the pool. Refused after a
    /// failed write-back (see [`Error::Failed`]).
    #[inline]
    pub fn fix_exclusive(&self, page: PageId) -> Result<ExclusivePage<'_>> {
        let core = &*self.core;
        core.check_page(page)?;
        core.check_failure()?;
        loop {
            if let Some(frame) = core.table.lookup(page) {
                let meta = core.meta(frame);
                let latch = meta.latch.lock_exclusive();
                if meta.page.load(Ordering::Relaxed) == page.0 {
                    meta.touch();
                    core.counters.add(Counter::Hits, 1);
                    return Ok(ExclusivePage::new(core.words(frame), meta, page, latch));
                }
                continue;
            }
            if let Some((frame, latch)) = core.load(page)? {
                return Ok(ExclusivePage::new(core.words(frame), core.meta(frame), page, latch));
            }
        }
    }

    /// Holds `page` exclusively with a zeroed body and LSN 0, without reading it: for a page
    /// being allocated, or rebuilt from a full-page image in the log. The page is dirty.
    pub fn new_page(&self, page: PageId) -> Result<ExclusivePage<'_>> {
        let core = &*self.core;
        core.check_page(page)?;
        core.check_failure()?;
        loop {
            let (frame, latch) = if let Some(frame) = core.table.lookup(page) {
                let latch = core.meta(frame).latch.lock_exclusive();
                if core.meta(frame).page.load(Ordering::Relaxed) != page.0 {
                    continue;
                }
                (frame, latch)
            } else {
                let Some(claimed) = core.claim_frame(page, true)? else { continue };
                claimed
            };
            core.format_frame(frame, page);
            core.meta(frame).mark_dirty();
            return Ok(ExclusivePage::new(core.words(frame), core.meta(frame), page, latch));
        }
    }

    /// Drops `page` from the pool without writing it back (a page the layer above has freed).
    /// Returns whether it was in the pool. The caller must not hold the page.
    ///
    /// A write-back of the page already in flight (copied out, its latch released) is waited
    /// for: the page id may be allocated again as soon as this returns, and a stale image
    /// landing after the new page's first write would bring the freed page's old content back.
    pub fn discard(&self, page: PageId) -> Result<bool> {
        let core = &*self.core;
        core.check_page(page)?;
        let mut waited = false;
        loop {
            let Some(frame) = core.table.lookup(page) else {
                if core.table.lock().lookup(page).is_none() {
                    core.ledger.forget(page);
                    return Ok(false);
                }
                continue;
            };
            let meta = core.meta(frame);
            let latch = meta.latch.lock_exclusive();
            if meta.page.load(Ordering::Relaxed) != page.0 {
                continue;
            }
            // No write-back starts under the exclusive latch (staging takes it shared), so one
            // seen here started before; it ends without the latch.
            if meta.writing.load(Ordering::Acquire) {
                drop(latch);
                if !waited {
                    waited = true;
                    core.counters.add(Counter::DiscardsWaitedForWrite, 1);
                }
                crate::sync::yield_now();
                continue;
            }
            meta.mark_clean();
            core.unload(frame, page, latch);
            core.ledger.forget(page);
            return Ok(true);
        }
    }

    /// Starts reading every page of `pages` that is not in the pool, in one submission (at
    /// most [`crate::PREFETCH_PAGES_MAX`] pages, and only into frames free or clean now: a
    /// prefetch never waits for a write-back). Returns how many pages it read. A page that
    /// fails to read or verify is dropped silently: the fix that needs it reads it again and
    /// reports the error.
    pub fn prefetch(&self, pages: &[PageId]) -> Result<usize> {
        self.core.prefetch(pages)
    }

    /// Writes back, in batches, every page dirty at the call whose LSN the log has made
    /// durable, then makes the file durable. Pages latched by other threads are waited for, so
    /// each such page is written at least once after the call began; the caller must hold no
    /// page of this pool. Returns the number of pages written.
    pub fn flush_dirty(&self) -> Result<usize> {
        self.core.flush_dirty()
    }

    /// Reads back every page whose last write has ended (at most [`crate::PREFETCH_PAGES_MAX`]
    /// per submission) and checks that the file holds exactly that image; returns how many it
    /// read. A page holding an older image — the write was lost, or landed at another page's
    /// place — is [`Error::Corruption`] naming it. Pages found as written are not read back
    /// again until their next write; a page whose write starts during the read waits for the
    /// next call. Call it after [`BufferPool::flush_dirty`] and before anything on disk names
    /// the pages written (a checkpoint's header). See `ledger.rs` for what it cannot see.
    pub fn verify_writes(&self) -> Result<usize> {
        self.core.verify_writes()
    }

    /// The smallest LSN of a change held only in the pool (dirty and not yet written), or
    /// `None` if no page is dirty. A checkpoint may let the log go below this, and no further.
    pub fn rec_lsn_min(&self) -> Option<u64> {
        self.core
            .frames
            .iter()
            .filter(|meta| meta.dirty.load(Ordering::Relaxed))
            .map(|meta| meta.rec_lsn.load(Ordering::Relaxed))
            .min()
    }

    /// Counters since open, and the free and dirty frames now.
    pub fn stats(&self) -> PoolStats {
        let core = &*self.core;
        let mut stats = core.counters.snapshot();
        stats.frame_count = core.frames.len();
        stats.page_bytes = core.page_bytes;
        stats.frames_free = core.free.lock().len();
        stats.frames_dirty =
            core.frames.iter().filter(|meta| meta.dirty.load(Ordering::Relaxed)).count();
        stats.pages_unverified = core.ledger.len();
        stats
    }

    /// The first write-back failure, if any: the pool refuses changes after it.
    pub fn failure(&self) -> Option<&str> {
        self.core.failure.get().map(String::as_str)
    }

    /// Panics if the pool breaks an invariant of `frame.rs`. Call it only while no other thread
    /// uses the pool (the background writer pauses for it).
    pub fn check_invariants(&self) {
        let _paused = self.writer.as_ref().map(BackgroundWriter::pause);
        self.core.check_invariants();
    }
}

/// Unit tests set a frame up in states the public API reaches only through a race.
#[cfg(test)]
impl BufferPool {
    pub(crate) fn core(&self) -> &PoolCore {
        &self.core
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.stop();
        }
    }
}

impl PoolCore {
    #[inline]
    pub(crate) fn meta(&self, frame: u32) -> &FrameMeta {
        &self.frames[frame as usize]
    }

    #[inline]
    pub(crate) fn words(&self, frame: u32) -> &[StdAtomicU64] {
        let start = frame as usize * self.words_per_page;
        &self.memory[start..start + self.words_per_page]
    }

    pub(crate) fn offset_of(&self, page: PageId) -> u64 {
        page.0 * self.page_bytes as u64
    }

    #[inline]
    fn check_page(&self, page: PageId) -> Result<()> {
        if page.0 > PAGE_ID_MAX {
            return Err(Error::PageIdOutOfRange { page, limit: PAGE_ID_MAX });
        }
        Ok(())
    }

    pub(crate) fn check_failure(&self) -> Result<()> {
        match self.failure.get() {
            Some(reason) => Err(Error::Failed { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// Makes the pool refuse changes from now on; returns the error for the caller.
    pub(crate) fn fail(&self, error: &Error) -> Error {
        let reason = self.failure.get_or_init(|| error.to_string());
        Error::Failed { reason: reason.clone() }
    }

    pub(crate) fn staging_buffer(&self) -> AlignedBuf {
        self.staging.lock().pop().unwrap_or_else(|| {
            AlignedBuf::for_alignment(self.page_bytes, self.file.info().alignment)
        })
    }

    pub(crate) fn return_staging(&self, buffer: AlignedBuf) {
        let mut spare = self.staging.lock();
        if spare.len() < crate::limits::WRITE_BATCH_PAGES_MAX * 2 {
            spare.push(buffer);
        }
    }

    /// Takes a frame for `page` and installs it in the page table, holding the frame
    /// exclusively; `None` if another thread installed the page first. `wait` says whether to
    /// wait for a frame (write back, ask the log) or give up at once if none is free or clean.
    fn claim_frame(&self, page: PageId, wait: bool) -> Result<Option<(u32, ExclusiveGuard<'_>)>> {
        if self.table.lock().lookup(page).is_some() {
            return Ok(None); // a false miss of the lock-free probe
        }
        let (frame, latch) = if wait {
            self.take_free_frame()?
        } else {
            match self.try_take_free_frame() {
                Some(taken) => taken,
                None => return Ok(None),
            }
        };
        let mut table = self.table.lock();
        if table.lookup(page).is_some() {
            drop(table);
            self.release_frame(frame, latch);
            return Ok(None);
        }
        let meta = self.meta(frame);
        meta.page.store(page.0, Ordering::Relaxed);
        let promoted = self.ghosts.take(page);
        if promoted {
            self.counters.add(Counter::Promotions, 1);
        }
        meta.hits.store(0, Ordering::Relaxed);
        meta.promoted.store(promoted, Ordering::Relaxed);
        self.note_staged(page, true);
        table.insert(page, frame);
        drop(table);
        if !promoted {
            self.probation.push(frame, page, &self.frames);
        }
        Ok(Some((frame, latch)))
    }

    /// The miss path: reads `page` into a new frame and returns it held exclusively, or `None`
    /// if another thread installed the page meanwhile (the caller looks again and waits on that
    /// thread's latch: one read for all).
    fn load(&self, page: PageId) -> Result<Option<(u32, ExclusiveGuard<'_>)>> {
        let Some((frame, latch)) = self.claim_frame(page, true)? else { return Ok(None) };
        self.counters.add(Counter::Misses, 1);
        let mut image = self.staging_buffer();
        let read = match self.file.read_at(&mut image[..self.page_bytes], self.offset_of(page)) {
            Ok(()) => self.check_image(&image[..self.page_bytes], page),
            Err(error) => Err(Error::Disk(error)),
        };
        if let Err(error) = read {
            self.return_staging(image);
            self.unload(frame, page, latch);
            return Err(error);
        }
        self.install(frame, &image[..self.page_bytes]);
        self.return_staging(image);
        self.counters.add(Counter::PagesRead, 1);
        Ok(Some((frame, latch)))
    }

    /// Checks a page image just read (see `page.rs`).
    pub(crate) fn check_image(&self, image: &[u8], page: PageId) -> Result<()> {
        page::verify(image, page)
            .and_then(|()| self.ledger.check(page, page::checksum_of(image)))
            .map_err(|reason| Error::Corruption {
                path: self.file.path().to_path_buf(),
                page,
                reason,
            })
    }

    /// Copies a verified image into a frame held exclusively.
    fn install(&self, frame: u32, image: &[u8]) {
        copy_in(image, self.words(frame));
        let meta = self.meta(frame);
        meta.checked.store(false, Ordering::Relaxed);
        meta.mark_clean();
    }

    /// Zeroes a frame held exclusively and writes a fresh header for `page`.
    fn format_frame(&self, frame: u32, page: PageId) {
        self.meta(frame).checked.store(false, Ordering::Relaxed);
        let words = self.words(frame);
        for word in words {
            word.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        words[0].store(FRAME_MAGIC_WORD, std::sync::atomic::Ordering::Relaxed);
        words[PAGE_ID_WORD].store(page.0, std::sync::atomic::Ordering::Relaxed);
        words[PAGE_LSN_WORD].store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Removes `page`'s entry and puts its frame (held exclusively) back on the free list.
    pub(crate) fn unload(&self, frame: u32, page: PageId, latch: ExclusiveGuard<'_>) {
        let removed = self.table.lock().remove(page);
        assert_eq!(removed, frame, "page {page} was in another frame");
        self.note_staged(page, false);
        self.meta(frame).page.store(NO_PAGE, Ordering::Relaxed);
        self.release_frame(frame, latch);
    }

    /// Puts a frame without a page (held exclusively) on the free list.
    pub(crate) fn release_frame(&self, frame: u32, latch: ExclusiveGuard<'_>) {
        debug_assert_eq!(self.meta(frame).page.load(Ordering::Relaxed), NO_PAGE);
        drop(latch);
        self.free.lock().push(frame);
        self.note_progress();
    }

    fn prefetch(&self, pages: &[PageId]) -> Result<usize> {
        let claim_count_max = PREFETCH_PAGES_MAX.min(self.frames.len() / 4).max(1);
        let mut claimed = Vec::new();
        for &page in pages {
            if claimed.len() == claim_count_max {
                break;
            }
            self.check_page(page)?;
            if self.table.lookup(page).is_some() {
                continue;
            }
            if let Some((frame, latch)) = self.claim_frame(page, false)? {
                claimed.push((page, frame, latch));
            } else if self.table.lookup(page).is_none() {
                break; // no frame free or clean now
            }
        }
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut images: Vec<AlignedBuf> = claimed.iter().map(|_| self.staging_buffer()).collect();
        let mut requests: Vec<IoRequest<'_>> = images
            .iter_mut()
            .zip(&claimed)
            .map(|(image, (page, _, _))| IoRequest::Read {
                offset: self.offset_of(*page),
                buf: &mut image[..self.page_bytes],
            })
            .collect();
        let results = self.file.submit(&mut requests);
        drop(requests);
        let mut read_count = 0;
        for ((result, image), (page, frame, latch)) in results.into_iter().zip(&images).zip(claimed)
        {
            let image = &image[..self.page_bytes];
            if result.is_ok() && self.check_image(image, page).is_ok() {
                self.install(frame, image);
                drop(latch);
                read_count += 1;
            } else {
                self.unload(frame, page, latch);
            }
        }
        for image in images {
            self.return_staging(image);
        }
        self.counters.add(Counter::PrefetchBatches, 1);
        self.counters.add(Counter::PagesPrefetched, read_count as u64);
        self.counters.add(Counter::PagesRead, read_count as u64);
        Ok(read_count)
    }

    fn check_invariants(&self) {
        let entries: Vec<(PageId, u32)> = (0..self.frames.len())
            .map(frame_index)
            .filter_map(|frame| {
                let page = self.meta(frame).page.load(Ordering::Relaxed);
                (page != NO_PAGE).then_some((PageId(page), frame))
            })
            .collect();
        for &(page, frame) in &entries {
            assert_eq!(self.table.lookup(page), Some(frame), "frame {frame} holds page {page}");
        }
        // Every frame holding a page is in the table under it, and nothing else is.
        assert_eq!(self.table.len(), entries.len(), "table entries vs frames holding pages");
        self.table.check_invariants();
        let free = self.free.lock().clone();
        let mut seen = vec![false; self.frames.len()];
        for &frame in &free {
            assert!(!seen[frame as usize], "frame {frame} is on the free list twice");
            seen[frame as usize] = true;
            assert_eq!(
                self.meta(frame).page.load(Ordering::Relaxed),
                NO_PAGE,
                "free frame {frame} holds a page"
            );
        }
        self.probation.check_invariants();
        if let Some(mapping) = &self.mapping {
            mapping.check_staged_counts(entries.iter().map(|&(page, _)| page));
        }
        assert_eq!(
            entries.len() + free.len(),
            self.frames.len(),
            "a frame leaked: neither free nor holding a page"
        );
        for (index, meta) in self.frames.iter().enumerate() {
            meta.latch.check_invariants();
            assert!(
                meta.latch.try_lock_exclusive().is_some(),
                "frame {index} is latched in a quiescent pool"
            );
            let page = meta.page.load(Ordering::Relaxed);
            if page != NO_PAGE {
                let words = self.words(frame_index(index));
                assert_eq!(
                    words[PAGE_ID_WORD].load(std::sync::atomic::Ordering::Relaxed),
                    page,
                    "frame {index} header"
                );
            }
        }
    }
}

fn frame_index(index: usize) -> u32 {
    u32::try_from(index).expect("FRAME_COUNT_MAX fits in a u32")
}

/// The error of a `disk::HugeSlice` of `len` values of `T` that could not be mapped, naming
/// `what` they are for.
pub(crate) fn memory_error<T>(what: &'static str, len: usize) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Memory { what, bytes: len.saturating_mul(size_of::<T>()), source }
}

//! Writing dirty pages back: in batches of up to [`WRITE_BATCH_PAGES_MAX`] pages per
//! submission, never ahead of the log (the WAL rule), by a background writer that keeps a
//! reserve of free frames, by a thread that found none, and by checkpoints.
//!
//! A page is copied out under its shared latch (so no writer changes it mid-copy), sealed with
//! its checksum in the staging buffer, and written from there; the frame is free for readers
//! and writers again while the write is in flight. When the write completes the page is marked
//! clean only if no writer changed it since the copy (its dirty epoch is unchanged), checked
//! under a shared latch taken without waiting: a thread holding the page exclusively may itself
//! be waiting for a frame, and the page simply stays dirty for the next round.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use disk::{AlignedBuf, IoRequest};

use crate::error::{Error, Result};
use crate::frame::NO_PAGE;
use crate::latch::ExclusiveGuard;
use crate::limits::WRITE_BATCH_PAGES_MAX;
use crate::page::{self, PAGE_ID_WORD, PAGE_LSN_WORD, PageId};
use crate::pool::PoolCore;
use crate::stats::Counter;
use crate::sync::Ordering;
use crate::view::copy_out;

/// How long the background writer sleeps when nobody wakes it: it looks at the free reserve
/// this often even if no thread asked.
const BACKGROUND_WRITER_PERIOD: Duration = Duration::from_millis(20);

/// What one write-back pass did.
#[derive(Debug, Default)]
pub(crate) struct WriteOutcome {
    /// Pages written.
    pub(crate) written: usize,
    /// The highest LSN among dirty pages skipped because the log is not durable that far.
    pub(crate) blocked_lsn_max: Option<u64>,
    /// Dirty frames skipped because another thread held them or was writing them.
    pub(crate) busy: Vec<u32>,
}

/// One page copied out for writing.
struct Staged {
    frame: u32,
    page: PageId,
    epoch: u64,
    image: AlignedBuf,
}

impl PoolCore {
    /// Sweeps up to one turn of the clock for dirty pages and writes up to `batch_max` of them
    /// in one submission.
    pub(crate) fn write_back_sweep(&self, batch_max: usize) -> Result<WriteOutcome> {
        let mut candidates = Vec::new();
        for _ in 0..self.frames.len() {
            let frame = self.advance_hand();
            let meta = self.meta(frame);
            if meta.dirty.load(Ordering::Relaxed) && meta.page.load(Ordering::Relaxed) != NO_PAGE {
                candidates.push(frame);
                if candidates.len() == batch_max {
                    break;
                }
            }
        }
        self.write_frames(&candidates, Latching::Try)
    }

    /// Writes the dirty pages among `frames` (at most [`WRITE_BATCH_PAGES_MAX`]) in one
    /// submission. Clean frames and pages ahead of the log are skipped, and so are frames
    /// latched by others (with [`Latching::Try`]) or being written by another thread (listed
    /// in [`WriteOutcome::busy`]).
    pub(crate) fn write_frames(&self, frames: &[u32], latching: Latching) -> Result<WriteOutcome> {
        assert!(frames.len() <= WRITE_BATCH_PAGES_MAX);
        self.check_failure()?;
        let lsn_durable = self.log.lsn_durable();
        let mut outcome = WriteOutcome::default();
        let mut staged = Vec::with_capacity(frames.len());
        for &frame in frames {
            match self.stage(frame, lsn_durable, latching) {
                Stage::Copied(page) => staged.push(page),
                Stage::AheadOfLog(lsn) => {
                    self.counters.add(Counter::WritesDeferredForLog, 1);
                    outcome.blocked_lsn_max = outcome.blocked_lsn_max.max(Some(lsn));
                }
                Stage::Busy => outcome.busy.push(frame),
                Stage::Clean => {}
            }
        }
        // Mmap mode: the write changes mapped bytes, so no in-place reader of the page may be
        // reading them (see `mapping.rs`); a busy stripe leaves the page for the next round.
        let (staged, _stripes_held) = self.hold_stripes(staged);
        if staged.is_empty() {
            return Ok(outcome);
        }
        for page in &staged {
            self.ledger.begin(page.page, page::checksum_of(&page.image[..self.page_bytes]));
        }
        let results = {
            let mut requests: Vec<IoRequest<'_>> = staged
                .iter()
                .map(|page| IoRequest::Write {
                    offset: self.offset_of(page.page),
                    buf: &page.image[..self.page_bytes],
                    durable: false,
                })
                .collect();
            self.file.submit(&mut requests)
        };
        let mut first_error = None;
        for (result, page) in results.into_iter().zip(staged) {
            self.ledger.end(page.page, result.is_ok());
            match result {
                Ok(()) => {
                    self.mark_written(&page);
                    outcome.written += 1;
                }
                Err(error) => {
                    self.end_write(page.frame);
                    first_error.get_or_insert(error);
                }
            }
            self.return_staging(page.image);
        }
        self.counters.record_write_batch(outcome.written as u64);
        match first_error {
            // A failed write leaves the file's state unknown: refuse changes from now on.
            Some(error) => Err(self.fail(&Error::Disk(error))),
            None => Ok(outcome),
        }
    }

    /// In mmap mode, holds the stripe of every staged page exclusively (without waiting) and
    /// gives back the pages whose stripe is busy. Other modes: all pages, no stripes.
    fn hold_stripes(&self, staged: Vec<Staged>) -> (Vec<Staged>, Vec<ExclusiveGuard<'_>>) {
        let Some(mapping) = &self.mapping else { return (staged, Vec::new()) };
        let mut held_indexes = Vec::new();
        let mut held = Vec::new();
        let mut kept = Vec::with_capacity(staged.len());
        for page in staged {
            let index = mapping.stripe_index(page.page);
            if !held_indexes.contains(&index) {
                let Some(latch) = mapping.stripe_latch(index).try_lock_exclusive() else {
                    self.end_write(page.frame);
                    self.return_staging(page.image);
                    continue;
                };
                held_indexes.push(index);
                held.push(latch);
            }
            kept.push(page);
        }
        (kept, held)
    }

    /// Copies a dirty frame out for writing, if it can be latched shared (now, or after
    /// waiting with [`Latching::Wait`]), no other write of it is in flight, and the log is
    /// durable up to its LSN.
    fn stage(&self, frame: u32, lsn_durable: u64, latching: Latching) -> Stage {
        let meta = self.meta(frame);
        let latch = match latching {
            Latching::Wait => meta.latch.lock_shared(),
            Latching::Try => match meta.latch.try_lock_shared() {
                Some(latch) => latch,
                None => return Stage::Busy,
            },
        };
        let page = meta.page.load(Ordering::Relaxed);
        if page == NO_PAGE || !meta.dirty.load(Ordering::Relaxed) {
            return Stage::Clean;
        }
        let words = self.words(frame);
        let lsn = words[PAGE_LSN_WORD].load(std::sync::atomic::Ordering::Relaxed);
        if lsn > lsn_durable {
            return Stage::AheadOfLog(lsn);
        }
        if meta.writing.swap(true, Ordering::Acquire) {
            return Stage::Busy; // another thread's write of this page is in flight
        }
        // Staging runs under a shared latch, and so does the end of another thread's write:
        // between the check of `dirty` above and the swap, that write may have marked the
        // frame clean and ended. A copy made now would be a second write of an image already
        // in the file, in flight on a clean frame, which eviction may then empty: the page,
        // read again into another frame and changed there, could be overwritten by this late
        // write. So look again now that this thread owns the frame's write.
        if !meta.dirty.load(Ordering::Relaxed) {
            self.end_write(frame);
            return Stage::Clean;
        }
        let epoch = meta.dirty_epoch.load(Ordering::Relaxed);
        let mut image = self.staging_buffer();
        copy_out(words, &mut image[..self.page_bytes]);
        drop(latch);
        let page = PageId(page);
        assert_eq!(words[PAGE_ID_WORD].load(std::sync::atomic::Ordering::Relaxed), page.0);
        page::seal(&mut image[..self.page_bytes]);
        // Checked just before it is written: a page that would not read back is a bug here.
        if let Err(reason) = page::verify(&image[..self.page_bytes], page) {
            panic!("page {page} fails its own check before write-back: {reason}");
        }
        Stage::Copied(Staged { frame, page, epoch, image })
    }

    /// Marks a written page clean unless a writer changed it after the copy, and lets the
    /// next write-back of the frame start.
    fn mark_written(&self, page: &Staged) {
        let meta = self.meta(page.frame);
        if let Some(_latch) = meta.latch.try_lock_shared()
            && meta.page.load(Ordering::Relaxed) == page.page.0
            && meta.dirty_epoch.load(Ordering::Relaxed) == page.epoch
        {
            meta.mark_clean();
        }
        self.end_write(page.frame);
        self.note_progress();
    }

    /// Lets the next write-back of `frame` start. A read-modify-write rather than a store: loom
    /// (which checks this hand-off in `loom_models.rs`) lets a later `swap(true)` miss a plain
    /// store's `false` here, and the swap documents that this thread owned the flag.
    fn end_write(&self, frame: u32) {
        let was_writing = self.meta(frame).writing.swap(false, Ordering::AcqRel);
        assert!(was_writing, "frame {frame} finished a write-back it did not start");
    }

    /// Writes back every page dirty at the call that the log allows — waiting for latches and
    /// for other threads' writes in flight, so every such page is written at least once after
    /// the call began — then makes the file durable.
    pub(crate) fn flush_dirty(&self) -> Result<usize> {
        self.check_failure()?;
        let mut pending: Vec<u32> = (0..self.frames.len())
            .map(|index| u32::try_from(index).expect("frame counts fit in a u32"))
            .filter(|&frame| self.meta(frame).dirty.load(Ordering::Relaxed))
            .collect();
        let mut written = 0;
        while !pending.is_empty() {
            let mut busy = Vec::new();
            for batch in pending.chunks(WRITE_BATCH_PAGES_MAX) {
                let outcome = self.write_frames(batch, Latching::Wait)?;
                written += outcome.written;
                busy.extend(outcome.busy);
            }
            if !busy.is_empty() {
                crate::sync::yield_now(); // another thread's write of these is in flight
            }
            pending = busy;
        }
        // The pages are in the device's cache at best; a checkpoint needs them durable.
        self.file.sync_data().map_err(|error| self.fail(&Error::Disk(error)))?;
        Ok(written)
    }

    /// One round of the background writer: evict clean pages to the free list and write dirty
    /// ones back until the reserve is met or nothing more can be done now.
    fn refill_reserve(&self) {
        while self.free.lock().len() < self.reserve_frames && self.check_failure().is_ok() {
            if let Some((frame, latch)) = self.evict_clean(self.frames.len()) {
                self.release_frame(frame, latch);
                continue;
            }
            match self.write_back_sweep(WRITE_BATCH_PAGES_MAX) {
                Ok(outcome) if outcome.written > 0 => {}
                Ok(outcome) => {
                    if let Some(lsn) = outcome.blocked_lsn_max {
                        self.log.request_durable(lsn);
                    }
                    return;
                }
                Err(_) => return, // sticky: the next fix or flush reports it
            }
        }
    }
}

/// How write-back takes a dirty frame's latch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Latching {
    /// Skip a frame another thread holds: eviction and the background writer, which may run
    /// while the calling thread holds other pages.
    Try,
    /// Wait for it: checkpoints, whose caller holds no pages.
    Wait,
}

enum Stage {
    Copied(Staged),
    AheadOfLog(u64),
    Busy,
    Clean,
}

/// Wakes the background writer (a thread found the free list empty).
#[derive(Debug, Default)]
pub(crate) struct WriterSignal {
    state: parking_lot::Mutex<SignalState>,
    condvar: parking_lot::Condvar,
}

#[derive(Debug, Default)]
struct SignalState {
    /// A thread asked for frames since the writer last started a round.
    woken: bool,
    /// The pool is being dropped.
    stopping: bool,
    /// Someone checks invariants: start no round.
    paused: bool,
    /// The writer is in a round.
    working: bool,
}

impl WriterSignal {
    pub(crate) fn wake(&self) {
        let mut state = self.state.lock();
        if !state.woken {
            state.woken = true;
            self.condvar.notify_all();
        }
    }
}

/// The background writer thread of a pool.
#[derive(Debug)]
pub(crate) struct BackgroundWriter {
    core: Arc<PoolCore>,
    thread: Option<JoinHandle<()>>,
}

/// While it lives, the background writer starts no round (for invariant checks).
pub(crate) struct Paused<'writer> {
    writer: &'writer BackgroundWriter,
}

impl BackgroundWriter {
    pub(crate) fn start(core: Arc<PoolCore>) -> Self {
        let thread_core = Arc::clone(&core);
        let thread = std::thread::Builder::new()
            .name("directdb-pool-writer".into())
            .spawn(move || run(&thread_core))
            .expect("spawning the pool's background writer");
        Self { core, thread: Some(thread) }
    }

    /// Waits for the current round to end and keeps the writer from starting another.
    pub(crate) fn pause(&self) -> Paused<'_> {
        let signal = &self.core.writer_signal;
        let mut state = signal.state.lock();
        state.paused = true;
        while state.working {
            signal.condvar.wait(&mut state);
        }
        Paused { writer: self }
    }

    pub(crate) fn stop(mut self) {
        {
            let mut state = self.core.writer_signal.state.lock();
            state.stopping = true;
            self.core.writer_signal.condvar.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the pool's background writer panicked");
        }
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        let signal = &self.writer.core.writer_signal;
        signal.state.lock().paused = false;
        signal.condvar.notify_all();
    }
}

fn run(core: &PoolCore) {
    let signal = &core.writer_signal;
    let mut state = signal.state.lock();
    loop {
        if state.stopping {
            return;
        }
        if !state.paused {
            state.woken = false;
            state.working = true;
            parking_lot::MutexGuard::unlocked(&mut state, || core.refill_reserve());
            state.working = false;
            signal.condvar.notify_all(); // a pauser may wait for the round to end
        }
        if state.stopping {
            return;
        }
        if !state.woken || state.paused {
            signal.condvar.wait_for(&mut state, BACKGROUND_WRITER_PERIOD);
        }
    }
}

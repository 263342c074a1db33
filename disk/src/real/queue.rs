//! [`IoQueue`]: keeps many requests in flight from one thread, handing each completion back as
//! it arrives, so a single thread can hold a device at queue depth 32 the way fio does (a batch
//! call waits for its slowest request; a queue refills as soon as any request finishes).
//!
//! Buffer ownership is by value: a pushed request owns its [`AlignedBuf`] until its
//! [`Completion`] returns it, and dropping the queue waits for every request in flight. Files
//! without a ring (buffered, mmap, simulated, or io_uring unavailable) run each request at push
//! time, so callers see the same interface on every backend.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use std::os::fd::RawFd;

use io_uring::IoUring;

use crate::buf::AlignedBuf;
use crate::error::{Error, Result};
use crate::file::File;
use crate::real::ring::{is_transient, read_entry, write_entry};

/// A request's outcome, with its buffer and the caller's tag.
#[derive(Debug)]
pub struct Completion<Tag> {
    /// What the caller attached to the request.
    pub tag: Tag,
    /// The request's buffer, back in the caller's hands (holding the data, for a read).
    pub buf: AlignedBuf,
    /// Whether the whole request succeeded.
    pub result: Result<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write { durable: bool },
}

struct InFlight<Tag> {
    file: Arc<dyn File>,
    kind: Kind,
    offset: u64,
    buf: AlignedBuf,
    tag: Tag,
}

/// A pipeline of requests on one ring, owned by one thread at a time.
pub struct IoQueue<Tag> {
    ring: Option<IoUring>,
    /// Why there is no ring, when there is none.
    fallback_reason: Option<String>,
    slots: Vec<Option<InFlight<Tag>>>,
    free_slots: Vec<usize>,
    /// Pushed but not yet handed to the kernel.
    queued_count: usize,
    /// Handed to the kernel, completion not yet seen.
    in_flight_count: usize,
    ready: VecDeque<Completion<Tag>>,
}

impl<Tag> IoQueue<Tag> {
    /// A queue holding up to `depth` requests (1..=[`crate::limits::QUEUE_DEPTH_MAX`]).
    ///
    /// # Panics
    /// If `depth` is out of range (a bug in the caller).
    pub fn new(depth: u32) -> Self {
        assert!((1..=crate::limits::QUEUE_DEPTH_MAX).contains(&depth), "queue depth {depth}");
        let (ring, fallback_reason) =
            match crate::uring_support::io_uring_support().unusable_reason() {
                Some(reason) => (None, Some(reason)),
                None => match IoUring::new(depth) {
                    Ok(ring) => (Some(ring), None),
                    Err(error) => (None, Some(crate::uring_support::explain(&error))),
                },
            };
        let depth = depth as usize;
        Self {
            ring,
            fallback_reason,
            slots: (0..depth).map(|_| None).collect(),
            free_slots: (0..depth).rev().collect(),
            queued_count: 0,
            in_flight_count: 0,
            ready: VecDeque::new(),
        }
    }

    /// Why requests run synchronously instead of through a ring, if they do.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// How many more requests can be pushed before a completion must be taken. Every request
    /// counts until its completion is taken, so `if queue.room() == 0 { queue.next_completion() }`
    /// always makes room.
    pub fn room(&self) -> usize {
        self.slots.len() - self.pending_count()
    }

    /// Requests pushed whose completions have not been taken yet.
    pub fn pending_count(&self) -> usize {
        self.slots.len() - self.free_slots.len() + self.ready.len()
    }

    /// Queues a read of `buf.len()` bytes at `offset`.
    ///
    /// # Panics
    /// If the queue has no room (check [`IoQueue::room`]).
    pub fn push_read(&mut self, file: &Arc<dyn File>, offset: u64, buf: AlignedBuf, tag: Tag) {
        self.push(InFlight { file: Arc::clone(file), kind: Kind::Read, offset, buf, tag });
    }

    /// Queues a write of `buf` at `offset`, durable on completion if `durable` (`RWF_DSYNC`).
    ///
    /// # Panics
    /// If the queue has no room (check [`IoQueue::room`]).
    pub fn push_write(
        &mut self,
        file: &Arc<dyn File>,
        offset: u64,
        buf: AlignedBuf,
        durable: bool,
        tag: Tag,
    ) {
        let kind = Kind::Write { durable };
        self.push(InFlight { file: Arc::clone(file), kind, offset, buf, tag });
    }

    fn push(&mut self, request: InFlight<Tag>) {
        assert!(self.room() > 0, "IoQueue::push with no room");
        let slot = self.free_slots.pop().expect("room implies a free slot");
        let operation = if request.kind == Kind::Read { "read" } else { "write" };
        let alignment = request.file.info().alignment;
        let checked = alignment.check(
            operation,
            request.file.path(),
            request.buf.as_ptr() as usize,
            request.buf.len(),
            request.offset,
        );
        let fd = request.file.io_uring_fd();
        match (&mut self.ring, fd, checked) {
            (Some(ring), Some(fd), Ok(())) => {
                let entry = entry_for(fd, &request, slot);
                self.slots[slot] = Some(request);
                // SAFETY: the entry points into the buffer now owned by `self.slots[slot]`; its
                // heap memory does not move when the `AlignedBuf` value moves, and the slot is
                // emptied only when the entry's completion is reaped (or `drop` waited for it).
                // The file is kept open by the `Arc` in the same slot.
                unsafe { ring.submission().push(&entry) }
                    .expect("the ring has as many entries as the queue has slots");
                self.queued_count += 1;
            }
            (.., Err(error)) => self.complete_now(slot, request, Err(error)),
            _ => {
                let mut request = request;
                let result = run_sync(&mut request);
                self.complete_now(slot, request, result);
            }
        }
    }

    fn complete_now(&mut self, slot: usize, request: InFlight<Tag>, result: Result<()>) {
        self.free_slots.push(slot);
        self.ready.push_back(Completion { tag: request.tag, buf: request.buf, result });
    }

    /// Hands every queued request to the kernel without waiting.
    pub fn submit(&mut self) {
        if let Some(ring) = &mut self.ring
            && self.queued_count > 0
            && let Ok(consumed) = ring.submit()
        {
            self.queued_count -= consumed.min(self.queued_count);
            self.in_flight_count += consumed;
        }
    }

    /// The next completion, waiting for one if requests are in flight; `None` when nothing is
    /// pending.
    pub fn next_completion(&mut self) -> Option<Completion<Tag>> {
        if let Some(completion) = self.ready.pop_front() {
            return Some(completion);
        }
        if self.queued_count + self.in_flight_count == 0 {
            return None;
        }
        self.wait_for_one();
        self.ready.pop_front()
    }

    fn wait_for_one(&mut self) {
        loop {
            let ring = self.ring.as_mut().expect("requests in flight imply a ring");
            match ring.submit_and_wait(1) {
                Ok(consumed) => {
                    self.queued_count -= consumed.min(self.queued_count);
                    self.in_flight_count += consumed;
                }
                Err(error) if is_transient(&error) => {}
                Err(error) => {
                    // The kernel holds pointers into our buffers; we cannot wait and cannot free
                    // them. Stopping is the only sound choice.
                    eprintln!(
                        "directdb: io_uring wait failed with requests in flight ({error}); aborting"
                    );
                    std::process::abort();
                }
            }
            if self.reap() > 0 {
                return;
            }
        }
    }

    fn reap(&mut self) -> usize {
        let ring = self.ring.as_mut().expect("reaping needs a ring");
        let mut reaped = Vec::new();
        for completion in ring.completion() {
            let slot = usize::try_from(completion.user_data()).expect("user_data is a slot");
            reaped.push((slot, completion.result()));
        }
        for &(slot, raw) in &reaped {
            let mut request = self.slots[slot].take().expect("completion for an occupied slot");
            self.in_flight_count -= 1;
            let result = finish(&mut request, raw);
            self.complete_now(slot, request, result);
        }
        reaped.len()
    }
}

impl<Tag> Drop for IoQueue<Tag> {
    fn drop(&mut self) {
        // Every request the kernel holds must finish before its buffer is freed.
        self.submit();
        while self.queued_count + self.in_flight_count > 0 {
            self.wait_for_one();
        }
    }
}

impl<Tag> std::fmt::Debug for IoQueue<Tag> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IoQueue")
            .field("depth", &self.slots.len())
            .field("ring", &self.ring.is_some())
            .field("queued_count", &self.queued_count)
            .field("in_flight_count", &self.in_flight_count)
            .field("ready_count", &self.ready.len())
            .finish()
    }
}

fn entry_for<Tag>(fd: RawFd, request: &InFlight<Tag>, slot: usize) -> io_uring::squeue::Entry {
    let (length, offset) = (request.buf.len(), request.offset);
    let entry = match request.kind {
        // The kernel writes through this pointer; the buffer is owned by the queue meanwhile.
        Kind::Read => read_entry(fd, request.buf.as_ptr().cast_mut(), length, offset),
        Kind::Write { durable } => write_entry(fd, request.buf.as_ptr(), length, offset, durable),
    };
    entry.user_data(slot as u64)
}

/// Runs a request with the file's own methods: when there is no ring, and to redo a transfer
/// the ring left short (the system call then reports end of file precisely).
fn run_sync<Tag>(request: &mut InFlight<Tag>) -> Result<()> {
    match request.kind {
        Kind::Read => request.file.read_at(&mut request.buf, request.offset),
        Kind::Write { durable: false } => request.file.write_at(&request.buf, request.offset),
        Kind::Write { durable: true } => {
            request.file.write_at_durable(&request.buf, request.offset)
        }
    }
}

/// Turns a ring completion into the request's result.
fn finish<Tag>(request: &mut InFlight<Tag>, raw: i32) -> Result<()> {
    let operation = if request.kind == Kind::Read { "read" } else { "write" };
    match usize::try_from(raw) {
        Ok(count) if count == request.buf.len() => Ok(()),
        // A short transfer (end of file, or a partial write) is redone in full; both are
        // idempotent.
        Ok(_) => run_sync(request),
        Err(_) if matches!(-raw, libc::EINTR | libc::EAGAIN) => run_sync(request),
        Err(_) => {
            let source = io::Error::from_raw_os_error(-raw);
            Err(Error::io(operation, request.file.path(), request.offset, source))
        }
    }
}

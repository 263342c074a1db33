//! Each thread's io_uring, and the one `unsafe` submission point of the crate.
//!
//! A ring is never shared between threads: each thread lazily creates its own (single issuer,
//! with completions run only when that thread asks for them), so no lock sits on the I/O path and
//! a batch from one thread never waits behind another's.
//!
//! Buffer ownership: [`submit_and_wait`] borrows every request's buffer for the whole call and
//! returns only when every request the kernel consumed has completed. If the ring fails in a way
//! that leaves requests in flight and they cannot be waited for, the process aborts rather than
//! let the kernel write into memory Rust has freed.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, squeue, types};

use crate::file::IoRequest;
use crate::limits::QUEUE_DEPTH_MAX;

/// `IORING_ENTER_GETEVENTS` from `<linux/io_uring.h>`: wait for completions. The io-uring
/// crate does not re-export its constant.
const ENTER_GETEVENTS: u32 = 1;

/// The outcome of one request: bytes transferred, or the kernel's error.
pub(crate) type RawResult = io::Result<usize>;

thread_local! {
    /// `None` until first use; `Some(Err(reason))` once this thread's ring failed for good.
    static RING: RefCell<Option<Result<IoUring, String>>> = const { RefCell::new(None) };
}

/// Runs `requests` on `fd` through this thread's ring, all in flight at once up to the ring's
/// depth, and waits for all of them. `Err(reason)` means the ring could not be used at all and
/// nothing was submitted (the caller falls back to system calls). A request that did not
/// complete through the ring — because the ring broke partway — is reported as `None`, for the
/// caller to retry with system calls.
pub(crate) fn submit_and_wait(
    fd: RawFd,
    requests: &mut [IoRequest<'_>],
) -> Result<Vec<Option<RawResult>>, String> {
    RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ring = match slot.get_or_insert_with(create_ring) {
            Ok(ring) => ring,
            Err(reason) => return Err(reason.clone()),
        };
        let mut batch = Batch { ring, fd, results: (0..requests.len()).map(|_| None).collect() };
        let outcome = batch.run(requests);
        let results = batch.results;
        if let Err(reason) = outcome {
            // The ring is drained (run() returned) but no longer trusted: retire it for this
            // thread; queued entries the kernel never consumed die with it.
            *slot = Some(Err(reason));
        }
        Ok(results)
    })
}

fn create_ring() -> Result<IoUring, String> {
    // Single issuer + deferred task running: completions are processed when this thread waits,
    // not by interrupting it. Kernels before 6.1 reject the flags; retry without them.
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(QUEUE_DEPTH_MAX)
        .or_else(|_| IoUring::new(QUEUE_DEPTH_MAX))
        .map_err(|error| crate::uring_support::explain(&error))
}

struct Batch<'ring> {
    ring: &'ring mut IoUring,
    fd: RawFd,
    results: Vec<Option<RawResult>>,
}

impl Batch<'_> {
    /// Keeps up to the ring's depth in flight until every request completed. On a fatal ring
    /// error, waits for the requests the kernel already holds and returns the reason.
    fn run(&mut self, requests: &mut [IoRequest<'_>]) -> Result<(), String> {
        let mut next_index = 0;
        // Pushed into the submission queue but not yet taken by the kernel.
        let mut queued_count = 0;
        // Taken by the kernel, completion not yet seen.
        let mut in_flight_count = 0;
        while next_index < requests.len() || queued_count + in_flight_count > 0 {
            let pushed = self.push(requests, next_index, queued_count + in_flight_count);
            next_index += pushed;
            queued_count += pushed;
            let wait_count = usize::from(in_flight_count + queued_count > 0);
            match self.ring.submit_and_wait(wait_count) {
                Ok(consumed) => {
                    queued_count -= consumed;
                    in_flight_count += consumed;
                }
                // Nothing was consumed; reaping below frees room, then try again.
                Err(error) if is_transient(&error) => {}
                Err(error) => {
                    self.drain(in_flight_count);
                    return Err(format!("io_uring submission failed: {error}"));
                }
            }
            in_flight_count -= self.reap();
        }
        Ok(())
    }

    /// Pushes requests from `first_index` while the ring has room; returns how many.
    fn push(&mut self, requests: &mut [IoRequest<'_>], first_index: usize, busy: usize) -> usize {
        let room = (QUEUE_DEPTH_MAX as usize).saturating_sub(busy);
        let mut submission = self.ring.submission();
        let mut pushed = 0;
        for (index, request) in requests.iter_mut().enumerate().skip(first_index).take(room) {
            let entry = entry_for(self.fd, request).user_data(index as u64);
            // SAFETY: the entry points into `request`'s buffer, which `requests` borrows for the
            // whole `submit_and_wait` call; `run` returns only after every consumed entry has
            // completed (or `drain` waited for it), so the kernel never touches the buffer after
            // the borrow ends. Entries never consumed are discarded with the retired ring.
            if unsafe { submission.push(&entry) }.is_err() {
                break;
            }
            pushed += 1;
        }
        pushed
    }

    /// Records every available completion; returns how many there were.
    fn reap(&mut self) -> usize {
        let mut count = 0;
        for completion in self.ring.completion() {
            let index = usize::try_from(completion.user_data()).expect("user_data is an index");
            let result = completion.result();
            self.results[index] = Some(if result < 0 {
                Err(io::Error::from_raw_os_error(-result))
            } else {
                Ok(usize::try_from(result).expect("non-negative"))
            });
            count += 1;
        }
        count
    }

    /// Waits until `in_flight_count` completions arrived, without submitting anything new.
    fn drain(&mut self, mut in_flight_count: usize) {
        while in_flight_count > 0 {
            let wait_count = u32::try_from(in_flight_count).expect("bounded by the ring depth");
            // SAFETY: no argument struct is passed; `to_submit` is 0, so no queued entry is
            // handed to the kernel here.
            let waited = unsafe {
                self.ring.submitter().enter::<libc::sigset_t>(0, wait_count, ENTER_GETEVENTS, None)
            };
            if let Err(error) = waited
                && !is_transient(&error)
            {
                // Requests still hold pointers into buffers we are about to give back: the only
                // sound way out is to stop the process.
                eprintln!("directdb: io_uring broke with requests in flight ({error}); aborting");
                std::process::abort();
            }
            in_flight_count -= self.reap();
        }
    }
}

/// Errors after which the same call may simply be made again.
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY))
}

/// A read of `length` bytes at `offset` into `pointer`. Building it is safe; pushing it is not:
/// the pusher guarantees the memory outlives the request.
pub(crate) fn read_entry(fd: RawFd, pointer: *mut u8, length: usize, offset: u64) -> squeue::Entry {
    let length = u32::try_from(length).expect("request length checked below 4 GiB");
    opcode::Read::new(types::Fd(fd), pointer, length).offset(offset).build()
}

/// A write of `length` bytes at `offset` from `pointer`, with `RWF_DSYNC` if `durable`.
pub(crate) fn write_entry(
    fd: RawFd,
    pointer: *const u8,
    length: usize,
    offset: u64,
    durable: bool,
) -> squeue::Entry {
    let length = u32::try_from(length).expect("request length checked below 4 GiB");
    let flags = if durable { libc::RWF_DSYNC } else { 0 };
    opcode::Write::new(types::Fd(fd), pointer, length).offset(offset).rw_flags(flags as _).build()
}

fn entry_for(fd: RawFd, request: &mut IoRequest<'_>) -> squeue::Entry {
    match request {
        IoRequest::Read { offset, buf } => read_entry(fd, buf.as_mut_ptr(), buf.len(), *offset),
        IoRequest::Write { offset, buf, durable } => {
            write_entry(fd, buf.as_ptr(), buf.len(), *offset, *durable)
        }
    }
}

//! [`OsFile`]: a file reached through a file descriptor, either with `O_DIRECT` (the direct
//! backend) or through the page cache (the buffered backend). The two differ only in the open
//! flag and in how a batch is submitted, so they share this one type.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::buf::AlignedBuf;
use crate::error::{Error, Result};
use crate::file::{File, FileInfo, IoRequest, Submission, submit_one_by_one};
use crate::limits::ALLOCATE_CHUNK_BYTES;
use crate::options::IoMode;
use crate::real::{ring, sys};

/// An open file on the direct or the buffered backend.
#[derive(Debug)]
pub(crate) struct OsFile {
    fd: OwnedFd,
    path: PathBuf,
    info: FileInfo,
}

impl OsFile {
    pub(crate) fn new(fd: OwnedFd, path: PathBuf, info: FileInfo) -> Self {
        Self { fd, path, info }
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Records the backend this descriptor serves (the mmap backend writes through one).
    pub(crate) fn set_io_mode(&mut self, io_mode: IoMode) {
        self.info.io_mode = io_mode;
    }

    fn check(&self, request: &IoRequest<'_>) -> Result<()> {
        let alignment = self.info.alignment;
        alignment.check(
            request.operation(),
            &self.path,
            request.address(),
            request.length_bytes(),
            request.offset(),
        )?;
        // io_uring takes a 32-bit length; larger requests are a caller bug, reported as such.
        if u32::try_from(request.length_bytes()).is_err() {
            return Err(Error::Misaligned {
                operation: request.operation(),
                path: self.path.clone(),
                what: "length (over 4 GiB)",
                value: request.length_bytes() as u64,
                required: u64::from(u32::MAX),
            });
        }
        Ok(())
    }

    /// Submits the checked requests through this thread's ring; requests the ring could not
    /// finish are completed with system calls.
    fn submit_ring(&self, requests: &mut [IoRequest<'_>], results: &mut [Option<Result<()>>]) {
        let (mut indexes, mut batch): (Vec<usize>, Vec<IoRequest<'_>>) = requests
            .iter_mut()
            .enumerate()
            .filter(|(index, _)| results[*index].is_none())
            .map(|(index, request)| (index, reborrow(request)))
            .unzip();
        let raw_results = match ring::submit_and_wait(self.fd.as_raw_fd(), &mut batch) {
            Ok(raw_results) => raw_results,
            Err(_) => (0..batch.len()).map(|_| None).collect(),
        };
        for ((index, request), raw) in indexes.drain(..).zip(batch.iter_mut()).zip(raw_results) {
            results[index] = Some(self.finish(request, raw));
        }
    }

    /// Turns a ring completion into the request's result, finishing a short transfer (or one
    /// the ring never ran) with system calls, which also report end of file precisely.
    fn finish(&self, request: &mut IoRequest<'_>, raw: Option<ring::RawResult>) -> Result<()> {
        let done_bytes = match raw {
            Some(Ok(count)) => count.min(request.length_bytes()),
            Some(Err(source)) if !is_retryable(&source) => {
                return Err(Error::io(request.operation(), &self.path, request.offset(), source));
            }
            Some(Err(_)) | None => 0,
        };
        if done_bytes == request.length_bytes() {
            return Ok(());
        }
        match request {
            IoRequest::Read { offset, buf } => {
                let result = sys::pread_exact(
                    &self.fd,
                    &self.path,
                    &mut buf[done_bytes..],
                    *offset + done_bytes as u64,
                );
                result.map_err(|error| match error {
                    Error::ShortRead { path, got_bytes, .. } => Error::ShortRead {
                        path,
                        offset: *offset,
                        expected_bytes: buf.len(),
                        got_bytes: got_bytes + done_bytes,
                    },
                    other => other,
                })
            }
            IoRequest::Write { offset, buf, durable } => {
                let position = *offset + done_bytes as u64;
                sys::pwrite_all(&self.fd, &self.path, &buf[done_bytes..], position, *durable)
            }
        }
    }
}

fn is_retryable(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINTR | libc::EAGAIN))
}

/// A shorter-lived copy of a request, so a filtered batch can be built without moving the
/// caller's requests.
fn reborrow<'short>(request: &'short mut IoRequest<'_>) -> IoRequest<'short> {
    match request {
        IoRequest::Read { offset, buf } => IoRequest::Read { offset: *offset, buf },
        IoRequest::Write { offset, buf, durable } => {
            IoRequest::Write { offset: *offset, buf, durable: *durable }
        }
    }
}

impl File for OsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn info(&self) -> &FileInfo {
        &self.info
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check(&IoRequest::Read { offset, buf: &mut *buf })?;
        sys::pread_exact(&self.fd, &self.path, buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.check(&IoRequest::Write { offset, buf, durable: false })?;
        sys::pwrite_all(&self.fd, &self.path, buf, offset, false)
    }

    fn write_at_durable(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.check(&IoRequest::Write { offset, buf, durable: true })?;
        sys::pwrite_all(&self.fd, &self.path, buf, offset, true)
    }

    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<Result<()>> {
        if self.info.submission != Submission::IoUring {
            return submit_one_by_one(self, requests);
        }
        let mut results: Vec<Option<Result<()>>> =
            requests.iter().map(|request| self.check(request).err().map(Err)).collect();
        self.submit_ring(requests, &mut results);
        results.into_iter().map(|result| result.expect("every request has a result")).collect()
    }

    fn sync_data(&self) -> Result<()> {
        sys::fdatasync(&self.fd, &self.path)
    }

    fn size_bytes(&self) -> Result<u64> {
        sys::size_bytes(&self.fd, &self.path)
    }

    fn allocate(&self, size_bytes: u64) -> Result<()> {
        allocate_by_writing(self, size_bytes)
    }

    fn truncate(&self, size_bytes: u64) -> Result<()> {
        sys::ftruncate(&self.fd, &self.path, size_bytes)?;
        sys::fdatasync(&self.fd, &self.path)
    }

    fn io_uring_fd(&self) -> Option<std::os::fd::RawFd> {
        (self.info.submission == Submission::IoUring).then(|| self.fd.as_raw_fd())
    }

    fn drop_cached_pages(&self) -> Result<()> {
        // Direct files have no pages in the kernel's cache; buffered ones drop their clean pages.
        if self.info.io_mode != IoMode::Direct {
            sys::advise_dont_need(&self.fd);
        }
        Ok(())
    }
}

/// Grows `file` to `size_bytes` by writing zeros from its current end (rounded down to the
/// alignment, so the partial last block is rewritten with its own bytes preserved), then
/// `fdatasync`s so the extents and the size are committed once, here, and not on every later
/// overwrite.
///
/// Worked example (alignment 512): a 1000-byte file grown to 3000 bytes: the block at 512 is
/// read (bytes 512..1000 kept, 1000..1024 zero), then 512..3072 is written. `size_bytes` is
/// rounded up to the alignment, so the file ends at 3072.
pub(crate) fn allocate_by_writing(file: &dyn File, size_bytes: u64) -> Result<()> {
    let alignment = file.info().alignment;
    let block_bytes = u64::from(alignment.offset_bytes);
    let current_bytes = file.size_bytes()?;
    let target_bytes = size_bytes.next_multiple_of(block_bytes);
    if target_bytes <= current_bytes {
        return Ok(());
    }
    let chunk = AlignedBuf::for_alignment(ALLOCATE_CHUNK_BYTES, alignment);
    let mut offset = current_bytes - current_bytes % block_bytes;
    if offset < current_bytes {
        let tail_bytes = usize::try_from(block_bytes).expect("alignment fits usize");
        let mut tail = AlignedBuf::for_alignment(tail_bytes, alignment);
        let kept_bytes = usize::try_from(current_bytes - offset).expect("below one block");
        read_partial_block(file, &mut tail, offset, kept_bytes)?;
        file.write_at(&tail, offset)?;
        offset += block_bytes;
    }
    while offset < target_bytes {
        let length_bytes = usize::try_from((target_bytes - offset).min(chunk.len() as u64))
            .expect("bounded by the chunk");
        file.write_at(&chunk[..length_bytes], offset)?;
        offset += length_bytes as u64;
    }
    file.sync_data()
}

/// Reads the first `kept_bytes` of the block at `offset` (the file ends inside it) into `block`,
/// leaving the rest zero.
fn read_partial_block(
    file: &dyn File,
    block: &mut AlignedBuf,
    offset: u64,
    kept_bytes: usize,
) -> Result<()> {
    match file.read_at(block, offset) {
        Ok(()) => Ok(()),
        Err(Error::ShortRead { got_bytes, .. }) if got_bytes >= kept_bytes => {
            block[got_bytes..].fill(0);
            Ok(())
        }
        Err(error) => Err(error),
    }
}

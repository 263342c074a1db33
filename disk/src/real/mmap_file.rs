//! [`MmapFile`]: the mmap backend. Reads come from a shared, read-only mapping of the file (the
//! kernel decides what is resident, as in LMDB); writes go through `pwrite` on the same file,
//! which the unified page cache makes visible in the mapping at once.
//!
//! The mapping reserves [`crate::DiskOptions::mmap_reserve_bytes`] of address space once, at
//! open, and is never moved, so a pointer into it stays valid for the file's lifetime. Only the
//! part below the file's size may be touched (beyond it the kernel raises `SIGBUS`); the size is
//! tracked here and grows through writes, [`File::allocate`] and growing truncates; a mapped file
//! is never shrunk (see [`File::mapped_words`]).

use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::mm::{Advice, MapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::file::{File, FileInfo, IoRequest, submit_one_by_one};
use crate::real::os_file::{OsFile, allocate_by_writing};
use crate::real::sys;

/// A file on the mmap backend.
#[derive(Debug)]
pub(crate) struct MmapFile {
    inner: OsFile,
    mapping: NonNull<u8>,
    reserve_bytes: u64,
    /// Bytes of the file that may be read through the mapping.
    size_bytes: AtomicU64,
}

// SAFETY: the mapping is read-only shared memory owned by this value for its whole life; reads
// go through raw-pointer copies that any thread may make, and it is unmapped only in `drop`,
// when no other reference to the value exists.
unsafe impl Send for MmapFile {}
// SAFETY: as above: no method mutates the mapping, and the size is an atomic.
unsafe impl Sync for MmapFile {}

impl MmapFile {
    /// Maps `inner` read-only, reserving `reserve_bytes` of address space.
    pub(crate) fn new(inner: OsFile, reserve_bytes: u64, random_access: bool) -> Result<Self> {
        let size_bytes = inner.size_bytes()?;
        let map_error = |source: std::io::Error| Error::io("mmap", inner.path(), 0, source);
        let reserve_length = usize::try_from(reserve_bytes)
            .map_err(|_| map_error(std::io::Error::other("reserve exceeds the address space")))?;
        // SAFETY: a fresh mapping at an address the kernel chooses, so no existing memory is
        // replaced. PROT_READ only: Rust never writes through it. The kernel keeps the mapping
        // valid after the descriptor is closed, and `drop` unmaps it.
        let address = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                reserve_length,
                ProtFlags::READ,
                MapFlags::SHARED | MapFlags::NORESERVE,
                inner.fd(),
                0,
            )
        }
        .map_err(|errno| map_error(errno.into()))?;
        let mapping = NonNull::new(address.cast::<u8>()).expect("mmap never returns null");
        if random_access {
            // SAFETY: the range is exactly the mapping created above. Advisory only.
            let _ = unsafe { rustix::mm::madvise(address, reserve_length, Advice::Random) };
        }
        Ok(Self { inner, mapping, reserve_bytes, size_bytes: AtomicU64::new(size_bytes) })
    }

    fn check_reserve(&self, operation: &'static str, end_bytes: u64) -> Result<()> {
        if end_bytes > self.reserve_bytes {
            return Err(Error::MappingReserveExceeded {
                operation,
                path: self.inner.path().to_path_buf(),
                size_bytes: end_bytes,
                reserve_bytes: self.reserve_bytes,
            });
        }
        Ok(())
    }

    /// Notes that writes reached `end_bytes`, so the mapping may be read up to there.
    fn grow_to(&self, end_bytes: u64) {
        self.size_bytes.fetch_max(end_bytes, Ordering::Release);
    }
}

impl Drop for MmapFile {
    fn drop(&mut self) {
        let length = usize::try_from(self.reserve_bytes).expect("checked at creation");
        // SAFETY: the mapping was created in `new` with this address and length, and `&mut
        // self` proves no reader still holds a reference into it.
        let _ = unsafe { rustix::mm::munmap(self.mapping.as_ptr().cast(), length) };
    }
}

impl File for MmapFile {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn info(&self) -> &FileInfo {
        self.inner.info()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let alignment = self.info().alignment;
        alignment.check("read", self.path(), buf.as_ptr() as usize, buf.len(), offset)?;
        let size_bytes = self.size_bytes.load(Ordering::Acquire);
        let available_bytes = size_bytes.saturating_sub(offset).min(buf.len() as u64);
        let available_bytes = usize::try_from(available_bytes).expect("bounded by buf.len()");
        let start = usize::try_from(offset).expect("offset below size, and size below reserve");
        if available_bytes > 0 {
            // SAFETY: `start + available_bytes <= size_bytes <= reserve_bytes`, so the source
            // lies in the mapping and below the file's end (no SIGBUS); `buf` is a distinct
            // Rust allocation. The bytes may change under concurrent `pwrite`s by this process,
            // which is why they are copied out rather than borrowed: callers validate what they
            // copied (page checksums) before trusting it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.mapping.as_ptr().add(start),
                    buf.as_mut_ptr(),
                    available_bytes,
                );
            }
        }
        if available_bytes < buf.len() {
            return Err(Error::ShortRead {
                path: self.path().to_path_buf(),
                offset,
                expected_bytes: buf.len(),
                got_bytes: available_bytes,
            });
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let end_bytes = offset + buf.len() as u64;
        self.check_reserve("write", end_bytes)?;
        self.inner.write_at(buf, offset)?;
        self.grow_to(end_bytes);
        Ok(())
    }

    fn write_at_durable(&self, buf: &[u8], offset: u64) -> Result<()> {
        let end_bytes = offset + buf.len() as u64;
        self.check_reserve("write", end_bytes)?;
        self.inner.write_at_durable(buf, offset)?;
        self.grow_to(end_bytes);
        Ok(())
    }

    fn submit(&self, requests: &mut [IoRequest<'_>]) -> Vec<Result<()>> {
        submit_one_by_one(self, requests)
    }

    fn sync_data(&self) -> Result<()> {
        self.inner.sync_data()
    }

    fn size_bytes(&self) -> Result<u64> {
        self.inner.size_bytes()
    }

    fn allocate(&self, size_bytes: u64) -> Result<()> {
        self.check_reserve("allocate", size_bytes)?;
        allocate_by_writing(self, size_bytes)
    }

    fn drop_cached_pages(&self) -> Result<()> {
        let length = usize::try_from(self.reserve_bytes).expect("checked at creation");
        // SAFETY: the range is exactly this file's mapping. MADV_DONTNEED on a shared file
        // mapping drops only this process's page-table entries; the data stays in the file, and
        // the next read faults it back in.
        let _ = unsafe {
            rustix::mm::madvise(self.mapping.as_ptr().cast(), length, Advice::LinuxDontNeed)
        };
        sys::advise_dont_need(self.inner.fd());
        Ok(())
    }

    fn truncate(&self, size_bytes: u64) -> Result<()> {
        self.check_reserve("truncate", size_bytes)?;
        // Words of the mapping below the readable size may be borrowed (`mapped_words`) for as
        // long as the file lives; cutting the file under them would turn those reads into
        // SIGBUS. A mapped file therefore only grows.
        if size_bytes < self.size_bytes.load(Ordering::Acquire) {
            let reason = "the mmap backend never shrinks a mapped file: readers may hold its pages";
            return Err(Error::io(
                "ftruncate",
                self.path(),
                size_bytes,
                std::io::Error::other(reason),
            ));
        }
        self.inner.truncate(size_bytes)?;
        self.grow_to(size_bytes);
        Ok(())
    }

    fn mapped_words(&self) -> Option<&[AtomicU64]> {
        let size_bytes = self.size_bytes.load(Ordering::Acquire);
        let word_count = usize::try_from(size_bytes / 8).expect("the size is below the reserve");
        // SAFETY: the mapping starts page-aligned (so 8-aligned) and stays mapped until `drop`,
        // which cannot run while `&self` is borrowed by the returned slice. Its first
        // `size_bytes` bytes lie in the file, which never shrinks below the readable size (see
        // `truncate`), so reading them never faults. The memory is mapped read-only and Rust
        // only ever loads from it: `AtomicU64` has the layout of `u64`, and `Relaxed` atomic
        // loads of register width are allowed on read-only memory. Concurrent changes come
        // from the kernel (this process's `pwrite`s), never from Rust stores.
        Some(unsafe {
            std::slice::from_raw_parts(self.mapping.as_ptr().cast::<AtomicU64>(), word_count)
        })
    }
}

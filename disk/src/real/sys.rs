//! Thin, safe wrappers over the system calls the real backends use, each turning an `errno` into
//! an [`Error`] that names the path, the operation and the offset.

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, ReadWriteFlags};

use crate::error::{Error, Result};

/// How to open a file descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenFlags {
    pub(crate) create: bool,
    pub(crate) direct: bool,
    pub(crate) dsync: bool,
}

pub(crate) fn open(path: &Path, flags: OpenFlags) -> Result<OwnedFd, Errno> {
    let mut oflags = OFlags::RDWR | OFlags::CLOEXEC;
    if flags.create {
        oflags |= OFlags::CREATE;
    }
    if flags.direct {
        oflags |= OFlags::DIRECT;
    }
    if flags.dsync {
        oflags |= OFlags::DSYNC;
    }
    rustix::fs::open(path, oflags, Mode::from_raw_mode(0o644))
}

pub(crate) fn open_error(path: &Path, errno: Errno) -> Error {
    Error::io("open", path, 0, errno.into())
}

/// Reads until `buf` is full; a read of 0 bytes before that is end of file.
pub(crate) fn pread_exact(fd: impl AsFd, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    let mut done_bytes = 0;
    while done_bytes < buf.len() {
        let position = offset + done_bytes as u64;
        match rustix::io::pread(fd.as_fd(), &mut buf[done_bytes..], position) {
            Ok(0) => {
                return Err(Error::ShortRead {
                    path: path.to_path_buf(),
                    offset,
                    expected_bytes: buf.len(),
                    got_bytes: done_bytes,
                });
            }
            Ok(count) => done_bytes += count,
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(errno) => return Err(Error::io("read", path, position, errno.into())),
        }
    }
    Ok(())
}

/// Writes all of `buf`; with `durable`, each `pwritev2` carries `RWF_DSYNC`.
pub(crate) fn pwrite_all(
    fd: impl AsFd,
    path: &Path,
    buf: &[u8],
    offset: u64,
    durable: bool,
) -> Result<()> {
    let flags = if durable { ReadWriteFlags::DSYNC } else { ReadWriteFlags::empty() };
    let mut done_bytes = 0;
    while done_bytes < buf.len() {
        let position = offset + done_bytes as u64;
        let slice = [IoSlice::new(&buf[done_bytes..])];
        match rustix::io::pwritev2(fd.as_fd(), &slice, position, flags) {
            Ok(0) => {
                let source = std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote 0 bytes");
                return Err(Error::io("write", path, position, source));
            }
            Ok(count) => done_bytes += count,
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(errno) => return Err(Error::io("write", path, position, errno.into())),
        }
    }
    Ok(())
}

pub(crate) fn fdatasync(fd: impl AsFd, path: &Path) -> Result<()> {
    rustix::fs::fdatasync(fd).map_err(|errno| Error::io("fdatasync", path, 0, errno.into()))
}

pub(crate) fn fsync(fd: impl AsFd, path: &Path) -> Result<()> {
    rustix::fs::fsync(fd).map_err(|errno| Error::io("fsync", path, 0, errno.into()))
}

pub(crate) fn size_bytes(fd: impl AsFd, path: &Path) -> Result<u64> {
    let stat = rustix::fs::fstat(fd).map_err(|errno| Error::io("fstat", path, 0, errno.into()))?;
    u64::try_from(stat.st_size)
        .map_err(|_| Error::io("fstat", path, 0, std::io::Error::other("negative file size")))
}

pub(crate) fn ftruncate(fd: impl AsFd, path: &Path, size_bytes: u64) -> Result<()> {
    rustix::fs::ftruncate(fd, size_bytes)
        .map_err(|errno| Error::io("ftruncate", path, size_bytes, errno.into()))
}

/// Tells the kernel not to read ahead of random accesses. Advisory: failure is ignored because
/// it changes only performance, never results.
pub(crate) fn advise_random(fd: impl AsFd) {
    let _ = rustix::fs::fadvise(fd, 0, None, rustix::fs::Advice::Random);
}

/// Drops the file's clean pages from the page cache (advisory), so that the next read of a
/// buffered file goes to the device.
pub(crate) fn advise_dont_need(fd: impl AsFd) {
    let _ = rustix::fs::fadvise(fd, 0, None, rustix::fs::Advice::DontNeed);
}

/// The `(major, minor)` device number of the file system holding an open file.
pub(crate) fn device_of(fd: impl AsFd) -> Option<(u32, u32)> {
    let stat = rustix::fs::fstat(fd).ok()?;
    Some((rustix::fs::major(stat.st_dev), rustix::fs::minor(stat.st_dev)))
}

/// Takes a non-blocking exclusive `flock`. `flock` locks belong to the open file description, so
/// a second `open` of the same file in the same process conflicts too.
pub(crate) fn lock_exclusive(fd: impl AsFd, path: &Path) -> Result<()> {
    use rustix::fs::FlockOperation;
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) => Err(Error::Locked { path: path.to_path_buf() }),
        Err(errno) => Err(Error::io("flock", path, 0, errno.into())),
    }
}

/// `fsync` on a directory, making the creates, removes and renames in it durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())
        .map_err(|errno| Error::io("open directory", path, 0, errno.into()))?;
    fsync(&fd, path)
}

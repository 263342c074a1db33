//! [`RealDisk`]: the [`Disk`] of the kernel, with the direct, buffered and mmap backends.

mod mmap_file;
mod os_file;
mod queue;
mod ring;
mod sys;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::io::Errno;

use crate::alignment::Alignment;
use crate::disk::{Disk, LockGuard, OpenOptions};
use crate::error::{Error, Result};
use crate::file::{File, FileInfo, Submission};
use crate::file_system::{DirectIoSupport, FileSystem};
use crate::options::{DirectIo, DiskOptions, IoMode};
use crate::probe::{BlockDevice, DioAlignment, SYSFS_ROOT, StatxDioAlign};
use crate::uring_support::io_uring_support;

pub use queue::{Completion, IoQueue};

use mmap_file::MmapFile;
use os_file::OsFile;
use sys::OpenFlags;

/// The kernel's file system, reached through the backend chosen by [`DiskOptions`].
#[derive(Clone, Debug, Default)]
pub struct RealDisk {
    options: DiskOptions,
}

impl RealDisk {
    /// A disk that opens files as `options` says.
    pub fn new(options: DiskOptions) -> Self {
        Self { options }
    }

    /// The options files are opened with.
    pub fn options(&self) -> &DiskOptions {
        &self.options
    }

    fn open_direct(&self, path: &Path, options: OpenOptions) -> Result<Arc<dyn File>> {
        let flags = OpenFlags { create: options.create, direct: true, dsync: options.dsync };
        let refusal = match sys::open(path, flags) {
            Ok(fd) => {
                let file_system = FileSystem::of_fd(&fd, path)?;
                match file_system.direct_io {
                    DirectIoSupport::Native | DirectIoSupport::Unknown => {
                        return Ok(Arc::new(self.os_file(
                            fd,
                            path,
                            file_system,
                            true,
                            Vec::new(),
                        )?));
                    }
                    DirectIoSupport::Emulated => Refusal {
                        file_system: file_system.name,
                        reason: "only emulates O_DIRECT (data still goes through memory or \
                                 another cache)"
                            .into(),
                    },
                }
            }
            Err(Errno::INVAL) => Refusal {
                file_system: file_system_name(path),
                reason: "rejects O_DIRECT (EINVAL)".into(),
            },
            Err(errno) => return Err(sys::open_error(path, errno)),
        };
        match self.options.direct_io {
            DirectIo::Required => Err(Error::DirectIoUnsupported {
                path: path.to_path_buf(),
                file_system: refusal.file_system,
                reason: refusal.reason,
            }),
            DirectIo::Preferred | DirectIo::Off => {
                let reason = format!(
                    "direct I/O unavailable: the {} file system {}; using buffered I/O",
                    refusal.file_system, refusal.reason
                );
                self.open_buffered(path, options, vec![reason])
            }
        }
    }

    fn open_buffered(
        &self,
        path: &Path,
        options: OpenOptions,
        fallback_reasons: Vec<String>,
    ) -> Result<Arc<dyn File>> {
        let file = self.open_plain(path, options, IoMode::Buffered, fallback_reasons)?;
        Ok(Arc::new(file))
    }

    fn open_mmap(&self, path: &Path, options: OpenOptions) -> Result<Arc<dyn File>> {
        let file = self.open_plain(path, options, IoMode::Mmap, Vec::new())?;
        let random_access = !self.options.kernel_readahead;
        Ok(Arc::new(MmapFile::new(file, self.options.mmap_reserve_bytes, random_access)?))
    }

    /// Opens without `O_DIRECT`, for the buffered and mmap backends.
    fn open_plain(
        &self,
        path: &Path,
        options: OpenOptions,
        io_mode: IoMode,
        fallback_reasons: Vec<String>,
    ) -> Result<OsFile> {
        let flags = OpenFlags { create: options.create, direct: false, dsync: options.dsync };
        let fd = sys::open(path, flags).map_err(|errno| sys::open_error(path, errno))?;
        let file_system = FileSystem::of_fd(&fd, path)?;
        if !self.options.kernel_readahead {
            sys::advise_random(&fd);
        }
        let mut file = self.os_file(fd, path, file_system, false, fallback_reasons)?;
        file.set_io_mode(io_mode);
        Ok(file)
    }

    fn os_file(
        &self,
        fd: OwnedFd,
        path: &Path,
        file_system: FileSystem,
        direct: bool,
        mut fallback_reasons: Vec<String>,
    ) -> Result<OsFile> {
        let alignment = alignment_of(&fd);
        let submission = if !direct {
            Submission::Syscalls
        } else if !self.options.io_uring {
            fallback_reasons.push(
                "io_uring off (DiskOptions::io_uring = false); using \
                                   pread/pwrite"
                    .into(),
            );
            Submission::Syscalls
        } else if let Some(reason) = io_uring_support().unusable_reason() {
            fallback_reasons.push(format!("io_uring unavailable: {reason}; using pread/pwrite"));
            Submission::Syscalls
        } else {
            Submission::IoUring
        };
        let io_mode = if direct { IoMode::Direct } else { IoMode::Buffered };
        let info = FileInfo {
            io_mode,
            submission,
            alignment,
            file_system: file_system.name,
            fallback_reasons,
        };
        Ok(OsFile::new(fd, path.to_path_buf(), info))
    }
}

struct Refusal {
    file_system: String,
    reason: String,
}

fn file_system_name(path: &Path) -> String {
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    FileSystem::of_path(directory.unwrap_or(Path::new(".")))
        .map(|file_system| file_system.name)
        .unwrap_or_else(|_| "unknown".into())
}

/// The alignment the kernel requires of direct I/O on this file, decided exactly as
/// `directdb probe` reports it: `STATX_DIOALIGN` when reported and sane, else the block
/// device's logical block size, else 4096 (valid on every device whose logical block is at most
/// 4 KiB).
fn alignment_of(fd: &OwnedFd) -> Alignment {
    let logical_block_bytes = sys::device_of(fd)
        .and_then(|(major, minor)| BlockDevice::lookup(Path::new(SYSFS_ROOT), major, minor).ok())
        .and_then(|device| device.logical_block_bytes);
    DioAlignment::choose(StatxDioAlign::of_fd(fd), logical_block_bytes).alignment
}

impl Disk for RealDisk {
    fn open(&self, path: &Path, options: OpenOptions) -> Result<Arc<dyn File>> {
        let io_mode = options.io_mode.unwrap_or(self.options.io_mode);
        match (io_mode, self.options.direct_io) {
            (IoMode::Direct, DirectIo::Off) => {
                let reason = "direct I/O off (DirectIo::Off); using buffered I/O".to_string();
                self.open_buffered(path, options, vec![reason])
            }
            (IoMode::Direct, _) => self.open_direct(path, options),
            (IoMode::Buffered, _) => self.open_buffered(path, options, Vec::new()),
            (IoMode::Mmap, _) => self.open_mmap(path, options),
        }
    }

    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|source| Error::io("remove", path, 0, source))
    }

    fn rename(&self, source: &Path, target: &Path) -> Result<()> {
        std::fs::rename(source, target).map_err(|error| Error::io("rename", source, 0, error))
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        sys::sync_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path)
            .map_err(|source| Error::io("create directory", path, 0, source))
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<PathBuf>> {
        let entries =
            std::fs::read_dir(path).map_err(|source| Error::io("list", path, 0, source))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::io("list", path, 0, source))?;
            paths.push(entry.path());
        }
        paths.sort();
        Ok(paths)
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|source| Error::io("stat", path, 0, source))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn LockGuard>> {
        let flags = OpenFlags { create: true, direct: false, dsync: false };
        let fd = sys::open(path, flags).map_err(|errno| sys::open_error(path, errno))?;
        sys::lock_exclusive(&fd, path)?;
        Ok(Box::new(FileLock { _fd: fd, path: path.to_path_buf() }))
    }
}

/// An `flock` held through its own open file description; closing it releases the lock.
#[derive(Debug)]
struct FileLock {
    _fd: OwnedFd,
    #[expect(dead_code, reason = "shown by Debug, to say which lock a guard holds")]
    path: PathBuf,
}

impl LockGuard for FileLock {}

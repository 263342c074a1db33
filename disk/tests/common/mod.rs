//! Helpers shared by the `disk` scenario tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::sync::Arc;

use disk::{AlignedBuf, Disk, DiskOptions, File, IoMode, OpenOptions, RealDisk};

/// Every backend, each on a fresh file in its own temporary directory.
pub(crate) fn each_backend(mut test: impl FnMut(IoMode, Arc<dyn File>)) {
    for io_mode in IoMode::ALL {
        for io_uring in [true, false] {
            if io_mode != IoMode::Direct && !io_uring {
                continue; // only the direct backend has a ring to turn off
            }
            let directory = tempfile::tempdir().unwrap();
            let disk = RealDisk::new(DiskOptions { io_mode, io_uring, ..DiskOptions::default() });
            let file = disk.open(&directory.path().join("data"), OpenOptions::create()).unwrap();
            test(io_mode, file);
        }
    }
}

/// A page-sized buffer for `file` filled with `byte`.
pub(crate) fn page(file: &dyn File, byte: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::for_alignment(4096, file.info().alignment);
    buf.fill(byte);
    buf
}

/// A buffer for `file` of `length_bytes` whose bytes encode their offset in the file and a tag,
/// so any misplaced byte is visible.
pub(crate) fn pattern(file: &dyn File, length_bytes: usize, offset: u64, tag: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::for_alignment(length_bytes, file.info().alignment);
    for (index, byte) in buf.iter_mut().enumerate() {
        let position = offset + index as u64;
        *byte = position.wrapping_mul(31).to_le_bytes()[0] ^ tag;
    }
    buf
}

/// True when `path` is on tmpfs.
pub(crate) fn is_tmpfs(path: &Path) -> bool {
    disk::FileSystem::of_path(path).map(|fs| fs.name == "tmpfs").unwrap_or(false)
}

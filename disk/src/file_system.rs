//! Which file system holds a path, and whether its `O_DIRECT` really bypasses a cache.
//!
//! Accepting `O_DIRECT` at `open` proves little: since Linux 6.6 tmpfs accepts the flag and
//! serves the I/O from memory; FUSE and overlayfs pass it to something else that may or may not
//! honour it. A file system is trusted for direct I/O only when it is on the list of those whose
//! direct path is known to go to the block device.

use std::path::Path;

use rustix::fs::{StatFs, fstatfs, statfs};
use std::os::fd::AsFd;

use crate::error::{Error, Result};

/// How a file system treats `O_DIRECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectIoSupport {
    /// Requests go to the block device, bypassing the page cache.
    Native,
    /// The flag is accepted, but data still lives in memory or passes through another layer
    /// whose caching directdb cannot see (tmpfs, ramfs, overlayfs, FUSE, 9p, ZFS before 2.3).
    Emulated,
    /// Not known to directdb: trusted if the kernel accepts `O_DIRECT` and reports an alignment.
    Unknown,
}

/// A file system identified by its `statfs` magic number.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileSystem {
    /// A short name: "ext4", "xfs", "tmpfs", ... or "unknown (0x…)".
    pub name: String,
    /// The `f_type` magic number.
    pub magic: u64,
    /// Its direct-I/O behaviour.
    pub direct_io: DirectIoSupport,
}

/// `(magic, name, support)` for every file system directdb knows by name. Magic numbers are
/// from `<linux/magic.h>`.
const KNOWN: &[(u64, &str, DirectIoSupport)] = &[
    (0xEF53, "ext4", DirectIoSupport::Native), // shared by ext2, ext3 and ext4
    (0x5846_5342, "xfs", DirectIoSupport::Native),
    (0x9123_683E, "btrfs", DirectIoSupport::Native),
    (0xF2F5_2010, "f2fs", DirectIoSupport::Native),
    (0xCA45_1A4E, "bcachefs", DirectIoSupport::Native),
    (0x3153_464A, "jfs", DirectIoSupport::Native),
    (0x0102_1994, "tmpfs", DirectIoSupport::Emulated),
    (0x8584_58F6, "ramfs", DirectIoSupport::Emulated),
    (0x794C_7630, "overlayfs", DirectIoSupport::Emulated),
    (0x6573_5546, "fuse", DirectIoSupport::Emulated),
    (0x0102_1997, "9p", DirectIoSupport::Emulated),
    (0x2FC1_2FC1, "zfs", DirectIoSupport::Emulated),
    (0x6969, "nfs", DirectIoSupport::Unknown),
];

impl FileSystem {
    /// Identifies a `statfs` magic number.
    pub fn from_magic(magic: u64) -> Self {
        match KNOWN.iter().find(|(known, ..)| *known == magic) {
            Some(&(_, name, direct_io)) => Self { name: name.to_string(), magic, direct_io },
            None => Self {
                name: format!("unknown (0x{magic:x})"),
                magic,
                direct_io: DirectIoSupport::Unknown,
            },
        }
    }

    /// The file system holding `path` (a file or a directory).
    pub fn of_path(path: &Path) -> Result<Self> {
        let stat = statfs(path).map_err(|errno| Error::io("statfs", path, 0, errno.into()))?;
        Ok(Self::from_statfs(&stat))
    }

    /// The file system holding an open file.
    #[allow(dead_code, reason = "used by the backends, which are not written yet")]
    pub(crate) fn of_fd(fd: impl AsFd, path: &Path) -> Result<Self> {
        let stat = fstatfs(fd).map_err(|errno| Error::io("fstatfs", path, 0, errno.into()))?;
        Ok(Self::from_statfs(&stat))
    }

    fn from_statfs(stat: &StatFs) -> Self {
        // `f_type` is signed on some targets; the magic numbers are all below 2^32.
        // `allow`, not `expect`: the cast is unnecessary only on targets where `f_type` is
        // already `u64`, so an expectation would be unfulfilled everywhere else.
        #[allow(clippy::unnecessary_cast, reason = "f_type's type differs between targets")]
        let magic = stat.f_type as u64 & 0xFFFF_FFFF;
        Self::from_magic(magic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_magics_are_classified() {
        assert_eq!(FileSystem::from_magic(0xEF53).name, "ext4");
        assert_eq!(FileSystem::from_magic(0xEF53).direct_io, DirectIoSupport::Native);
        assert_eq!(FileSystem::from_magic(0x0102_1994).direct_io, DirectIoSupport::Emulated);
        assert_eq!(FileSystem::from_magic(0x1234).direct_io, DirectIoSupport::Unknown);
        assert_eq!(FileSystem::from_magic(0x1234).name, "unknown (0x1234)");
    }

    #[test]
    fn dev_shm_is_tmpfs_when_mounted() {
        let path = Path::new("/dev/shm");
        if !path.exists() {
            println!("skipped: /dev/shm does not exist on this machine");
            return;
        }
        let file_system = FileSystem::of_path(path).unwrap();
        if file_system.name != "tmpfs" {
            println!("skipped: /dev/shm is {} here, not tmpfs", file_system.name);
            return;
        }
        assert_eq!(file_system.direct_io, DirectIoSupport::Emulated);
    }
}

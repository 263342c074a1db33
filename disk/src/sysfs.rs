//! Reading block-device attributes from sysfs.

use std::path::{Path, PathBuf};

/// The sysfs root, `/sys` on every Linux system.
pub(crate) const SYSFS_ROOT: &str = "/sys";

/// The `queue/` directory of the block device `(major, minor)` under `sysfs_root`: its own for
/// a whole disk (or device-mapper and md devices), its parent's for a partition.
pub(crate) fn queue_dir(sysfs_root: &Path, major: u32, minor: u32) -> Option<PathBuf> {
    let device = sysfs_root.join(format!("dev/block/{major}:{minor}"));
    let own = device.join("queue");
    if own.is_dir() {
        return Some(own);
    }
    let parent = device.join("../queue");
    parent.is_dir().then_some(parent)
}

/// Reads one attribute file, trimmed; `None` when missing or unreadable.
pub(crate) fn read_attribute(queue_dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(queue_dir.join(name)).ok().map(|text| text.trim().to_string())
}

/// The logical block size of the device `(major, minor)`, if sysfs knows it.
pub(crate) fn logical_block_bytes(major: u32, minor: u32) -> Option<u32> {
    let queue = queue_dir(Path::new(SYSFS_ROOT), major, minor)?;
    read_attribute(&queue, "logical_block_size")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_uses_parent_queue() {
        let root = tempfile::tempdir().unwrap();
        let disk = root.path().join("devices/vda");
        std::fs::create_dir_all(disk.join("queue")).unwrap();
        std::fs::create_dir_all(disk.join("vda1")).unwrap();
        std::fs::write(disk.join("queue/logical_block_size"), "512\n").unwrap();
        std::fs::create_dir_all(root.path().join("dev/block")).unwrap();
        std::os::unix::fs::symlink(&disk, root.path().join("dev/block/254:0")).unwrap();
        std::os::unix::fs::symlink(disk.join("vda1"), root.path().join("dev/block/254:1")).unwrap();
        for minor in [0, 1] {
            let queue = queue_dir(root.path(), 254, minor).unwrap();
            assert_eq!(read_attribute(&queue, "logical_block_size").as_deref(), Some("512"));
        }
        assert!(queue_dir(root.path(), 0, 42).is_none());
    }
}

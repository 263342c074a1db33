//! The block device under a file system, and what its request queue says about it, read from
//! sysfs.
//!
//! A file's `st_dev` is the `MAJ:MIN` of the device holding its file system. sysfs maps that to
//! the device's directory:
//!
//! ```text
//! /sys/dev/block/254:0 -> ../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda
//! /sys/dev/block/8:1   -> ../../devices/.../block/sda/sda1          (a partition)
//! /sys/dev/block/253:0 -> ../../devices/virtual/block/dm-0           (device-mapper, md: their own queue)
//! ```
//!
//! A whole disk (and a device-mapper or md device) has a `queue/` directory of its own; a
//! partition has none, only a `partition` file, and its queue is its parent's. A file system
//! with major number 0 (tmpfs, overlayfs, FUSE, NFS, btrfs) sits on an anonymous device: there
//! is no block device to ask, and that is reported, not failed.
//!
//! Every attribute is read as untrusted text: a file can be missing (older kernels lack `fua`
//! and the atomic-write files), empty, or hold something unexpected, and each then reads as
//! "not known" (`None` or [`WriteCache::Unknown`]), never as an error.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::flush_method::WriteCache;
use crate::limits::SYSFS_ATTRIBUTE_BYTES_MAX;

/// A block device and the attributes of its request queue.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlockDevice {
    /// The device `st_dev` names, as sysfs calls it: "vda", "sda1", "nvme0n1p2", "dm-0".
    pub name: String,
    /// Its device number, "MAJ:MIN".
    pub number: String,
    /// The device whose `queue/` was read: the whole disk for a partition, else `name`.
    pub queue_device: String,
    /// `queue/logical_block_size`: the smallest unit the device addresses.
    pub logical_block_bytes: Option<u32>,
    /// `queue/physical_block_size`: the unit the device writes without read-modify-write.
    pub physical_block_bytes: Option<u32>,
    /// `queue/write_cache`.
    pub write_cache: WriteCache,
    /// `queue/fua`: whether the device honours Force Unit Access on single writes.
    pub fua: Option<bool>,
    /// `queue/rotational`: a spinning disk (virtual disks often claim to be one).
    pub rotational: Option<bool>,
    /// `queue/atomic_write_unit_min_bytes`; `None` when missing or 0 (no atomic writes).
    pub atomic_write_unit_min_bytes: Option<u32>,
    /// `queue/atomic_write_unit_max_bytes`; `None` when missing or 0 (no atomic writes).
    pub atomic_write_unit_max_bytes: Option<u32>,
}

impl BlockDevice {
    /// Looks up device `major:minor` in the sysfs tree at `sysfs_root` (`/sys` outside tests).
    /// `Err` says why there is no block device to report; it is an answer, not a failure.
    pub(crate) fn lookup(
        sysfs_root: &Path,
        major: u32,
        minor: u32,
    ) -> std::result::Result<Self, String> {
        let number = format!("{major}:{minor}");
        if major == 0 {
            return Err(format!(
                "device {number} is anonymous: the file system (tmpfs, overlayfs, FUSE, NFS, \
                 btrfs, ...) does not sit on one block device"
            ));
        }
        let link = sysfs_root.join("dev/block").join(&number);
        let device_directory = fs::canonicalize(&link)
            .map_err(|error| format!("{} cannot be resolved: {error}", link.display()))?;
        let queue_directory = queue_directory_of(&device_directory)?;
        let queue = queue_directory.join("queue");
        Ok(Self {
            name: file_name(&device_directory),
            number,
            queue_device: file_name(&queue_directory),
            logical_block_bytes: read_positive(&queue, "logical_block_size"),
            physical_block_bytes: read_positive(&queue, "physical_block_size"),
            write_cache: read_attribute(&queue, "write_cache")
                .map_or(WriteCache::Unknown, |text| WriteCache::parse(&text)),
            fua: read_flag(&queue, "fua"),
            rotational: read_flag(&queue, "rotational"),
            atomic_write_unit_min_bytes: read_positive(&queue, "atomic_write_unit_min_bytes"),
            atomic_write_unit_max_bytes: read_positive(&queue, "atomic_write_unit_max_bytes"),
        })
    }
}

/// The directory whose `queue/` describes `device_directory`: itself, or for a partition its
/// parent (the whole disk).
fn queue_directory_of(device_directory: &Path) -> std::result::Result<PathBuf, String> {
    if device_directory.join("queue").is_dir() {
        return Ok(device_directory.to_path_buf());
    }
    let is_partition = device_directory.join("partition").is_file();
    match device_directory.parent() {
        Some(parent) if is_partition && parent.join("queue").is_dir() => Ok(parent.to_path_buf()),
        _ => Err(format!(
            "{} has no queue directory{}",
            device_directory.display(),
            if is_partition { ", and neither has its parent disk" } else { "" }
        )),
    }
}

fn file_name(directory: &Path) -> String {
    directory.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

/// The text of `directory/name`, or `None` when it cannot be read. At most
/// [`SYSFS_ATTRIBUTE_BYTES_MAX`] bytes are read; bytes that are not UTF-8 are replaced, and the
/// parsers below then reject the text.
fn read_attribute(directory: &Path, name: &str) -> Option<String> {
    let file = fs::File::open(directory.join(name)).ok()?;
    let mut bytes = Vec::new();
    file.take(SYSFS_ATTRIBUTE_BYTES_MAX).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A positive decimal number; missing, 0, negative or not a number is `None`.
fn read_positive(directory: &Path, name: &str) -> Option<u32> {
    read_attribute(directory, name)?.trim().parse::<u32>().ok().filter(|&value| value > 0)
}

/// "0" or "1"; anything else is `None`.
fn read_flag(directory: &Path, name: &str) -> Option<bool> {
    match read_attribute(directory, name)?.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake sysfs tree in a temporary directory, laid out as the kernel lays out the real one.
    pub(crate) struct FakeSysfs {
        /// Keeps the tree alive; its path is the sysfs root.
        pub(crate) root: tempfile::TempDir,
    }

    impl FakeSysfs {
        pub(crate) fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            fs::create_dir_all(root.path().join("dev/block")).unwrap();
            Self { root }
        }

        pub(crate) fn path(&self) -> &Path {
            self.root.path()
        }

        /// Adds a whole disk `name` with number `major:minor` and the given queue attributes,
        /// and returns its device directory.
        pub(crate) fn add_disk(
            &self,
            name: &str,
            major: u32,
            minor: u32,
            attributes: &[(&str, &str)],
        ) -> PathBuf {
            let relative = format!("devices/pci0000:00/virtio1/block/{name}");
            let directory = self.path().join(&relative);
            fs::create_dir_all(directory.join("queue")).unwrap();
            for (attribute, text) in attributes {
                fs::write(directory.join("queue").join(attribute), text).unwrap();
            }
            self.link(major, minor, &relative);
            directory
        }

        /// Adds partition `name` of the disk at `disk_directory`, with number `major:minor`.
        pub(crate) fn add_partition(
            &self,
            disk_directory: &Path,
            name: &str,
            major: u32,
            minor: u32,
        ) {
            let directory = disk_directory.join(name);
            fs::create_dir_all(&directory).unwrap();
            fs::write(directory.join("partition"), "1\n").unwrap();
            let relative = directory.strip_prefix(self.path()).unwrap().to_path_buf();
            self.link(major, minor, relative.to_str().unwrap());
        }

        /// `dev/block/MAJ:MIN -> ../../<relative>`, a relative link as in the real tree.
        fn link(&self, major: u32, minor: u32, relative: &str) {
            let link = self.path().join(format!("dev/block/{major}:{minor}"));
            std::os::unix::fs::symlink(format!("../../{relative}"), link).unwrap();
        }
    }

    const THIS_MACHINE: &[(&str, &str)] = &[
        ("logical_block_size", "512\n"),
        ("physical_block_size", "4096\n"),
        ("write_cache", "write back\n"),
        ("fua", "0\n"),
        ("rotational", "1\n"),
        ("atomic_write_unit_min_bytes", "0\n"),
        ("atomic_write_unit_max_bytes", "0\n"),
    ];

    #[test]
    fn a_write_back_disk_is_read_attribute_by_attribute() {
        let sysfs = FakeSysfs::new();
        sysfs.add_disk("vda", 254, 0, THIS_MACHINE);
        let device = BlockDevice::lookup(sysfs.path(), 254, 0).unwrap();
        assert_eq!(device.name, "vda");
        assert_eq!(device.number, "254:0");
        assert_eq!(device.queue_device, "vda");
        assert_eq!(device.logical_block_bytes, Some(512));
        assert_eq!(device.physical_block_bytes, Some(4096));
        assert_eq!(device.write_cache, WriteCache::WriteBack);
        assert_eq!(device.fua, Some(false));
        assert_eq!(device.rotational, Some(true));
        assert_eq!(device.atomic_write_unit_min_bytes, None, "0 means no atomic writes");
        assert_eq!(device.atomic_write_unit_max_bytes, None, "0 means no atomic writes");
    }

    #[test]
    fn a_write_through_nvme_disk_with_fua_and_atomic_writes() {
        let sysfs = FakeSysfs::new();
        sysfs.add_disk(
            "nvme0n1",
            259,
            0,
            &[
                ("logical_block_size", "4096\n"),
                ("physical_block_size", "4096\n"),
                ("write_cache", "write through\n"),
                ("fua", "1\n"),
                ("rotational", "0\n"),
                ("atomic_write_unit_min_bytes", "4096\n"),
                ("atomic_write_unit_max_bytes", "65536\n"),
            ],
        );
        let device = BlockDevice::lookup(sysfs.path(), 259, 0).unwrap();
        assert_eq!(device.write_cache, WriteCache::WriteThrough);
        assert_eq!(device.fua, Some(true));
        assert_eq!(device.rotational, Some(false));
        assert_eq!(device.atomic_write_unit_min_bytes, Some(4096));
        assert_eq!(device.atomic_write_unit_max_bytes, Some(65536));
    }

    #[test]
    fn missing_attributes_read_as_unknown_not_as_errors() {
        let sysfs = FakeSysfs::new();
        sysfs.add_disk("sdz", 8, 16, &[]);
        let device = BlockDevice::lookup(sysfs.path(), 8, 16).unwrap();
        assert_eq!(device.name, "sdz");
        assert_eq!(device.logical_block_bytes, None);
        assert_eq!(device.physical_block_bytes, None);
        assert_eq!(device.write_cache, WriteCache::Unknown);
        assert_eq!(device.fua, None);
        assert_eq!(device.rotational, None);
        assert_eq!(device.atomic_write_unit_min_bytes, None);
        assert_eq!(device.atomic_write_unit_max_bytes, None);
    }

    #[test]
    fn odd_attribute_text_reads_as_unknown() {
        let sysfs = FakeSysfs::new();
        sysfs.add_disk(
            "sdy",
            8,
            32,
            &[
                ("logical_block_size", "-512\n"),
                ("physical_block_size", "lots"),
                ("write_cache", "write sometimes\n"),
                ("fua", "2\n"),
                ("rotational", "\u{fffd}\u{0}"),
                ("atomic_write_unit_max_bytes", "99999999999999999999\n"),
            ],
        );
        let device = BlockDevice::lookup(sysfs.path(), 8, 32).unwrap();
        assert_eq!(device.logical_block_bytes, None);
        assert_eq!(device.physical_block_bytes, None);
        assert_eq!(device.write_cache, WriteCache::Unknown);
        assert_eq!(device.fua, None);
        assert_eq!(device.rotational, None);
        assert_eq!(device.atomic_write_unit_max_bytes, None);
    }

    #[test]
    fn a_huge_attribute_is_read_only_up_to_the_bound() {
        let sysfs = FakeSysfs::new();
        let huge = "1".repeat(usize::try_from(SYSFS_ATTRIBUTE_BYTES_MAX).unwrap() * 4);
        sysfs.add_disk("sdx", 8, 48, &[("logical_block_size", &huge)]);
        let device = BlockDevice::lookup(sysfs.path(), 8, 48).unwrap();
        assert_eq!(device.logical_block_bytes, None);
    }

    #[test]
    fn a_partition_reads_its_parent_disks_queue() {
        let sysfs = FakeSysfs::new();
        let disk = sysfs.add_disk("sda", 8, 0, THIS_MACHINE);
        sysfs.add_partition(&disk, "sda1", 8, 1);
        let device = BlockDevice::lookup(sysfs.path(), 8, 1).unwrap();
        assert_eq!(device.name, "sda1");
        assert_eq!(device.number, "8:1");
        assert_eq!(device.queue_device, "sda");
        assert_eq!(device.logical_block_bytes, Some(512));
        assert_eq!(device.write_cache, WriteCache::WriteBack);
    }

    #[test]
    fn a_device_mapper_device_reads_its_own_queue() {
        let sysfs = FakeSysfs::new();
        sysfs.add_disk("sda", 8, 0, &[("write_cache", "write back\n")]);
        let dm = sysfs.path().join("devices/virtual/block/dm-0");
        fs::create_dir_all(dm.join("queue")).unwrap();
        fs::write(dm.join("queue/write_cache"), "write through\n").unwrap();
        sysfs.link(253, 0, "devices/virtual/block/dm-0");
        let device = BlockDevice::lookup(sysfs.path(), 253, 0).unwrap();
        assert_eq!(device.name, "dm-0");
        assert_eq!(device.queue_device, "dm-0");
        assert_eq!(device.write_cache, WriteCache::WriteThrough);
    }

    #[test]
    fn an_anonymous_device_has_no_block_device() {
        let sysfs = FakeSysfs::new();
        let reason = BlockDevice::lookup(sysfs.path(), 0, 45).unwrap_err();
        assert!(reason.contains("anonymous"), "{reason}");
    }

    #[test]
    fn a_number_missing_from_sysfs_is_reported_not_failed() {
        let sysfs = FakeSysfs::new();
        let reason = BlockDevice::lookup(sysfs.path(), 8, 99).unwrap_err();
        assert!(reason.contains("8:99"), "{reason}");
    }

    #[test]
    fn a_device_without_any_queue_is_reported_not_failed() {
        let sysfs = FakeSysfs::new();
        let disk = sysfs.path().join("devices/virtual/block/odd0");
        fs::create_dir_all(&disk).unwrap();
        sysfs.link(240, 0, "devices/virtual/block/odd0");
        let reason = BlockDevice::lookup(sysfs.path(), 240, 0).unwrap_err();
        assert!(reason.contains("no queue directory"), "{reason}");
    }
}

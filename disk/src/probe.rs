//! The device probe: what the file system and the block device under a path will do with
//! directdb's I/O, and which WAL flush method follows from it.
//!
//! Every answer comes from the kernel at run time: `statfs` names the file system, `st_dev` leads
//! to the block device in sysfs, `statx(STATX_DIOALIGN)` gives the direct-I/O alignment, and an
//! io_uring ring is created to see whether rings are allowed. Nothing the probe cannot learn is
//! an error: a missing sysfs file, a file system on no block device, a kernel without
//! `STATX_DIOALIGN` each read as "unknown", and the choices made from them fall back to the safe
//! side (fdatasync, the logical block size, [`crate::limits::ALIGN_FALLBACK_BYTES`]). Only a path
//! that cannot be examined at all is an error.
//!
//! ```
//! # fn main() -> disk::Result<()> {
//! let probe = disk::DeviceProbe::of_path(std::path::Path::new("."))?;
//! println!("{} on {:?}: flush with {}", probe.file_system.name,
//!     probe.block_device.as_ref().map(|device| &device.name), probe.flush_method);
//! # Ok(())
//! # }
//! ```

mod block_device;
mod dio_alignment;
mod flush_method;
mod probe_file;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use block_device::BlockDevice;
pub use dio_alignment::{AlignmentSource, DioAlignment, StatxDioAlign};
pub use flush_method::{FlushMethod, WriteCache};
pub use probe_file::ProbedFile;

use crate::error::{Error, Result};
use crate::file_system::FileSystem;
use crate::uring_support::{UringSupport, io_uring_support};
use probe_file::ProbeFile;

/// Where sysfs is mounted outside tests.
/// The sysfs root, `/sys` on every Linux system (tests point the inner functions elsewhere).
pub(crate) const SYSFS_ROOT: &str = "/sys";

/// Everything the probe learned about the storage under one path.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceProbe {
    /// The probed path, made absolute where possible.
    pub path: PathBuf,
    /// The file system holding it, with its direct-I/O behaviour.
    pub file_system: FileSystem,
    /// The block device under the file system, if there is one.
    pub block_device: Option<BlockDevice>,
    /// Why there is no block device, when there is none.
    pub block_device_missing_reason: Option<String>,
    /// The file `statx` and the `O_DIRECT` open were tried on.
    pub probed_file: ProbedFile,
    /// Whether `open` accepted `O_DIRECT` on the probed file; `None` when no regular file could
    /// be opened, which says nothing either way.
    pub o_direct_accepted: Option<bool>,
    /// The direct-I/O alignment, and where it came from.
    pub dio_alignment: DioAlignment,
    /// Whether io_uring can be used, and which opcodes the kernel has.
    #[serde(serialize_with = "serialize_uring_support")]
    pub io_uring: UringSupport,
    /// The WAL flush method directdb would choose for this device.
    pub flush_method: FlushMethod,
    /// Why that method.
    pub flush_reason: String,
}

impl DeviceProbe {
    /// Probes the file system and block device holding `path` (a file or a directory). A
    /// directory gets an empty hidden file created in it for the duration of the probe, when
    /// it is writable.
    pub fn of_path(path: &Path) -> Result<Self> {
        Self::of_path_with_sysfs(path, Path::new(SYSFS_ROOT))
    }

    /// [`DeviceProbe::of_path`] with sysfs at `sysfs_root`, so that tests can use a fake tree.
    pub(crate) fn of_path_with_sysfs(path: &Path, sysfs_root: &Path) -> Result<Self> {
        let metadata =
            std::fs::metadata(path).map_err(|error| Error::io("stat", path, 0, error))?;
        let file_system = FileSystem::of_path(path)?;
        let device_number = metadata.dev();
        let (major, minor) = (rustix::fs::major(device_number), rustix::fs::minor(device_number));
        let (block_device, block_device_missing_reason) =
            match BlockDevice::lookup(sysfs_root, major, minor) {
                Ok(device) => (Some(device), None),
                Err(reason) => (None, Some(reason)),
            };

        let probe_file = ProbeFile::for_path(path, &metadata);
        let statx = StatxDioAlign::of_path(probe_file.path());
        let o_direct_accepted = probe_file.accepts_o_direct();
        let logical_block_bytes = block_device.as_ref().and_then(|d| d.logical_block_bytes);
        let dio_alignment = DioAlignment::choose(statx, logical_block_bytes);

        let (write_cache, fua) = block_device
            .as_ref()
            .map_or((WriteCache::Unknown, None), |device| (device.write_cache, device.fua));
        // A device that does not say whether it has FUA is treated as not having it: the
        // method chosen then flushes the whole cache, which is durable either way.
        let (flush_method, flush_reason) = FlushMethod::choose(write_cache, fua.unwrap_or(false));

        Ok(Self {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            file_system,
            block_device,
            block_device_missing_reason,
            probed_file: probe_file.kind().clone(),
            o_direct_accepted,
            dio_alignment,
            io_uring: io_uring_support().clone(),
            flush_method,
            flush_reason,
        })
    }
}

/// Writes [`UringSupport`] as plain JSON fields: `available` (bool), `usable` (bool),
/// `unusable_reason` (string or null) and `opcodes` (a map from name to bool), instead of the
/// `{"Ok": null}` and pair lists its derived form would give.
fn serialize_uring_support<S: serde::Serializer>(
    support: &UringSupport,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Flat {
        available: bool,
        usable: bool,
        unusable_reason: Option<String>,
        opcodes: BTreeMap<&'static str, bool>,
    }
    let flat = Flat {
        available: support.available.is_ok(),
        usable: support.usable(),
        unusable_reason: support.unusable_reason(),
        opcodes: support.opcodes.iter().copied().collect(),
    };
    serde::Serialize::serialize(&flat, serializer)
}

#[cfg(test)]
mod tests {
    use super::block_device::tests::FakeSysfs;
    use super::*;

    /// A fake sysfs whose device number is the one holding `directory`, so that the whole probe
    /// runs on a real file system and a fake block device. `None` when `directory` is on an
    /// anonymous device (tmpfs, overlayfs), where no sysfs entry is ever consulted.
    fn fake_sysfs_for(directory: &Path, attributes: &[(&str, &str)]) -> Option<FakeSysfs> {
        let device_number = std::fs::metadata(directory).unwrap().dev();
        let (major, minor) = (rustix::fs::major(device_number), rustix::fs::minor(device_number));
        if major == 0 {
            return None;
        }
        let sysfs = FakeSysfs::new();
        sysfs.add_disk("fakedisk", major, minor, attributes);
        Some(sysfs)
    }

    #[test]
    fn probe_takes_the_flush_method_from_the_fake_devices_cache() {
        let directory = tempfile::tempdir().unwrap();
        let cases = [
            ("write back\n", "0\n", FlushMethod::Fdatasync),
            ("write back\n", "1\n", FlushMethod::DsyncWrite),
            ("write through\n", "0\n", FlushMethod::PlainWrite),
            ("what\n", "1\n", FlushMethod::Fdatasync),
        ];
        for (write_cache, fua, expected) in cases {
            let attributes = [("write_cache", write_cache), ("fua", fua)];
            let Some(sysfs) = fake_sysfs_for(directory.path(), &attributes) else {
                println!("skipped: the temporary directory is on an anonymous device");
                return;
            };
            let probe = DeviceProbe::of_path_with_sysfs(directory.path(), sysfs.path()).unwrap();
            assert_eq!(probe.block_device.as_ref().unwrap().name, "fakedisk");
            assert_eq!(probe.flush_method, expected, "{write_cache:?} fua {fua:?}");
        }
    }

    #[test]
    fn probe_without_any_sysfs_still_answers_safely() {
        let directory = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let probe = DeviceProbe::of_path_with_sysfs(directory.path(), empty.path()).unwrap();
        assert!(probe.block_device.is_none());
        assert!(probe.block_device_missing_reason.is_some());
        assert_eq!(probe.flush_method, FlushMethod::Fdatasync);
        assert!(probe.flush_reason.contains("unknown"), "{}", probe.flush_reason);
        assert_ne!(probe.dio_alignment.source, AlignmentSource::LogicalBlockSize);
    }

    #[test]
    fn probe_falls_back_to_the_fake_logical_block_size_only_without_statx() {
        let directory = tempfile::tempdir().unwrap();
        let attributes = [("logical_block_size", "2048\n")];
        let Some(sysfs) = fake_sysfs_for(directory.path(), &attributes) else {
            println!("skipped: the temporary directory is on an anonymous device");
            return;
        };
        let probe = DeviceProbe::of_path_with_sysfs(directory.path(), sysfs.path()).unwrap();
        let alignment = &probe.dio_alignment;
        match alignment.source {
            AlignmentSource::Statx => {
                assert!(matches!(alignment.statx, StatxDioAlign::Reported { .. }));
            }
            AlignmentSource::LogicalBlockSize => {
                assert_eq!(alignment.alignment.offset_bytes, 2048);
            }
            AlignmentSource::Fallback => panic!("a usable logical block size was ignored"),
        }
    }

    #[test]
    fn probe_of_a_directory_leaves_it_as_it_was() {
        let directory = tempfile::tempdir().unwrap();
        let probe = DeviceProbe::of_path(directory.path()).unwrap();
        assert_eq!(probe.probed_file, ProbedFile::Temporary);
        assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 0);
    }

    #[test]
    fn probe_of_a_missing_path_is_a_not_found_error() {
        let directory = tempfile::tempdir().unwrap();
        let error = DeviceProbe::of_path(&directory.path().join("missing")).unwrap_err();
        assert!(error.is_not_found(), "{error}");
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn probe_reports_the_same_file_system_and_io_uring_as_their_own_probes() {
        let directory = tempfile::tempdir().unwrap();
        let probe = DeviceProbe::of_path(directory.path()).unwrap();
        assert_eq!(probe.file_system, FileSystem::of_path(directory.path()).unwrap());
        assert_eq!(&probe.io_uring, io_uring_support());
    }
}

//! The direct-I/O policy on file systems that reject or fake `O_DIRECT`, and locking.

mod common;

use std::path::Path;

use disk::{DirectIo, Disk, DiskOptions, Error, IoMode, OpenOptions, RealDisk, Submission};

/// A tmpfs directory to test on, or `None` (with the reason printed) when there is none.
fn tmpfs_directory() -> Option<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || !common::is_tmpfs(shm) {
        println!("skipped: no tmpfs at /dev/shm on this machine");
        return None;
    }
    Some(tempfile::tempdir_in(shm).unwrap())
}

#[test]
fn preferred_falls_back_to_buffered_on_tmpfs_and_says_why() {
    let Some(directory) = tmpfs_directory() else { return };
    let disk =
        RealDisk::new(DiskOptions { direct_io: DirectIo::Preferred, ..DiskOptions::default() });
    let file = disk.open(&directory.path().join("data"), OpenOptions::create()).unwrap();
    assert_eq!(file.info().io_mode, IoMode::Buffered);
    assert_eq!(file.info().submission, Submission::Syscalls);
    assert_eq!(file.info().file_system, "tmpfs");
    let reasons = file.info().fallback_reasons.join("; ");
    assert!(reasons.contains("tmpfs") && reasons.contains("buffered"), "{reasons}");
    file.write_at(&common::page(&*file, 9), 0).unwrap();
    let mut read = common::page(&*file, 0);
    file.read_at(&mut read, 0).unwrap();
    assert!(read.iter().all(|&byte| byte == 9));
}

#[test]
fn required_fails_on_tmpfs_naming_path_and_file_system() {
    let Some(directory) = tmpfs_directory() else { return };
    let disk =
        RealDisk::new(DiskOptions { direct_io: DirectIo::Required, ..DiskOptions::default() });
    let path = directory.path().join("data");
    let error = disk.open(&path, OpenOptions::create()).unwrap_err();
    match &error {
        Error::DirectIoUnsupported { path: named, file_system, .. } => {
            assert_eq!(named, &path);
            assert_eq!(file_system, "tmpfs");
        }
        other => panic!("expected DirectIoUnsupported, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("tmpfs") && message.contains(&*path.to_string_lossy()), "{message}");
}

#[test]
fn off_opens_direct_requests_as_buffered() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::new(DiskOptions { direct_io: DirectIo::Off, ..DiskOptions::default() });
    let file = disk.open(&directory.path().join("data"), OpenOptions::create()).unwrap();
    assert_eq!(file.info().io_mode, IoMode::Buffered);
    assert!(file.info().fallback_reasons.iter().any(|reason| reason.contains("DirectIo::Off")));
}

#[test]
fn a_second_lock_is_refused_until_the_first_is_dropped() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::default();
    let path = directory.path().join("LOCK");
    let guard = disk.lock(&path).unwrap();
    // A second open file description in the same process conflicts, as another process would.
    assert!(matches!(disk.lock(&path), Err(Error::Locked { .. })));
    drop(guard);
    let _again = disk.lock(&path).unwrap();
}

#[test]
fn namespace_operations_work_and_name_the_path_on_failure() {
    let directory = tempfile::tempdir().unwrap();
    let disk = RealDisk::default();
    let nested = directory.path().join("a/b");
    disk.create_dir_all(&nested).unwrap();
    let source = nested.join("one");
    let target = nested.join("two");
    drop(disk.open(&source, OpenOptions::create()).unwrap());
    disk.sync_dir(&nested).unwrap();
    disk.rename(&source, &target).unwrap();
    disk.sync_dir(&nested).unwrap();
    assert!(!disk.exists(&source).unwrap());
    assert_eq!(disk.list_dir(&nested).unwrap(), vec![target.clone()]);
    disk.remove(&target).unwrap();
    let error = disk.open(&target, OpenOptions::existing()).unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(error.to_string().contains("two"), "{error}");
}

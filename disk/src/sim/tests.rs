//! Unit tests of [`SimDisk`] through the [`Disk`] and [`File`] traits: the mechanics of the
//! write cache, the namespace and handles. Crash and fault scenarios are in
//! `disk/tests/sim_crash.rs` and `disk/tests/sim_faults.rs`.

use std::path::Path;

use super::*;
use crate::buf::AlignedBuf;
use crate::error::Error;
use crate::file::IoRequest;

const DIRECTORY: &str = "/db";

fn disk_with_directory(seed: u64) -> SimDisk {
    let disk = SimDisk::with_seed(seed);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    disk
}

/// A 4 KiB-aligned buffer of `length_bytes` filled with `fill`.
fn filled(length_bytes: usize, fill: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(length_bytes, 4096);
    buf.fill(fill);
    buf
}

fn errno(result: Result<impl fmt::Debug>) -> i32 {
    match result {
        Err(error) => error.raw_os_error().expect("an errno"),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

#[test]
fn open_reports_kernel_errors() {
    let disk = disk_with_directory(1);
    assert_eq!(errno(disk.open(Path::new("/db/missing"), OpenOptions::existing())), libc::ENOENT);
    assert_eq!(errno(disk.open(Path::new("/nowhere/f"), OpenOptions::create())), libc::ENOENT);
    assert_eq!(errno(disk.open(Path::new("/db"), OpenOptions::create())), libc::EISDIR);
    assert!(
        disk.open(Path::new("/db/missing"), OpenOptions::existing()).unwrap_err().is_not_found()
    );
}

#[test]
fn info_describes_a_simulated_direct_file() {
    let disk = SimDisk::new(SimDiskOptions { sector_bytes: 4096, ..SimDiskOptions::default() });
    let file = disk.open(Path::new("f"), OpenOptions::create()).unwrap();
    let info = file.info();
    assert_eq!(info.io_mode, IoMode::Direct);
    assert_eq!(info.submission, Submission::Simulated);
    assert_eq!(info.alignment, Alignment::uniform(4096));
    assert_eq!(info.file_system, "simulated");
    assert!(info.fallback_reasons.is_empty());
    assert_eq!(file.path(), Path::new("f"));
}

#[test]
fn a_write_is_visible_at_once_and_durable_after_sync_data() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(1024, 7), 512).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 1536);
    let mut read_back = filled(1024, 0);
    file.read_at(&mut read_back, 512).unwrap();
    assert!(read_back.iter().all(|&byte| byte == 7));
    assert!(disk.durable_content(Path::new("/db/f")).unwrap().is_empty());
    assert_eq!(disk.pending_writes().len(), 1);

    file.sync_data().unwrap();
    let durable = disk.durable_content(Path::new("/db/f")).unwrap();
    assert_eq!(durable.len(), 1536);
    assert!(durable[..512].iter().all(|&byte| byte == 0), "the gap reads as zeros");
    assert!(durable[512..].iter().all(|&byte| byte == 7));
    assert!(disk.pending_writes().is_empty());
    disk.check_invariants();
}

#[test]
fn sync_data_flushes_only_its_own_file() {
    let disk = disk_with_directory(1);
    let first = disk.open(Path::new("/db/a"), OpenOptions::create()).unwrap();
    let second = disk.open(Path::new("/db/b"), OpenOptions::create()).unwrap();
    first.write_at(&filled(512, 1), 0).unwrap();
    second.write_at(&filled(512, 2), 0).unwrap();
    first.sync_data().unwrap();
    assert_eq!(disk.durable_content(Path::new("/db/a")).unwrap().len(), 512);
    assert!(disk.durable_content(Path::new("/db/b")).unwrap().is_empty());
    let pending = disk.pending_writes();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].path.as_deref(), Some(Path::new("/db/b")));
}

#[test]
fn write_at_durable_makes_only_itself_durable() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(512, 1), 0).unwrap();
    file.write_at_durable(&filled(512, 2), 512).unwrap();
    let durable = disk.durable_content(Path::new("/db/f")).unwrap();
    assert_eq!(durable.len(), 1024);
    assert!(durable[..512].iter().all(|&byte| byte == 0), "the older write is still volatile");
    assert!(durable[512..].iter().all(|&byte| byte == 2));
    assert_eq!(disk.pending_writes().len(), 1);
    disk.check_invariants();
}

#[test]
fn a_durable_write_is_never_undone_by_an_older_cached_write() {
    // The older write is cached; the newer, durable one replaces it in the device's cache. A
    // crash that "keeps" the older write must not put its bytes back over the newer ones.
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(1024, 1), 0).unwrap();
    file.write_at_durable(&filled(512, 2), 0).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    disk.crash_with(&mut KeepAll);
    let content = disk.durable_content(Path::new("/db/f")).unwrap();
    assert!(content[..512].iter().all(|&byte| byte == 2));
    assert!(content[512..].iter().all(|&byte| byte == 1));
}

#[test]
fn dsync_files_write_durably() {
    let disk = disk_with_directory(1);
    let options = OpenOptions { dsync: true, ..OpenOptions::create() };
    let file = disk.open(Path::new("/db/log"), options).unwrap();
    file.write_at(&filled(512, 3), 0).unwrap();
    assert!(disk.pending_writes().is_empty());
    assert_eq!(disk.durable_content(Path::new("/db/log")).unwrap(), vec![3; 512]);
}

#[test]
fn allocate_and_truncate_are_durable() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(512, 5), 0).unwrap();
    file.allocate(8192).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 8192);
    assert_eq!(disk.durable_content(Path::new("/db/f")).unwrap().len(), 8192);
    assert!(disk.pending_writes().is_empty(), "allocate flushes like fdatasync");
    file.allocate(4096).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 8192, "allocate never shrinks");

    file.write_at(&filled(512, 6), 4096).unwrap();
    file.truncate(1024).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 1024);
    assert_eq!(disk.durable_content(Path::new("/db/f")).unwrap().len(), 1024);
    file.truncate(2048).unwrap();
    let mut read_back = filled(1024, 9);
    file.read_at(&mut read_back, 1024).unwrap();
    assert!(read_back.iter().all(|&byte| byte == 0), "regrown space reads as zeros");
    disk.check_invariants();
}

#[test]
fn a_removed_file_lives_until_its_last_handle_closes() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    disk.remove(Path::new("/db/f")).unwrap();
    assert!(!disk.exists(Path::new("/db/f")).unwrap());
    file.write_at(&filled(512, 1), 0).unwrap();
    file.sync_data().unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    assert!(format!("{disk:?}").contains("file_count: 1"), "{disk:?}");
    drop(file);
    assert!(format!("{disk:?}").contains("file_count: 0"), "{disk:?}");
    disk.check_invariants();
}

#[test]
fn list_dir_and_exists_see_the_current_namespace() {
    let disk = disk_with_directory(1);
    for name in ["/db/c", "/db/a", "/db/b"] {
        disk.open(Path::new(name), OpenOptions::create()).unwrap();
    }
    disk.create_dir_all(Path::new("/db/sub")).unwrap();
    disk.open(Path::new("/db/sub/x"), OpenOptions::create()).unwrap();
    disk.rename(Path::new("/db/c"), Path::new("/db/d")).unwrap();
    let names = disk.list_dir(Path::new(DIRECTORY)).unwrap();
    let expected = ["/db/a", "/db/b", "/db/d"].map(PathBuf::from);
    assert_eq!(names, expected);
    assert!(disk.exists(Path::new("/db/sub")).unwrap());
    assert!(!disk.exists(Path::new("/db/c")).unwrap());
    assert_eq!(errno(disk.list_dir(Path::new("/missing"))), libc::ENOENT);
}

#[test]
fn namespace_errors_match_the_kernel() {
    let disk = disk_with_directory(1);
    disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    assert_eq!(errno(disk.remove(Path::new("/db/missing"))), libc::ENOENT);
    assert_eq!(errno(disk.remove(Path::new(DIRECTORY))), libc::EISDIR);
    assert_eq!(errno(disk.rename(Path::new("/db/missing"), Path::new("/db/x"))), libc::ENOENT);
    assert_eq!(errno(disk.rename(Path::new("/db/f"), Path::new("/none/x"))), libc::ENOENT);
    assert_eq!(errno(disk.sync_dir(Path::new("/missing"))), libc::ENOENT);
    assert_eq!(errno(disk.sync_dir(Path::new("/db/f"))), libc::ENOTDIR);
    assert_eq!(errno(disk.create_dir_all(Path::new("/db/f"))), libc::EEXIST);
    assert_eq!(errno(disk.create_dir_all(Path::new("/db/f/g"))), libc::ENOTDIR);
}

#[test]
fn a_failed_flush_is_never_retried_into_success() {
    // Linux marks pages clean after a failed fsync; a second fsync then succeeds without
    // writing them. The write must stay non-durable, so a database that retries the flush
    // and trusts it is caught.
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(512, 1), 0).unwrap();
    disk.inject(Fault::io_error(Operation::Flush, Trigger::Once { index: 0 }));
    assert_eq!(errno(file.sync_data()), libc::EIO);
    file.sync_data().unwrap();
    assert!(disk.durable_content(Path::new("/db/f")).unwrap().is_empty());
    assert_eq!(disk.pending_writes().len(), 1);
    disk.check_invariants();
}

#[test]
fn debug_is_a_summary_with_the_seed() {
    let disk = disk_with_directory(1234);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    file.write_at(&filled(1 << 20, 1), 0).unwrap();
    let text = format!("{disk:?}");
    assert!(text.contains("seed: 1234"), "{text}");
    assert!(text.len() < 2000, "Debug dumped {} bytes", text.len());
    assert!(format!("{file:?}").len() < 200);
}

#[test]
fn a_crash_kills_every_old_handle() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    disk.crash();
    let crashed = |result: Result<()>| matches!(result, Err(Error::Crashed { .. }));
    let mut buf = filled(512, 0);
    assert!(crashed(file.read_at(&mut buf, 0)));
    assert!(crashed(file.write_at(&buf, 0)));
    assert!(crashed(file.sync_data()));
    assert!(matches!(file.size_bytes(), Err(Error::Crashed { .. })));
    assert_eq!(disk.crash_count(), 1);
    drop(file); // releasing a dead handle touches nothing of the new epoch
    let reopened = disk.open(Path::new("/db/f"), OpenOptions::existing()).unwrap();
    reopened.write_at(&buf, 0).unwrap();
    disk.check_invariants();
}

#[test]
#[should_panic(expected = "sector_bytes 1000")]
fn a_sector_size_that_is_not_a_power_of_two_is_a_bug() {
    SimDisk::new(SimDiskOptions { sector_bytes: 1000, ..SimDiskOptions::default() });
}

#[test]
fn the_disk_is_a_shared_thread_safe_handle() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<SimDisk>();
    let disk = disk_with_directory(1);
    let clone = disk.clone();
    clone.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    assert!(disk.exists(Path::new("/db/f")).unwrap(), "clones share one disk");
    let threads: Vec<_> = (0..2u8)
        .map(|index| {
            let disk = disk.clone();
            std::thread::spawn(move || {
                let file = disk.open(Path::new("/db/f"), OpenOptions::existing()).unwrap();
                file.write_at(&filled(512, index + 1), u64::from(index) * 512).unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(disk.pending_writes().len(), 2);
    disk.check_invariants();
}

#[test]
fn a_misdirected_write_to_a_file_too_small_to_miss_lands_past_it() {
    let disk = disk_with_directory(1);
    let file = disk.open(Path::new("/db/f"), OpenOptions::create()).unwrap();
    disk.inject(Fault::misdirected_write(Trigger::Once { index: 0 }));
    file.write_at(&filled(512, 1), 0).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 1024);
    let mut read_back = filled(1024, 9);
    file.read_at(&mut read_back, 0).unwrap();
    assert!(read_back[..512].iter().all(|&byte| byte == 0), "nothing landed where asked");
    assert!(read_back[512..].iter().all(|&byte| byte == 1));
    disk.check_invariants();
}

// ---- write-through -------------------------------------------------------------------------

fn write_through_with_directory(seed: u64) -> SimDisk {
    let disk = SimDisk::write_through(seed);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    disk
}

#[test]
fn the_cache_is_write_back_unless_asked_otherwise() {
    assert_eq!(SimDiskOptions::default().cache_mode, CacheMode::WriteBack);
    assert_eq!(SimDisk::with_seed(1).cache_mode(), CacheMode::WriteBack);
    let disk = SimDisk::write_through(1);
    assert_eq!(disk.cache_mode(), CacheMode::WriteThrough);
    assert!(format!("{disk:?}").contains("cache_mode: WriteThrough"), "{disk:?}");
    assert_eq!(CacheMode::WriteBack.write_cache(), WriteCache::WriteBack);
    assert_eq!(CacheMode::WriteThrough.write_cache(), WriteCache::WriteThrough);
}

#[test]
fn write_through_makes_a_completed_overwrite_durable_on_return() {
    let disk = write_through_with_directory(1);
    let path = Path::new("/db/f");
    let file = disk.open(path, OpenOptions::create()).unwrap();
    file.allocate(8192).unwrap();
    file.write_at(&filled(1024, 7), 512).unwrap();
    let batch = filled(4096, 8);
    let results =
        file.submit(&mut [IoRequest::Write { offset: 4096, buf: &batch, durable: false }]);
    assert!(results.into_iter().all(|result| result.is_ok()));
    assert!(disk.pending_writes().is_empty(), "nothing waits in a cache");
    let durable = disk.durable_content(path).unwrap();
    assert_eq!(durable.len(), 8192);
    assert!(durable[..512].iter().all(|&byte| byte == 0));
    assert!(durable[512..1536].iter().all(|&byte| byte == 7));
    assert!(durable[4096..].iter().all(|&byte| byte == 8));
    disk.check_invariants();
}

#[test]
fn write_through_keeps_a_grown_size_pending_until_sync_data() {
    let disk = write_through_with_directory(1);
    let path = Path::new("/db/f");
    let file = disk.open(path, OpenOptions::create()).unwrap();
    file.allocate(1024).unwrap();
    file.write_at(&filled(4096, 7), 0).unwrap();
    assert_eq!(file.size_bytes().unwrap(), 4096, "reads see the grown file");
    let durable = disk.durable_content(path).unwrap();
    assert_eq!(durable, vec![7; 1024], "the part inside the old size is durable, no more");
    let pending = disk.pending_writes();
    assert_eq!(pending.len(), 1, "the grown part waits, as the same write");
    assert_eq!((pending[0].offset_bytes, pending[0].length_bytes), (0, 4096));
    file.sync_data().unwrap();
    assert_eq!(disk.durable_content(path).unwrap(), vec![7; 4096]);
    assert!(disk.pending_writes().is_empty());
    disk.check_invariants();
}

#[test]
fn write_through_never_hardens_a_failed_write() {
    let disk = write_through_with_directory(3);
    let path = Path::new("/db/f");
    let file = disk.open(path, OpenOptions::create()).unwrap();
    file.allocate(65536).unwrap();
    // Fail writes until one lands at least one sector (the failure mode is drawn per write).
    let mut attempt = 0;
    while disk.pending_writes().is_empty() {
        let index = disk.operation_counts().get(Operation::Write);
        disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index }));
        assert_eq!(errno(file.write_at(&filled(4096, 9), attempt * 4096)), libc::EIO);
        attempt += 1;
        assert!(attempt < 64, "no failed write landed anything in 64 tries");
    }
    file.sync_data().unwrap();
    file.write_at(&filled(512, 1), 65536 - 512).unwrap();
    assert_eq!(disk.pending_writes().len(), 1, "the failed write stays in doubt");
    assert!(disk.durable_content(path).unwrap()[..65536 - 512].iter().all(|&byte| byte == 0));
    disk.check_invariants();
}

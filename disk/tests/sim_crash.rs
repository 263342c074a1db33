//! Crash scenarios on the simulated disk: what a power loss keeps, loses and tears, that a seed
//! replays a crash exactly, and what happens to handles, locks and the namespace.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::sim::{CrashChoices, CrashReport, KeepAll, LoseAll, PendingWrite, WriteFate};
use disk::{AlignedBuf, Disk, Error, File, OpenOptions, SimDisk};

const DIRECTORY: &str = "/db";
/// Enough seeds that every outcome with odds of 1/6 or more shows up (missing one in 200 draws
/// has odds below 1e-15), and few enough to run in well under a second.
const SEED_COUNT: u64 = 200;

fn disk_with_directory(seed: u64) -> SimDisk {
    let disk = SimDisk::with_seed(seed);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    disk
}

/// Creates `/db/<name>` and makes its directory entry durable.
fn create_synced(disk: &SimDisk, name: &str) -> Arc<dyn File> {
    let file = disk.open(&Path::new(DIRECTORY).join(name), OpenOptions::create()).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    file
}

/// A buffer whose 512-byte sector `index` is filled with `base + index`, so that any sector of
/// it can be told from any other and from zeros.
fn patterned(length_bytes: usize, base: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(length_bytes, 4096);
    for (index, sector) in buf.chunks_mut(512).enumerate() {
        sector.fill(base.wrapping_add(u8::try_from(index).unwrap()));
    }
    buf
}

fn content(disk: &SimDisk, name: &str) -> Option<Vec<u8>> {
    disk.durable_content(&Path::new(DIRECTORY).join(name)).ok()
}

#[derive(Default)]
struct Observed {
    lost: bool,
    kept: bool,
    torn_512: bool,
    torn_4096: bool,
}

/// Checks that the file holds exactly what `fate` says survived of `written` at offset 0 on an
/// empty file, and records which fate it was.
fn check_fate(after: &[u8], written: &[u8], fate: &WriteFate, observed: &mut Observed) {
    match fate {
        WriteFate::Lost => {
            assert!(after.is_empty(), "a lost write left {} bytes", after.len());
            observed.lost = true;
        }
        WriteFate::Kept => {
            assert_eq!(after, written);
            observed.kept = true;
        }
        WriteFate::Torn { sector_bytes, kept_sectors } => {
            let sector_length = usize::try_from(*sector_bytes).unwrap();
            let last_kept = kept_sectors.iter().rposition(|&kept| kept);
            let expected_length = last_kept.map_or(0, |index| (index + 1) * sector_length);
            assert_eq!(after.len(), expected_length, "torn write sets the size by its last sector");
            for (index, sector) in after.chunks(sector_length).enumerate() {
                let source = &written[index * sector_length..(index + 1) * sector_length];
                if kept_sectors[index] {
                    assert_eq!(sector, source, "kept sector {index}");
                } else {
                    assert!(sector.iter().all(|&byte| byte == 0), "lost sector {index}");
                }
            }
            match sector_bytes {
                512 => observed.torn_512 = true,
                4096 => observed.torn_4096 = true,
                other => panic!("unexpected tear size {other}"),
            }
        }
    }
}

#[test]
fn unflushed_writes_are_lost_kept_or_torn_at_512_and_4096() {
    let mut observed = Observed::default();
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_synced(&disk, "data");
        let written = patterned(16384, 1);
        file.write_at(&written, 0).unwrap();
        let report = disk.crash();
        assert_eq!(report.writes.len(), 1, "seed {seed}");
        let after = content(&disk, "data").unwrap();
        check_fate(&after, &written, &report.writes[0].fate, &mut observed);
        disk.check_invariants();
    }
    assert!(observed.lost, "no seed lost the write");
    assert!(observed.kept, "no seed kept the write");
    assert!(observed.torn_512, "no seed tore the write at 512 bytes");
    assert!(observed.torn_4096, "no seed tore the write at 4096 bytes");
}

#[test]
fn flushed_writes_always_survive() {
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_synced(&disk, "data");
        let flushed = patterned(8192, 10);
        file.write_at(&flushed, 0).unwrap();
        file.sync_data().unwrap();
        // Unflushed traffic around and after it must not disturb it.
        file.write_at(&patterned(8192, 100), 8192).unwrap();
        let other = create_synced(&disk, "other");
        other.write_at(&patterned(4096, 200), 0).unwrap();
        disk.crash();
        let after = content(&disk, "data").unwrap();
        assert_eq!(&after[..8192], &flushed[..], "seed {seed}");
    }
}

#[test]
fn write_at_durable_always_survives() {
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_synced(&disk, "log");
        file.write_at(&patterned(4096, 50), 0).unwrap();
        let durable = patterned(4096, 1);
        file.write_at_durable(&durable, 4096).unwrap();
        disk.crash();
        let after = content(&disk, "log").unwrap();
        assert_eq!(&after[4096..8192], &durable[..], "seed {seed}");
    }
}

/// A small workload over two directories: writes, flushes, creates, a rename and a remove,
/// with some of it synced and some not.
fn workload(disk: &SimDisk) {
    disk.create_dir_all(Path::new("/db/wal")).unwrap();
    let data = create_synced(disk, "data");
    data.write_at(&patterned(8192, 1), 0).unwrap();
    data.sync_data().unwrap();
    data.write_at(&patterned(8192, 2), 4096).unwrap();
    let segment = disk.open(Path::new("/db/wal/0001"), OpenOptions::create()).unwrap();
    segment.write_at(&patterned(4096, 3), 0).unwrap();
    segment.write_at(&patterned(4096, 4), 4096).unwrap();
    let temporary = disk.open(Path::new("/db/tmp"), OpenOptions::create()).unwrap();
    temporary.write_at(&patterned(2048, 5), 0).unwrap();
    temporary.sync_data().unwrap();
    disk.rename(Path::new("/db/tmp"), Path::new("/db/manifest")).unwrap();
    disk.remove(Path::new("/db/data")).unwrap();
    segment.write_at(&patterned(4096, 6), 0).unwrap();
}

fn crash_after_workload(seed: u64) -> (CrashReport, Vec<(PathBuf, Vec<u8>)>) {
    let disk = disk_with_directory(seed);
    workload(&disk);
    let report = disk.crash();
    disk.check_invariants();
    (report, disk.durable_image().into_iter().collect())
}

#[test]
fn the_same_seed_replays_the_same_crash() {
    for seed in [0, 1, 77, u64::MAX] {
        let (first_report, first_image) = crash_after_workload(seed);
        let (second_report, second_image) = crash_after_workload(seed);
        assert_eq!(first_report, second_report, "seed {seed}");
        assert_eq!(first_image, second_image, "seed {seed}");
    }
}

#[test]
fn different_seeds_crash_differently() {
    let outcomes: BTreeSet<Vec<(PathBuf, Vec<u8>)>> =
        (0..20).map(|seed| crash_after_workload(seed).1).collect();
    assert!(outcomes.len() > 5, "only {} distinct post-crash states in 20 seeds", outcomes.len());
}

#[test]
fn a_created_file_can_vanish_until_its_directory_is_synced() {
    let mut vanished = false;
    let mut survived = false;
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = disk.open(Path::new("/db/new"), OpenOptions::create()).unwrap();
        file.write_at(&patterned(4096, 1), 0).unwrap();
        file.sync_data().unwrap(); // the data is durable, the name is not
        disk.crash();
        match content(&disk, "new") {
            None => vanished = true,
            Some(after) => {
                assert_eq!(after, &patterned(4096, 1)[..], "seed {seed}");
                survived = true;
            }
        }
    }
    assert!(vanished && survived, "vanished {vanished}, survived {survived}");

    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_synced(&disk, "new");
        file.write_at(&patterned(4096, 1), 0).unwrap();
        file.sync_data().unwrap();
        disk.crash();
        assert_eq!(content(&disk, "new").unwrap(), &patterned(4096, 1)[..], "seed {seed}");
    }
}

#[test]
fn a_rename_is_atomic_and_durable_after_sync_dir() {
    // The classic "write temporary, flush, rename over the old file" protocol.
    let mut saw_old = false;
    let mut saw_new = false;
    for seed in 0..SEED_COUNT {
        for synced in [false, true] {
            let disk = disk_with_directory(seed);
            let old = create_synced(&disk, "current");
            old.write_at_durable(&patterned(512, 1), 0).unwrap();
            let new = create_synced(&disk, "next");
            new.write_at(&patterned(512, 2), 0).unwrap();
            new.sync_data().unwrap();
            disk.rename(Path::new("/db/next"), Path::new("/db/current")).unwrap();
            if synced {
                disk.sync_dir(Path::new(DIRECTORY)).unwrap();
            }
            disk.crash();
            let after = content(&disk, "current").expect("the target never disappears");
            if after == patterned(512, 2)[..] {
                saw_new = true;
                assert!(content(&disk, "next").is_none(), "the source is gone with the rename");
            } else {
                assert!(!synced, "a synced rename was lost (seed {seed})");
                assert_eq!(after, &patterned(512, 1)[..]);
                assert!(content(&disk, "next").is_some(), "the lost rename leaves its source");
                saw_old = true;
            }
        }
    }
    assert!(saw_old && saw_new);
}

#[test]
fn a_removed_file_can_come_back_until_its_directory_is_synced() {
    let mut came_back = false;
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        create_synced(&disk, "old");
        disk.remove(Path::new("/db/old")).unwrap();
        disk.crash();
        came_back |= content(&disk, "old").is_some();
    }
    assert!(came_back);
    let disk = disk_with_directory(0);
    create_synced(&disk, "old");
    disk.remove(Path::new("/db/old")).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    disk.crash_with(&mut KeepAll);
    assert!(content(&disk, "old").is_none());
}

#[test]
fn old_handles_fail_with_crashed_and_reopened_files_are_durable() {
    let disk = disk_with_directory(3);
    let file = create_synced(&disk, "data");
    file.write_at(&patterned(4096, 1), 0).unwrap();
    disk.crash_with(&mut LoseAll);
    let mut buf = patterned(512, 0);
    let operation = |result: disk::Result<()>| match result {
        Err(Error::Crashed { operation, path }) => {
            assert_eq!(path, Path::new("/db/data"));
            operation
        }
        other => panic!("expected Crashed, got {other:?}"),
    };
    assert_eq!(operation(file.read_at(&mut buf, 0)), "read");
    assert_eq!(operation(file.write_at(&buf, 0)), "write");
    assert_eq!(operation(file.write_at_durable(&buf, 0)), "write");
    assert_eq!(operation(file.sync_data()), "fdatasync");
    assert_eq!(operation(file.allocate(8192)), "fallocate");
    assert_eq!(operation(file.truncate(0)), "ftruncate");
    assert!(matches!(file.size_bytes(), Err(Error::Crashed { .. })));

    let reopened = disk.open(Path::new("/db/data"), OpenOptions::existing()).unwrap();
    assert_eq!(reopened.size_bytes().unwrap(), 0, "the lost write is gone");
    reopened.write_at(&patterned(512, 9), 0).unwrap();
    assert!(disk.pending_writes().iter().all(|write| write.sequence > 0));
    assert_eq!(disk.pending_writes().len(), 1, "only the new write is pending");
}

#[test]
fn locks_are_exclusive_and_die_with_the_process() {
    let disk = disk_with_directory(1);
    let lock_path = Path::new("/db/LOCK");
    let guard = disk.lock(lock_path).unwrap();
    assert!(disk.exists(lock_path).unwrap(), "lock creates its file");
    assert!(matches!(disk.lock(lock_path), Err(Error::Locked { .. })));
    assert!(disk.lock(Path::new("/db/OTHER")).is_ok());
    drop(guard);
    let guard = disk.lock(lock_path).unwrap();

    disk.crash();
    let after_crash = disk.lock(lock_path).expect("a crash releases every lock");
    drop(guard); // the dead process's guard must not release the new holder's lock
    assert!(matches!(disk.lock(lock_path), Err(Error::Locked { .. })));
    drop(after_crash);
}

/// Keeps the writes whose sequence is in `kept`, tears nothing, and keeps `namespace_kept` of
/// each directory's changes.
struct Scripted {
    kept: Vec<u64>,
    namespace_kept: usize,
    offered: Vec<PendingWrite>,
}

impl CrashChoices for Scripted {
    fn write_fate(&mut self, write: &PendingWrite) -> WriteFate {
        self.offered.push(write.clone());
        if self.kept.contains(&write.sequence) { WriteFate::Kept } else { WriteFate::Lost }
    }

    fn namespace_kept_count(&mut self, _directory: &Path, pending_count: usize) -> usize {
        self.namespace_kept.min(pending_count)
    }
}

#[test]
fn crash_with_applies_the_explorers_choices() {
    let disk = disk_with_directory(1);
    let file = create_synced(&disk, "data");
    file.write_at(&patterned(512, 1), 0).unwrap();
    file.write_at(&patterned(512, 2), 512).unwrap();
    file.write_at(&patterned(512, 3), 0).unwrap();
    disk.open(Path::new("/db/a"), OpenOptions::create()).unwrap();
    disk.open(Path::new("/db/b"), OpenOptions::create()).unwrap();
    let pending = disk.pending_writes();
    assert_eq!(pending.len(), 3);
    assert!(pending.windows(2).all(|pair| pair[0].sequence < pair[1].sequence));
    assert_eq!(disk.pending_namespace(), [(PathBuf::from(DIRECTORY), 2)]);

    // Keep the first and third write (both at offset 0), lose the second; keep one create.
    let kept = vec![pending[0].sequence, pending[2].sequence];
    let mut choices = Scripted { kept, namespace_kept: 1, offered: Vec::new() };
    let report = disk.crash_with(&mut choices);
    assert_eq!(choices.offered, pending, "offered in sequence order");
    assert_eq!((report.writes_kept, report.writes_lost, report.writes_torn), (2, 1, 0));
    assert_eq!((report.namespace_changes_kept, report.namespace_changes_lost), (1, 1));
    assert_eq!(content(&disk, "data").unwrap(), &patterned(512, 3)[..], "applied in order");
    assert!(content(&disk, "a").is_some());
    assert!(content(&disk, "b").is_none());
}

#[test]
fn crash_with_tears_exactly_the_chosen_sectors() {
    struct TearEveryOther;
    impl CrashChoices for TearEveryOther {
        fn write_fate(&mut self, write: &PendingWrite) -> WriteFate {
            let kept_sectors = (0..write.sector_count(512)).map(|index| index % 2 == 0).collect();
            WriteFate::Torn { sector_bytes: 512, kept_sectors }
        }
        fn namespace_kept_count(&mut self, _directory: &Path, pending_count: usize) -> usize {
            pending_count
        }
    }
    let disk = disk_with_directory(1);
    let file = create_synced(&disk, "data");
    file.write_at_durable(&patterned(2048, 100), 0).unwrap();
    let written = patterned(2048, 1);
    file.write_at(&written, 0).unwrap();
    disk.crash_with(&mut TearEveryOther);
    let after = content(&disk, "data").unwrap();
    let old = patterned(2048, 100);
    for index in 0..4 {
        let range = index * 512..(index + 1) * 512;
        let expected = if index % 2 == 0 { &written[range.clone()] } else { &old[range.clone()] };
        assert_eq!(&after[range], expected, "sector {index}");
    }
}

/// A fork is the same moment of the same machine, separate from then on: crashing the fork one
/// way does not touch the original, which can be crashed another way; the original's handles
/// and locks do not reach the fork.
#[test]
fn a_fork_crashes_apart_from_the_original() {
    let disk = disk_with_directory(11);
    let file = create_synced(&disk, "log");
    let _lock = disk.lock(&Path::new(DIRECTORY).join("LOCK")).unwrap();
    file.write_at(&patterned(4096, 1), 0).unwrap();
    let fork = disk.fork();
    assert_eq!(fork.pending_writes(), disk.pending_writes());
    assert!(fork.lock(&Path::new(DIRECTORY).join("LOCK")).is_ok(), "locks stay behind");
    fork.crash_with(&mut KeepAll);
    assert_eq!(content(&fork, "log").unwrap().len(), 4096);
    assert_eq!(disk.pending_writes().len(), 1, "the original still has its pending write");
    file.sync_data().unwrap();
    disk.crash_with(&mut LoseAll);
    assert_eq!(content(&disk, "log").unwrap().len(), 4096, "synced on the original");
    let fork_again = disk.fork();
    assert_eq!(fork_again.durable_image(), disk.durable_image());
}

#[test]
fn visiting_the_durable_image_sees_what_durable_image_returns() {
    let disk = disk_with_directory(12);
    let file = create_synced(&disk, "a");
    file.write_at_durable(&patterned(1024, 3), 0).unwrap();
    file.write_at(&patterned(512, 9), 1024).unwrap();
    create_synced(&disk, "b");
    let mut visited = std::collections::BTreeMap::new();
    disk.visit_durable_image(&mut |path, content| {
        visited.insert(path.to_path_buf(), content.to_vec());
    });
    assert_eq!(visited, disk.durable_image());
    assert_eq!(
        visited[&Path::new(DIRECTORY).join("a")].len(),
        1024,
        "the pending write is not durable"
    );
}

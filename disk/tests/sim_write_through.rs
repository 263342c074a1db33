//! Crash scenarios on a write-through simulated disk (`CacheMode::WriteThrough`): a completed
//! write survives every crash; the write the machine died during (a failed write) is lost, kept
//! or torn; the part of a write that grew the file needs `sync_data`; the namespace is as
//! volatile as on a write-back disk; and a seed replays a crash exactly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::sim::{CrashReport, Fault, Operation, Trigger, WriteFate};
use disk::{AlignedBuf, Disk, File, OpenOptions, SimDisk};

const DIRECTORY: &str = "/db";
/// As in `sim_crash.rs`: enough seeds that every outcome with odds of 1/6 or more shows up.
const SEED_COUNT: u64 = 200;
const FILE_BYTES: usize = 16384;

fn disk_with_directory(seed: u64) -> SimDisk {
    let disk = SimDisk::write_through(seed);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    disk
}

/// Creates `/db/<name>`, grows it to `size_bytes` of durable zeros, and syncs the directory.
fn create_allocated(disk: &SimDisk, name: &str, size_bytes: u64) -> Arc<dyn File> {
    let file = disk.open(&Path::new(DIRECTORY).join(name), OpenOptions::create()).unwrap();
    file.allocate(size_bytes).unwrap();
    disk.sync_dir(Path::new(DIRECTORY)).unwrap();
    file
}

/// A buffer whose 512-byte sector `index` is filled with `base + index`.
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

/// Makes the next write fail with `EIO`: the machine dies while that write is in flight.
fn fail_next_write(disk: &SimDisk) {
    let index = disk.operation_counts().get(Operation::Write);
    disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index }));
}

#[test]
fn completed_writes_survive_every_crash() {
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_allocated(&disk, "data", FILE_BYTES as u64);
        let first = patterned(8192, 1);
        let second = patterned(8192, 100);
        file.write_at(&first, 0).unwrap();
        file.write_at(&second, 8192).unwrap();
        file.write_at(&patterned(4096, 200), 4096).unwrap(); // over both
        let report = disk.crash();
        assert!(report.writes.is_empty(), "seed {seed}: {:?}", report.writes);
        let after = content(&disk, "data").unwrap();
        assert!(after[..4096] == first[..4096], "seed {seed}");
        assert!(after[4096..8192] == patterned(4096, 200)[..], "seed {seed}");
        assert!(after[8192..] == second[..], "seed {seed}");
    }
}

#[derive(Default)]
struct Observed {
    lost: bool,
    kept: bool,
    torn_512: bool,
    torn_4096: bool,
}

/// What a crash may leave of a write in flight: sector by sector (512 B, the smallest tear),
/// what was there before or what the failed write landed, as its fate says. `landed` is what
/// reads saw after the failure (the sectors that never landed read as before).
fn expected_after_fate(before: &[u8], landed: &[u8], fate: &WriteFate) -> Vec<u8> {
    match fate {
        WriteFate::Lost => before.to_vec(),
        WriteFate::Kept => landed.to_vec(),
        WriteFate::Torn { sector_bytes, kept_sectors } => {
            let sector_length = usize::try_from(*sector_bytes).unwrap();
            let mut expected = before.to_vec();
            for (index, kept) in kept_sectors.iter().enumerate() {
                let range = index * sector_length..(index + 1) * sector_length;
                if *kept {
                    expected[range.clone()].copy_from_slice(&landed[range]);
                }
            }
            expected
        }
    }
}

#[test]
fn the_write_in_flight_at_the_crash_is_lost_kept_or_torn_and_nothing_else() {
    let mut observed = Observed::default();
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_allocated(&disk, "data", FILE_BYTES as u64);
        let before = patterned(FILE_BYTES, 1);
        file.write_at(&before, 0).unwrap();
        fail_next_write(&disk);
        assert!(file.write_at(&patterned(FILE_BYTES, 100), 0).is_err());
        let mut landed = AlignedBuf::zeroed(FILE_BYTES, 4096);
        file.read_at(&mut landed, 0).unwrap();
        let report = disk.crash();
        disk.check_invariants();
        let after = content(&disk, "data").unwrap();
        // A failed write that landed nothing leaves nothing in doubt.
        let Some(outcome) = report.writes.first() else {
            assert!(after == before[..], "seed {seed}");
            continue;
        };
        assert_eq!(report.writes.len(), 1, "seed {seed}: only the failed write is pending");
        let expected = expected_after_fate(&before, &landed, &outcome.fate);
        assert!(after == expected, "seed {seed}: {:?}", outcome.fate);
        match &outcome.fate {
            WriteFate::Lost => observed.lost = true,
            WriteFate::Kept => observed.kept = true,
            WriteFate::Torn { sector_bytes: 512, .. } => observed.torn_512 = true,
            WriteFate::Torn { sector_bytes: 4096, .. } => observed.torn_4096 = true,
            WriteFate::Torn { sector_bytes, .. } => panic!("unexpected tear size {sector_bytes}"),
        }
    }
    assert!(observed.lost, "no seed lost the write in flight");
    assert!(observed.kept, "no seed kept the write in flight");
    assert!(observed.torn_512, "no seed tore the write in flight at 512 bytes");
    assert!(observed.torn_4096, "no seed tore the write in flight at 4096 bytes");
}

#[test]
fn a_write_that_grows_the_file_is_durable_only_up_to_the_old_size_until_sync_data() {
    let grown = patterned(8192, 1);
    let mut grown_part_lost = false;
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = create_allocated(&disk, "log", 4096);
        file.write_at(&grown, 0).unwrap();
        disk.crash();
        let after = content(&disk, "log").unwrap();
        assert!(after[..4096] == grown[..4096], "seed {seed}: inside the old size");
        assert!(after.len() <= 8192, "seed {seed}");
        // Past the old size each sector is the write's or, torn away, zero.
        for (index, sector) in after.chunks(512).enumerate().skip(8) {
            let written = &grown[index * 512..(index + 1) * 512];
            let zero = sector.iter().all(|&byte| byte == 0);
            assert!(sector == written || zero, "seed {seed}: sector {index}");
        }
        grown_part_lost |= after.len() == 4096;

        let disk = disk_with_directory(seed);
        let file = create_allocated(&disk, "log", 4096);
        file.write_at(&grown, 0).unwrap();
        file.sync_data().unwrap();
        disk.crash();
        assert!(content(&disk, "log").unwrap() == grown[..], "seed {seed}: synced");
    }
    assert!(grown_part_lost, "no seed lost the unsynced growth");
}

#[test]
fn a_created_file_can_still_vanish_until_its_directory_is_synced() {
    let mut vanished = false;
    let mut survived = false;
    for seed in 0..SEED_COUNT {
        let disk = disk_with_directory(seed);
        let file = disk.open(Path::new("/db/new"), OpenOptions::create()).unwrap();
        file.allocate(4096).unwrap();
        file.write_at(&patterned(4096, 1), 0).unwrap(); // durable data, volatile name
        disk.crash();
        match content(&disk, "new") {
            None => vanished = true,
            Some(after) => {
                assert!(after == patterned(4096, 1)[..], "seed {seed}");
                survived = true;
            }
        }
    }
    assert!(vanished && survived, "vanished {vanished}, survived {survived}");
}

/// Completed, grown, failed and unsynced-namespace work, so that every kind of choice a crash
/// makes on this disk is in play.
fn workload(disk: &SimDisk) {
    let data = create_allocated(disk, "data", 8192);
    data.write_at(&patterned(8192, 1), 0).unwrap();
    data.write_at(&patterned(8192, 2), 4096).unwrap(); // grows the file
    let log = disk.open(Path::new("/db/log"), OpenOptions::create()).unwrap();
    log.allocate(8192).unwrap();
    log.write_at(&patterned(4096, 3), 0).unwrap();
    fail_next_write(disk);
    assert!(log.write_at(&patterned(8192, 4), 0).is_err());
    disk.rename(Path::new("/db/log"), Path::new("/db/log.old")).unwrap();
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
    let outcomes: BTreeSet<Vec<(PathBuf, Vec<u8>)>> =
        (0..20).map(|seed| crash_after_workload(seed).1).collect();
    assert!(outcomes.len() > 5, "only {} distinct post-crash states in 20 seeds", outcomes.len());
}

//! `exhaustive` mode: a tiny workload crashed at every disk operation, with the fates of the
//! writes in flight at each crash enumerated.
//!
//! One iteration runs a scenario — create the database (odd seeds: after a first clean run),
//! commit, close, reopen, run the tiny plan, close; every third seed with a pool of a dozen
//! frames and larger values, so that pages are evicted; every fourth on a write-through disk —
//! once to count its disk operations, then
//! once per operation `N` with every operation from `N` on failing (the machine dies there: the
//! write at `N`, if it is one, lands in part). At each such crash point it lists the writes the
//! disk's cache still holds and the un-synced namespace changes, and tries crashes that give
//! them different fates, each on a fork of the disk ([`SimDisk::fork`]):
//!
//! 1. every subset of the pending writes kept (the rest lost), when there are at most
//!    [`SUBSET_WRITES_MAX`]; beyond that, every prefix in issue order, and every "all but one"
//!    and "only one";
//! 2. each pending write torn at 512 B and 4 KiB sectors with a few masks (first half, second
//!    half, first sector only, all but the first, every other), the writes before it kept and
//!    those after it lost;
//! 3. every surviving prefix of each directory's un-synced changes, with all writes kept and
//!    with all lost.
//!
//! Each choice also runs with the namespace changes all kept and all lost. At most
//! [`CHOICES_PER_POINT_MAX`] choices per crash point are tried, and a choice is recovered only
//! if the disk image it leaves (with the commits acknowledged by then) was not recovered
//! before: many fates leave the same bytes.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use disk::SimDisk;
use disk::sim::{CrashChoices, Fault, PendingWrite, Trigger, WriteFate};

use super::Budget;
use super::oracle::Oracle;
use super::report::ModeReport;
use super::verify::{open_sim, recover_sim};
use super::workload::{self, Profile};

/// Pending writes up to which every subset is tried (2^6 = 64 subsets).
const SUBSET_WRITES_MAX: usize = 6;
/// Choices tried at one crash point at most, before deduplication.
const CHOICES_PER_POINT_MAX: usize = 160;
/// Pending writes (the newest) whose torn variants are tried.
const TORN_WRITES_MAX: usize = 8;
/// Frames of the pool in the evicting scenarios (the pool's minimum is 8).
const EVICTING_POOL_FRAMES: usize = 12;
/// The sector sizes writes tear at (a 512e drive's logical and physical sectors).
const TEAR_SECTOR_BYTES: [u64; 2] = [512, 4096];

/// The crash a choice makes.
#[derive(Clone, Debug)]
struct Choice {
    /// One fate per pending write, in sequence order.
    fates: Vec<WriteFate>,
    /// Surviving un-synced namespace changes per directory (missing: all of them survive).
    namespace: BTreeMap<PathBuf, usize>,
}

struct Replay<'a> {
    pending: &'a [PendingWrite],
    choice: &'a Choice,
}

impl CrashChoices for Replay<'_> {
    fn write_fate(&mut self, write: &PendingWrite) -> WriteFate {
        let index = self
            .pending
            .iter()
            .position(|pending| pending.sequence == write.sequence)
            .expect("the fork holds the writes listed before it");
        self.choice.fates[index].clone()
    }

    fn namespace_kept_count(&mut self, directory: &Path, pending_count: usize) -> usize {
        self.choice.namespace.get(directory).copied().unwrap_or(pending_count).min(pending_count)
    }
}

/// One iteration with `seed`: every crash point of the scenario.
pub(crate) fn iteration(seed: u64, budget: &Budget, report: &mut ModeReport) {
    let (disk, _) = scenario(seed, None);
    let operation_count = disk.operation_counts().total();
    let mut seen = HashSet::new();
    // Point `operation_count` is the crash after everything: the database closed cleanly.
    for crash_point in 0..=operation_count {
        if budget.expired() {
            break;
        }
        let (disk, oracle) = scenario(seed, Some(crash_point));
        explore_point(&disk, &oracle, seed, crash_point, &mut seen, report);
    }
}

/// The database options of `seed`'s scenario: every third seed has a pool of a dozen frames, so
/// that dirty pages are evicted (written, not yet synced) between checkpoints and many writes
/// are in flight at once.
fn options(seed: u64) -> engine::Options {
    if seed % 3 == 2 {
        engine::Options { pool_size: EVICTING_POOL_FRAMES * 4096, ..workload::options() }
    } else {
        workload::options()
    }
}

/// The plan of run `run` (1: the clean run before, 2: the explored one) of `seed`'s scenario.
fn profile(seed: u64, run: u64) -> Profile {
    let profile = if seed % 3 == 2 {
        Profile { step_count: 14, key_count: 40, large_one_in: 3, ..Profile::tiny() }
    } else {
        Profile::tiny()
    };
    if run == 1 { Profile { step_count: 3, checkpoint_one_in: 0, ..profile } } else { profile }
}

/// Runs the scenario of `seed` with the disk dying at operation `death`; returns the disk (its
/// cache still holding what a crash would decide about) and the commits made.
fn scenario(seed: u64, death: Option<u64>) -> (SimDisk, Oracle) {
    let disk = if seed % 4 == 3 { SimDisk::write_through(seed) } else { SimDisk::with_seed(seed) };
    if let Some(index) = death {
        disk.inject(Fault::io_error_on_any(Trigger::From { index }));
    }
    let options = options(seed);
    let mut oracle = Oracle::new(Default::default());
    let runs: &[u64] = if seed % 2 == 1 { &[1, 2] } else { &[2] };
    for &run in runs {
        let Ok(db) = open_sim(&disk, &options) else { break };
        let plan = workload::plan(seed.wrapping_mul(31).wrapping_add(run), &profile(seed, run));
        let model = oracle.final_state();
        let outcome = workload::run(&db, &plan, &mut oracle, model, 0);
        drop(db);
        if outcome.first_error.is_some() {
            break;
        }
    }
    (disk, oracle)
}

fn explore_point(
    disk: &SimDisk,
    oracle: &Oracle,
    seed: u64,
    crash_point: u64,
    seen: &mut HashSet<(u64, usize, usize)>,
    report: &mut ModeReport,
) {
    let pending = disk.pending_writes();
    let namespace = disk.pending_namespace();
    let options = options(seed);
    for (index, choice) in choices(&pending, &namespace).iter().enumerate() {
        let fork = disk.fork();
        fork.clear_faults();
        fork.crash_with(&mut Replay { pending: &pending, choice });
        let key = (image_hash(&fork), oracle.acknowledged(), oracle.len());
        if !seen.insert(key) {
            continue;
        }
        let judged = recover_sim(&fork, &options, oracle, false);
        let at = format!("crash point {crash_point}, choice {index}: {}", describe(choice));
        report.record_in_model(seed, &at, judged);
    }
}

/// A digest of the disk's durable image, for deduplication within one iteration: crc32c (with
/// the hardware's instruction, several times faster than SipHash over the few MiB of a state)
/// of every path and content, with the total length. Two different images share a digest with
/// odds of about 2^-32 per pair: over the few hundred states of an iteration, a state skipped
/// once in tens of thousands of runs — coverage, never a wrong verdict.
fn image_hash(disk: &SimDisk) -> u64 {
    let mut crc = 0u32;
    let mut total_bytes = 0u64;
    disk.visit_durable_image(&mut |path, content| {
        crc = crc32c::crc32c_append(crc, path.as_os_str().as_encoded_bytes());
        crc = crc32c::crc32c_append(crc, &(content.len() as u64).to_le_bytes());
        crc = crc32c::crc32c_append(crc, content);
        total_bytes += content.len() as u64;
    });
    (total_bytes << 32) ^ u64::from(crc)
}

/// The crashes to try at one point, most telling first, at most [`CHOICES_PER_POINT_MAX`].
fn choices(pending: &[PendingWrite], namespace: &[(PathBuf, usize)]) -> Vec<Choice> {
    let all_lost: BTreeMap<PathBuf, usize> =
        namespace.iter().map(|(directory, _)| (directory.clone(), 0)).collect();
    let mut choices = Vec::new();
    let mut add = |fates: Vec<WriteFate>| {
        choices.push(Choice { fates: fates.clone(), namespace: BTreeMap::new() });
        if !all_lost.is_empty() {
            choices.push(Choice { fates, namespace: all_lost.clone() });
        }
    };
    for kept in kept_subsets(pending.len()) {
        add(kept
            .iter()
            .map(|&keep| if keep { WriteFate::Kept } else { WriteFate::Lost })
            .collect());
    }
    for fates in torn_variants(pending) {
        add(fates);
    }
    for (directory, pending_count) in namespace {
        for kept_count in 0..=*pending_count {
            for fate in [WriteFate::Kept, WriteFate::Lost] {
                let fates = vec![fate; pending.len()];
                let namespace = BTreeMap::from([(directory.clone(), kept_count)]);
                choices.push(Choice { fates, namespace });
            }
        }
    }
    choices.truncate(CHOICES_PER_POINT_MAX);
    choices
}

/// Which writes are kept, one vector per choice.
fn kept_subsets(count: usize) -> Vec<Vec<bool>> {
    if count <= SUBSET_WRITES_MAX {
        return (0..1u32 << count)
            .map(|mask| (0..count).map(|index| mask & (1 << index) != 0).collect())
            .collect();
    }
    let mut subsets: Vec<Vec<bool>> =
        (0..=count).map(|kept| (0..count).map(|index| index < kept).collect()).collect();
    for single in 0..count {
        subsets.push((0..count).map(|index| index != single).collect());
        subsets.push((0..count).map(|index| index == single).collect());
    }
    subsets
}

/// Each of the newest writes torn with a few masks, older writes kept, newer ones lost.
fn torn_variants(pending: &[PendingWrite]) -> Vec<Vec<WriteFate>> {
    let mut variants = Vec::new();
    let first_torn = pending.len().saturating_sub(TORN_WRITES_MAX);
    for (torn_index, write) in pending.iter().enumerate().skip(first_torn) {
        for sector_bytes in TEAR_SECTOR_BYTES {
            let sector_count = write.sector_count(sector_bytes);
            for kept_sectors in masks(sector_count) {
                let fates = (0..pending.len())
                    .map(|index| match index.cmp(&torn_index) {
                        std::cmp::Ordering::Less => WriteFate::Kept,
                        std::cmp::Ordering::Equal => {
                            WriteFate::Torn { sector_bytes, kept_sectors: kept_sectors.clone() }
                        }
                        std::cmp::Ordering::Greater => WriteFate::Lost,
                    })
                    .collect();
                variants.push(fates);
            }
        }
    }
    variants
}

/// Tear masks over `count` sectors: neither all kept nor all lost (those are subsets).
fn masks(count: usize) -> Vec<Vec<bool>> {
    if count < 2 {
        return Vec::new();
    }
    let half = count / 2;
    let candidates: [Vec<bool>; 5] = [
        (0..count).map(|index| index < half).collect(),
        (0..count).map(|index| index >= half).collect(),
        (0..count).map(|index| index == 0).collect(),
        (0..count).map(|index| index != 0).collect(),
        (0..count).map(|index| index % 2 == 0).collect(),
    ];
    let mut masks: Vec<Vec<bool>> = Vec::new();
    for mask in candidates {
        if !masks.contains(&mask) {
            masks.push(mask);
        }
    }
    masks
}

fn describe(choice: &Choice) -> String {
    let fates: Vec<String> = choice
        .fates
        .iter()
        .map(|fate| match fate {
            WriteFate::Lost => "lost".to_owned(),
            WriteFate::Kept => "kept".to_owned(),
            WriteFate::Torn { sector_bytes, kept_sectors } => {
                let mask: String =
                    kept_sectors.iter().map(|&kept| if kept { '1' } else { '0' }).collect();
                format!("torn@{sector_bytes}:{mask}")
            }
        })
        .collect();
    format!("writes [{}], namespace kept {:?}", fates.join(" "), choice.namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_get_every_subset_and_large_ones_a_bounded_set() {
        assert_eq!(kept_subsets(3).len(), 8);
        assert_eq!(kept_subsets(10).len(), 11 + 20);
    }

    #[test]
    fn masks_are_partial_and_distinct() {
        for count in 2..10 {
            for mask in masks(count) {
                assert_eq!(mask.len(), count);
                assert!(mask.iter().any(|&kept| kept) && mask.iter().any(|&kept| !kept));
            }
        }
        assert!(masks(1).is_empty());
    }
}

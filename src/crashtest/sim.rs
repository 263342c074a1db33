//! `sim` mode: one seeded crash per iteration on `SimDisk`, as `engine/tests/crash_sim.rs`
//! does, widened.
//!
//! An iteration: a clean run leaves a database with checkpoints and log behind; the database is
//! reopened and a workload runs; a few operations after a random step the disk dies (every
//! operation from then on fails, so the write in flight lands in part); at the end of the
//! workload, with the database still open, the machine crashes (each write its cache held is
//! lost, kept or torn; each directory keeps a prefix of its un-synced changes);
//! for even seeds the disk dies again in the middle of recovery and crashes again; then the
//! database is recovered and judged.
//!
//! The seed also picks the disk (a volatile write-back cache, or write-through every fourth
//! seed), the workload (large values that cross log segments every third seed), and for every
//! fifth seed one fault outside the crash model, which the database must report rather than
//! serve: a bit flipped at rest after the crash, a misdirected or bit-flipped write during the
//! workload, or a bit flipped by a read during recovery.

use std::path::PathBuf;

use disk::SimDisk;
use disk::sim::{Fault, Operation, Trigger};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::oracle::{Oracle, State};
use super::report::{Judged, ModeReport};
use super::verify::{guarded, open_sim, recover_sim};
use super::workload::{self, Profile};

/// Operations after a random step of the workload among which the disk dies (a commit takes
/// two: the log write and its flush; a checkpoint dozens).
const DEATH_SPAN_OPERATIONS: u64 = 40;
/// Operations into recovery among which a second death falls.
const RECOVERY_DEATH_SPAN_OPERATIONS: u64 = 80;
/// Transactions of the clean run before the crashed one, at most.
const SETUP_STEPS_MAX: usize = 40;

/// A fault outside the crash model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutOfModel {
    /// A bit of a file flipped at rest, after the crash.
    FlipAtRest,
    /// A write of the workload that lands at another offset.
    MisdirectedWrite,
    /// A write of the workload stored with a bit flipped.
    BitFlipOnWrite,
    /// A read during recovery that returns a bit flipped.
    BitFlipOnRead,
}

impl OutOfModel {
    const ALL: [OutOfModel; 4] = [
        OutOfModel::FlipAtRest,
        OutOfModel::MisdirectedWrite,
        OutOfModel::BitFlipOnWrite,
        OutOfModel::BitFlipOnRead,
    ];
}

/// One iteration with `seed`.
pub(crate) fn iteration(seed: u64, report: &mut ModeReport) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let disk = if seed % 4 == 3 { SimDisk::write_through(seed) } else { SimDisk::with_seed(seed) };
    let profile = if seed % 3 == 2 { Profile::heavy_log() } else { Profile::standard() };
    let fault =
        (seed % 5 == 4).then(|| OutOfModel::ALL[rng.random_range(0..OutOfModel::ALL.len())]);
    let options = workload::options();

    let setup_profile = Profile {
        step_count: rng.random_range(0..=SETUP_STEPS_MAX),
        checkpoint_one_in: 0,
        read_one_in: 0,
        ..profile
    };
    let base = match setup(&disk, seed, &setup_profile) {
        Ok(base) => base,
        Err(message) => return report.record_harness_failure(seed, "setup", message),
    };

    let Some((oracle, at)) = crashed_workload(&disk, seed, &profile, base, fault, &mut rng, report)
    else {
        return;
    };
    disk.clear_faults();
    if seed % 2 == 0 {
        die_during_recovery(&disk, &options, &mut rng, seed, report);
    }
    if let Some(fault) = fault {
        inject_before_recovery(&disk, fault, &mut rng);
        let judged = recover_sim(&disk, &options, &oracle, true);
        report.record_out_of_model(seed, &format!("{at}, {fault:?}"), judged);
    } else {
        let judged = recover_sim(&disk, &options, &oracle, true);
        report.record_in_model(seed, &at, judged);
    }
}

/// Runs the plan of `seed` on the reopened database, with the disk dying a few operations after
/// a random step (and an out-of-model write fault, if any, just before), and crashes the
/// machine at the end. Returns the commits made and where the disk died; `None` (after recording why) if the database would not reopen.
fn crashed_workload(
    disk: &SimDisk,
    seed: u64,
    profile: &Profile,
    base: State,
    fault: Option<OutOfModel>,
    rng: &mut ChaCha8Rng,
    report: &mut ModeReport,
) -> Option<(Oracle, String)> {
    let db = match open_sim(disk, &workload::options()) {
        Ok(db) => db,
        Err(error) => {
            report.record_harness_failure(seed, "reopen", format!("reopen failed: {error}"));
            return None;
        }
    };
    let plan = workload::plan(seed, profile);
    let death_step = rng.random_range(0..=plan.len());
    let mut oracle = Oracle::new(base.clone());
    let healthy = workload::run(&db, &plan[..death_step], &mut oracle, base, 0);
    // Choose the operation only now: how many operations the steps so far took depends on what
    // they did (a checkpoint takes dozens, a commit two).
    let death = disk.operation_counts().total() + rng.random_range(0..DEATH_SPAN_OPERATIONS);
    disk.inject(Fault::io_error_on_any(Trigger::From { index: death }));
    if let Some(fault) = fault {
        inject_during_workload(disk, fault, rng);
    }
    let model = oracle.final_state();
    let dying = workload::run(&db, &plan[death_step..], &mut oracle, model, 0);
    // The power goes with the database still open: no clean close gets to flush anything (if
    // the disk has not died by now, this is a power loss after the last step).
    disk.crash();
    drop(db);
    if fault.is_none() {
        report.record_wrong_reads(seed, "workload", &healthy.wrong_reads);
        report.record_wrong_reads(seed, "workload", &dying.wrong_reads);
    }
    Some((oracle, format!("disk death at operation {death} (after step {death_step})")))
}

/// The clean run: creates the database, commits the setup plan, closes. Returns the state it
/// left.
fn setup(disk: &SimDisk, seed: u64, profile: &Profile) -> Result<State, String> {
    let db = open_sim(disk, &workload::options()).map_err(|error| format!("create: {error}"))?;
    let plan = workload::plan(seed ^ 0x5e70_5e70, profile);
    let mut oracle = Oracle::new(Default::default());
    let outcome = workload::run(&db, &plan, &mut oracle, Default::default(), 0);
    if let Some((step, error)) = outcome.first_error {
        return Err(format!("a healthy disk failed at setup step {step}: {error}"));
    }
    Ok(oracle.final_state())
}

/// Kills the disk a few operations into recovery, then crashes it again. Recovery may fail
/// here (its disk died); it must not panic.
fn die_during_recovery(
    disk: &SimDisk,
    options: &engine::Options,
    rng: &mut ChaCha8Rng,
    seed: u64,
    report: &mut ModeReport,
) {
    let death =
        disk.operation_counts().total() + rng.random_range(0..RECOVERY_DEATH_SPAN_OPERATIONS);
    disk.inject(Fault::io_error_on_any(Trigger::From { index: death }));
    let judged = guarded(|| match open_sim(disk, options) {
        Ok(_) => Judged::Error { message: String::new(), corruption: false },
        Err(error) => Judged::Error { message: error.to_string(), corruption: false },
    });
    if let Judged::Panic(message) = judged {
        report.record_panic(seed, "recovery with a dying disk", message);
    }
    disk.crash();
    disk.clear_faults();
}

fn inject_during_workload(disk: &SimDisk, fault: OutOfModel, rng: &mut ChaCha8Rng) {
    let write = disk.operation_counts().get(Operation::Write) + rng.random_range(0..8);
    let trigger = Trigger::Once { index: write };
    match fault {
        OutOfModel::MisdirectedWrite => disk.inject(Fault::misdirected_write(trigger)),
        OutOfModel::BitFlipOnWrite => disk.inject(Fault::bit_flip_on_write(trigger)),
        OutOfModel::FlipAtRest | OutOfModel::BitFlipOnRead => {}
    }
}

fn inject_before_recovery(disk: &SimDisk, fault: OutOfModel, rng: &mut ChaCha8Rng) {
    match fault {
        OutOfModel::FlipAtRest => flip_at_rest(disk, rng),
        OutOfModel::BitFlipOnRead => {
            let read = disk.operation_counts().get(Operation::Read) + rng.random_range(0..100);
            disk.inject(Fault::bit_flip_on_read(Trigger::Once { index: read }));
        }
        OutOfModel::MisdirectedWrite | OutOfModel::BitFlipOnWrite => {}
    }
}

/// Flips one bit of the durable image: in the data file anywhere, in a log segment anywhere up
/// to its last non-zero byte (past it lies zeroed space no recovery reads as records).
fn flip_at_rest(disk: &SimDisk, rng: &mut ChaCha8Rng) {
    let candidates: Vec<(PathBuf, u64)> = disk
        .durable_image()
        .into_iter()
        .filter_map(|(path, content)| {
            let used_bytes = content.iter().rposition(|&byte| byte != 0)? as u64 + 1;
            Some((path, used_bytes))
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let (path, used_bytes) = &candidates[rng.random_range(0..candidates.len())];
    let offset = rng.random_range(0..*used_bytes);
    let bit = rng.random_range(0..8u8);
    disk.flip_bit(path, offset, bit).expect("a durable file, inside its size");
}

//! `ioerr` mode: an I/O error at every operation of a small workload.
//!
//! One iteration runs its scenario (create, commit, close, reopen, a small plan with a
//! checkpoint, close) once to count its disk operations; then, for every operation `N`, runs it
//! again three times with an error at `N`:
//!
//! 1. once (a transient error), then the database is closed and reopened on the same machine:
//!    no power loss, the disk's cache intact;
//! 2. once, then the machine crashes (the seeded crash loses, keeps or tears what the cache
//!    held) and the database is recovered;
//! 3. from `N` on (the device died), then the machine crashes and the database is recovered.
//!
//! The error is `EIO`, or `ENOSPC` for every third `N`. The database may report it or carry on
//! (a failed `commit` is in doubt; a commit acknowledged after an error must be kept); it goes on
//! for a few steps after the first error, which must keep failing or be correct; after the
//! reopen the oracle must hold.

use disk::SimDisk;
use disk::sim::{Fault, FaultTarget, Trigger};
use rustix::io::Errno;

use super::Budget;
use super::oracle::Oracle;
use super::report::ModeReport;
use super::verify::{open_sim, recover_sim};
use super::workload::{self, Profile};

/// Steps the workload goes on with after its first error.
const STEPS_AFTER_ERROR: usize = 3;

/// The workload of an iteration: larger than the exhaustive one, so that it evicts, checkpoints
/// and writes overflow pages, and small enough to run three times per disk operation.
fn profile() -> Profile {
    Profile { step_count: 24, key_count: 20, checkpoint_one_in: 8, ..Profile::tiny() }
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    OnceThenReopen,
    OnceThenCrash,
    FromThenCrash,
}

/// One iteration with `seed`: every operation, three ways.
pub(crate) fn iteration(seed: u64, budget: &Budget, report: &mut ModeReport) {
    let disk = SimDisk::with_seed(seed);
    let (_, outcome_error) = scenario(&disk, seed);
    if let Some(error) = outcome_error {
        return report.record_harness_failure(
            seed,
            "clean run",
            format!("a healthy disk failed: {error}"),
        );
    }
    let operation_count = disk.operation_counts().total();
    for index in 0..operation_count {
        for variant in [Variant::OnceThenReopen, Variant::OnceThenCrash, Variant::FromThenCrash] {
            if budget.expired() {
                return;
            }
            one(seed, index, variant, report);
        }
    }
}

fn one(seed: u64, index: u64, variant: Variant, report: &mut ModeReport) {
    let disk = SimDisk::with_seed(seed.wrapping_add(index));
    let errno = if index % 3 == 2 { Errno::NOSPC } else { Errno::IO }.raw_os_error();
    let trigger = match variant {
        Variant::OnceThenReopen | Variant::OnceThenCrash => Trigger::Once { index },
        Variant::FromThenCrash => Trigger::From { index },
    };
    disk.inject(Fault::error(FaultTarget::Any, trigger, errno));
    let (oracle, _) = scenario(&disk, seed);
    disk.clear_faults();
    if !matches!(variant, Variant::OnceThenReopen) {
        disk.crash();
    }
    let judged = recover_sim(&disk, &workload::options(), &oracle, true);
    let at = format!("error {errno} at operation {index}, {variant:?}");
    report.record_in_model(seed, &at, judged);
}

/// The scenario of `seed` on `disk`: returns its commits and the first error it met.
fn scenario(disk: &SimDisk, seed: u64) -> (Oracle, Option<String>) {
    let options = workload::options();
    let mut oracle = Oracle::new(Default::default());
    for run in [1u64, 2] {
        let profile = if run == 1 { Profile { step_count: 4, ..profile() } } else { profile() };
        let db = match open_sim(disk, &options) {
            Ok(db) => db,
            Err(error) => return (oracle, Some(error.to_string())),
        };
        let plan = workload::plan(seed.wrapping_mul(31).wrapping_add(run), &profile);
        let model = oracle.final_state();
        let outcome = workload::run(&db, &plan, &mut oracle, model, STEPS_AFTER_ERROR);
        drop(db);
        if let Some((_, error)) = outcome.first_error {
            return (oracle, Some(error));
        }
    }
    (oracle, None)
}

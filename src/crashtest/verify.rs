//! Recovering a database after a crash and judging what it holds: open (recovery), read
//! everything, `check()`, ask the oracle; then, if it matched, commit once more and reopen to
//! show that the recovered database keeps new commits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use disk::{Disk, SimDisk};
use engine::{Db, Error, Options};

use super::oracle::{Oracle, State, Verdict};
use super::report::Judged;
use super::workload::contents;

/// Where the harness keeps a database on a simulated disk.
pub const SIM_DIRECTORY: &str = "/db";

/// The key the harness commits after a recovery to see that it sticks.
const AFTER_KEY: &[u8] = b"~after-recovery";

/// Opens the database on `disk` (the simulated machine after its crash).
pub fn open_sim(disk: &SimDisk, options: &Options) -> engine::Result<Db> {
    Db::open_on(Arc::new(disk.clone()) as Arc<dyn Disk>, SIM_DIRECTORY, options.clone())
}

/// Whether `error` says the data is damaged (as opposed to an I/O failure or a misuse).
pub fn is_corruption(error: &Error) -> bool {
    matches!(
        error,
        Error::Corruption { .. }
            | Error::NotDirectdb { .. }
            | Error::Incompatible { .. }
            | Error::Pool(bufferpool::Error::Corruption { .. })
            | Error::Wal(wal::Error::Corruption { .. } | wal::Error::Incompatible { .. })
    )
}

fn judged_error(error: &Error) -> Judged {
    Judged::Error { message: error.to_string(), corruption: is_corruption(error) }
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `action`, turning a panic into [`Judged::Panic`].
pub fn guarded(action: impl FnOnce() -> Judged) -> Judged {
    match catch_unwind(AssertUnwindSafe(action)) {
        Ok(judged) => judged,
        Err(payload) => Judged::Panic(panic_message(&*payload)),
    }
}

/// Recovers the database on `disk` and judges it against `oracle`; with `keeps_new_commits`,
/// also commits once after a match and checks that the commit survives a reopen.
pub fn recover_sim(
    disk: &SimDisk,
    options: &Options,
    oracle: &Oracle,
    keeps_new_commits: bool,
) -> Judged {
    recover_sim_with_state(disk, options, oracle, keeps_new_commits).0
}

/// [`recover_sim`], returning the recovered contents too (the next round's starting state)
/// when it could read them.
pub fn recover_sim_with_state(
    disk: &SimDisk,
    options: &Options,
    oracle: &Oracle,
    keeps_new_commits: bool,
) -> (Judged, Option<State>) {
    let mut recovered = None;
    let judged = guarded(|| {
        let (judged, state) = judge(|| open_sim(disk, options), oracle, keeps_new_commits);
        recovered = state;
        judged
    });
    (judged, recovered)
}

/// Recovers the database in `directory` of the real file system and judges it; returns the
/// recovered contents too (the next round's starting state) when it could read them.
pub fn recover_real(
    directory: &Path,
    options: &Options,
    oracle: &Oracle,
) -> (Judged, Option<State>) {
    let mut recovered = None;
    let judged = guarded(|| {
        let (judged, state) = judge(|| Db::open(directory, options.clone()), oracle, true);
        recovered = state;
        judged
    });
    (judged, recovered)
}

fn judge(
    open: impl Fn() -> engine::Result<Db>,
    oracle: &Oracle,
    keeps_new_commits: bool,
) -> (Judged, Option<State>) {
    let db = match open() {
        Ok(db) => db,
        Err(error) => return (judged_error(&error), None),
    };
    let mut state = match contents(&db) {
        Ok(state) => state,
        Err(error) => return (judged_error(&error), None),
    };
    // A marker from an earlier round of this directory is not part of any commit order.
    state.remove(AFTER_KEY);
    if let Err(error) = db.check() {
        return (judged_error(&error), Some(state));
    }
    let verdict = oracle.verify(&state);
    if !keeps_new_commits || !matches!(verdict, Verdict::Matched { .. }) {
        return (Judged::Verdict(verdict), Some(state));
    }
    let judged = keeps_a_new_commit(db, &open, oracle).unwrap_or(Judged::Verdict(verdict));
    (judged, Some(state))
}

/// Commits a marker and reopens: `None` if the marker survived, else how it failed.
fn keeps_a_new_commit(
    db: Db,
    open: &impl Fn() -> engine::Result<Db>,
    oracle: &Oracle,
) -> Option<Judged> {
    let marker = format!("after {}", oracle.len()).into_bytes();
    if let Err(error) = db.put(AFTER_KEY, &marker) {
        return Some(judged_error(&error));
    }
    drop(db);
    let reopened = match open() {
        Ok(db) => db,
        Err(error) => return Some(judged_error(&error)),
    };
    match reopened.get(AFTER_KEY) {
        Ok(Some(value)) if value == marker => None,
        Ok(_) => Some(Judged::Verdict(Verdict::Lost {
            prefix: oracle.len(),
            lost: 1,
            acknowledged: oracle.acknowledged() + 1,
        })),
        Err(error) => Some(judged_error(&error)),
    }
}

//! Workloads: a seeded plan of transactions, checkpoints and checked reads, and the loop that
//! runs a plan against a database and tells the oracle what was acknowledged.
//!
//! A plan is a pure function of its seed and profile, so a kill-mode parent can rebuild the
//! plan its child ran, and a replay runs the same transactions.

use engine::{Db, Options, WalFlush};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::oracle::{Oracle, State, Writes, apply};

/// The shape of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Steps in the plan (transactions, checkpoints, reads).
    pub step_count: usize,
    /// Distinct keys: few keys make transactions overwrite and delete each other's work.
    pub key_count: u32,
    /// Most writes per transaction.
    pub writes_per_transaction_max: u32,
    /// Bytes of an ordinary value.
    pub value_bytes: usize,
    /// Bytes of a large value (overflow pages; large enough ones cross log segments sooner).
    pub large_value_bytes: usize,
    /// One write in this many is a large value.
    pub large_one_in: u32,
    /// One write in this many is a deletion.
    pub delete_one_in: u32,
    /// One step in this many is an explicit checkpoint (0: none).
    pub checkpoint_one_in: u32,
    /// One step in this many is a read checked against the model (0: none).
    pub read_one_in: u32,
}

impl Profile {
    /// A few transactions over a handful of keys, one overflow value and a checkpoint or two:
    /// small enough to crash at every disk operation and enumerate the fates of every write.
    pub fn tiny() -> Self {
        Self {
            step_count: 8,
            key_count: 6,
            writes_per_transaction_max: 3,
            value_bytes: 20,
            large_value_bytes: 5000,
            large_one_in: 8,
            delete_one_in: 5,
            checkpoint_one_in: 5,
            read_one_in: 6,
        }
    }

    /// The seeded-crash workload of `engine/tests/crash_sim.rs`: 150 transactions of up to four
    /// writes over 60 keys, one value in fifteen large.
    pub fn standard() -> Self {
        Self {
            step_count: 150,
            key_count: 60,
            writes_per_transaction_max: 4,
            value_bytes: 20,
            large_value_bytes: 5000,
            large_one_in: 15,
            delete_one_in: 6,
            checkpoint_one_in: 40,
            read_one_in: 10,
        }
    }

    /// Large values: the log crosses segments (2 MiB each in [`options`]) and checkpoints run
    /// on their own, so recovery meets several segments, recycled spares and released log.
    pub fn heavy_log() -> Self {
        Self { large_value_bytes: 48 << 10, large_one_in: 3, ..Self::standard() }
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A transaction with these writes.
    Commit(Writes),
    /// `Db::checkpoint`.
    Checkpoint,
    /// `Db::get` of this key, checked against the model.
    Read(Vec<u8>),
}

/// The database options every harness mode uses: a small pool (eviction and write-back happen
/// early), the smallest log segments, frequent checkpoints, and no background threads, so a
/// single-threaded run issues the same disk operations in the same order every time.
pub fn options() -> Options {
    Options {
        pool_size: 64 * 4096,
        wal_flush: WalFlush::Forced(engine::FlushMethod::Fdatasync),
        wal_segment_bytes: wal::limits::SEGMENT_BYTES_MIN,
        checkpoint_wal_bytes: 256 << 10,
        pool_background_writer: false,
        background_checkpoints: false,
        ..Options::default()
    }
}

/// The plan of `profile` for `seed`.
pub fn plan(seed: u64, profile: &Profile) -> Vec<Step> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..profile.step_count)
        .map(|index| {
            if one_in(&mut rng, profile.checkpoint_one_in) {
                Step::Checkpoint
            } else if one_in(&mut rng, profile.read_one_in) {
                Step::Read(key(&mut rng, profile))
            } else {
                Step::Commit(transaction(&mut rng, profile, seed, index))
            }
        })
        .collect()
}

fn one_in(rng: &mut ChaCha8Rng, odds: u32) -> bool {
    odds != 0 && rng.random_range(0..odds) == 0
}

fn key(rng: &mut ChaCha8Rng, profile: &Profile) -> Vec<u8> {
    format!("k{:04}", rng.random_range(0..profile.key_count)).into_bytes()
}

/// Values name their seed and step, so a value in the wrong place is recognisable, and are long
/// enough (or short enough) as the profile says.
fn transaction(rng: &mut ChaCha8Rng, profile: &Profile, seed: u64, index: usize) -> Writes {
    let mut writes = std::collections::BTreeMap::new();
    for _ in 0..rng.random_range(1..=profile.writes_per_transaction_max) {
        let key = key(rng, profile);
        let value = if one_in(rng, profile.delete_one_in) {
            None
        } else {
            let length = if one_in(rng, profile.large_one_in) {
                profile.large_value_bytes
            } else {
                profile.value_bytes
            };
            let mut value = format!("s{seed}-t{index}-").into_bytes();
            let fill = b'a' + u8::try_from(index % 26).expect("below 26");
            value.resize(length.max(value.len()), fill);
            Some(value)
        };
        writes.insert(key, value);
    }
    writes.into_iter().collect()
}

/// The commits of a plan, in order (for an oracle that learns acknowledgements separately).
pub fn commits(plan: &[Step]) -> impl Iterator<Item = (usize, &Writes)> {
    plan.iter().enumerate().filter_map(|(index, step)| match step {
        Step::Commit(writes) => Some((index, writes)),
        _ => None,
    })
}

/// How a run of a plan went.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// The first error the database reported, with its step.
    pub first_error: Option<(usize, String)>,
    /// Reads that returned a value the model does not have (while no commit was in doubt).
    pub wrong_reads: Vec<String>,
}

/// Runs `plan` on `db`, recording each commit in `oracle` (acknowledged if `commit` returned
/// `Ok`). After the first error it goes on for `steps_after_error` more steps (a database must
/// keep refusing, or carry on correctly), then stops. `model` is the state before the plan, for
/// checking reads.
pub fn run(
    db: &Db,
    plan: &[Step],
    oracle: &mut Oracle,
    mut model: State,
    steps_after_error: usize,
) -> RunOutcome {
    let mut outcome = RunOutcome::default();
    let mut in_doubt = false;
    for (index, step) in plan.iter().enumerate() {
        if let Some((error_index, _)) = outcome.first_error
            && index > error_index + steps_after_error
        {
            break;
        }
        let result = match step {
            Step::Commit(writes) => {
                let result = commit(db, writes);
                oracle.push(writes.clone(), result.is_ok());
                apply(&mut model, writes);
                in_doubt |= result.is_err();
                result
            }
            Step::Checkpoint => db.checkpoint(),
            Step::Read(key) => db.get(key).map(|value| {
                if !in_doubt && value.as_ref() != model.get(key) {
                    outcome.wrong_reads.push(format!(
                        "step {index}: {} read {:?}, the commits wrote {:?}",
                        String::from_utf8_lossy(key),
                        value.as_deref().map(String::from_utf8_lossy),
                        model.get(key).map(|value| String::from_utf8_lossy(value)),
                    ));
                }
            }),
        };
        if let Err(error) = result
            && outcome.first_error.is_none()
        {
            outcome.first_error = Some((index, error.to_string()));
        }
    }
    outcome
}

/// One transaction with `writes`.
pub fn commit(db: &Db, writes: &Writes) -> engine::Result<()> {
    let mut transaction = db.begin()?;
    for (key, value) in writes {
        match value {
            Some(value) => transaction.put(key, value)?,
            None => transaction.delete(key)?,
        }
    }
    transaction.commit()
}

/// Everything the database holds, as of now.
pub fn contents(db: &Db) -> engine::Result<State> {
    db.snapshot()?.range(..)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_a_function_of_its_seed() {
        assert_eq!(plan(3, &Profile::standard()), plan(3, &Profile::standard()));
        assert_ne!(plan(3, &Profile::standard()), plan(4, &Profile::standard()));
        let steps = plan(5, &Profile::standard());
        assert!(commits(&steps).count() > 100, "mostly transactions");
    }
}

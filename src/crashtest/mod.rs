//! The crash-consistency harness behind `directdb crashtest`: it crashes, kills and fails the
//! disk under a database in every way the crash model allows, recovers, and checks with an
//! oracle that no acknowledged commit was lost, no partial or out-of-order commit appeared, and
//! every fault outside the model was reported as corruption rather than served as data.
//!
//! | module          | what it holds                                                           |
//! |-----------------|-------------------------------------------------------------------------|
//! | [`oracle`]      | the commit order and which commits were acknowledged; judges a state     |
//! | [`workload`]    | seeded plans of transactions, checkpoints and checked reads              |
//! | [`verify`]      | recovery, `check()`, the oracle, and a commit after recovery             |
//! | `sim`           | seeded random crashes on `SimDisk`, again during recovery, and bit flips and misdirected writes (out of the model) |
//! | `exhaustive`    | a crash at every disk operation, with the fates of the writes in flight enumerated |
//! | `ioerr`         | an I/O error at every operation, once and for good                       |
//! | `kill`          | SIGKILL of a child process running on a real directory with direct I/O |
//! | [`report`]      | the counts of one mode and the replay line of each failure               |
//! | [`fuzz`]        | the entry points of the cargo-fuzz targets that run a whole database     |
//!
//! Every mode derives everything from a seed: iteration `i` runs with seed `seed + i`, and a
//! failure prints `directdb crashtest --mode M --seed S --iterations 1`, which replays it (kill
//! mode replays the workload, not the moment of the kill).
//!
//! ```
//! use directdb::crashtest::{Config, Mode, run};
//!
//! let report = run(Mode::Sim, &Config { seed: 1, iterations: Some(1), ..Config::default() });
//! assert!(report.passed(), "{report}");
//! ```

mod exhaustive;
pub mod fuzz;
mod ioerr;
pub mod kill;
pub mod oracle;
pub mod report;
mod sim;
pub mod verify;
pub mod workload;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

pub use report::{Failure, ModeReport};

/// One way of exploring crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Seeded random crashes on the simulated disk, including crashes during recovery, and
    /// out-of-model faults (bit flips, misdirected writes) that must be detected.
    #[default]
    Sim,
    /// A small workload crashed at every disk operation, with the fates of the writes in
    /// flight enumerated (every subset lost or kept, and torn variants), deduplicated by the
    /// disk image they leave.
    Exhaustive,
    /// An I/O error (EIO, ENOSPC) at every operation of a workload, once and persistently.
    Ioerr,
    /// A child process on a real directory with direct I/O, killed with SIGKILL at random.
    Kill,
}

impl Mode {
    /// Every mode, in the order `--mode all` runs them.
    pub const ALL: [Mode; 4] = [Mode::Sim, Mode::Exhaustive, Mode::Ioerr, Mode::Kill];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sim => "sim",
            Mode::Exhaustive => "exhaustive",
            Mode::Ioerr => "ioerr",
            Mode::Kill => "kill",
        }
    }

    /// Iterations when neither `--iterations` nor `--seconds` is given.
    fn default_iterations(self) -> u64 {
        match self {
            Mode::Sim => 20,
            Mode::Exhaustive | Mode::Ioerr => 1,
            Mode::Kill => 10,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.name() == name)
            .ok_or_else(|| format!("unknown mode {name:?} (sim, exhaustive, ioerr, kill)"))
    }
}

/// What a run explores and for how long.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The first iteration's seed; iteration `i` uses `seed + i`.
    pub seed: u64,
    /// Iterations at most (default: a few, or unbounded with `seconds`).
    pub iterations: Option<u64>,
    /// Seconds at most (an iteration under way finishes; at least one runs).
    pub seconds: Option<f64>,
    /// The `directdb` binary that kill mode runs as its child (default: this executable).
    pub program: Option<PathBuf>,
    /// Where kill mode makes its databases (default: the system's temporary directory).
    pub directory: Option<PathBuf>,
    /// Names of planted bugs kill mode's children plant (`planted-bugs` builds only).
    pub child_bugs: Vec<String>,
}

/// When a mode stops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    iterations_max: u64,
    deadline: Option<Instant>,
}

impl Budget {
    fn new(mode: Mode, config: &Config) -> Self {
        let iterations_max = match (config.iterations, config.seconds) {
            (Some(iterations), _) => iterations,
            (None, Some(_)) => u64::MAX,
            (None, None) => mode.default_iterations(),
        };
        let deadline =
            config.seconds.map(|seconds| Instant::now() + Duration::from_secs_f64(seconds));
        Self { iterations_max, deadline }
    }

    /// Whether iteration `done` (0-based) may start: the first always does.
    pub(crate) fn allows(&self, done: u64) -> bool {
        done == 0 || (done < self.iterations_max && !self.expired())
    }

    /// Whether the time is up (an iteration checks this between its states).
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// Runs one mode and reports what it found.
pub fn run(mode: Mode, config: &Config) -> ModeReport {
    let started = Instant::now();
    let budget = Budget::new(mode, config);
    let mut report = ModeReport::new(mode, config.seed);
    let mut done = 0;
    while budget.allows(done) {
        let seed = config.seed.wrapping_add(done);
        match mode {
            Mode::Sim => sim::iteration(seed, &mut report),
            Mode::Exhaustive => exhaustive::iteration(seed, &budget, &mut report),
            Mode::Ioerr => ioerr::iteration(seed, &budget, &mut report),
            Mode::Kill => kill::iteration(seed, config, &mut report),
        }
        done += 1;
        report.iterations = done;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs every mode, splitting `config.seconds` (if given) evenly among them.
pub fn run_all(config: &Config) -> Vec<ModeReport> {
    let share = Config {
        seconds: config.seconds.map(|seconds| seconds / Mode::ALL.len() as f64),
        ..config.clone()
    };
    Mode::ALL.into_iter().map(|mode| run(mode, &share)).collect()
}

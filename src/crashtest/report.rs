//! What one mode of the harness found: counts, and the first failures with how to replay them.

use std::fmt;

use super::Mode;
use super::oracle::Verdict;

/// Failures kept in a report with their replay line; the counts keep counting past it.
const FAILURES_KEPT_MAX: usize = 20;

/// One failed state, with what it takes to see it again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The iteration's seed.
    pub seed: u64,
    /// Where in the iteration (crash point, fates, operation index).
    pub at: String,
    /// What went wrong.
    pub what: String,
    /// The command that replays the iteration.
    pub replay: String,
}

/// The counts of one mode.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ModeReport {
    /// The mode.
    pub mode: Mode,
    /// The first seed.
    pub seed: u64,
    /// Iterations run (one workload each; a kill-mode iteration is one child).
    pub iterations: u64,
    /// Crash states recovered and judged (one per recovery the oracle checked).
    pub states_explored: u64,
    /// Child processes killed with SIGKILL (kill mode).
    pub kills: u64,
    /// Of those, children killed while opening their database: during recovery.
    pub kills_during_recovery: u64,
    /// Commits acknowledged before the crashes, summed over the states.
    pub commits_acknowledged: u64,
    /// Of those, commits found after recovery.
    pub commits_recovered: u64,
    /// Of those, commits missing after recovery.
    pub commits_lost: u64,
    /// States no prefix of the commit order explains (partial or out-of-order commits).
    pub holes: u64,
    /// Reads during a workload that returned a value the commits never wrote.
    pub wrong_reads: u64,
    /// In-model crashes after which the database refused to open or failed its check (nothing
    /// in the crash model excuses that).
    pub recovery_errors: u64,
    /// Panics in the database (never acceptable, whatever the disk did).
    pub panics: u64,
    /// Out-of-model faults injected (bit flips, misdirected writes).
    pub corruptions_injected: u64,
    /// Of those, faults the database reported as an error.
    pub corruptions_detected: u64,
    /// Of those, faults after which the database served a state the oracle rejects without
    /// an error: silently wrong or missing data.
    pub corruptions_undetected: u64,
    /// Of the detected ones, those reported by an error that does not call itself corruption
    /// (an I/O error from reading past a damaged length, say).
    pub corruptions_detected_as_other_error: u64,
    /// Of those, faults that changed nothing the oracle can see (unused space, a stale copy).
    pub corruptions_harmless: u64,
    /// Wall-clock seconds the mode ran.
    pub seconds: f64,
    /// The first failures, each with its replay command.
    pub failures: Vec<Failure>,
}

/// How one recovered state came out.
#[derive(Clone, Debug)]
pub enum Judged {
    /// The database opened, passed its check, and the oracle judged its contents.
    Verdict(Verdict),
    /// The database reported an error (open, read or check); `corruption` if it called it
    /// corruption.
    Error {
        /// The error's message.
        message: String,
        /// Whether the error says the data is damaged.
        corruption: bool,
    },
    /// The database panicked.
    Panic(String),
}

impl ModeReport {
    /// An empty report for `mode` starting at `seed`.
    pub fn new(mode: Mode, seed: u64) -> Self {
        Self { mode, seed, ..Self::default() }
    }

    /// Whether nothing was lost, no hole or wrong read appeared, every recovery worked, nothing
    /// panicked and every out-of-model fault was detected or harmless.
    pub fn passed(&self) -> bool {
        self.commits_lost == 0
            && self.holes == 0
            && self.wrong_reads == 0
            && self.recovery_errors == 0
            && self.panics == 0
            && self.corruptions_undetected == 0
    }

    /// The command that replays iteration `seed` of this mode.
    pub fn replay(&self, seed: u64) -> String {
        format!("directdb crashtest --mode {} --seed {seed} --iterations 1", self.mode)
    }

    fn fail(&mut self, seed: u64, at: &str, what: String) {
        if self.failures.len() < FAILURES_KEPT_MAX {
            let replay = self.replay(seed);
            self.failures.push(Failure { seed, at: at.to_owned(), what, replay });
        }
    }

    /// Records a state recovered after an in-model crash (nothing outside the crash model was
    /// done to the disk): anything but a match is a failure.
    pub(crate) fn record_in_model(&mut self, seed: u64, at: &str, judged: Judged) {
        self.states_explored += 1;
        match judged {
            Judged::Verdict(verdict) => self.record_verdict(seed, at, verdict),
            Judged::Error { message, .. } => {
                self.recovery_errors += 1;
                self.fail(seed, at, format!("recovery or check failed: {message}"));
            }
            Judged::Panic(message) => {
                self.panics += 1;
                self.fail(seed, at, format!("panic: {message}"));
            }
        }
    }

    fn record_verdict(&mut self, seed: u64, at: &str, verdict: Verdict) {
        match verdict {
            Verdict::Matched { acknowledged, .. } => {
                self.commits_acknowledged += acknowledged as u64;
                self.commits_recovered += acknowledged as u64;
            }
            Verdict::Lost { lost, acknowledged, prefix } => {
                self.commits_acknowledged += acknowledged as u64;
                self.commits_recovered += (acknowledged - lost) as u64;
                self.commits_lost += lost as u64;
                self.fail(
                    seed,
                    at,
                    format!("{lost} of {acknowledged} acknowledged commits lost (state after {prefix} commits)"),
                );
            }
            Verdict::Hole { acknowledged } => {
                self.commits_acknowledged += acknowledged as u64;
                self.holes += 1;
                self.fail(
                    seed,
                    at,
                    "the recovered state is no prefix of the commit order (partial or out-of-order commits)"
                        .into(),
                );
            }
        }
    }

    /// Records a state recovered after an out-of-model fault: an error is a detection, a match
    /// means the fault was harmless, anything else went undetected.
    pub(crate) fn record_out_of_model(&mut self, seed: u64, at: &str, judged: Judged) {
        self.states_explored += 1;
        self.corruptions_injected += 1;
        match judged {
            Judged::Verdict(Verdict::Matched { acknowledged, .. }) => {
                self.corruptions_harmless += 1;
                self.commits_acknowledged += acknowledged as u64;
                self.commits_recovered += acknowledged as u64;
            }
            Judged::Verdict(verdict) => {
                self.corruptions_undetected += 1;
                self.fail(seed, at, format!("undetected corruption: {verdict:?}"));
            }
            Judged::Error { corruption, .. } => {
                self.corruptions_detected += 1;
                self.corruptions_detected_as_other_error += u64::from(!corruption);
            }
            Judged::Panic(message) => {
                self.panics += 1;
                self.fail(seed, at, format!("panic on damaged data: {message}"));
            }
        }
    }

    /// Records reads during a workload that returned what no commit wrote.
    pub(crate) fn record_wrong_reads(&mut self, seed: u64, at: &str, wrong: &[String]) {
        self.wrong_reads += wrong.len() as u64;
        if let Some(first) = wrong.first() {
            self.fail(seed, at, format!("wrong read: {first}"));
        }
    }

    /// Records a panic outside a judged state (a recovery cut short on purpose).
    pub(crate) fn record_panic(&mut self, seed: u64, at: &str, message: String) {
        self.panics += 1;
        self.fail(seed, at, format!("panic: {message}"));
    }

    /// Records a failure that is not about one state (a child that would not start).
    pub(crate) fn record_harness_failure(&mut self, seed: u64, at: &str, what: String) {
        self.recovery_errors += 1;
        self.fail(seed, at, what);
    }
}

impl fmt::Display for ModeReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "ok" } else { "FAILED" };
        writeln!(
            formatter,
            "mode {}: {verdict} ({:.1} s, first seed {})",
            self.mode, self.seconds, self.seed
        )?;
        let rows: [(&str, u64); 17] = [
            ("iterations", self.iterations),
            ("states explored", self.states_explored),
            ("kills", self.kills),
            ("  during recovery", self.kills_during_recovery),
            ("commits acknowledged", self.commits_acknowledged),
            ("commits recovered", self.commits_recovered),
            ("commits lost", self.commits_lost),
            ("holes", self.holes),
            ("wrong reads", self.wrong_reads),
            ("recovery errors", self.recovery_errors),
            ("panics", self.panics),
            ("corruptions injected", self.corruptions_injected),
            ("corruptions detected", self.corruptions_detected),
            ("  as other errors", self.corruptions_detected_as_other_error),
            ("corruptions undetected", self.corruptions_undetected),
            ("corruptions harmless", self.corruptions_harmless),
            ("failures listed", self.failures.len() as u64),
        ];
        for (label, value) in rows {
            writeln!(formatter, "  {label:<24}{value}")?;
        }
        for failure in &self.failures {
            writeln!(formatter, "  seed {} at {}: {}", failure.seed, failure.at, failure.what)?;
            writeln!(formatter, "    replay: {}", failure.replay)?;
        }
        Ok(())
    }
}

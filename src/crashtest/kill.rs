//! `kill` mode: real process kills on a real directory with direct I/O.
//!
//! One iteration is a round of [`KILLS_PER_ROUND`] children on one fresh directory. Each child
//! (`directdb crashtest-child`, hidden) opens the database — recovering whatever the previous
//! child left — and runs a seeded plan, printing a line on stdout for each acknowledged commit:
//!
//! ```text
//! opening         the database is being opened (recovery starts)
//! open            the database is open (recovery done)
//! ack 17          step 17's commit returned Ok
//! done            the plan ran to its end
//! error <reason>  the child gave up (open or a step failed)
//! ```
//!
//! The parent kills it with SIGKILL at a random moment (a quarter of the time during its
//! recovery, timed from the previous children's; see `kill_at_random`), reads every line the child got into the pipe, rebuilds the child's plan from its seed, and
//! recovers and judges the database: every commit the child printed as acknowledged must be
//! there, in a prefix of the plan's order. The recovered state is the next child's starting
//! state.
//!
//! A process kill loses no write the kernel accepted, so this mode tests the engine's
//! in-memory state machine under abrupt death (buffers never written, a half-done checkpoint),
//! not the device; the simulated modes test the device.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engine::{Db, Options};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Config;
use super::oracle::{Oracle, State};
use super::report::{Judged, ModeReport};
use super::verify::recover_real;
use super::workload::{self, Profile, Step};

/// Children killed on one directory before the round starts over on a fresh one.
pub const KILLS_PER_ROUND: u64 = 10;
/// The longest a child runs before it is killed, in milliseconds.
const KILL_DELAY_MS_MAX: u64 = 80;
/// How long the parent waits for a child that should have died or finished.
const CHILD_WAIT_MAX: Duration = Duration::from_secs(60);

/// The child's workload: long enough that the kill comes first.
fn profile() -> Profile {
    Profile { step_count: 2000, key_count: 200, ..Profile::standard() }
}

/// The options of the child and of the parent's recoveries: the harness's, on direct I/O with
/// the pool's background writer running (a kill replays nothing, so determinism buys nothing
/// here, and the writer's concurrent write-back is part of what a kill must survive).
pub fn options() -> Options {
    Options { pool_background_writer: true, background_checkpoints: true, ..workload::options() }
}

/// The child's seed for kill `kill` of round `seed`.
fn child_seed(seed: u64, kill: u64) -> u64 {
    seed.wrapping_mul(1_000).wrapping_add(kill)
}

/// One round with `seed`.
pub(crate) fn iteration(seed: u64, config: &Config, report: &mut ModeReport) {
    let directory = round_directory(config, seed);
    let _ = std::fs::remove_dir_all(&directory);
    if let Err(error) = std::fs::create_dir_all(&directory) {
        return report.record_harness_failure(
            seed,
            "setup",
            format!("creating {}: {error}", directory.display()),
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut base = State::new();
    // How long a child's recovery takes (from "opening" to "open"), learned as the round goes.
    let mut recovery = Duration::from_millis(5);
    for kill in 0..KILLS_PER_ROUND {
        match one_kill(config, &directory, seed, kill, &mut rng, &mut recovery, &base, report) {
            Some(state) => base = state,
            None => break,
        }
    }
    let _ = std::fs::remove_dir_all(&directory);
}

fn round_directory(config: &Config, seed: u64) -> PathBuf {
    let parent = config.directory.clone().unwrap_or_else(std::env::temp_dir);
    parent.join(format!("directdb-crashtest-{}-{seed}", std::process::id()))
}

/// One child, killed; returns the recovered state, or `None` if the round cannot go on.
#[expect(clippy::too_many_arguments, reason = "one kill's inputs, each used once")]
fn one_kill(
    config: &Config,
    directory: &Path,
    seed: u64,
    kill: u64,
    rng: &mut ChaCha8Rng,
    recovery: &mut Duration,
    base: &State,
    report: &mut ModeReport,
) -> Option<State> {
    let child_seed = child_seed(seed, kill);
    let at = format!("kill {kill} (child seed {child_seed})");
    let lines = match run_child(config, directory, child_seed, rng, recovery) {
        Ok(lines) => lines,
        Err(message) => {
            report.record_harness_failure(seed, &at, message);
            return None;
        }
    };
    if let Some(error) = lines.iter().find_map(|line| line.strip_prefix("error ")) {
        report.record_harness_failure(seed, &at, format!("the child failed: {error}"));
        return None;
    }
    if !lines.iter().any(|line| line == "done") {
        report.kills += 1;
        let opening = lines.iter().any(|line| line == "opening");
        let open = lines.iter().any(|line| line == "open");
        report.kills_during_recovery += u64::from(opening && !open);
    }
    let plan = workload::plan(child_seed, &profile());
    let mut oracle = Oracle::new(base.clone());
    let mut commit_index_of_step = std::collections::BTreeMap::new();
    for (step, writes) in workload::commits(&plan) {
        commit_index_of_step.insert(step, oracle.len());
        oracle.push(writes.clone(), false);
    }
    for line in &lines {
        let Some(step) = line.strip_prefix("ack ").and_then(|step| step.parse::<usize>().ok())
        else {
            continue;
        };
        match commit_index_of_step.get(&step) {
            Some(&index) => oracle.acknowledge(index),
            None => {
                report.record_harness_failure(
                    seed,
                    &at,
                    format!("the child acknowledged step {step}, which is no commit"),
                );
                return None;
            }
        }
    }
    let (judged, state) = recover_real(directory, &options(), &oracle);
    let matched = matches!(judged, Judged::Verdict(super::oracle::Verdict::Matched { .. }));
    report.record_in_model(seed, &at, judged);
    if matched { state } else { None }
}

/// Starts a child, kills it after a random delay, and returns the lines it printed.
fn run_child(
    config: &Config,
    directory: &Path,
    child_seed: u64,
    rng: &mut ChaCha8Rng,
    recovery: &mut Duration,
) -> Result<Vec<String>, String> {
    let program = match &config.program {
        Some(program) => program.clone(),
        None => {
            std::env::current_exe().map_err(|error| format!("finding this executable: {error}"))?
        }
    };
    let mut command = Command::new(&program);
    command
        .arg("crashtest-child")
        .arg("--dir")
        .arg(directory)
        .arg("--seed")
        .arg(child_seed.to_string());
    for bug in &config.child_bugs {
        command.arg("--plant").arg(bug);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting {}: {error}", program.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let lines = kill_at_random(&mut child, &receiver, rng, recovery)?;
    let _ = reader.join();
    Ok(lines)
}

/// Kills the child at a moment chosen by `rng`: a quarter of the time during its recovery
/// (between "opening" and "open", a span estimated from the previous children), a quarter early
/// in its workload, and the rest anywhere in its first [`KILL_DELAY_MS_MAX`] milliseconds.
/// Returns every line the child printed.
fn kill_at_random(
    child: &mut Child,
    receiver: &mpsc::Receiver<String>,
    rng: &mut ChaCha8Rng,
    recovery: &mut Duration,
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let delay = match rng.random_range(0..4) {
        0 => {
            wait_for(receiver, "opening", &mut lines);
            rng.random_range(Duration::ZERO..*recovery + Duration::from_micros(1))
        }
        1 => {
            let opening = wait_for(receiver, "opening", &mut lines);
            let open = wait_for(receiver, "open", &mut lines);
            if let (Some(opening), Some(open)) = (opening, open) {
                *recovery = open.duration_since(opening);
            }
            rng.random_range(Duration::ZERO..Duration::from_millis(KILL_DELAY_MS_MAX / 4))
        }
        _ => rng.random_range(Duration::ZERO..Duration::from_millis(KILL_DELAY_MS_MAX)),
    };
    std::thread::sleep(delay);
    kill(child)?;
    // The child is dead: the pipe holds whatever else it printed, and the reader ends at EOF.
    lines.extend(receiver.iter());
    Ok(lines)
}

/// Waits for the line `wanted`, keeping every line read; returns when it came, or `None` if the
/// child failed, went away or took too long.
fn wait_for(
    receiver: &mpsc::Receiver<String>,
    wanted: &str,
    lines: &mut Vec<String>,
) -> Option<Instant> {
    let deadline = Instant::now() + CHILD_WAIT_MAX;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let line = receiver.recv_timeout(left).ok()?;
        let found = line == wanted;
        let failed = line.starts_with("error ");
        lines.push(line);
        if found {
            return Some(Instant::now());
        }
        if failed {
            return None;
        }
    }
    None
}

/// SIGKILL (unless the child already exited), then reap it.
fn kill(child: &mut Child) -> Result<(), String> {
    if child.try_wait().map_err(|error| format!("polling the child: {error}"))?.is_none() {
        // An error here means it exited in between: reaping it below is all that is left.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::KILL,
        );
    }
    child.wait().map_err(|error| format!("reaping the child: {error}"))?;
    Ok(())
}

/// The child's side: opens the database in `directory`, runs the plan of `seed`, and prints
/// what it acknowledged (see the module documentation). Returns an error after printing it.
pub fn child(directory: &Path, seed: u64) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    let mut say = |line: &str| {
        // The parent reads every line; if it is gone, nobody needs them.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    };
    say("opening");
    let db = match Db::open(directory, options()) {
        Ok(db) => db,
        Err(error) => {
            let message = format!("open: {error}");
            say(&format!("error {message}"));
            return Err(message);
        }
    };
    say("open");
    for (index, step) in workload::plan(seed, &profile()).iter().enumerate() {
        let result = match step {
            Step::Commit(writes) => {
                workload::commit(&db, writes).map(|()| say(&format!("ack {index}")))
            }
            Step::Checkpoint => db.checkpoint(),
            Step::Read(key) => db.get(key).map(drop),
        };
        if let Err(error) = result {
            let message = format!("step {index}: {error}");
            say(&format!("error {message}"));
            return Err(message);
        }
    }
    say("done");
    Ok(())
}

//! `directdb crashtest [--mode sim|exhaustive|kill|ioerr|all] [--iterations N] [--seed S]
//! [--seconds T] [--json]`: the crash-consistency harness (`directdb::crashtest`). Prints, per
//! mode, the states explored, kills, commits acknowledged, recovered and lost, holes, and
//! corruptions detected and undetected, with a replay command for each failure; exits non-zero
//! on any loss, hole, failed recovery, panic or undetected corruption.

use std::path::PathBuf;

use directdb::crashtest::{self, Config, Mode, ModeReport};

use super::{CliError, Format, output};

/// Which modes to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// Seeded random crashes on the simulated disk, crashes during recovery, bit flips and
    /// misdirected writes.
    Sim,
    /// A small workload crashed at every disk operation, with the fates of the writes in flight
    /// enumerated.
    Exhaustive,
    /// An I/O error at every operation of a workload, once and persistently.
    Ioerr,
    /// A child process on a real directory with direct I/O, killed with SIGKILL at random.
    Kill,
    /// Every mode, the time split evenly.
    All,
}

/// Arguments of `directdb crashtest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The mode to run.
    #[arg(long, value_enum, default_value = "all")]
    mode: ModeArg,
    /// Iterations per mode (default: a few; unbounded with --seconds).
    #[arg(long)]
    iterations: Option<u64>,
    /// The first iteration's seed (iteration i uses seed + i); a failure prints the seed that
    /// replays it with --iterations 1.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seconds to run in all (split among the modes with --mode all).
    #[arg(long)]
    seconds: Option<f64>,
    /// Where kill mode makes its databases (default: the system's temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Plant a bug (builds with the `planted-bugs` feature only): skip-wal-flush,
    /// skip-segment-dir-sync, accept-torn-tail, skip-checkpoint-flush.
    #[arg(long, hide = true)]
    plant: Vec<String>,
}

/// The JSON report.
#[derive(serde::Serialize)]
struct Report {
    passed: bool,
    modes: Vec<ModeReport>,
}

/// Runs the harness and writes the report; any failure is an error (exit 1).
pub(crate) fn run(args: Args, format: Format) -> Result<(), CliError> {
    keep_freed_memory();
    plant(&args.plant)?;
    let config = Config {
        seed: args.seed,
        iterations: args.iterations,
        seconds: args.seconds,
        program: None,
        directory: args.dir,
        child_bugs: args.plant,
    };
    let modes = match args.mode {
        ModeArg::All => crashtest::run_all(&config),
        ModeArg::Sim => vec![crashtest::run(Mode::Sim, &config)],
        ModeArg::Exhaustive => vec![crashtest::run(Mode::Exhaustive, &config)],
        ModeArg::Ioerr => vec![crashtest::run(Mode::Ioerr, &config)],
        ModeArg::Kill => vec![crashtest::run(Mode::Kill, &config)],
    };
    let report = Report { passed: modes.iter().all(ModeReport::passed), modes };
    output::emit(format, &report, |report| {
        report.modes.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    })?;
    if report.passed {
        Ok(())
    } else {
        let failed: Vec<&str> = report
            .modes
            .iter()
            .filter(|mode| !mode.passed())
            .map(|mode| mode.mode.name())
            .collect();
        Err(CliError::Crashtest(format!("failures in mode {}", failed.join(", "))))
    }
}

/// Plants the named bugs in this process (the simulated modes run here).
pub(crate) fn plant(names: &[String]) -> Result<(), CliError> {
    let mut bugs = Vec::new();
    for name in names {
        match engine::planted::Bug::from_name(name) {
            Some(bug) => bugs.push(bug),
            None => return Err(CliError::Crashtest(format!("no planted bug is named {name:?}"))),
        }
    }
    if bugs.is_empty() {
        return Ok(());
    }
    #[cfg(feature = "planted-bugs")]
    {
        bugs.into_iter().for_each(engine::planted::plant);
        Ok(())
    }
    #[cfg(not(feature = "planted-bugs"))]
    Err(CliError::Crashtest(
        "this build has no planted bugs (build with --features planted-bugs)".into(),
    ))
}

/// Asks glibc's allocator to keep freed memory instead of returning it to the kernel. Every
/// explored state copies the simulated disk (a few MiB: a 2 MiB log segment and the data file)
/// and frees the copies again; with the default thresholds each copy is a fresh `mmap` or a
/// heap that shrinks and grows, and page faults and zeroing took half the run (measured with
/// `perf`: 2.8 times as many exhaustive states per second with the memory kept).
fn keep_freed_memory() {
    /// glibc's largest mmap threshold on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`).
    const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;
    /// Heap tops up to this size are kept after a free.
    const TRIM_THRESHOLD_BYTES: i32 = 1 << 30;
    // SAFETY: mallopt only changes allocator parameters; it has no memory-safety preconditions
    // and glibc serialises it with allocation. A failure (another libc) leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
    }
}

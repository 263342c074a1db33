//! Each I/O mode (or other engine) of a workload benchmark (`bench ycsb`, `bench tpcc`) loads
//! and runs in a process of its own, held to the memory budget.
//!
//! The parent creates a memory cgroup whose limit is the most any of the mode's phases may have
//! (see [`crate::bench::memory_budget`]), starts `directdb bench-child` with a [`ChildRequest`]
//! as JSON on its stdin, and reads the mode's report as JSON from its stdout. The child joins
//! the cgroup before it opens anything ([`serve`]), and before each phase's open sets the
//! phase's limit and resets the cgroup's peak, which it reads after the phase's close
//! ([`PhaseMeter`]): the report of each phase carries its limit and peak. A process per mode
//! also starts every mode with a fresh heap, so one mode's freed memory is not another's. The
//! request says which benchmark it is ([`Benchmark`]) and what limit each phase gets
//! ([`PhaseLimits`]); the report is that benchmark's report of one mode, whose process-wide
//! memory ([`ModeMemory`]) the parent fills in from the cgroup.
//!
//! The child runs with `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own
//! arena, and with a dozen threads the arenas' free lists held 10-20 MiB more than the heap
//! needed (measured: 30-40 MiB of heap besides an 8 MiB pool, 22 MiB with two arenas), memory
//! the limit would otherwise take from the caches.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use serde::de::DeserializeOwned;

use crate::bench::memory_budget::{MemoryReport, ModeMemory, PhaseLimits, PhaseMeter};
use crate::bench::memory_limit::{self, CgroupFiles, MemoryCgroup};
use crate::bench::tpcc;
use crate::bench::ycsb::{self, Progress};

/// Whether each mode runs in a child process (the command line) or in this one (tests, whose
/// executable is not `directdb`, and which must not depend on being root).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Isolation {
    InProcess,
    ChildProcesses,
}

/// Which benchmark a child runs, with what it needs to run one mode of it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Benchmark {
    Ycsb(ycsb::ModeRequest),
    Tpcc(tpcc::ModeRequest),
}

impl Benchmark {
    /// The run may drop the kernel's caches, which is system-wide (not with `--keep-caches`).
    fn drop_caches(&self) -> bool {
        match self {
            Benchmark::Ycsb(mode) => mode.options.drop_caches,
            Benchmark::Tpcc(mode) => mode.options.drop_caches,
        }
    }
}

/// What the parent asks of a child.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChildRequest {
    pub(crate) benchmark: Benchmark,
    /// The cgroup to join first (`cgroup.procs`), when the budget is enforced.
    pub(crate) cgroup_procs: Option<PathBuf>,
    /// The limit of each phase, set in the cgroup before the phase's open.
    pub(crate) limits: PhaseLimits,
    pub(crate) progress: bool,
}

/// Runs `benchmark`'s mode `label` in a child process under the memory limits `limits` (each
/// phase's), when a cgroup can be made (as root); unlimited otherwise, and the report's memory
/// says why. `raise_with` is the flag that raises the limits, named if a limit kills the child.
/// The report (a [`MemoryReport`], which the child sends back as JSON) gets the memory of the
/// child's process from the parent, outside the cgroup, which reads the peak after the child's
/// last phase.
pub(crate) fn run_in_child<R: DeserializeOwned + MemoryReport>(
    benchmark: Benchmark,
    label: &str,
    (limits, raise_with): (PhaseLimits, &str),
    progress: Progress,
) -> Result<R, String> {
    let name = format!("directdb-bench-{}-{label}", std::process::id());
    let cgroup = MemoryCgroup::create(&name, limits.process_bytes);
    let request = ChildRequest {
        benchmark,
        cgroup_procs: cgroup.as_ref().ok().map(MemoryCgroup::procs_path),
        limits,
        progress: progress.is_enabled(),
    };
    let output = spawn_and_wait(&request, label)?;
    if !output.status.success() {
        return Err(failure_message(label, &cgroup, output.status, raise_with));
    }
    let mut report: R = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("reading the {label} run's report: {error}"))?;
    let phases = report.phase_memories();
    let peak_per_phase =
        !phases.is_empty() && phases.iter().all(|(_, phase)| phase.peak_bytes.is_some());
    let memory = report.memory_mut();
    *memory = match &cgroup {
        Ok(cgroup) => ModeMemory {
            pool_bytes: memory.pool_bytes,
            limit_bytes: Some(cgroup.limit_bytes()),
            // The child's readings up to its last phase's end; the cgroup's, since its last
            // reset, covers the rest of its life.
            peak_bytes: memory.peak_bytes.max(cgroup.peak_bytes()),
            peak_per_phase,
            enforced: true,
            how: cgroup.describe(),
        },
        Err(reason) => ModeMemory {
            enforced: false,
            how: format!("not enforced: {reason}"),
            ..ModeMemory::in_process(memory.pool_bytes)
        },
    };
    Ok(report)
}

/// Starts `directdb bench-child`, hands it `request` on stdin (closed after it, which the
/// child reads to its end) and waits for it, stdout collected.
fn spawn_and_wait(request: &ChildRequest, label: &str) -> Result<std::process::Output, String> {
    let executable = std::env::current_exe()
        .map_err(|error| format!("finding this program to start a child: {error}"))?;
    let mut child = Command::new(&executable)
        .arg("bench-child")
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("starting {} bench-child: {error}", executable.display()))?;
    let json = serde_json::to_vec(request).map_err(|error| error.to_string())?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&json)
        .map_err(|error| format!("sending the {label} run its request: {error}"))?;
    child.wait_with_output().map_err(|error| format!("waiting for the {label} run: {error}"))
}

/// Why the child of `label` failed: over its memory limit when the cgroup killed it (the
/// message names the limit and the flag that raises it), otherwise its own error, which it
/// printed on the stderr it shares with the parent.
fn failure_message(
    label: &str,
    cgroup: &Result<MemoryCgroup, String>,
    status: ExitStatus,
    raise_with: &str,
) -> String {
    let over_limit = cgroup
        .as_ref()
        .ok()
        .filter(|cgroup| cgroup.oom_kill_count().unwrap_or(0) > 0)
        .map(|cgroup| memory_limit::mib(cgroup.limit_bytes_now()));
    match over_limit {
        Some(limit) => format!(
            "the {label} run went over its memory limit of {limit} and was killed: its heap \
             outgrew what the limit leaves beside its cache (raise the limit with {raise_with})"
        ),
        None => format!("the {label} run failed ({status}); its error is above"),
    }
}

/// The child's side (`directdb bench-child`): joins the cgroup, runs the mode (each phase under
/// its limit), returns its report as JSON.
pub(crate) fn serve(request_json: &str) -> Result<String, String> {
    let request: ChildRequest = serde_json::from_str(request_json)
        .map_err(|error| format!("bench-child: reading the request: {error}"))?;
    let cgroup = match &request.cgroup_procs {
        Some(procs) => {
            memory_limit::join(procs)?;
            Some(CgroupFiles::of_procs(procs)?)
        }
        None => None,
    };
    let drop_caches = request.benchmark.drop_caches();
    let mut meter = PhaseMeter::in_cgroup(cgroup, request.limits, drop_caches);
    let progress = Progress::new(request.progress);
    let report = match &request.benchmark {
        Benchmark::Ycsb(mode) => serde_json::to_string(&mode.run(progress, &mut meter)?),
        Benchmark::Tpcc(mode) => serde_json::to_string(&mode.run(progress, &mut meter)?),
    };
    report.map_err(|error| format!("bench-child: writing the report: {error}"))
}

/// `durability` as its `--durability` name in a child's request.
pub(crate) mod durability_serde {
    use engine::Durability;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::bench::ycsb::{durability_name, parse_durability};

    pub(crate) fn serialize<S: Serializer>(
        durability: &Durability,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(durability_name(*durability))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Durability, D::Error> {
        let name = String::deserialize(deserializer)?;
        parse_durability(&name).map_err(serde::de::Error::custom)
    }
}

/// I/O modes as their names in a child's request.
pub(crate) mod io_modes_serde {
    use engine::IoMode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        modes: &[IoMode],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(modes.iter().map(|mode| mode.name()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<IoMode>, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().map(|name| name.parse().map_err(serde::de::Error::custom)).collect()
    }
}

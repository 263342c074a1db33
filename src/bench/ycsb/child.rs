//! Each target's (I/O mode's, or other engine's) load and runs in a process of its own, held
//! to the memory budget.
//!
//! The parent creates a memory cgroup whose limit is the budget plus the headroom (the same for
//! every mode; see [`crate::bench::memory_budget::MemoryBudget::limit_bytes`]), starts `directdb bench-child` with the
//! request as JSON on its stdin, and reads the mode's report as JSON from its stdout; the child
//! joins the cgroup before it opens anything. A process per mode also starts every mode with a
//! fresh heap, so one mode's freed memory is not another's.
//!
//! The child runs with `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own
//! arena, and with a dozen threads the arenas' free lists held 10-20 MiB more than the heap
//! needed (measured: 30-40 MiB of heap besides an 8 MiB pool, 22 MiB with two arenas), memory
//! the limit would otherwise take from the caches.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::report::ModeReport;
use super::target::Target;
use super::{Progress, YcsbOptions, run_mode};
use crate::bench::memory_budget::ModeMemory;
use crate::bench::memory_limit::{self, MemoryCgroup};

/// What the parent asks of a child.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChildRequest {
    pub(crate) options: YcsbOptions,
    /// The target's name ([`Target::name`]).
    pub(crate) target: String,
    /// The cgroup to join first (`cgroup.procs`), when the budget is enforced.
    pub(crate) cgroup_procs: Option<PathBuf>,
    pub(crate) progress: bool,
}

/// Runs `io_mode`'s load and runs in a child process under the memory limit, when a cgroup can
/// be made (as root); unlimited otherwise, saying why.
pub(crate) fn run_mode_in_child(
    options: &YcsbOptions,
    target: Target,
    progress: Progress,
) -> Result<ModeReport, String> {
    let limit_bytes = options.memory.limit_bytes();
    let name = format!("directdb-bench-{}-{}", std::process::id(), target.name());
    let cgroup = MemoryCgroup::create(&name, limit_bytes);
    let request = ChildRequest {
        options: options.clone(),
        target: target.name().into(),
        cgroup_procs: cgroup.as_ref().ok().map(MemoryCgroup::procs_path),
        progress: progress.is_enabled(),
    };
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
    let json = serde_json::to_vec(&request).map_err(|error| error.to_string())?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&json)
        .map_err(|error| format!("sending the {} run its request: {error}", target.name()))?;
    let output = child
        .wait_with_output()
        .map_err(|error| format!("waiting for the {} run: {error}", target.name()))?;
    if !output.status.success() {
        return Err(failure_message(target, &cgroup, output.status));
    }
    let mut report: ModeReport = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("reading the {} run's report: {error}", target.name()))?;
    report.memory = match &cgroup {
        Ok(cgroup) => ModeMemory {
            enforced: true,
            limit_bytes: Some(cgroup.limit_bytes()),
            peak_bytes: cgroup.peak_bytes(),
            how: cgroup.describe(),
            ..report.memory
        },
        Err(reason) => {
            ModeMemory { enforced: false, how: format!("not enforced: {reason}"), ..report.memory }
        }
    };
    Ok(report)
}

fn failure_message(
    target: Target,
    cgroup: &Result<MemoryCgroup, String>,
    status: std::process::ExitStatus,
) -> String {
    let over_limit = cgroup
        .as_ref()
        .ok()
        .filter(|cgroup| cgroup.oom_kill_count().unwrap_or(0) > 0)
        .map(|cgroup| memory_limit::mib(cgroup.limit_bytes()));
    match over_limit {
        Some(limit) => format!(
            "the {} run went over its memory limit of {limit} and was killed: its heap \
             outgrew the headroom (raise --memory-headroom-mb)",
            target.name()
        ),
        None => format!("the {} run failed ({status}); its error is above", target.name()),
    }
}

/// The child's side (`directdb bench-child`): joins the cgroup, runs the mode, returns its
/// report as JSON.
pub(crate) fn serve(request_json: &str) -> Result<String, String> {
    let request: ChildRequest = serde_json::from_str(request_json)
        .map_err(|error| format!("bench-child: reading the request: {error}"))?;
    if let Some(procs) = &request.cgroup_procs {
        memory_limit::join(procs)?;
    }
    let target = Target::parse(&request.target)?;
    let report = run_mode(&request.options, target, Progress::new(request.progress))?;
    serde_json::to_string(&report).map_err(|error| error.to_string())
}

//! A memory limit on a process, page cache included: a memory cgroup, so that a benchmark run on
//! buffered I/O or mmap cannot be given more memory by the kernel's page cache than a run on
//! direct I/O has in its pool.
//!
//! A memory cgroup charges each page to the cgroup of the process that first brought it in:
//! anonymous memory (the heap, the pool) and page-cache pages alike (cgroup v1
//! `memory.limit_in_bytes`, v2 `memory.max`). At the limit the kernel reclaims page cache from
//! the cgroup first; anonymous memory cannot be reclaimed without swap, so a process whose heap
//! outgrows the limit is killed by the cgroup's OOM killer, which [`MemoryCgroup::oom_kill_count`]
//! reports.
//!
//! Both hierarchies are supported: v1 with the memory controller mounted at
//! `/sys/fs/cgroup/memory`, and v2 (unified) at `/sys/fs/cgroup` with `memory` in its
//! `cgroup.controllers`. Creating a cgroup needs root; without one the caller runs unlimited and
//! says so.
//!
//! The parent makes the cgroup ([`MemoryCgroup`]); the process in it sets its limit and measures
//! its peak phase by phase through the same files ([`CgroupFiles`]). Only v1 lets a phase's peak
//! be measured simply: writing 0 to `memory.max_usage_in_bytes` resets it to the current usage.
//! v2's `memory.peak` resets only for the file descriptor that wrote it, and only since Linux
//! 6.12, so on v2 [`CgroupFiles::peak_resets`] is false and the caller says it has no peak per
//! phase.

use std::path::{Path, PathBuf};

/// Where cgroup v1's memory controller is mounted on the systems this runs on.
const V1_MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";
/// Where the cgroup v2 hierarchy is mounted when it is the only one.
const V2_ROOT: &str = "/sys/fs/cgroup";
/// The file of a cgroup that lists its processes; a process joins by writing its id to it.
const PROCS_FILE: &str = "cgroup.procs";

/// The two cgroup hierarchies, which name the same things differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Version {
    fn limit_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        }
    }

    fn peak_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        }
    }

    fn usage_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        }
    }

    /// The file with an `oom_kill N` line.
    fn oom_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        }
    }
}

/// Times [`CgroupFiles::set_limit`] writes a limit the kernel answers busy to, with a sync (and
/// a drop of the clean caches, when allowed) between them, before it gives up: a sync writes
/// the dirty pages reclaim could not drop, and what is still charged after two of them is memory
/// no reclaim can free (the heap, the pool).
const SET_LIMIT_ATTEMPT_COUNT: u32 = 3;

/// A memory cgroup with a limit, removed when dropped (the kernel moves what is still charged
/// to it to its parent).
#[derive(Debug)]
pub(crate) struct MemoryCgroup {
    files: CgroupFiles,
    limit_bytes: u64,
}

impl MemoryCgroup {
    /// Creates the cgroup `name` with a limit of `limit_bytes` (page cache included). `Err` says
    /// why there is none: not root, no memory controller, or the kernel refused.
    pub(crate) fn create(name: &str, limit_bytes: u64) -> Result<MemoryCgroup, String> {
        if !crate::bench::io::is_root() {
            return Err("not root, so no memory cgroup can be created".into());
        }
        let (root, version) = find_memory_hierarchy()?;
        sweep_orphans(&root);
        let directory = root.join(name);
        if directory.exists() {
            // A leftover of an interrupted run of this benchmark: its processes are gone.
            remove(&directory)?;
        }
        std::fs::create_dir(&directory)
            .map_err(|error| format!("creating the cgroup {}: {error}", directory.display()))?;
        let cgroup = MemoryCgroup { files: CgroupFiles { directory, version }, limit_bytes };
        if version == Version::V2 {
            // Without swap this changes nothing; with swap, pages pushed out to it would let a
            // run use more memory than its limit says.
            let _ = cgroup.files.write("memory.swap.max", "0");
        }
        cgroup.files.write(version.limit_file(), &limit_bytes.to_string())?;
        Ok(cgroup)
    }

    /// The file a process writes its id to, to join the cgroup (see [`join`]).
    pub(crate) fn procs_path(&self) -> PathBuf {
        self.files.directory.join(PROCS_FILE)
    }

    /// The limit the cgroup was made with: the most its process may have in any phase.
    pub(crate) fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// The limit in force now (the process in the cgroup may have lowered it for a phase), or
    /// the one it was made with when the kernel does not say.
    pub(crate) fn limit_bytes_now(&self) -> u64 {
        self.files.limit_bytes().unwrap_or(self.limit_bytes)
    }

    /// What the cgroup says about itself: the hierarchy, the path and the limit.
    pub(crate) fn describe(&self) -> String {
        let version = self.files.version;
        let per_phase = if self.files.peak_resets() {
            ""
        } else {
            "; no peak per phase (memory.peak cannot be reset on every kernel)"
        };
        format!(
            "{} {}: at most {} bytes ({}), set before each phase{per_phase}",
            version.name(),
            self.files.directory.join(version.limit_file()).display(),
            self.limit_bytes,
            mib(self.limit_bytes)
        )
    }

    /// The most memory the cgroup's processes had charged at once (page cache included) since
    /// it was made or its peak was last reset ([`CgroupFiles::reset_peak`]), when the kernel
    /// reports it (v2's `memory.peak` needs Linux 5.19).
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        self.files.peak_bytes()
    }

    /// Processes the cgroup's OOM killer has killed, when the kernel reports it.
    pub(crate) fn oom_kill_count(&self) -> Option<u64> {
        let text = self.files.read(self.files.version.oom_file())?;
        text.lines().find_map(|line| line.strip_prefix("oom_kill ")?.trim().parse().ok())
    }
}

/// The files of a memory cgroup, either hierarchy: what the process in it reads and writes to
/// set its limit and measure its peak phase by phase.
#[derive(Debug)]
pub(crate) struct CgroupFiles {
    directory: PathBuf,
    version: Version,
}

impl CgroupFiles {
    /// The cgroup whose `cgroup.procs` is `procs_path` (the one [`join`] joined); its hierarchy
    /// is told by the limit file it has.
    pub(crate) fn of_procs(procs_path: &Path) -> Result<CgroupFiles, String> {
        let directory = procs_path
            .parent()
            .filter(|_| procs_path.file_name() == Some(PROCS_FILE.as_ref()))
            .ok_or_else(|| format!("{} is not a cgroup's {PROCS_FILE}", procs_path.display()))?;
        let version = [Version::V1, Version::V2]
            .into_iter()
            .find(|version| directory.join(version.limit_file()).exists())
            .ok_or_else(|| format!("{} is not a memory cgroup", directory.display()))?;
        Ok(CgroupFiles { directory: directory.to_path_buf(), version })
    }

    /// Whether [`CgroupFiles::reset_peak`] can start a phase's peak (cgroup v1 only).
    pub(crate) fn peak_resets(&self) -> bool {
        self.version == Version::V1
    }

    /// Forgets the peak so far: from now on it is the most charged since now (cgroup v1 sets
    /// `memory.max_usage_in_bytes` to the current usage when 0 is written to it).
    pub(crate) fn reset_peak(&self) -> Result<(), String> {
        assert!(self.peak_resets(), "a peak is reset on cgroup v1 only");
        self.write(self.version.peak_file(), "0")
    }

    /// The most memory the cgroup had charged at once since it was made or its peak was reset.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        self.read(self.version.peak_file())?.trim().parse().ok()
    }

    /// Memory charged to the cgroup now, page cache included.
    pub(crate) fn usage_bytes(&self) -> Option<u64> {
        self.read(self.version.usage_file())?.trim().parse().ok()
    }

    /// The limit in force (v2's `max`, no limit, reads as `None`).
    pub(crate) fn limit_bytes(&self) -> Option<u64> {
        self.read(self.version.limit_file())?.trim().parse().ok()
    }

    /// Sets the limit to `limit_bytes`. Below the usage, the kernel reclaims the cgroup's page
    /// cache first; v1 answers busy (`EBUSY`) when reclaim cannot take the usage under the
    /// limit (dirty pages not yet written, or anonymous memory). Then this syncs, drops the
    /// clean caches (system-wide, so only when `drop_caches` allows it) and writes again,
    /// [`SET_LIMIT_ATTEMPT_COUNT`] times in all, before it fails naming the file, the value and
    /// the usage. (v2 does not answer busy: it reclaims, then OOM-kills the process.)
    pub(crate) fn set_limit(&self, limit_bytes: u64, drop_caches: bool) -> Result<(), String> {
        let path = self.directory.join(self.version.limit_file());
        let mut attempt_count = 1;
        loop {
            let error = match std::fs::write(&path, limit_bytes.to_string()) {
                Ok(()) => return Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::ResourceBusy => error,
                Err(error) => {
                    return Err(format!("writing {limit_bytes} to {}: {error}", path.display()));
                }
            };
            if attempt_count == SET_LIMIT_ATTEMPT_COUNT {
                let between =
                    if drop_caches { "a sync and a drop of the caches" } else { "a sync" };
                return Err(self.busy_message(&path, limit_bytes, attempt_count, between, &error));
            }
            attempt_count += 1;
            // Dirty pages cannot be reclaimed until they are written; clean ones can.
            rustix::fs::sync();
            let _ = crate::bench::ycsb::cache::drop_kernel_caches(drop_caches);
        }
    }

    /// Why a limit of `limit_bytes` could not be set after `attempt_count` writes with `between`
    /// done between them: the usage reclaim could not take under it.
    fn busy_message(
        &self,
        path: &Path,
        limit_bytes: u64,
        attempt_count: u32,
        between: &str,
        error: &std::io::Error,
    ) -> String {
        let usage = self
            .usage_bytes()
            .map_or_else(|| "unknown".into(), |bytes| format!("{bytes} bytes ({})", mib(bytes)));
        format!(
            "lowering the memory limit: writing {limit_bytes} ({}) to {} failed {attempt_count} \
             times, with {between} between them: {error}; the cgroup's usage is {usage}, which \
             the kernel could not reclaim below the limit (memory no reclaim frees: the heap, \
             the pool)",
            mib(limit_bytes),
            path.display()
        )
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.directory.join(file)).ok()
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let path = self.directory.join(file);
        std::fs::write(&path, value)
            .map_err(|error| format!("writing {value} to {}: {error}", path.display()))
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        if let Err(error) = remove(&self.files.directory) {
            eprintln!("warning: {error}");
        }
    }
}

/// Moves the calling process (every thread of it) into the cgroup whose `cgroup.procs` is
/// `procs_path`: what it charges from now on counts against the cgroup's limit.
pub(crate) fn join(procs_path: &Path) -> Result<(), String> {
    std::fs::write(procs_path, std::process::id().to_string())
        .map_err(|error| format!("joining the cgroup {}: {error}", procs_path.display()))
}

/// `n` bytes as MiB, for messages.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

fn find_memory_hierarchy() -> Result<(PathBuf, Version), String> {
    let v1 = Path::new(V1_MEMORY_ROOT);
    if v1.join(Version::V1.limit_file()).exists() {
        return Ok((v1.to_path_buf(), Version::V1));
    }
    let v2 = Path::new(V2_ROOT);
    let controllers = std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
    if controllers.split_whitespace().any(|controller| controller == "memory") {
        // Children get the memory controller only if the root hands it down.
        let subtree = v2.join("cgroup.subtree_control");
        std::fs::write(&subtree, "+memory")
            .map_err(|error| format!("enabling memory in {}: {error}", subtree.display()))?;
        return Ok((v2.to_path_buf(), Version::V2));
    }
    Err(format!(
        "no memory cgroup controller: neither {V1_MEMORY_ROOT} (v1) nor memory in \
         {V2_ROOT}/cgroup.controllers (v2)"
    ))
}

/// Removes the cgroups this program left in `root` when it was killed by a signal (which runs
/// no destructor): those named `directdb-...` whose creator, the first number in the name, is
/// no longer running and which hold no process. Anything else is left alone, a failure too:
/// the sweep is a courtesy, not the run's business.
fn sweep_orphans(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(creator) = orphan_creator(name) else { continue };
        if Path::new("/proc").join(creator.to_string()).exists() {
            continue;
        }
        let procs = std::fs::read_to_string(entry.path().join(PROCS_FILE));
        if procs.is_ok_and(|procs| procs.trim().is_empty()) {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// The process id in the name of a cgroup this program makes (`directdb-bench-<pid>-<mode>`,
/// `directdb-test-<what>-<pid>`): the first dash-separated part that is a number.
fn orphan_creator(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("directdb-")?;
    rest.split('-').find_map(|part| part.parse().ok())
}

/// Removes a cgroup directory once its processes have gone (an exited process can take a
/// moment to leave it).
fn remove(directory: &Path) -> Result<(), String> {
    let mut last_error = None;
    for _ in 0..50 {
        match std::fs::remove_dir(directory) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => last_error = Some(error),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(format!(
        "removing the cgroup {}: {}",
        directory.display(),
        last_error.map_or_else(String::new, |error| error.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const LIMIT_BYTES: u64 = 16 << 20;
    const WRITTEN_MIB: u64 = 64;
    /// A limit that holds everything a test writes.
    const ROOMY_LIMIT_BYTES: u64 = 4 * (WRITTEN_MIB << 20);

    /// Writes `WRITTEN_MIB` MiB through the page cache from a process in the cgroup and returns
    /// the cgroup's peak.
    fn peak_of_a_buffered_write(name: &str, limit_bytes: u64) -> Option<u64> {
        let cgroup = match MemoryCgroup::create(name, limit_bytes) {
            Ok(cgroup) => cgroup,
            Err(reason) => {
                eprintln!("skipped: {reason}");
                return None;
            }
        };
        let directory = tempfile::tempdir().unwrap();
        let script = format!(
            "echo $$ > {} && exec dd if=/dev/zero of={} bs=1M count={WRITTEN_MIB} status=none",
            cgroup.procs_path().display(),
            directory.path().join("written").display()
        );
        let status = Command::new("sh").args(["-c", &script]).status().unwrap();
        assert!(status.success(), "dd in the cgroup: {status}");
        assert_eq!(cgroup.oom_kill_count().unwrap_or(0), 0);
        Some(cgroup.peak_bytes().expect("the kernel reports the peak"))
    }

    /// The limit holds the page cache too: 64 MiB written through the page cache by a process
    /// held to 16 MiB never charge more than 16 MiB, while an unlimited one charges them all.
    #[test]
    fn the_limit_holds_the_page_cache() {
        let name = format!("directdb-test-limited-{}", std::process::id());
        let Some(limited_peak) = peak_of_a_buffered_write(&name, LIMIT_BYTES) else { return };
        assert!(limited_peak <= LIMIT_BYTES, "peak {limited_peak} over {LIMIT_BYTES}");
        let name = format!("directdb-test-unlimited-{}", std::process::id());
        let unlimited_peak = peak_of_a_buffered_write(&name, u64::MAX >> 2).unwrap();
        assert!(unlimited_peak > 2 * LIMIT_BYTES, "unlimited peak {unlimited_peak}");
        assert!(!Path::new(V1_MEMORY_ROOT).join(&name).exists(), "removed when dropped");
    }

    /// A cgroup left by a run killed by a signal is removed by the next run; one whose creator
    /// still runs, or whose name is not this program's, stays.
    #[test]
    fn cgroups_of_dead_runs_are_swept() {
        assert_eq!(orphan_creator("directdb-bench-18485-buffered"), Some(18485));
        assert_eq!(orphan_creator("directdb-test-oom-77"), Some(77));
        assert_eq!(orphan_creator("directdb-bench-x"), None);
        assert_eq!(orphan_creator("other-18485"), None);
        if !crate::bench::io::is_root() || !Path::new(V1_MEMORY_ROOT).exists() {
            return eprintln!("skipped: needs root and the cgroup v1 memory controller");
        }
        let mut exited = Command::new("true").spawn().unwrap();
        exited.wait().unwrap();
        let root = Path::new(V1_MEMORY_ROOT);
        let orphan = root.join(format!("directdb-bench-{}-mmap", exited.id()));
        let live = root.join(format!("directdb-bench-{}-direct", std::process::id()));
        for directory in [&orphan, &live] {
            std::fs::create_dir(directory).unwrap();
        }
        let name = format!("directdb-test-sweeper-{}", std::process::id());
        let cgroup = MemoryCgroup::create(&name, LIMIT_BYTES).unwrap();
        let (orphan_left, live_left) = (orphan.exists(), live.exists());
        remove(&live).unwrap();
        remove(&orphan).unwrap();
        drop(cgroup);
        assert!(!orphan_left, "the dead run's cgroup is swept");
        assert!(live_left, "a running process's cgroup stays");
    }

    /// A cgroup v1 made with `limit_bytes` for a test of the per-phase files, or why there is
    /// none (not root, no memory controller, or v2, whose peak does not reset).
    fn v1_cgroup(what: &str, limit_bytes: u64) -> Result<(MemoryCgroup, CgroupFiles), String> {
        let name = format!("directdb-test-{what}-{}", std::process::id());
        let cgroup = MemoryCgroup::create(&name, limit_bytes)?;
        let files = CgroupFiles::of_procs(&cgroup.procs_path()).unwrap();
        if !files.peak_resets() {
            return Err("cgroup v2: a phase's peak is not measured there".into());
        }
        Ok((cgroup, files))
    }

    /// What a process does around each phase works on a real cgroup: 64 MiB written (and
    /// synced) through the page cache leave the cgroup's usage and peak above 32 MiB; lowering
    /// the limit to 16 MiB makes the kernel reclaim that page cache (the write succeeds and the
    /// usage is under it) and leaves the peak; a reset brings the peak down to the usage.
    #[test]
    fn lowering_the_limit_reclaims_the_page_cache_and_a_reset_forgets_the_peak() {
        let (cgroup, files) = match v1_cgroup("phases", ROOMY_LIMIT_BYTES) {
            Ok(cgroup) => cgroup,
            Err(reason) => return eprintln!("skipped: {reason}"),
        };
        let directory = tempfile::tempdir().unwrap();
        let script = format!(
            "echo $$ > {} && exec dd if=/dev/zero of={} bs=1M count={WRITTEN_MIB} conv=fsync \
             status=none",
            cgroup.procs_path().display(),
            directory.path().join("written").display()
        );
        let status = Command::new("sh").args(["-c", &script]).status().unwrap();
        assert!(status.success(), "dd in the cgroup: {status}");
        let peak_written = files.peak_bytes().unwrap();
        assert!(peak_written > 2 * LIMIT_BYTES, "peak {peak_written}");
        assert!(files.usage_bytes().unwrap() > 2 * LIMIT_BYTES, "the written pages stay charged");

        files.set_limit(LIMIT_BYTES, false).unwrap();
        assert_eq!(files.limit_bytes(), Some(LIMIT_BYTES));
        let usage_bytes = files.usage_bytes().unwrap();
        assert!(usage_bytes <= LIMIT_BYTES, "usage {usage_bytes} after lowering the limit");
        assert!(files.peak_bytes().unwrap() >= peak_written, "lowering leaves the peak");
        files.reset_peak().unwrap();
        let peak_reset = files.peak_bytes().unwrap();
        assert!(peak_reset <= LIMIT_BYTES, "peak {peak_reset} after a reset");
        assert_eq!(cgroup.limit_bytes_now(), LIMIT_BYTES);
    }

    /// Memory no reclaim frees cannot be put under a lower limit: `dd` with a 32 MiB block fills
    /// a 32 MiB buffer (anonymous memory, and there is no swap to push it to) and holds it while
    /// its write to a pipe nobody reads waits. Setting a 16 MiB limit then fails after its
    /// retries, naming the file, the value and the usage, and the limit stays as it was.
    #[test]
    fn a_limit_under_the_heap_fails_naming_the_file_the_value_and_the_usage() {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        if !meminfo.lines().any(|line| line.split_whitespace().eq(["SwapTotal:", "0", "kB"])) {
            return eprintln!("skipped: with swap, reclaim can free anonymous memory");
        }
        let (cgroup, files) = match v1_cgroup("busy", ROOMY_LIMIT_BYTES) {
            Ok(cgroup) => cgroup,
            Err(reason) => return eprintln!("skipped: {reason}"),
        };
        let script = format!(
            "echo $$ > {} && exec dd if=/dev/zero bs=32M count=1 status=none",
            cgroup.procs_path().display()
        );
        let mut dd = Command::new("sh")
            .args(["-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // dd writes only after its read filled the whole block: one byte read means the 32 MiB
        // buffer is charged, and dd waits in a write that the pipe cannot take whole.
        let mut first_byte = [0u8; 1];
        std::io::Read::read_exact(dd.stdout.as_mut().unwrap(), &mut first_byte).unwrap();
        let error = files.set_limit(LIMIT_BYTES, false).unwrap_err();
        dd.kill().unwrap();
        dd.wait().unwrap();
        for expected in ["memory.limit_in_bytes", &LIMIT_BYTES.to_string(), "usage is", "3 times"] {
            assert!(error.contains(expected), "{expected:?} in {error}");
        }
        assert_eq!(files.limit_bytes(), Some(ROOMY_LIMIT_BYTES), "the limit stays");
    }

    /// A process whose heap outgrows the limit is killed by the cgroup, and the cgroup counts
    /// it: what the benchmark reads to say a mode went over its limit. (`dd` with a 64 MiB block
    /// allocates and fills a 64 MiB buffer: anonymous memory, which nothing can reclaim.)
    #[test]
    fn a_heap_over_the_limit_is_killed_and_counted() {
        let name = format!("directdb-test-oom-{}", std::process::id());
        let cgroup = match MemoryCgroup::create(&name, LIMIT_BYTES) {
            Ok(cgroup) => cgroup,
            Err(reason) => return eprintln!("skipped: {reason}"),
        };
        assert_eq!(cgroup.oom_kill_count().unwrap_or(0), 0);
        let script = format!(
            "echo $$ > {} && exec dd if=/dev/zero of=/dev/null bs={WRITTEN_MIB}M count=1 \
             status=none",
            cgroup.procs_path().display()
        );
        let status = Command::new("sh").args(["-c", &script]).status().unwrap();
        assert!(!status.success(), "a {WRITTEN_MIB} MiB heap in a 16 MiB cgroup: {status}");
        assert_eq!(cgroup.oom_kill_count(), Some(1));
    }
}

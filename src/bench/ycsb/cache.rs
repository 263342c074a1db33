//! The kernel's page cache around a phase: dropping it before the phase, and seeing how much
//! of the data file it still holds when the phase starts.
//!
//! Dropping is `sync` then `echo 3 > /proc/sys/vm/drop_caches`, as root. It drops clean pages
//! that no process maps: pages the mmap backend has mapped into this process stay resident, so
//! an mmap run can start with the file cached whatever was dropped. The resident bytes
//! ([`resident_bytes`], from util-linux's `fincore`, which asks `mincore` of its own mapping)
//! make that visible in the report instead of leaving it to be guessed.

use std::path::PathBuf;
use std::process::Command;

/// What is done to the kernel's caches before each phase, when asked to drop them (`enabled`).
pub(crate) fn policy(enabled: bool) -> String {
    if !enabled {
        "not dropped before the phases: --keep-caches".into()
    } else if crate::bench::io::is_root() {
        "before each phase (after the open): sync, then echo 3 > /proc/sys/vm/drop_caches \
         (root); pages a process maps (mmap) are not dropped"
            .into()
    } else {
        "not dropped before the phases: not root, so /proc/sys/vm/drop_caches cannot be written"
            .into()
    }
}

/// Drops the kernel's clean caches (page cache, dentries, inodes) so buffered and mmap runs
/// start as cold as the direct run's pool, when `enabled`; says what was done. Not being root,
/// or a `/proc/sys` that refuses the write (a container), skips the drop with the reason rather
/// than failing the benchmark.
pub(crate) fn drop_kernel_caches(enabled: bool) -> String {
    if !enabled {
        return "not dropped: --keep-caches".into();
    }
    if !crate::bench::io::is_root() {
        return "not dropped: not root".into();
    }
    rustix::fs::sync();
    match std::fs::write("/proc/sys/vm/drop_caches", "3") {
        Ok(()) => "dropped".into(),
        Err(error) => format!("not dropped: writing /proc/sys/vm/drop_caches: {error}"),
    }
}

/// Bytes of the files at `paths` in the page cache now, or `None` when `fincore` is not
/// installed or fails (the report then says nothing about residency rather than guess).
pub(crate) fn resident_bytes(paths: &[PathBuf]) -> Option<u64> {
    if paths.is_empty() {
        return None;
    }
    let output = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .args(paths)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_fincore(&String::from_utf8_lossy(&output.stdout))
}

/// The sum of fincore's lines, one number of bytes per file.
fn parse_fincore(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut lines = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        total = total.checked_add(line.trim().parse().ok()?)?;
        lines += 1;
    }
    (lines > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fincore_prints_one_number_of_bytes() {
        assert_eq!(parse_fincore("  36864\n"), Some(36864));
        assert_eq!(parse_fincore("4096\n  8192\n"), Some(12288), "one line per file");
        assert_eq!(parse_fincore(""), None);
        assert_eq!(parse_fincore("36K"), None);
    }

    /// Where fincore is installed, a file just written is at least partly in the page cache.
    #[test]
    fn a_file_just_written_is_resident() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("resident");
        std::fs::write(&path, vec![7u8; 64 << 10]).unwrap();
        match resident_bytes(&[path]) {
            Some(bytes) => assert!(bytes > 0 && bytes <= 64 << 10, "{bytes}"),
            None => eprintln!("skipped: fincore (util-linux) is not installed"),
        }
    }
}

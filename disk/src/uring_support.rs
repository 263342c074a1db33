//! Whether io_uring can be used in this process, probed once at runtime.
//!
//! io_uring can be missing (`ENOSYS` on old or stripped kernels), forbidden (`EPERM` from a
//! seccomp filter, or `kernel.io_uring_disabled = 2`, or `= 1` for a process outside the allowed
//! group) or starved (`ENOMEM` when `RLIMIT_MEMLOCK` is too small on kernels that charge rings to
//! it). Each case makes the direct backend fall back to `pread`/`pwrite` and say why.

use std::sync::OnceLock;

use io_uring::{IoUring, Probe, opcode};

/// The outcome of probing io_uring.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UringSupport {
    /// `Ok` when a ring could be created; otherwise why not.
    pub available: Result<(), String>,
    /// The opcodes directdb uses, each with whether the kernel supports it.
    pub opcodes: Vec<(&'static str, bool)>,
}

impl UringSupport {
    /// True when rings can be created and reads, writes and fsync are all supported.
    pub fn usable(&self) -> bool {
        self.available.is_ok() && self.opcodes.iter().all(|&(_, supported)| supported)
    }

    /// Why io_uring is not usable, if it is not.
    pub fn unusable_reason(&self) -> Option<String> {
        if let Err(reason) = &self.available {
            return Some(reason.clone());
        }
        let missing: Vec<&str> = self
            .opcodes
            .iter()
            .filter(|(_, supported)| !supported)
            .map(|(name, _)| *name)
            .collect();
        (!missing.is_empty()).then(|| format!("kernel lacks io_uring opcodes {missing:?}"))
    }
}

/// Probes io_uring once per process and caches the answer.
pub fn io_uring_support() -> &'static UringSupport {
    static SUPPORT: OnceLock<UringSupport> = OnceLock::new();
    SUPPORT.get_or_init(probe)
}

fn probe() -> UringSupport {
    let ring = match IoUring::new(4) {
        Ok(ring) => ring,
        Err(error) => {
            return UringSupport { available: Err(explain(&error)), opcodes: Vec::new() };
        }
    };
    let mut probe = Probe::new();
    if let Err(error) = ring.submitter().register_probe(&mut probe) {
        return UringSupport {
            available: Err(format!("io_uring opcode probe failed: {error}")),
            opcodes: Vec::new(),
        };
    }
    let opcodes = vec![
        ("read", probe.is_supported(opcode::Read::CODE)),
        ("write", probe.is_supported(opcode::Write::CODE)),
        ("fsync", probe.is_supported(opcode::Fsync::CODE)),
    ];
    UringSupport { available: Ok(()), opcodes }
}

/// Turns a ring-creation error into a reason a user can act on.
pub(crate) fn explain(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring is not implemented by this kernel (ENOSYS)".into(),
        Some(libc::EPERM) => "io_uring is forbidden (EPERM: a seccomp filter, or \
                              kernel.io_uring_disabled)"
            .into(),
        Some(libc::ENOMEM) => "io_uring ring could not be allocated (ENOMEM: raise \
                               RLIMIT_MEMLOCK)"
            .into(),
        _ => format!("io_uring ring could not be created: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reports_a_reason_whenever_unusable() {
        let support = io_uring_support();
        assert_eq!(support.usable(), support.unusable_reason().is_none());
        if support.available.is_ok() {
            assert_eq!(support.opcodes.len(), 3);
        }
    }

    #[test]
    fn errnos_are_explained() {
        let eperm = std::io::Error::from_raw_os_error(libc::EPERM);
        assert!(explain(&eperm).contains("EPERM"));
        let enosys = std::io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(explain(&enosys).contains("ENOSYS"));
    }
}

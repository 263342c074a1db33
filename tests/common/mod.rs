//! Helpers shared by the CLI tests: run the built binary, read fields of its JSON report.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the built `directdb` binary with `arguments`.
pub(crate) fn directdb(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_directdb"))
        .args(arguments)
        .output()
        .expect("the directdb binary runs")
}

/// `value[key]`, failing with the key's name and the whole object when it is absent.
pub(crate) fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or_else(|| panic!("no key {key:?} in {value:#}"))
}

/// `value[key]` as a count.
pub(crate) fn count(value: &Value, key: &str) -> u64 {
    field(value, key).as_u64().unwrap_or_else(|| panic!("{key} is not a count in {value:#}"))
}

/// `value[key]` as a count above zero.
pub(crate) fn positive_count(value: &Value, key: &str) -> u64 {
    let count = count(value, key);
    assert!(count > 0, "{key} is 0 in {value:#}");
    count
}

/// `value[key]` as a number.
pub(crate) fn number(value: &Value, key: &str) -> f64 {
    field(value, key).as_f64().unwrap_or_else(|| panic!("{key} is not a number in {value:#}"))
}

/// `value[key]` as a number above zero.
pub(crate) fn positive_number(value: &Value, key: &str) -> f64 {
    let number = number(value, key);
    assert!(number > 0.0, "{key} is not positive in {value:#}");
    number
}

/// `value[key]` as an array.
pub(crate) fn array<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    field(value, key).as_array().unwrap_or_else(|| panic!("{key} is not an array in {value:#}"))
}

/// A phase's name, its peak and the bytes its process wrote (if measured).
type PhasePeak = (String, u64, Option<u64>);

/// The memory section of a `bench ycsb` or `bench tpcc` report of a run with a budget of
/// `budget_bytes`: `memory_budget`, each mode's `memory` and each phase's (`phases` gives a
/// mode's phases, each its name and its `memory`). Where the machine has a memory cgroup
/// controller (v1) and this runs as root, every mode ran under the limit and its peak stayed
/// within it: direct I/O under budget + headroom in every phase; under `same-as-direct` each
/// later mode's process under direct I/O's whole peak + 4 MiB and each of its phases under
/// direct I/O's peak in the phase of the same name + what direct I/O wrote in it (from 1 to 4
/// MiB); every phase's peak within its limit. Elsewhere the report says the budget was not
/// enforced, and each mode why. The pool of direct I/O is the budget; buffered and mmap's is
/// at most that.
pub(crate) fn check_memory(
    report: &Value,
    budget_bytes: u64,
    phases: impl Fn(&Value) -> Vec<(String, &Value)>,
) {
    const SLACK_BYTES: u64 = 4 << 20; // `IN_FLIGHT_SLACK_MB`
    const NOISE_BYTES: u64 = 1 << 20; // `PEAK_NOISE_SLACK_MB`
    let budget = field(report, "memory_budget");
    assert_eq!(count(budget, "budget_bytes"), budget_bytes);
    let limit_bytes = count(budget, "limit_bytes");
    assert_eq!(limit_bytes, budget_bytes + count(budget, "headroom_bytes"));
    let cgroups = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
    let enforced = field(budget, "enforced").as_bool().unwrap();
    if root && cgroups {
        assert!(enforced, "{budget:#}");
    }
    if !enforced {
        assert!(field(budget, "note").as_str().unwrap().contains("NOT enforced"), "{budget:#}");
    }
    let same_as_direct = match field(budget, "limit_rule").as_str() {
        Some("same-as-direct") => true,
        Some("headroom") => false,
        other => panic!("limit_rule {other:?}"),
    };
    // Direct I/O's whole peak and its peak in each phase, once it has run.
    // Direct I/O's peak, and each phase's.
    let mut direct_peaks: Option<(u64, Vec<PhasePeak>)> = None;
    for (index, mode) in array(report, "modes").iter().enumerate() {
        let memory = field(mode, "memory");
        let is_direct = field(mode, "io_mode") == "direct";
        if is_direct {
            assert_eq!(index, 0, "direct I/O runs first: its peaks set the others' limits");
        }
        let pool_bytes = count(memory, "pool_bytes");
        if is_direct {
            assert_eq!(pool_bytes, budget_bytes);
        } else {
            // A share of 1 MiB is below the smallest pool a mode gets (256 pages).
            assert!(pool_bytes <= budget_bytes, "{memory:#}");
        }
        assert_eq!(field(memory, "enforced").as_bool(), Some(enforced), "{memory:#}");
        if !enforced {
            let how = field(memory, "how").as_str().unwrap();
            assert!(how.starts_with("not enforced: "), "{memory:#}");
            for (phase, phase_memory) in phases(mode) {
                assert!(field(phase_memory, "limit_bytes").is_null(), "{phase}: {phase_memory:#}");
                assert!(field(phase_memory, "peak_bytes").is_null(), "{phase}: {phase_memory:#}");
            }
            continue;
        }
        let direct = direct_peaks.as_ref().filter(|_| same_as_direct);
        let mode_limit_bytes = count(memory, "limit_bytes");
        let expected_limit =
            direct.map_or(limit_bytes, |(peak, _)| (peak + SLACK_BYTES).min(limit_bytes));
        assert_eq!(mode_limit_bytes, expected_limit, "{memory:#}");
        let peak_bytes = count(memory, "peak_bytes");
        assert!(0 < peak_bytes && peak_bytes <= mode_limit_bytes, "{memory:#}");
        assert_eq!(field(memory, "peak_per_phase").as_bool(), Some(cgroups), "{memory:#}");
        let mut phase_peaks = Vec::new();
        for (phase, phase_memory) in phases(mode) {
            // The room for pages being written: what direct I/O wrote in the phase, at most
            // the slack, at least the peak's noise.
            let direct_phase =
                direct.and_then(|(_, peaks)| peaks.iter().find(|(name, _, _)| *name == phase));
            let expected = direct_phase.map_or(mode_limit_bytes, |(_, peak, written)| {
                let slack =
                    written.map_or(SLACK_BYTES, |written| written.clamp(NOISE_BYTES, SLACK_BYTES));
                (peak + slack).min(mode_limit_bytes)
            });
            let phase_limit_bytes = count(phase_memory, "limit_bytes");
            assert_eq!(phase_limit_bytes, expected, "{phase}: {phase_memory:#}");
            if !cgroups {
                continue; // cgroup v2: no peak per phase
            }
            let phase_peak_bytes = count(phase_memory, "peak_bytes");
            assert!(0 < phase_peak_bytes, "{phase}: {phase_memory:#}");
            assert!(phase_peak_bytes <= phase_limit_bytes, "{phase}: {phase_memory:#}");
            assert!(phase_peak_bytes <= peak_bytes, "{phase}: within the process's peak");
            phase_peaks.push((
                phase,
                phase_peak_bytes,
                field(phase_memory, "written_bytes").as_u64(),
            ));
        }
        if is_direct {
            direct_peaks = Some((peak_bytes, phase_peaks));
        }
    }
}

/// The phases of a `bench ycsb` mode: the load and each workload, each with its `memory`.
pub(crate) fn ycsb_phases(mode: &Value) -> Vec<(String, &Value)> {
    std::iter::once(field(mode, "load"))
        .chain(array(mode, "runs"))
        .map(|row| (field(row, "phase").as_str().unwrap().to_string(), field(row, "memory")))
        .collect()
}

/// The phases of a `bench tpcc` mode: `load` and `run`, each with its `memory`.
pub(crate) fn tpcc_phases(mode: &Value) -> Vec<(String, &Value)> {
    ["load", "run"].map(|phase| (phase.to_string(), field(field(mode, phase), "memory"))).into()
}

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

/// The memory section of a `bench ycsb` or `bench tpcc` report of a run with a budget of
/// `budget_bytes`: `memory_budget`, and each mode's `memory`. Where the machine has a memory
/// cgroup controller (v1) and this runs as root, every mode ran under the limit (budget +
/// headroom) and its peak stayed within it; elsewhere the report says the budget was not
/// enforced, and each mode why. The pool of direct I/O is the budget; buffered and mmap's is at
/// most that.
pub(crate) fn check_memory(report: &Value, budget_bytes: u64) {
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
    let mut direct_peak_bytes: Option<u64> = None;
    for (index, mode) in array(report, "modes").iter().enumerate() {
        let memory = field(mode, "memory");
        if field(mode, "io_mode") == "direct" {
            assert_eq!(index, 0, "direct I/O runs first: its peak sets the others' limit");
        }
        let pool_bytes = count(memory, "pool_bytes");
        if field(mode, "io_mode") == "direct" {
            assert_eq!(pool_bytes, budget_bytes);
        } else {
            // A share of 1 MiB is below the smallest pool a mode gets (256 pages).
            assert!(pool_bytes <= budget_bytes, "{memory:#}");
        }
        assert_eq!(field(memory, "enforced").as_bool(), Some(enforced), "{memory:#}");
        if enforced {
            // Direct I/O's peak and 4 MiB for pages being written (`IN_FLIGHT_SLACK_MB`).
            let expected_limit = match direct_peak_bytes {
                Some(peak) if same_as_direct => (peak + (4 << 20)).min(limit_bytes),
                _ => limit_bytes,
            };
            let mode_limit_bytes = count(memory, "limit_bytes");
            assert_eq!(mode_limit_bytes, expected_limit, "{memory:#}");
            let peak_bytes = count(memory, "peak_bytes");
            assert!(0 < peak_bytes && peak_bytes <= mode_limit_bytes, "{memory:#}");
            if field(mode, "io_mode") == "direct" {
                direct_peak_bytes = Some(peak_bytes);
            }
        } else {
            let how = field(memory, "how").as_str().unwrap();
            assert!(how.starts_with("not enforced: "), "{memory:#}");
        }
    }
}

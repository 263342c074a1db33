//! `directdb bench tpcc`, run as a user runs it: the built binary on a temporary directory, one
//! warehouse at scale 300 (333 items, 10 customers and orders per district), a few hundred
//! transactions, every I/O mode.
//!
//! Nothing here depends on timing: the checks are that the report has every key, that the run
//! counted the transactions it was asked for under the five kinds, that both consistency checks
//! of every mode passed (and checked something), that the load committed in batches, that each
//! mode's memory (pool, limit, peak) and the budget are reported, enforced where this runs as
//! root with a memory cgroup controller, that the table goes to stdout with `--json=FILE`
//! writing the same report, and that nothing is left behind.

mod common;

use std::path::Path;
use std::process::Output;

use common::{
    array, check_memory, count, directdb, field, number, positive_count, positive_number,
    tpcc_phases,
};
use serde_json::Value;

const TRANSACTIONS: u64 = 300;
const KINDS: [&str; 5] = ["new-order", "payment", "order-status", "delivery", "stock-level"];

fn tiny_run(directory: &Path, extra: &[&str]) -> Output {
    let transactions = TRANSACTIONS.to_string();
    let mut arguments = vec![
        "bench",
        "tpcc",
        "--warehouses",
        "1",
        "--scale",
        "300",
        "--transactions",
        &transactions,
        "--threads",
        "2",
        "--pool-mb",
        "1",
        "--durability",
        "none",
        // A system-wide drop of the kernel's caches is not the test's business.
        "--keep-caches",
        "--dir",
        directory.to_str().unwrap(),
    ];
    arguments.extend_from_slice(extra);
    let output = directdb(&arguments);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn check_consistency(check: &Value) {
    assert_eq!(field(check, "consistent"), true, "{check:#}");
    let conditions = array(check, "conditions");
    let names: Vec<&str> =
        conditions.iter().map(|row| field(row, "condition").as_str().unwrap()).collect();
    assert_eq!(names, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "rows"]);
    for condition in conditions {
        assert_eq!(count(condition, "violation_count"), 0, "{condition:#}");
        positive_count(condition, "checked");
    }
}

fn check_mode(mode: &Value) {
    let load = field(mode, "load");
    positive_count(load, "row_count");
    let commits = positive_count(load, "commit_count");
    assert!(commits < count(load, "row_count"), "rows are loaded in batches: {load:#}");
    assert_eq!(count(load, "conflict_retries"), 0, "{load:#}");
    check_consistency(field(mode, "consistency_after_load"));
    check_consistency(field(mode, "consistency_after_run"));
    let run = field(mode, "run");
    assert_eq!(count(run, "transaction_count"), TRANSACTIONS, "{run:#}");
    positive_number(run, "transactions_per_second");
    assert!(number(run, "new_orders_per_minute") > 0.0, "{run:#}");
    let latency = field(run, "latency_us");
    let (p50, p99, p999) =
        (number(latency, "p50"), number(latency, "p99"), number(latency, "p999"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{latency:#}");
    let kinds = array(run, "kinds");
    let names: Vec<&str> = kinds.iter().map(|row| field(row, "kind").as_str().unwrap()).collect();
    assert_eq!(names, KINDS);
    let counted: u64 = kinds.iter().map(|row| count(row, "count")).sum();
    assert_eq!(counted, TRANSACTIONS);
    let per_transaction = field(run, "per_transaction");
    for key in ["device_read_bytes", "device_write_bytes", "cpu_us"] {
        assert!(number(per_transaction, key) >= 0.0, "{key} in {run:#}");
    }
    assert_eq!(field(run, "caches_before"), "not dropped: --keep-caches");
}

#[test]
fn every_io_mode_loads_runs_and_stays_consistent_as_json() {
    let directory = tempfile::tempdir().unwrap();
    let output = tiny_run(directory.path(), &["--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    assert_eq!(field(&report, "consistent"), true);
    let cardinalities = field(field(&report, "settings"), "cardinalities");
    assert_eq!(count(cardinalities, "item_count"), 333);
    assert_eq!(count(cardinalities, "customers_per_district"), 10);
    assert!(!array(&report, "departures_from_tpcc").is_empty());
    check_memory(&report, 1 << 20, tpcc_phases);
    let modes = array(&report, "modes");
    let names: Vec<&str> =
        modes.iter().map(|mode| field(mode, "io_mode").as_str().unwrap()).collect();
    assert_eq!(names, ["direct", "buffered", "mmap"]);
    for mode in modes {
        check_mode(mode);
    }
    let comparisons = array(&report, "comparisons");
    assert_eq!(comparisons.len(), 3);
    for comparison in comparisons {
        positive_number(comparison, "direct_over_buffered");
        positive_number(comparison, "direct_over_mmap");
    }
    let leftovers: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "the databases are removed: {leftovers:?}");
}

/// `--json=FILE`: the table on stdout for the person, the same report as JSON in the file.
#[test]
fn json_file_gets_the_report_while_the_table_goes_to_stdout() {
    let directory = tempfile::tempdir().unwrap();
    let report_path = directory.path().join("report.json");
    let json_flag = format!("--json={}", report_path.display());
    let data = directory.path().join("data");
    let output = tiny_run(&data, &["--io", "buffered", &json_flag]);
    let table = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "tpmC-like",
        "p99.9 µs",
        "new-order",
        "stock-level",
        "consistent: true",
        "buffered: pool (cache) 1 MiB",
        "memory: budget 1 MiB + headroom 36 MiB; --memory-limit same-as-direct; buffered/mmap pool 25% of the budget",
    ] {
        assert!(table.contains(expected), "{expected:?} in\n{table}");
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let modes = array(&report, "modes");
    assert_eq!(modes.len(), 1);
    check_mode(&modes[0]);
    check_memory(&report, 1 << 20, tpcc_phases);
}

#[test]
fn bad_arguments_are_refused_with_the_flag_named() {
    let output = directdb(&["bench", "tpcc", "--scale", "0", "--json"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--scale"));
    let output = directdb(&["bench", "tpcc", "--warehouses", "0", "--json"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--warehouses"));
    let output = directdb(&["bench", "tpcc", "--transactions", "5", "--seconds", "1"]);
    assert!(!output.status.success(), "--transactions and --seconds exclude each other");
}

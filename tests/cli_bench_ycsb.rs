//! `directdb bench ycsb`, run as a user runs it: the built binary on a temporary directory, a
//! few hundred records and operations per workload, every workload, every I/O mode.
//!
//! Nothing here depends on timing: the checks are that the report has every key, that every
//! phase counted the operations it was asked for under the kinds its mix has, that no record
//! went missing, that the engine's counters agree with the run (one commit per load batch),
//! that `--json=FILE` writes the same report beside the table, that `--plot FILE` writes an SVG
//! named on the table's last line (and nothing more on stdout with `--json`), and that nothing
//! else is left behind.

mod common;

use std::path::Path;
use std::process::Output;

use common::{array, check_memory, count, directdb, field, number, ycsb_phases};
use serde_json::Value;

const RECORDS: u64 = 300;
const OPERATIONS: u64 = 200;
const LOAD_BATCH: u64 = 25;

fn tiny_run(directory: &Path, extra: &[&str]) -> Output {
    let records = RECORDS.to_string();
    let operations = OPERATIONS.to_string();
    let batch = LOAD_BATCH.to_string();
    let mut arguments = vec![
        "bench",
        "ycsb",
        "--records",
        &records,
        "--operations",
        &operations,
        "--threads",
        "2",
        "--pool-mb",
        "1",
        "--value-bytes",
        "100",
        "--load-batch",
        &batch,
        "--durability",
        "none",
        // A system-wide drop of the kernel's caches is not the test's business.
        "--keep-caches",
        "--dir",
        directory.to_str().unwrap(),
    ];
    arguments.extend_from_slice(extra);
    let output = directdb(&arguments);
    // A failed mode's error is in the report on stdout, so both are shown.
    assert!(
        output.status.success(),
        "stderr:\n{}\nstdout:\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

/// The operation kinds each workload's mix has.
fn kinds_of(phase: &str) -> &'static [&'static str] {
    match phase {
        "a" => &["read", "update"],
        "b" => &["read", "update"],
        "c" => &["read"],
        "d" => &["read", "insert"],
        "e" => &["insert", "scan"],
        "f" => &["read", "read_modify_write"],
        other => panic!("unexpected phase {other}"),
    }
}

fn check_phase(row: &Value, io_mode: &str) {
    assert_eq!(field(row, "io_mode"), io_mode);
    let phase = field(row, "phase").as_str().unwrap();
    assert!(number(row, "ops_per_second") > 0.0, "{row:#}");
    assert!(number(row, "elapsed_seconds") > 0.0, "{row:#}");
    let latency = field(row, "latency_us");
    let (p50, p99, p999) =
        (number(latency, "p50"), number(latency, "p99"), number(latency, "p999"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{latency:#}");
    let per_operation = field(row, "per_operation");
    for key in [
        "device_read_bytes",
        "device_write_bytes",
        "pool_pages_read",
        "pool_pages_written",
        "wal_bytes_written",
        "cpu_us",
        "major_faults",
    ] {
        assert!(number(per_operation, key) >= 0.0, "{key} in {row:#}");
    }
    let totals = field(row, "totals");
    if count(totals, "pool_hits") + count(totals, "pool_misses") == 0 {
        // Every read went to the mapping in place (mmap, unchanged pages): the pool saw no
        // access, and has no ratio to give.
        assert_eq!(io_mode, "mmap", "{row:#}");
        assert!(count(totals, "pool_in_place_reads") > 0, "{row:#}");
        assert!(field(row, "pool_hit_ratio").is_null(), "{row:#}");
    } else {
        let hit_ratio = number(row, "pool_hit_ratio");
        assert!((0.0..=1.0).contains(&hit_ratio), "{row:#}");
    }
    assert_eq!(count(row, "not_found"), 0, "no record goes missing: {row:#}");
    assert_eq!(field(row, "caches_before"), "not dropped: --keep-caches");
    let kinds: Vec<&str> =
        array(row, "operations").iter().map(|kind| field(kind, "kind").as_str().unwrap()).collect();
    if phase == "load" {
        assert_eq!(count(row, "operation_count"), RECORDS);
        assert_eq!(kinds, ["insert"]);
        let commits = count(field(row, "totals"), "commits");
        assert_eq!(commits, RECORDS.div_ceil(LOAD_BATCH), "one commit per load transaction");
        return;
    }
    assert_eq!(count(row, "operation_count"), OPERATIONS, "{row:#}");
    assert_eq!(kinds, kinds_of(phase), "{row:#}");
    let counted: u64 = array(row, "operations").iter().map(|kind| count(kind, "count")).sum();
    assert_eq!(counted, OPERATIONS);
    if phase == "e" {
        assert!(count(row, "records_scanned") > 0, "{row:#}");
    }
}

#[test]
fn every_workload_on_every_io_mode_reports_its_phases_as_json() {
    let directory = tempfile::tempdir().unwrap();
    let output = tiny_run(directory.path(), &["--workloads", "a,b,c,d,e,f", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    let settings = field(&report, "settings");
    assert_eq!(count(settings, "record_count"), RECORDS);
    assert_eq!(count(settings, "value_bytes"), 100);
    assert_eq!(count(settings, "pool_bytes"), 1 << 20);
    assert_eq!(field(field(settings, "stop"), "operations"), OPERATIONS);
    check_memory(&report, 1 << 20, ycsb_phases);
    field(&report, "cache_policy");
    field(field(&report, "sources"), "device_read_bytes");
    let modes = array(&report, "modes");
    let names: Vec<&str> =
        modes.iter().map(|mode| field(mode, "io_mode").as_str().unwrap()).collect();
    assert_eq!(names, ["direct", "buffered", "mmap"]);
    for mode in modes {
        let io_mode = field(mode, "io_mode").as_str().unwrap();
        assert!(count(field(mode, "file"), "size_bytes_after_load") > 0);
        check_phase(field(mode, "load"), io_mode);
        let runs = array(mode, "runs");
        let phases: Vec<&str> =
            runs.iter().map(|row| field(row, "phase").as_str().unwrap()).collect();
        assert_eq!(phases, ["a", "b", "c", "d", "e", "f"]);
        for row in runs {
            check_phase(row, io_mode);
        }
    }
    let comparisons = array(&report, "comparisons");
    assert_eq!(comparisons.len(), 7, "the load and six workloads");
    for comparison in comparisons {
        assert!(number(comparison, "direct_over_buffered") > 0.0);
        assert!(number(comparison, "direct_over_mmap") > 0.0);
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
    let output = tiny_run(&data, &["--workloads", "c", "--io", "buffered", &json_flag]);
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("ops/s") && table.contains("p99.9 µs"), "{table}");
    assert!(table.contains("memory: budget 1 MiB + headroom"), "{table}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let modes = array(&report, "modes");
    assert_eq!(modes.len(), 1);
    check_phase(&array(&modes[0], "runs")[0], "buffered");
}

/// `--plot FILE`: the SVG is written after the run, names every mode and phase, and the table's
/// last line names it; with `--json` stdout is still one JSON object and nothing else.
#[test]
fn plot_file_is_written_and_named_on_the_last_line() {
    let directory = tempfile::tempdir().unwrap();
    let plot_path = directory.path().join("ycsb.svg");
    let plot = plot_path.to_str().unwrap();
    let data = directory.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let arguments = ["--workloads", "a,c", "--io", "direct,buffered", "--plot", plot];
    let output = tiny_run(&data, &arguments);
    let table = String::from_utf8(output.stdout).unwrap();
    assert_eq!(table.lines().last(), Some(format!("plot: {plot}").as_str()), "{table}");
    let svg = std::fs::read_to_string(&plot_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for name in ["direct", "buffered", "load", "a", "c"] {
        assert!(svg.contains(&format!(">\n{name}\n</text>")), "no text {name:?} in the plot");
    }
    std::fs::remove_file(&plot_path).unwrap();

    let output =
        tiny_run(&data, &["--workloads", "c", "--io", "buffered", "--plot", plot, "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("only JSON on stdout");
    assert_eq!(array(&report, "modes").len(), 1);
    assert!(plot_path.exists(), "the plot is written with --json too");
    let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert!(leftovers.is_empty(), "no plot unless asked, databases removed: {leftovers:?}");
}

/// A bare `bench` creates `--dir` for its default plot instead of refusing it as missing.
#[test]
fn bare_bench_creates_its_directory_for_the_default_plot() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("new").join("bench");
    let arguments = [
        "bench",
        "--workloads",
        "c",
        "--io",
        "direct",
        "--records",
        "50",
        "--operations",
        "20",
        "--threads",
        "1",
        "--pool-mb",
        "1",
        "--value-bytes",
        "100",
        "--durability",
        "none",
        "--keep-caches",
        "--dir",
        data.to_str().unwrap(),
    ];
    let output = directdb(&arguments);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(data.join("directdb-bench.svg").exists());
}

/// A plot into a directory that does not exist is refused before minutes of measuring.
#[test]
fn plot_into_a_missing_directory_is_refused_up_front() {
    let directory = tempfile::tempdir().unwrap();
    let plot_path = directory.path().join("missing").join("ycsb.svg");
    let arguments = ["bench", "ycsb", "--plot", plot_path.to_str().unwrap(), "--json"];
    let output = directdb(&arguments);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--plot") && stderr.contains("missing"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_arguments_are_refused_with_the_flag_named() {
    let output = directdb(&["bench", "ycsb", "--workloads", "g", "--json"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--workloads"));
    let output = directdb(&["bench", "ycsb", "--operations", "5", "--seconds", "1"]);
    assert!(!output.status.success(), "--operations and --seconds exclude each other");
}

/// `--engines` with every other engine (a `peers` build): each runs every phase through the
/// same driver, loses no record, and is compared with directdb on direct I/O.
#[cfg(feature = "peers")]
#[test]
fn other_engines_run_the_same_workloads_side_by_side() {
    let directory = tempfile::tempdir().unwrap();
    let mut engines = vec!["lmdb", "sqlite", "redb", "fjall"];
    if cfg!(feature = "peer-rocksdb") {
        engines.push("rocksdb");
    }
    let engine_list = format!("directdb,{}", engines.join(","));
    let output = tiny_run(
        directory.path(),
        &["--workloads", "a,e,f", "--io", "direct", "--engines", &engine_list, "--json"],
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    let modes = array(&report, "modes");
    let labels: Vec<&str> =
        modes.iter().map(|mode| field(mode, "io_mode").as_str().unwrap()).collect();
    assert_eq!(labels[0], "direct");
    assert_eq!(labels[1..], engines);
    for mode in modes {
        let label = field(mode, "io_mode").as_str().unwrap();
        assert_eq!(field(mode, "engine"), if label == "direct" { "directdb" } else { label });
        let load = field(mode, "load");
        assert_eq!(field(load, "io_mode"), label);
        assert_eq!(count(load, "operation_count"), RECORDS, "{label}");
        for row in array(mode, "runs") {
            assert_eq!(count(row, "operation_count"), OPERATIONS, "{label}");
            assert_eq!(count(row, "not_found"), 0, "{label} lost a record: {row:#}");
        }
        if label != "direct" {
            assert!(!array(mode, "engine_notes").is_empty(), "{label} says how it was set up");
            for row in std::iter::once(load).chain(array(mode, "runs")) {
                assert!(field(row, "pool_hit_ratio").is_null(), "{label} has no pool: {row:#}");
            }
        }
    }
    for comparison in array(&report, "comparisons") {
        let ratios = field(comparison, "direct_over");
        for &engine in &engines {
            assert!(number(ratios, engine) > 0.0, "{comparison:#}");
        }
    }
}

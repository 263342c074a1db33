//! `directdb bench wal`, run as a user runs it: the built binary, on a temporary directory, for a
//! fraction of a second per run.
//!
//! Nothing here depends on timing: the checks are that the report has every key, that each run
//! committed something and wrote batches, that the counts agree with each other, and that the
//! benchmark leaves nothing behind in the directory.

mod common;

use common::{directdb, field, positive_count, positive_number};
use serde_json::Value;

#[test]
fn json_report_has_every_key_and_positive_counts() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap();
    let output = directdb(&[
        "bench",
        "wal",
        "--json",
        "--seconds",
        "0.2",
        "--committers",
        "1,2",
        "--dir",
        path,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench wal --json failed: {stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");

    for key in ["directory", "file", "seconds_per_run", "payload_bytes", "flush_method_source"] {
        field(&json, key);
    }
    assert_eq!(field(&json, "payload_bytes"), 100);
    let flush_method = field(&json, "flush_method").as_str().unwrap();
    assert!(["fdatasync", "dsync", "plain"].contains(&flush_method), "{flush_method}");
    assert!(field(&json, "flush_reason").as_str().is_some_and(|reason| !reason.is_empty()));

    let raw = field(&json, "raw");
    positive_count(raw, "operation_count");
    positive_number(raw, "ops_per_second");
    positive_number(raw, "latency_us_p50");
    assert!(field(raw, "latency_us_p50").as_f64() <= field(raw, "latency_us_p99").as_f64());
    field(field(raw, "io"), "sync_count");

    let runs = field(&json, "runs").as_array().expect("runs is an array");
    let committer_counts: Vec<u64> =
        runs.iter().map(|run| field(run, "committer_count").as_u64().unwrap()).collect();
    assert_eq!(committer_counts, [1, 2]);
    for run in runs {
        let commit_count = positive_count(run, "commit_count");
        let batches_written = positive_count(run, "batches_written");
        positive_number(run, "commits_per_second");
        positive_number(run, "latency_us_p50");
        positive_number(run, "records_per_batch");
        positive_number(run, "bytes_written_per_commit");
        positive_number(run, "latency_p50_over_raw");
        positive_number(run, "throughput_over_one_committer");
        for key in [
            "latency_us_p99",
            "device_us_per_batch",
            "device_busy_fraction",
            "device_idle_us_per_batch",
            "io",
        ] {
            field(run, key);
        }
        let stats = field(run, "wal_stats");
        // Every commit counted was appended and made durable, each batch by one flush.
        assert_eq!(positive_count(stats, "records_appended"), commit_count);
        assert_eq!(positive_count(stats, "batches_written"), batches_written);
        assert!(batches_written <= commit_count);
        assert_eq!(field(stats, "lsn_durable"), field(stats, "lsn_next"));
        assert!(field(stats, "failure").is_null());
        assert_eq!(field(stats, "flush_method").as_str(), Some(flush_method));
    }

    let targets = field(&json, "targets");
    positive_number(targets, "latency_p50_ratio");
    assert!(field(targets, "latency_target_met").is_boolean());
    // No 64-committer run was asked for: the throughput target is absent, not invented.
    assert!(field(targets, "throughput_ratio").is_null());
    assert!(field(targets, "throughput_target_met").is_null());

    let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
    assert!(left.is_empty(), "bench wal left files behind: {left:?}");
}

#[test]
fn bad_arguments_fail_with_a_message_not_a_panic() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap();
    for (arguments, expected) in [
        (["--committers", "0"], "--committers"),
        (["--committers", "4,4"], "listed twice"),
        (["--seconds", "0"], "--seconds"),
        (["--seconds", "NaN"], "--seconds"),
        (["--payload-bytes", "99999999"], "--payload-bytes"),
        (["--flush-method", "fsync"], "expected auto, fdatasync, dsync or plain"),
    ] {
        let mut all = vec!["bench", "wal", "--dir", path];
        all.extend(arguments);
        let output = directdb(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{arguments:?} was accepted");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{arguments:?}: {stderr}");
    }
}

//! `directdb bench pool`, run as a user runs it: the built binary, on a temporary directory,
//! with a tiny pool and a fraction of a second per row.
//!
//! Nothing here depends on timing: the checks are that the report has every key, that every
//! row measured something, that the pool's counters agree with the run (the hit rows never
//! missed, the miss rows missed and evicted), and that the benchmark leaves nothing behind.

mod common;

use common::{array, count, directdb, field, number, positive_number};
use serde_json::Value;

/// Whether a hit row is one of the raw references (held to no target), not the pool's.
fn is_reference(row: &Value) -> bool {
    ["raw_arena", "raw_arena_counted"].contains(&field(row, "access").as_str().unwrap())
}

fn check_hit(hit: &Value, frame_count: u64) {
    assert_eq!(count(hit, "set_pages"), frame_count);
    let rows = array(hit, "rows");
    // Two orders x two thread counts x five access kinds.
    assert_eq!(rows.len(), 20);
    for row in rows {
        for key in ["ns_per_access_p50", "ns_per_access_mean", "accesses_per_second"] {
            positive_number(row, key);
        }
        assert!(count(row, "access_count") > 0);
        positive_number(row, "over_raw_p50");
        assert_eq!(field(row, "target_met").is_null(), is_reference(row), "{row:#}");
    }
    let accesses: Vec<&str> =
        rows[..5].iter().map(|row| field(row, "access").as_str().unwrap()).collect();
    assert_eq!(
        accesses,
        ["raw_arena", "raw_arena_counted", "optimistic_read", "fix_shared", "fix_exclusive"]
    );
    assert_eq!(count(hit, "pool_misses"), 0, "the hit set stays resident");
    let pool_accesses: u64 =
        rows.iter().filter(|row| !is_reference(row)).map(|row| count(row, "access_count")).sum();
    // Every timed access hit; a thread's batch that ran past the deadline is not counted.
    assert!(count(hit, "pool_hits") >= pool_accesses, "{hit:#}");
}

/// Each row's rounds, in the order they ran, hold the row's own figure: the row is one of them.
fn check_rounds(row: &Value, rounds_key: &str, key: &str, rounds: u64) {
    let values: Vec<f64> =
        array(row, rounds_key).iter().map(|value| value.as_f64().unwrap()).collect();
    assert_eq!(values.len() as u64, rounds, "{row:#}");
    let reported = number(row, key);
    assert!(values.contains(&reported), "{key} is one of its rounds: {row:#}");
    let below = values.iter().filter(|&&value| value < reported).count();
    let above = values.iter().filter(|&&value| value > reported).count();
    assert!(below <= above + 1 && above <= below + 1, "{key} is the median round: {row:#}");
}

fn check_miss_mode(mode: &Value, reader_count: u64, rounds: u64) {
    field(field(mode, "file"), "io_mode");
    let raw = array(mode, "raw");
    assert!(!raw.is_empty());
    for row in raw {
        assert!(count(row, "read_count") > 0, "{row:#}");
        positive_number(row, "reads_per_second");
        field(row, "device_reads_per_second");
        assert!([1, reader_count].contains(&count(row, "queue_depth")));
        check_rounds(row, "round_reads_per_second", "reads_per_second", rounds);
    }
    let pool = array(mode, "pool");
    let threads: Vec<u64> = pool.iter().map(|row| count(row, "thread_count")).collect();
    assert_eq!(threads, [1, reader_count]);
    for row in pool {
        positive_number(row, "fixes_per_second");
        let pages_read = positive_number(row, "pages_read_per_second");
        let reached_device = positive_number(row, "device_pages_read_per_second");
        assert!(reached_device <= pages_read, "{row:#}");
        positive_number(row, "rss_anon_before_pool_bytes");
        positive_number(row, "raw_reads_per_second");
        positive_number(row, "over_raw");
        check_rounds(row, "round_over_raw", "over_raw", rounds);
        assert!(field(row, "target_met").is_boolean());
        assert!(field(row, "raw_backend").is_string());
        let counters = field(row, "counters");
        let misses = count(counters, "misses");
        assert_eq!(count(counters, "pages_read"), misses, "no prefetch during the run");
        if field(field(mode, "file"), "io_mode") == "mmap" {
            // Unchanged pages are read in place in the mapping: no frame, no miss.
            assert!(count(counters, "in_place_reads") > 0, "{row:#}");
            assert_eq!(misses, 0, "{row:#}");
        } else {
            assert!(misses > 0, "{row:#}");
            assert_eq!(count(counters, "in_place_reads"), 0, "{row:#}");
            assert!(count(counters, "evictions") > 0, "a full pool evicts");
            let hit_ratio = field(counters, "hit_ratio").as_f64().unwrap();
            assert!((0.0..1.0).contains(&hit_ratio), "{hit_ratio}");
        }
        positive_number(field(row, "memory"), "vm_rss_bytes");
    }
    let memory = field(mode, "memory");
    for key in ["vm_rss_bytes", "rss_anon_bytes", "bound_bytes"] {
        positive_number(memory, key);
    }
    field(memory, "rss_file_bytes");
    assert!(field(memory, "within_bound").is_boolean());
    // The mode's resident set is the largest of its concurrent rounds', the reported one's
    // included.
    let concurrent = pool.iter().find(|row| count(row, "thread_count") == reader_count).unwrap();
    let reported_rss = count(field(concurrent, "memory"), "vm_rss_bytes");
    assert!(reported_rss <= count(memory, "vm_rss_bytes"), "{mode:#}");
}

#[test]
fn json_report_has_every_key_and_consistent_counters() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap();
    let output = directdb(&[
        "bench",
        "pool",
        "--json",
        "--pool-mb",
        "1",
        "--data-mb",
        "4",
        "--seconds",
        "0.05",
        "--readers",
        "4",
        "--rounds",
        "2",
        "--dir",
        path,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench pool --json failed: {stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");

    assert_eq!(count(&json, "page_bytes"), 4096);
    assert_eq!(count(&json, "pool_bytes"), 1 << 20);
    assert_eq!(count(&json, "frame_count"), 256);
    assert_eq!(count(&json, "reader_count"), 4);
    assert_eq!(count(&json, "miss_rounds"), 2);
    positive_number(&json, "elapsed_seconds");
    let data_file = field(&json, "data_file");
    assert_eq!(count(data_file, "size_bytes"), 4 << 20);
    assert_eq!(count(data_file, "page_count"), 1024);
    assert_eq!(field(data_file, "written"), true);

    check_hit(field(&json, "hit"), 256);
    let modes = array(&json, "miss");
    let names: Vec<&str> =
        modes.iter().map(|mode| field(mode, "io_mode").as_str().unwrap()).collect();
    assert_eq!(names, ["direct", "buffered", "mmap"]);
    for mode in modes {
        check_miss_mode(mode, 4, 2);
    }
    // Direct has two raw backends per depth (io_uring and pread), the others one.
    assert_eq!(array(&modes[0], "raw").len(), 4);
    assert_eq!(array(&modes[1], "raw").len(), 2);

    let targets = field(&json, "targets");
    assert_eq!(field(targets, "hit_ratio_max"), 3.0);
    assert_eq!(field(targets, "miss_ratio_min"), 0.9);
    assert_eq!(count(targets, "memory_bound_bytes"), (1 << 20) + 52_429 + (16 << 20));
    for key in ["hit_chase_met", "hit_scatter_met", "miss_met", "memory_met"] {
        assert!(field(targets, key).is_boolean(), "{key}");
    }

    let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
    assert!(left.is_empty(), "bench pool left files behind: {left:?}");
}

#[test]
fn bad_arguments_fail_with_a_message_not_a_panic() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap();
    for (arguments, expected) in [
        (vec!["--pool-mb", "0"], "--pool-mb"),
        (vec!["--pool-mb", "4", "--data-mb", "4"], "--data-mb"),
        (vec!["--readers", "1"], "--readers"),
        (vec!["--seconds", "0"], "--seconds"),
        (vec!["--rounds", "0"], "--rounds"),
        (vec!["--io", "direct,direct"], "listed twice"),
        (vec!["--io", "uring"], "expected direct, buffered or mmap"),
        (vec!["--pool-mb", "99999999999999"], "overflows"),
    ] {
        let mut all = vec!["bench", "pool", "--dir", path];
        all.extend(&arguments);
        let output = directdb(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{arguments:?} was accepted");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{arguments:?}: {stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
    assert!(left.is_empty(), "refused runs wrote {left:?}");
}

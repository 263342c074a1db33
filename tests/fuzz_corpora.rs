//! Every committed corpus file of every cargo-fuzz target (`fuzz/corpus/<target>/`) replayed
//! through the target's entry point, on stable Rust and without libFuzzer: the inputs that once
//! found new code paths (and every input that once crashed a target, kept as a regression) run
//! in `cargo test --workspace`, so CI catches a change that would make one of them panic again.
//!
//! A target's entry point is a plain function of the fuzzer's bytes, the one its
//! `fuzz/fuzz_targets/<target>.rs` calls, so the replay decodes each file exactly as the fuzzer
//! did. Corpora are minimized (`cargo +nightly fuzz cmin <target>`) before they are committed.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A target's entry point: the fuzzer's bytes in, a panic if the code under test broke a promise.
type EntryPoint = fn(&[u8]);

/// Every target in `fuzz/Cargo.toml`, with its entry point.
const TARGETS: [(&str, EntryPoint); 7] = [
    ("btree_node", engine::fuzzing::targets::btree_node),
    ("commit_records", engine::fuzzing::targets::commit_records),
    ("data_header", engine::fuzzing::targets::data_header),
    ("sim_disk_ops", disk::fuzzing::sim_disk_ops),
    ("wal_recovery", wal::fuzzing::wal_recovery),
    ("open_directory", directdb::crashtest::fuzz::open_directory),
    ("engine_ops_with_crash", directdb::crashtest::fuzz::engine_ops_with_crash),
];

fn fuzz_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Replays every file of `target`'s corpus; fails naming each file whose replay panicked.
fn replay_corpus(target: &str) {
    let (_, entry_point) = TARGETS.iter().find(|(name, _)| *name == target).expect("a target");
    let directory = fuzz_directory().join("corpus").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus committed for {target}", directory.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let bytes =
                fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let outcome = catch_unwind(AssertUnwindSafe(|| entry_point(&bytes)));
            outcome.err().map(|payload| format!("{}: {}", path.display(), message(&*payload)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus files of {target} panicked:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

#[test]
fn every_fuzz_target_has_its_corpus_replayed_here() {
    let manifest =
        fs::read_to_string(fuzz_directory().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut declared: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|section| section.lines().find_map(|line| line.strip_prefix("name = ")))
        .map(|name| name.trim().trim_matches('"'))
        .collect();
    declared.sort_unstable();
    let mut replayed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    replayed.sort_unstable();
    assert_eq!(declared, replayed, "fuzz/Cargo.toml's targets and the ones replayed here");
}

#[test]
fn btree_node_corpus() {
    replay_corpus("btree_node");
}

#[test]
fn commit_records_corpus() {
    replay_corpus("commit_records");
}

#[test]
fn data_header_corpus() {
    replay_corpus("data_header");
}

#[test]
fn sim_disk_ops_corpus() {
    replay_corpus("sim_disk_ops");
}

#[test]
fn wal_recovery_corpus() {
    replay_corpus("wal_recovery");
}

#[test]
fn open_directory_corpus() {
    replay_corpus("open_directory");
}

#[test]
fn engine_ops_with_crash_corpus() {
    replay_corpus("engine_ops_with_crash");
}

/// Inputs that crashed a target, each kept under a name that says what broke
/// (`fuzz/regressions/<target>/<name>`), replayed one test each.
fn replay_regression(target: &str, name: &str) {
    let (_, entry_point) = TARGETS.iter().find(|(known, _)| *known == target).expect("a target");
    let path = fuzz_directory().join("regressions").join(target).join(name);
    let bytes = fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    entry_point(&bytes);
}

/// The 10-minute run of `engine_ops_with_crash` found the harness, not the engine, at fault: a
/// range's bounds were ordered by their indexes before `key` took them modulo the key count,
/// so the model's `BTreeMap::range` got a start above its end and panicked.
#[test]
fn engine_ops_with_crash_range_bounds_ordered_before_the_key_modulo() {
    replay_regression("engine_ops_with_crash", "range_bounds_ordered_before_the_key_modulo");
}

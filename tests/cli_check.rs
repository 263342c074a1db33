//! `directdb check PATH`, run as a user runs it: a healthy database passes with its counts, a
//! damaged page fails with a non-zero exit naming the page, a missing database is an error.

use std::process::{Command, Output};

use directdb::{Db, Options};

fn check(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_directdb"))
        .arg("check")
        .args(arguments)
        .output()
        .expect("runs")
}

fn small() -> Options {
    Options { pool_size: 1 << 20, ..Options::default() }
}

#[test]
fn a_healthy_database_passes_and_a_damaged_page_fails_naming_it() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap().to_owned();
    {
        let db = Db::open(directory.path(), small()).unwrap();
        for index in 0..2000u32 {
            db.put(format!("key{index:05}").as_bytes(), &[7u8; 100]).unwrap();
        }
        db.checkpoint().unwrap();
    }
    let output = check(&["--json", &path]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["key_count"], 2000);
    let tree_pages = report["tree_pages"].as_u64().unwrap();
    assert!(tree_pages > 10);
    // The shape: levels leaves first, one root on top, every tree page a node or overflow.
    let levels = report["levels"].as_array().unwrap();
    assert!(levels.len() >= 2, "2000 records of 100 bytes need a branch: {levels:?}");
    assert_eq!(levels.last().unwrap()["nodes"], 1, "one root");
    let nodes: u64 = levels.iter().map(|level| level["nodes"].as_u64().unwrap()).sum();
    assert_eq!(nodes + report["overflow_pages"].as_u64().unwrap(), tree_pages);
    let leaf_bytes = levels[0]["bytes_used"].as_u64().unwrap();
    assert!(leaf_bytes > 2000 * 100, "the leaves hold every value: {leaf_bytes} bytes used");
    assert!(leaf_bytes < levels[0]["nodes"].as_u64().unwrap() * 4096);
    let table = check(&[&path]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("tree height") && table.contains("leaves"), "{table}");

    // Flip a byte in the middle of a tree page (page 5 lies past the two header slots).
    let data = directory.path().join(directdb::DATA_FILE_NAME);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[5 * 4096 + 2000] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let output = check(&[&path]);
    assert!(!output.status.success(), "a damaged page must fail the check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("page 5"), "the error names the page: {stderr}");
}

#[test]
fn a_missing_database_is_an_error_not_a_new_database() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("nothing-here");
    let output = check(&[missing.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(!missing.exists(), "check never creates a database");
}

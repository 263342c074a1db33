//! `directdb probe`, run as a user runs it: the built binary, on a temporary directory.
//!
//! Nothing here knows this machine's answers; each field is checked against the `disk` crate's
//! own probes or against the rules that tie the fields together, so the test holds on any Linux
//! box (ext4 or tmpfs, with or without io_uring).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn directdb(arguments: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_directdb"))
        .args(arguments)
        .arg(path)
        .output()
        .expect("the directdb binary runs")
}

fn probe_json(path: &Path) -> Value {
    let output = directdb(&["probe", "--json"], path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "probe --json failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

/// `value[key]`, failing with the key's name and the whole object when it is absent.
fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or_else(|| panic!("no key {key:?} in {value:#}"))
}

#[test]
fn json_has_every_key_of_the_contract() {
    let directory = tempfile::tempdir().unwrap();
    let json = probe_json(directory.path());
    assert!(json.is_object());
    for key in [
        "path",
        "file_system",
        "block_device",
        "block_device_missing_reason",
        "probed_file",
        "o_direct_accepted",
        "dio_alignment",
        "io_uring",
        "flush_method",
        "flush_reason",
    ] {
        field(&json, key);
    }
    for key in ["name", "magic", "direct_io"] {
        field(field(&json, "file_system"), key);
    }
    let alignment = field(&json, "dio_alignment");
    for key in ["memory_bytes", "offset_bytes", "source", "statx"] {
        field(alignment, key);
    }
    assert!(field(alignment, "memory_bytes").as_u64().unwrap().is_power_of_two());
    assert!(field(alignment, "offset_bytes").as_u64().unwrap().is_power_of_two());
    assert!(field(&json, "flush_reason").as_str().is_some_and(|reason| !reason.is_empty()));
}

#[test]
fn json_block_device_is_an_object_with_its_queue_or_null_with_a_reason() {
    let directory = tempfile::tempdir().unwrap();
    let json = probe_json(directory.path());
    let device = field(&json, "block_device");
    let reason = field(&json, "block_device_missing_reason");
    if device.is_null() {
        assert!(reason.is_string(), "no block device and no reason: {json:#}");
        return;
    }
    assert!(reason.is_null());
    for key in [
        "name",
        "number",
        "queue_device",
        "logical_block_bytes",
        "physical_block_bytes",
        "write_cache",
        "fua",
        "rotational",
        "atomic_write_unit_min_bytes",
        "atomic_write_unit_max_bytes",
    ] {
        field(device, key);
    }
    let write_cache = field(device, "write_cache").as_str().unwrap();
    assert!(["write back", "write through", "unknown"].contains(&write_cache), "{write_cache}");
}

#[test]
fn json_file_system_and_io_uring_agree_with_the_disk_crates_probes() {
    let directory = tempfile::tempdir().unwrap();
    let json = probe_json(directory.path());

    let file_system = disk::FileSystem::of_path(directory.path()).unwrap();
    let reported = field(&json, "file_system");
    assert_eq!(field(reported, "name"), file_system.name.as_str());
    assert_eq!(field(reported, "magic"), file_system.magic);

    let support = disk::io_uring_support();
    let io_uring = field(&json, "io_uring");
    assert_eq!(field(io_uring, "available"), support.available.is_ok());
    assert_eq!(field(io_uring, "usable"), support.usable());
    for (name, supported) in &support.opcodes {
        assert_eq!(field(field(io_uring, "opcodes"), name), supported, "opcode {name}");
    }
}

#[test]
fn json_flush_method_follows_from_the_reported_cache() {
    let directory = tempfile::tempdir().unwrap();
    let json = probe_json(directory.path());
    let device = field(&json, "block_device");
    let (write_cache, fua) = if device.is_null() {
        (disk::WriteCache::Unknown, false)
    } else {
        let write_cache = disk::WriteCache::parse(field(device, "write_cache").as_str().unwrap());
        (write_cache, field(device, "fua").as_bool().unwrap_or(false))
    };
    let (expected, reason) = disk::FlushMethod::choose(write_cache, fua);
    assert_eq!(field(&json, "flush_method"), expected.name());
    assert_eq!(field(&json, "flush_reason"), reason.as_str());
}

#[test]
fn probing_a_directory_leaves_nothing_behind() {
    let directory = tempfile::tempdir().unwrap();
    probe_json(directory.path());
    assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 0);
}

/// Where a table line's value starts: after the first run of two or more spaces.
fn value_column(line: &str) -> Option<usize> {
    let gap = line.find("  ")?;
    Some(gap + line[gap..].len() - line[gap..].trim_start().len())
}

#[test]
fn human_output_is_a_table_naming_the_file_system() {
    let directory = tempfile::tempdir().unwrap();
    let output = directdb(&["probe"], directory.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let file_system = disk::FileSystem::of_path(directory.path()).unwrap();
    let row = stdout.lines().find(|line| line.starts_with("file system")).expect("a row");
    assert!(row.contains(&file_system.name), "{row}");
    let columns: Vec<Option<usize>> = stdout.lines().map(value_column).collect();
    assert!(columns.iter().all(|column| column.is_some() && *column == columns[0]), "{stdout}");
}

#[test]
fn a_missing_path_fails_with_status_1_and_says_which() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("missing");
    for arguments in [&["probe"][..], &["probe", "--json"][..]] {
        let output = directdb(arguments, &missing);
        assert_eq!(output.status.code(), Some(1));
        assert!(output.stdout.is_empty(), "nothing on stdout on failure");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");
        assert!(stderr.contains("no such file or directory"), "{stderr}");
    }
}

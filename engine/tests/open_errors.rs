//! Opening what is not an openable database gives a clear error and changes nothing: a
//! directory already open (in this process), a file that is not directdb's, another page size,
//! a newer format version, a header damaged in both slots.

mod common;

use std::path::Path;

use common::{DIRECTORY, open_sim, small_options};
use disk::{Disk, OpenOptions, SimDisk};
use engine::{DATA_FILE_NAME, Error, Options};

fn data_path() -> std::path::PathBuf {
    Path::new(DIRECTORY).join(DATA_FILE_NAME)
}

fn overwrite(disk: &SimDisk, offset: u64, bytes: &[u8]) {
    let file =
        disk.open(&data_path(), OpenOptions { create: true, ..OpenOptions::default() }).unwrap();
    let buffer = disk::AlignedBuf::from_slice_padded(bytes, 4096);
    file.write_at(&buffer, offset).unwrap();
    file.sync_data().unwrap();
}

#[test]
fn a_second_open_is_refused_as_locked() {
    let disk = SimDisk::with_seed(1);
    let db = open_sim(&disk, &small_options()).unwrap();
    match open_sim(&disk, &small_options()) {
        Err(Error::Locked { path }) => assert!(path.ends_with("LOCK"), "{path:?}"),
        other => panic!("expected a locked error, got {other:?}"),
    }
    db.put(b"still", b"works").unwrap();
    drop(db);
    assert!(open_sim(&disk, &small_options()).is_ok(), "the lock goes with the database");
}

#[test]
fn a_file_that_is_not_a_database_is_left_alone() {
    let disk = SimDisk::with_seed(2);
    disk.create_dir_all(Path::new(DIRECTORY)).unwrap();
    overwrite(&disk, 0, &b"#!/bin/sh\necho hello\n".repeat(400)[..8192]);
    let before = disk.durable_content(&data_path()).unwrap();
    assert!(matches!(open_sim(&disk, &small_options()), Err(Error::NotDirectdb { .. })));
    assert_eq!(disk.durable_content(&data_path()).unwrap(), before);
}

#[test]
fn another_page_size_is_an_error_naming_both() {
    let disk = SimDisk::with_seed(3);
    drop(open_sim(&disk, &small_options()).unwrap());
    let options = Options { page_size: 8192, ..small_options() };
    match open_sim(&disk, &options) {
        Err(Error::InvalidOptions { reason }) => {
            assert!(reason.contains("4096") && reason.contains("8192"), "{reason}")
        }
        other => panic!("expected a page-size error, got {other:?}"),
    }
}

#[test]
fn a_newer_format_version_is_incompatible() {
    let disk = SimDisk::with_seed(4);
    drop(open_sim(&disk, &small_options()).unwrap());
    let content = disk.durable_content(&data_path()).unwrap();
    for slot in 0..2usize {
        let mut bytes = content[slot * 4096..(slot + 1) * 4096].to_vec();
        if bytes.iter().all(|&byte| byte == 0) {
            continue;
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        bytes[8..12].copy_from_slice(&(version + 1).to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..124]);
        bytes[124..128].copy_from_slice(&crc.to_le_bytes());
        overwrite(&disk, (slot * 4096) as u64, &bytes);
    }
    assert!(matches!(open_sim(&disk, &small_options()), Err(Error::Incompatible { .. })));
}

#[test]
fn a_header_damaged_in_both_slots_is_corruption() {
    let disk = SimDisk::with_seed(5);
    {
        let db = open_sim(&disk, &small_options()).unwrap();
        db.put(b"k", b"v").unwrap();
        db.checkpoint().unwrap(); // both slots written
    }
    for slot in 0..2u64 {
        disk.flip_bit(&data_path(), slot * 4096 + 30, 1).unwrap();
    }
    match open_sim(&disk, &small_options()) {
        Err(Error::Corruption { what, .. }) => assert_eq!(what, "header"),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_truncated_data_file_is_an_error_not_a_panic() {
    let disk = SimDisk::with_seed(6);
    {
        let db = open_sim(&disk, &small_options()).unwrap();
        for index in 0..500u32 {
            db.put(format!("key{index:04}").as_bytes(), &[1; 200]).unwrap();
        }
        db.checkpoint().unwrap();
    }
    let file = disk.open(&data_path(), OpenOptions::default()).unwrap();
    file.truncate(5 * 4096).unwrap();
    file.sync_data().unwrap();
    // Open reads the header, the free-page list and the root; a tree page lost with the
    // truncation is found when it is read, by `check` at the latest.
    let error = match open_sim(&disk, &small_options()) {
        Err(error) => error,
        Ok(db) => db.check().expect_err("check reads every page of the truncated tree"),
    };
    assert!(error.to_string().contains("data.ddb"), "names the file: {error}");
}

#[test]
fn a_flipped_byte_in_a_tree_page_is_corruption_naming_the_page() {
    let disk = SimDisk::with_seed(7);
    {
        let db = open_sim(&disk, &small_options()).unwrap();
        for index in 0..500u32 {
            db.put(format!("key{index:04}").as_bytes(), &[1; 200]).unwrap();
        }
        db.checkpoint().unwrap();
    }
    disk.flip_bit(&data_path(), 3 * 4096 + 1000, 2).unwrap();
    let error = match open_sim(&disk, &small_options()) {
        Err(error) => error,
        Ok(db) => db.check().expect_err("a flipped tree page must fail the check"),
    };
    assert!(error.to_string().contains("page 3"), "names the page: {error}");
}

#[test]
fn a_flipped_byte_in_an_acknowledged_log_record_is_corruption_naming_the_lsn() {
    let disk = SimDisk::with_seed(8);
    {
        let db = open_sim(&disk, &small_options()).unwrap();
        for index in 0..50u32 {
            db.put(format!("key{index:04}").as_bytes(), &[1; 200]).unwrap();
        }
        // No checkpoint: recovery must replay these records.
    }
    let segment = Path::new(DIRECTORY).join("wal").join("wal-0000000000000000.seg");
    // The first records lie just after the segment's 4 KiB header.
    disk.flip_bit(&segment, 4096 + 100, 0).unwrap();
    match open_sim(&disk, &small_options()) {
        Err(error) => assert!(error.to_string().contains("LSN"), "names the LSN: {error}"),
        Ok(_) => panic!("a damaged acknowledged record was accepted"),
    }
}

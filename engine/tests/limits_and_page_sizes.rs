//! The limits the API promises: keys up to 1 KiB, values up to 16 MiB, page sizes from 4 KiB to
//! 64 KiB chosen at create time — written, read back, range-scanned, and reopened.

mod common;

use common::{open_sim, small_options};
use disk::SimDisk;
use engine::{Error, KEY_BYTES_MAX, Options, VALUE_BYTES_MAX};

#[test]
fn the_largest_key_and_value_round_trip_through_a_reopen() {
    let disk = SimDisk::with_seed(1);
    let key = vec![b'k'; KEY_BYTES_MAX];
    let value: Vec<u8> =
        (0..VALUE_BYTES_MAX).map(|index| u8::try_from(index % 251).unwrap()).collect();
    {
        let db = open_sim(&disk, &small_options()).unwrap();
        db.put(&key, &value).unwrap();
        db.put(b"small", b"one").unwrap();
        assert_eq!(db.get(&key).unwrap().as_ref(), Some(&value));
        assert!(matches!(
            db.put(&vec![b'k'; KEY_BYTES_MAX + 1], b"v"),
            Err(Error::KeyLength { .. })
        ));
        assert!(matches!(db.put(b"", b"v"), Err(Error::KeyLength { .. })));
        let mut transaction = db.begin().unwrap();
        let too_large = vec![0u8; VALUE_BYTES_MAX + 1];
        assert!(matches!(transaction.put(b"big", &too_large), Err(Error::ValueTooLarge { .. })));
    }
    let db = open_sim(&disk, &small_options()).unwrap();
    assert_eq!(db.get(&key).unwrap().as_ref(), Some(&value), "recovered from the log");
    db.checkpoint().unwrap();
    drop(db);
    let db = open_sim(&disk, &small_options()).unwrap();
    assert_eq!(db.get(&key).unwrap().as_ref(), Some(&value), "read from the checkpointed tree");
    db.delete(&key).unwrap();
    assert_eq!(db.get(&key).unwrap(), None);
    db.check().unwrap();
}

#[test]
fn every_page_size_works_and_is_kept() {
    for page_size in [4096usize, 8192, 16384, 65536] {
        let disk = SimDisk::with_seed(2);
        let options = Options { page_size, pool_size: 64 * page_size, ..small_options() };
        {
            let db = open_sim(&disk, &options).unwrap();
            for index in 0..3000u32 {
                db.put(
                    format!("key{index:05}").as_bytes(),
                    &[u8::try_from(index % 200).unwrap(); 90],
                )
                .unwrap();
            }
            db.checkpoint().unwrap();
        }
        let db = open_sim(&disk, &options).unwrap();
        let entries: Vec<_> = db
            .snapshot()
            .unwrap()
            .range(&b"key01000"[..]..&b"key01010"[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), 10, "page size {page_size}");
        assert_eq!(db.check().unwrap().key_count, 3000, "page size {page_size}");
    }
}

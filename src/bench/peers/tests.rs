//! The [`Store`] contract, checked by one function on every peer engine and every durability,
//! so that the driver can count on the same behaviour from each; and the facts the report prints.

use engine::Durability;

use super::{PeerKind, PeerSettings, facts, open};
use crate::bench::kv::Store;

/// Records the scans run over: `k000` to `k049`, each holding its number.
const RECORD_COUNT: u32 = 50;
/// Read-increment-write transactions per thread on the shared counter.
const INCREMENTS_PER_THREAD: u64 = 200;
const THREAD_COUNT: u64 = 2;

const DURABILITIES: [Durability; 3] =
    [Durability::Immediate, Durability::Eventual, Durability::None];

#[test]
fn lmdb_keeps_the_store_contract() {
    keeps_the_store_contract(PeerKind::Lmdb);
}

#[test]
fn sqlite_keeps_the_store_contract() {
    keeps_the_store_contract(PeerKind::Sqlite);
}

#[test]
fn redb_keeps_the_store_contract() {
    keeps_the_store_contract(PeerKind::Redb);
}

#[test]
fn fjall_keeps_the_store_contract() {
    keeps_the_store_contract(PeerKind::Fjall);
}

#[cfg(feature = "peer-rocksdb")]
#[test]
fn rocksdb_keeps_the_store_contract() {
    keeps_the_store_contract(PeerKind::Rocksdb);
}

/// The conformance test: on a fresh directory, for each durability, what a store returns, how a
/// failed body rolls back, that concurrent increments all land, and that after a checkpoint the
/// data outlives the store.
fn keeps_the_store_contract(kind: PeerKind) {
    for durability in DURABILITIES {
        let directory = tempfile::tempdir().unwrap();
        let settings = PeerSettings { cache_bytes: 4 << 20, budget_bytes: 16 << 20, durability };
        let context = format!("{} with {durability:?}", kind.name());
        let store = open(kind, directory.path(), &settings)
            .unwrap_or_else(|error| panic!("{context}: open: {error}"));
        reads_back_what_it_writes(&*store);
        scans_count_records_in_key_order(&*store);
        rolls_back_a_body_that_fails(&*store);
        serializes_concurrent_increments(&*store);
        store.checkpoint().unwrap_or_else(|error| panic!("{context}: checkpoint: {error}"));
        drop(store);

        let store = open(kind, directory.path(), &settings)
            .unwrap_or_else(|error| panic!("{context}: reopen: {error}"));
        assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"2"[..]), "{context}");
        assert_eq!(counter(&*store), THREAD_COUNT * INCREMENTS_PER_THREAD, "{context}");
        let mut records = 0;
        store
            .scan(b"k", usize::MAX, &mut |key, value| {
                assert_eq!(key, record_key(records).as_bytes(), "{context}");
                assert_eq!(value, records.to_le_bytes(), "{context}");
                records += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(records, RECORD_COUNT, "{context}");
    }
}

fn reads_back_what_it_writes(store: &dyn Store) {
    store.put(b"a", b"1").unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    store.put(b"a", b"2").unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get(b"missing").unwrap(), None);
    // Keys and values are bytes, not text: zero bytes and an empty value are kept as they are
    // (the key sorts before every other, so the scans below from `k` do not meet it).
    store.put(b"\0\xff\0", b"").unwrap();
    assert_eq!(store.get(b"\0\xff\0").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(store.get(b"\0\xff").unwrap(), None);
}

fn scans_count_records_in_key_order(store: &dyn Store) {
    // Inserted out of order, so that key order is not insertion order.
    for number in (0..RECORD_COUNT).rev() {
        store.put(record_key(number).as_bytes(), &number.to_le_bytes()).unwrap();
    }
    // From a key between two records: the next five.
    assert_eq!(scan(store, b"k010x", 5), [11, 12, 13, 14, 15]);
    // From a record's own key: it is included.
    assert_eq!(scan(store, b"k010", 3), [10, 11, 12]);
    // Near the last record: fewer than asked.
    assert_eq!(scan(store, b"k048", 5), [48, 49]);
    assert_eq!(scan(store, b"k049", 0), Vec::<u32>::new());
}

fn rolls_back_a_body_that_fails(store: &dyn Store) {
    let error = store
        .transaction(&mut |transaction| {
            transaction.put(b"a", b"3")?;
            transaction.put(b"b", b"3")?;
            assert_eq!(transaction.get(b"a")?.as_deref(), Some(&b"3"[..]), "its own write");
            Err("the body gave up".into())
        })
        .unwrap_err();
    assert_eq!(error, "the body gave up");
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get(b"b").unwrap(), None);
}

/// Two threads increment one counter: a lost update would leave it short.
fn serializes_concurrent_increments(store: &dyn Store) {
    store.put(b"counter", &0u64.to_le_bytes()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..THREAD_COUNT {
            scope.spawn(|| {
                for _ in 0..INCREMENTS_PER_THREAD {
                    store
                        .transaction(&mut |transaction| {
                            let value = transaction.get(b"counter")?.ok_or("no counter")?;
                            let bytes = value.try_into().map_err(|_| "not a u64")?;
                            let next = u64::from_le_bytes(bytes) + 1;
                            transaction.put(b"counter", &next.to_le_bytes())
                        })
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(counter(store), THREAD_COUNT * INCREMENTS_PER_THREAD);
}

fn record_key(number: u32) -> String {
    format!("k{number:03}")
}

/// The numbers of the records a scan of `count` from `start` visits, checking that each key
/// holds its own number.
fn scan(store: &dyn Store, start: &[u8], count: usize) -> Vec<u32> {
    let mut numbers = Vec::new();
    let visited = store
        .scan(start, count, &mut |key, value| {
            let number = u32::from_le_bytes(value.try_into().unwrap());
            assert_eq!(key, record_key(number).as_bytes());
            numbers.push(number);
            Ok(())
        })
        .unwrap();
    assert_eq!(visited, numbers.len());
    numbers
}

fn counter(store: &dyn Store) -> u64 {
    u64::from_le_bytes(store.get(b"counter").unwrap().unwrap().try_into().unwrap())
}

#[test]
fn every_peer_is_parsed_back_from_its_name() {
    for &kind in PeerKind::ALL {
        assert_eq!(PeerKind::parse(kind.name()), Ok(kind));
    }
    let error = PeerKind::parse("mysql").unwrap_err();
    assert!(error.contains("lmdb, sqlite, redb, fjall"), "{error}");
}

/// A `peers` build without RocksDB says which feature would have it.
#[cfg(not(feature = "peer-rocksdb"))]
#[test]
fn rocksdb_names_its_feature_when_left_out() {
    let error = PeerKind::parse("rocksdb").unwrap_err();
    assert!(error.contains("`peer-rocksdb`"), "{error}");
}

/// The versions the report prints are the ones built: `Cargo.lock` says which.
#[test]
fn the_reported_crate_versions_are_the_locked_ones() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for &kind in PeerKind::ALL {
        let (name, version) = kind.crate_version();
        let entry = format!("name = \"{name}\"\nversion = \"{version}\"\n");
        assert!(lock.contains(&entry), "Cargo.lock has no {name} {version}");
    }
}

/// Each engine says what every setting became, and says something different for each
/// durability.
#[test]
fn the_facts_name_the_engine_and_each_durability() {
    for &kind in PeerKind::ALL {
        let mut durabilities = Vec::new();
        for durability in DURABILITIES {
            let settings =
                PeerSettings { cache_bytes: 48 << 20, budget_bytes: 48 << 20, durability };
            let json = serde_json::to_value(facts(kind, &settings)).unwrap();
            assert_eq!(json["engine"], kind.name());
            assert!(json["crate_version"].as_str().unwrap().contains(kind.crate_version().1));
            assert!(["mmap", "buffered"].contains(&json["io_path"].as_str().unwrap()));
            assert!(!json["cache"].as_str().unwrap().is_empty());
            durabilities.push(json["durability"].as_str().unwrap().to_owned());
        }
        durabilities.sort();
        durabilities.dedup();
        assert_eq!(durabilities.len(), DURABILITIES.len(), "{durabilities:?}");
    }
}

/// fjall's memtables get half of what the budget leaves beside its block cache, within the
/// 1-64 MiB it accepts: 18 MiB under the default 48 MiB budget with a 12 MiB cache.
#[test]
fn fjall_memtables_share_the_budget_with_its_cache() {
    const MIB: u64 = 1 << 20;
    let settings = |cache_bytes, budget_bytes| PeerSettings {
        cache_bytes,
        budget_bytes,
        durability: engine::Durability::None,
    };
    assert_eq!(super::fjall::memtable_bytes(&settings(12 * MIB, 48 * MIB)), 18 * MIB);
    assert_eq!(super::fjall::memtable_bytes(&settings(48 * MIB, 48 * MIB)), MIB);
    assert_eq!(super::fjall::memtable_bytes(&settings(MIB, 4096 * MIB)), 64 * MIB);
}

/// RocksDB's memtables are sized as fjall's: two of them fill what the block cache leaves.
#[cfg(feature = "peer-rocksdb")]
#[test]
fn rocksdb_memtables_share_the_budget_with_its_cache() {
    const MIB: u64 = 1 << 20;
    let settings = |cache_bytes, budget_bytes| PeerSettings {
        cache_bytes,
        budget_bytes,
        durability: engine::Durability::None,
    };
    assert_eq!(super::rocksdb::write_buffer_bytes(&settings(12 * MIB, 48 * MIB)), 18 * MIB);
    assert_eq!(super::rocksdb::write_buffer_bytes(&settings(48 * MIB, 48 * MIB)), MIB);
    assert_eq!(super::rocksdb::write_buffer_bytes(&settings(MIB, 4096 * MIB)), 64 * MIB);
}

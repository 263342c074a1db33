//! The key-value interface the workload drivers run on ([`Store`]), so that one driver, with the
//! same operations and the same key sequences, measures directdb on each I/O mode and other
//! engines alike. Errors are messages; the driver adds which operation and key failed.

use std::ops::Bound;

use engine::{Db, DbStats, Error as DbError};

/// Times a transaction is run again after losing to a concurrent one before the store gives up
/// (a transaction that loses that often means the engine is stuck, not busy).
pub(crate) const CONFLICT_RETRIES_MAX: u32 = 1000;

/// Runs `attempt` until it commits (`Ok(true)`; `Ok(false)`: it lost to a concurrent
/// transaction and was rolled back), at most [`CONFLICT_RETRIES_MAX`] times after the first.
/// Returns the retries; the error names `who` and what losing means to it (`lost`).
pub(crate) fn retry_until_committed(
    who: &str,
    lost: &str,
    mut attempt: impl FnMut() -> Result<bool, String>,
) -> Result<u32, String> {
    for retries in 0..=CONFLICT_RETRIES_MAX {
        if attempt()? {
            return Ok(retries);
        }
    }
    Err(format!("{who}: {lost} {CONFLICT_RETRIES_MAX} times in a row"))
}

/// Calls `visit` on the first `count` records of `records` (a scan from its start, in key
/// order); returns how many it visited. The first error, from the engine or from `visit`, ends
/// the scan.
pub(crate) fn visit_first<Key, Value>(
    records: impl Iterator<Item = Result<(Key, Value), String>>,
    count: usize,
    visit: &mut Visit<'_>,
) -> Result<usize, String>
where
    Key: AsRef<[u8]>,
    Value: AsRef<[u8]>,
{
    let mut visited = 0;
    for record in records.take(count) {
        let (key, value) = record?;
        visit(key.as_ref(), value.as_ref())?;
        visited += 1;
    }
    Ok(visited)
}

/// What a workload does to a key-value store.
pub(crate) trait Store: Sync {
    /// The latest committed value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;

    /// Sets `key` to `value` in a transaction of its own, durable as the store was opened.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String>;

    /// Calls `visit` on up to `count` records in key order from `start` (included), all from
    /// one consistent view; returns how many it visited.
    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String>;

    /// Runs `body` as one serializable read-write transaction and commits it; runs it again
    /// (from the start, so it must not count on state it changed the first time) when it loses
    /// to a concurrent transaction, up to [`CONFLICT_RETRIES_MAX`] times. An error from `body`
    /// rolls the transaction back and is returned. Returns the retries.
    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String>;

    /// The engine's own counters (pool, log, commits), when it is directdb.
    fn stats(&self) -> Option<DbStats> {
        None
    }

    /// Writes everything committed into the store's files, so that a reopen replays nothing.
    fn checkpoint(&self) -> Result<(), String>;
}

/// What [`Store::scan`] calls on each record: its key and value.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), String> + 'a;

/// The body of a [`Store::transaction`].
pub(crate) type TransactionBody<'a> = dyn FnMut(&mut dyn Transaction) -> Result<(), String> + 'a;

/// What a transaction body reads and writes through.
pub(crate) trait Transaction {
    /// The value of `key` as the transaction sees it (its own writes included).
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    /// Sets `key` to `value` when the transaction commits.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
}

impl Store for Db {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Db::get(self, key).map_err(|error| error.to_string())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        Db::put(self, key, value).map_err(|error| error.to_string())
    }

    fn scan(&self, start: &[u8], count: usize, visit: &mut Visit<'_>) -> Result<usize, String> {
        let snapshot = self.snapshot().map_err(|error| error.to_string())?;
        let range = snapshot
            .range((Bound::Included(start), Bound::Unbounded))
            .map_err(|error| error.to_string())?;
        visit_first(range.map(|entry| entry.map_err(|error| error.to_string())), count, visit)
    }

    fn transaction(&self, body: &mut TransactionBody<'_>) -> Result<u32, String> {
        retry_until_committed("directdb", "conflicted", || {
            let mut transaction = DbTransaction {
                inner: self.begin().map_err(|error| error.to_string())?,
                conflicted: false,
            };
            let outcome = body(&mut transaction);
            if transaction.conflicted {
                return Ok(false);
            }
            outcome?;
            match transaction.inner.commit() {
                Ok(()) => Ok(true),
                Err(DbError::Conflict) => Ok(false),
                Err(error) => Err(error.to_string()),
            }
        })
    }

    fn stats(&self) -> Option<DbStats> {
        Some(Db::stats(self))
    }

    fn checkpoint(&self) -> Result<(), String> {
        Db::checkpoint(self).map_err(|error| error.to_string())
    }
}

/// A directdb transaction that remembers a conflict its body saw, so that the body's error is
/// taken for a lost race (run again) rather than a failure.
struct DbTransaction<'db> {
    inner: engine::Transaction<'db>,
    conflicted: bool,
}

impl DbTransaction<'_> {
    fn note<T>(&mut self, result: engine::Result<T>) -> Result<T, String> {
        result.map_err(|error| {
            self.conflicted |= matches!(error, DbError::Conflict);
            error.to_string()
        })
    }
}

impl Transaction for DbTransaction<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let result = self.inner.get(key);
        self.note(result)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let result = self.inner.put(key, value);
        self.note(result)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use engine::{Durability, Options};

    use super::*;

    fn small_db(directory: &std::path::Path) -> Db {
        let options =
            Options { pool_size: 1 << 20, durability: Durability::None, ..Options::default() };
        Db::open(directory, options).unwrap()
    }

    #[test]
    fn a_scan_visits_count_records_from_its_start() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        for number in 0..50u32 {
            Store::put(&db, format!("k{number:03}").as_bytes(), &number.to_le_bytes()).unwrap();
        }
        let mut seen = Vec::new();
        let visited = Store::scan(&db, b"k010x", 5, &mut |key, _| {
            seen.push(String::from_utf8(key.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        assert_eq!(visited, 5);
        assert_eq!(seen, ["k011", "k012", "k013", "k014", "k015"]);
        assert_eq!(Store::scan(&db, b"k048", 5, &mut |_, _| Ok(())).unwrap(), 2);
    }

    /// Two transactions read and write one key at once: the loser runs again, so both
    /// increments land and one retry is counted.
    #[test]
    fn a_transaction_that_loses_a_race_runs_again() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        Store::put(&db, b"counter", &0u64.to_le_bytes()).unwrap();
        let both_read = Barrier::new(2);
        let retries: Vec<u32> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut first_run = true;
                        db.transaction(&mut |transaction| {
                            let value = transaction.get(b"counter")?.unwrap();
                            if std::mem::take(&mut first_run) {
                                both_read.wait();
                            }
                            let count = u64::from_le_bytes(value.try_into().unwrap());
                            transaction.put(b"counter", &(count + 1).to_le_bytes())
                        })
                        .unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|thread| thread.join().unwrap()).collect()
        });
        assert_eq!(retries.iter().sum::<u32>(), 1, "{retries:?}");
        let value = Store::get(&db, b"counter").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(value.try_into().unwrap()), 2);
    }

    #[test]
    fn an_error_in_the_body_rolls_back() {
        let directory = tempfile::tempdir().unwrap();
        let db = small_db(directory.path());
        let error = db
            .transaction(&mut |transaction| {
                transaction.put(b"key", b"value")?;
                Err("no".into())
            })
            .unwrap_err();
        assert_eq!(error, "no");
        assert_eq!(Store::get(&db, b"key").unwrap(), None);
    }
}

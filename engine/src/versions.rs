//! [`VersionStore`]: recently committed versions of keys, kept in memory, for snapshots and for
//! the validation of optimistic transactions (see docs/DESIGN.md, "Transactions").
//!
//! A committed transaction publishes one [`Version`] per key it wrote, inside the commit critical
//! section (no I/O there), in commit-timestamp order. Its versions reach the B+tree later, after
//! the commit is durable, outside that section. So for a key with a chain here:
//!
//! ```text
//!   tree value  ──(pre-image, once the tree has been given a version of the chain)──┐
//!   versions:   ts 17 = "a"   ts 21 = deleted   ts 30 = "c"                          │
//!               └── applied_through = 21: the tree holds the value of ts 21 ─────────┘
//! ```
//!
//! A reader at timestamp `t` takes the newest version with `ts <= t`; if every version is newer
//! than `t`, it needs the value from before the chain: the pre-image if the tree has already been
//! changed by the chain, else the tree itself. The tree layer records the pre-image while it holds
//! the leaf exclusively and *before* it changes the leaf, and a reader that read the tree checks
//! the chain again afterwards ([`VersionStore::read_after_tree`]), so a reader never takes a tree
//! value newer than its timestamp.
//!
//! Invariants (checked by [`VersionStore::check_invariants`]):
//! 1. A chain's versions are in strictly increasing timestamp order and it has at least one.
//! 2. `applied_through` is 0 (nothing applied) or the timestamp of one of its versions.
//! 3. A chain with something applied has its pre-image recorded.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

/// A commit timestamp. 0 is "before every commit".
pub(crate) type Timestamp = u64;

/// A value as committed: the bytes, or `None` for a deletion.
pub(crate) type Value = Option<Arc<[u8]>>;

/// A range of keys a transaction scanned: `(start, end)` bounds, owned.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// One committed version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) ts: Timestamp,
    pub(crate) value: Value,
}

/// The versions of one key not yet forgotten.
#[derive(Debug, Default)]
struct Chain {
    versions: Vec<Version>,
    /// The newest version the tree has been given (0: none).
    applied_through: Timestamp,
    /// The tree's value before the first version of this chain was applied to it.
    pre_image: Option<Value>,
}

/// What a reader at some timestamp should see for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// This value (or deletion), from the store.
    Found(Value),
    /// Whatever the tree holds: then check again with [`VersionStore::read_after_tree`].
    Tree,
}

/// Recently committed versions, by key.
#[derive(Debug, Default)]
pub(crate) struct VersionStore {
    chains: RwLock<BTreeMap<Vec<u8>, Arc<Mutex<Chain>>>>,
    /// `chains.len()`, stored under the write lock after every change to the map, so that a
    /// reader can tell the store is empty — the usual state without long-lived snapshots —
    /// without taking the lock (whose shared hold writes a cache line every reader shares).
    /// A reader that must see a chain sees a count above zero: the chain's insertion
    /// happened before whatever the reader synchronised with that made the chain's version
    /// visible to it (the visible timestamp, or the tree latch of the apply that followed).
    chains_len: AtomicUsize,
}

impl VersionStore {
    /// Publishes the versions of one commit. Called inside the commit critical section, with
    /// timestamps increasing from call to call.
    pub(crate) fn publish(&self, ts: Timestamp, writes: &[(Vec<u8>, Value)]) {
        let mut chains = self.chains.write();
        for (key, value) in writes {
            let chain = chains.entry(key.clone()).or_default();
            let mut chain = chain.lock();
            if let Some(last) = chain.versions.last() {
                assert!(last.ts < ts, "commit {ts} published after commit {}", last.ts);
            }
            chain.versions.push(Version { ts, value: value.clone() });
        }
        self.chains_len.store(chains.len(), Ordering::Release);
    }

    /// What a reader at `read_ts` sees for `key`.
    pub(crate) fn read(&self, key: &[u8], read_ts: Timestamp) -> Lookup {
        match self.chain(key) {
            Some(chain) => Self::read_chain(&chain.lock(), read_ts),
            None => Lookup::Tree,
        }
    }

    /// Called after a reader at `read_ts` read `tree_value` from the tree, having been told
    /// [`Lookup::Tree`]: the value the reader should use (the tree may have been given a newer
    /// version meanwhile, whose pre-image was recorded first). The tree's bytes are handed
    /// back as they are when the store has nothing newer to say, so a read copies its value
    /// once.
    pub(crate) fn read_after_tree(
        &self,
        key: &[u8],
        read_ts: Timestamp,
        tree_value: Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        match self.read(key, read_ts) {
            Lookup::Found(value) => value.map(|bytes| bytes.to_vec()),
            Lookup::Tree => tree_value,
        }
    }

    fn read_chain(chain: &Chain, read_ts: Timestamp) -> Lookup {
        if let Some(version) = chain.versions.iter().rev().find(|version| version.ts <= read_ts) {
            return Lookup::Found(version.value.clone());
        }
        match &chain.pre_image {
            Some(value) => Lookup::Found(value.clone()),
            None => Lookup::Tree,
        }
    }

    /// The keys in `range` with a chain, and what a reader at `read_ts` sees for each, in key
    /// order: the part of a range scan the store decides (the caller merges it with the tree).
    pub(crate) fn read_range(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        read_ts: Timestamp,
    ) -> Vec<(Vec<u8>, Lookup)> {
        let chains = self.chains.read();
        chains
            .range::<[u8], _>(range)
            .map(|(key, chain)| (key.clone(), Self::read_chain(&chain.lock(), read_ts)))
            .collect()
    }

    /// Whether any key in `keys`, or any key in one of `ranges`, has a version committed after
    /// `start_ts`: then a transaction that started at `start_ts` and read them cannot be
    /// serialized at a later commit.
    pub(crate) fn changed_since(
        &self,
        keys: &[Vec<u8>],
        ranges: &[KeyRange],
        start_ts: Timestamp,
    ) -> bool {
        let chains = self.chains.read();
        let newer = |chain: &Arc<Mutex<Chain>>| {
            chain.lock().versions.last().is_some_and(|version| version.ts > start_ts)
        };
        keys.iter().any(|key| chains.get(key.as_slice()).is_some_and(newer))
            || ranges.iter().any(|(start, end)| {
                let bounds = (as_slice_bound(start), as_slice_bound(end));
                chains.range::<[u8], _>(bounds).any(|(_, chain)| newer(chain))
            })
    }

    /// The version of `key` the tree should hold now (the newest), and its timestamp, or `None`
    /// if the tree already holds it. The tree layer calls this with the key's leaf held
    /// exclusively, then [`VersionStore::mark_applied`] before releasing the leaf.
    pub(crate) fn to_apply(&self, key: &[u8]) -> Option<Version> {
        let chain = self.chain(key)?;
        let chain = chain.lock();
        let newest = chain.versions.last()?;
        (newest.ts > chain.applied_through).then(|| newest.clone())
    }

    /// Records that the tree now holds the version of `ts`, and — the first time — the value
    /// the tree held before (`pre_image`). Must be called before the leaf is released, and the
    /// pre-image before the leaf is changed (see the module doc).
    pub(crate) fn mark_applied(&self, key: &[u8], ts: Timestamp, pre_image: Value) {
        let chain = self.chain(key).expect("a key being applied has a chain");
        let mut chain = chain.lock();
        assert!(ts > chain.applied_through, "version {ts} of a key applied twice or out of order");
        assert!(chain.versions.iter().any(|version| version.ts == ts));
        chain.pre_image.get_or_insert(pre_image);
        chain.applied_through = ts;
    }

    /// Forgets `key`'s chain if its versions are all in the tree and no older than
    /// `oldest_active_ts` (the applier calls this right after [`VersionStore::mark_applied`],
    /// so that without long-lived snapshots the store stays nearly empty and reads go straight
    /// to the tree).
    pub(crate) fn forget_if_unneeded(&self, key: &[u8], oldest_active_ts: Timestamp) -> bool {
        let mut chains = self.chains.write();
        let unneeded = chains.get(key).is_some_and(|chain| {
            let chain = chain.lock();
            let newest = chain.versions.last().map_or(0, |version| version.ts);
            chain.applied_through == newest && newest <= oldest_active_ts
        });
        if unneeded {
            chains.remove(key);
            self.chains_len.store(chains.len(), Ordering::Release);
        }
        unneeded
    }

    /// Forgets every chain whose versions are all in the tree and no older than
    /// `oldest_active_ts` (no reader still needs anything but the tree for that key). Returns
    /// how many chains were dropped.
    pub(crate) fn collect_garbage(&self, oldest_active_ts: Timestamp) -> usize {
        let mut chains = self.chains.write();
        let before = chains.len();
        chains.retain(|_, chain| {
            let chain = chain.lock();
            let newest = chain.versions.last().map_or(0, |version| version.ts);
            !(chain.applied_through == newest && newest <= oldest_active_ts)
        });
        self.chains_len.store(chains.len(), Ordering::Release);
        before - chains.len()
    }

    /// Keys with a chain (for statistics and tests).
    pub(crate) fn chain_count(&self) -> usize {
        self.chains.read().len()
    }

    /// Panics if a chain breaks an invariant of the module doc.
    pub(crate) fn check_invariants(&self) {
        for (key, chain) in self.chains.read().iter() {
            let chain = chain.lock();
            assert!(!chain.versions.is_empty(), "key {key:?} has an empty chain");
            assert!(chain.versions.windows(2).all(|pair| pair[0].ts < pair[1].ts), "key {key:?}");
            if chain.applied_through != 0 {
                assert!(chain.versions.iter().any(|version| version.ts == chain.applied_through));
                assert!(chain.pre_image.is_some(), "key {key:?} applied without a pre-image");
            }
        }
    }

    fn chain(&self, key: &[u8]) -> Option<Arc<Mutex<Chain>>> {
        if self.chains_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.chains.read().get(key).cloned()
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap as Model;

    use proptest::prelude::*;

    use super::*;

    fn value(text: &str) -> Value {
        Some(Arc::from(text.as_bytes()))
    }

    #[test]
    fn readers_see_the_newest_version_at_or_below_their_timestamp() {
        let store = VersionStore::default();
        store.publish(5, &[(b"k".to_vec(), value("five"))]);
        store.publish(9, &[(b"k".to_vec(), None)]);
        assert_eq!(store.read(b"k", 4), Lookup::Tree, "before the chain: the tree");
        assert_eq!(store.read(b"k", 5), Lookup::Found(value("five")));
        assert_eq!(store.read(b"k", 8), Lookup::Found(value("five")));
        assert_eq!(store.read(b"k", 9), Lookup::Found(None), "a deletion is a version");
        assert_eq!(store.read(b"other", 9), Lookup::Tree);
    }

    #[test]
    fn once_the_tree_is_changed_old_readers_get_the_pre_image() {
        let store = VersionStore::default();
        store.publish(5, &[(b"k".to_vec(), value("new"))]);
        let version = store.to_apply(b"k").unwrap();
        store.mark_applied(b"k", version.ts, value("old"));
        assert_eq!(store.read(b"k", 4), Lookup::Found(value("old")));
        assert_eq!(store.to_apply(b"k"), None, "nothing left to apply");
        assert_eq!(store.collect_garbage(4), 0, "a reader at 4 still needs the pre-image");
        assert_eq!(store.collect_garbage(5), 1);
        assert_eq!(store.read(b"k", 4), Lookup::Tree);
        store.check_invariants();
    }

    #[test]
    fn validation_sees_keys_and_ranges_written_after_the_start() {
        let store = VersionStore::default();
        store.publish(3, &[(b"b".to_vec(), value("x"))]);
        store.publish(7, &[(b"m".to_vec(), value("y"))]);
        let range = |start: &str, end: &str| {
            (Bound::Included(start.as_bytes().to_vec()), Bound::Excluded(end.as_bytes().to_vec()))
        };
        assert!(store.changed_since(&[b"m".to_vec()], &[], 6));
        assert!(!store.changed_since(&[b"m".to_vec()], &[], 7));
        assert!(!store.changed_since(&[b"b".to_vec(), b"z".to_vec()], &[], 3));
        assert!(store.changed_since(&[], &[range("a", "n")], 6), "a phantom in a scanned range");
        assert!(!store.changed_since(&[], &[range("n", "z")], 0));
        assert!(!store.changed_since(&[], &[range("a", "m")], 6), "m is outside a..m");
    }

    #[derive(Clone, Debug)]
    enum Step {
        Commit(Vec<(u8, Option<u8>)>),
        Apply(u8),
        Collect,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => proptest::collection::vec((0u8..6, proptest::option::of(any::<u8>())), 1..4)
                .prop_map(Step::Commit),
            3 => (0u8..6).prop_map(Step::Apply),
            1 => Just(Step::Collect),
        ]
    }

    proptest! {
        /// A tree (a map) that the store's versions are applied to lazily, out of key order,
        /// with garbage collected as it goes: a reader at every past timestamp still sees
        /// exactly the state after the commits up to it.
        #[test]
        fn every_reader_sees_its_snapshot(steps in proptest::collection::vec(step(), 1..60)) {
            let store = VersionStore::default();
            let mut tree: Model<Vec<u8>, Vec<u8>> = Model::new();
            let mut history: Vec<Model<Vec<u8>, Vec<u8>>> = vec![Model::new()];
            let mut oldest_reader: Timestamp = 0;
            for step in steps {
                match step {
                    Step::Commit(writes) => {
                        let ts = history.len() as Timestamp;
                        let mut state = history.last().unwrap().clone();
                        let mut published = Model::new();
                        for (key, byte) in writes {
                            let value: Value = byte.map(|byte| Arc::from(&[byte][..]));
                            published.insert(vec![key], value.clone());
                            match byte {
                                Some(byte) => state.insert(vec![key], vec![byte]),
                                None => state.remove(&vec![key]),
                            };
                        }
                        let writes: Vec<_> = published.into_iter().collect();
                        store.publish(ts, &writes);
                        history.push(state);
                    }
                    Step::Apply(key) => {
                        let key = vec![key];
                        if let Some(version) = store.to_apply(&key) {
                            let pre_image = tree.get(&key).map(|bytes| Arc::from(bytes.as_slice()));
                            store.mark_applied(&key, version.ts, pre_image);
                            match version.value {
                                Some(bytes) => tree.insert(key, bytes.to_vec()),
                                None => tree.remove(&key),
                            };
                        }
                    }
                    Step::Collect => {
                        oldest_reader = (oldest_reader + 1).min(history.len() as Timestamp - 1);
                        store.collect_garbage(oldest_reader);
                    }
                }
                store.check_invariants();
                for read_ts in oldest_reader..history.len() as Timestamp {
                    for key in 0u8..6 {
                        let key = vec![key];
                        let tree_value = tree.get(&key).cloned();
                        let seen = store.read_after_tree(&key, read_ts, tree_value);
                        let expected = history[usize::try_from(read_ts).unwrap()].get(&key).cloned();
                        prop_assert_eq!(seen, expected, "key {:?} at {}", key, read_ts);
                    }
                }
            }
        }
    }
}

//! The oracle: what a recovered database may hold.
//!
//! A workload's commits are kept in the order the database serialized them (one committing
//! thread, so the order they were issued in), each marked acknowledged (`commit` returned `Ok`)
//! or in doubt (`commit` returned an error, or the crash came while it ran). After a crash and
//! recovery the database must hold exactly the state after some prefix of that order which
//! contains every acknowledged commit:
//!
//! 1. every acknowledged commit is present (else commits were **lost**);
//! 2. no commit is present in part, and none is present while an earlier one is missing
//!    (else the state is a **hole**: no prefix explains it).
//!
//! An in-doubt commit before the last acknowledged one (possible only if the database carried
//! on after reporting an error) may be present or absent: a failed `commit` promises nothing,
//! and the oracle tries both.

use std::collections::BTreeMap;

/// A database's contents: key → value.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// One transaction's writes: key → new value, or `None` for a deletion.
pub type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// In-doubt commits before the last acknowledged one whose presence the oracle tries both ways;
/// beyond this it assumes they are all present (2^8 orders of the prefix search at most).
const IN_DOUBT_ENUMERATED_MAX: usize = 8;

/// Applies `writes` to `state`.
pub fn apply(state: &mut State, writes: &Writes) {
    for (key, value) in writes {
        match value {
            Some(value) => state.insert(key.clone(), value.clone()),
            None => state.remove(key),
        };
    }
}

/// The commits of a workload over a known starting state.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    base: State,
    commits: Vec<(Writes, bool)>,
}

/// What the oracle makes of a recovered state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The state after the first `prefix` commits, which hold all `acknowledged` ones.
    Matched {
        /// Commits present.
        prefix: usize,
        /// Acknowledged commits (all present).
        acknowledged: usize,
    },
    /// The state after the first `prefix` commits, which miss `lost` acknowledged ones.
    Lost {
        /// Commits present.
        prefix: usize,
        /// Acknowledged commits missing.
        lost: usize,
        /// Acknowledged commits in all.
        acknowledged: usize,
    },
    /// No prefix of the commit order gives this state: a partial commit, a hole in the order,
    /// or data nobody wrote.
    Hole {
        /// Acknowledged commits in all.
        acknowledged: usize,
    },
}

impl Oracle {
    /// An oracle for commits made on top of `base`.
    pub fn new(base: State) -> Self {
        Self { base, commits: Vec::new() }
    }

    /// Records the next commit in order, acknowledged or in doubt.
    pub fn push(&mut self, writes: Writes, acknowledged: bool) {
        self.commits.push((writes, acknowledged));
    }

    /// Marks the commit at `index` acknowledged (a kill harness learns of acknowledgements after
    /// it has listed the commits).
    pub fn acknowledge(&mut self, index: usize) {
        self.commits[index].1 = true;
    }

    /// Commits recorded.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether no commit is recorded.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    /// Acknowledged commits.
    pub fn acknowledged(&self) -> usize {
        self.commits.iter().filter(|(_, acknowledged)| *acknowledged).count()
    }

    /// The state after every commit recorded (what a clean run ends with).
    pub fn final_state(&self) -> State {
        let mut state = self.base.clone();
        for (writes, _) in &self.commits {
            apply(&mut state, writes);
        }
        state
    }

    /// Judges `recovered`.
    pub fn verify(&self, recovered: &State) -> Verdict {
        let acknowledged = self.acknowledged();
        let required = self.commits.iter().rposition(|(_, acked)| *acked).map_or(0, |i| i + 1);
        let in_doubt: Vec<usize> = (0..required).filter(|&index| !self.commits[index].1).collect();
        let choices: u32 =
            if in_doubt.len() <= IN_DOUBT_ENUMERATED_MAX { 1 << in_doubt.len() } else { 1 };
        // Choice bit set: that in-doubt commit is left out.
        for choice in 0..choices {
            let skipped = |index: usize| {
                in_doubt
                    .iter()
                    .position(|&doubt| doubt == index)
                    .is_some_and(|bit| choice & (1 << bit) != 0)
            };
            let mut state = self.base.clone();
            for prefix in 0..=self.commits.len() {
                if prefix > 0 && !skipped(prefix - 1) {
                    apply(&mut state, &self.commits[prefix - 1].0);
                }
                if prefix >= required && state == *recovered {
                    return Verdict::Matched { prefix, acknowledged };
                }
            }
        }
        // Not a valid state: a shorter prefix means acknowledged commits were lost.
        let mut state = self.base.clone();
        for prefix in 0..required {
            if prefix > 0 {
                apply(&mut state, &self.commits[prefix - 1].0);
            }
            if state == *recovered {
                let lost =
                    self.commits[prefix..required].iter().filter(|(_, acked)| *acked).count();
                return Verdict::Lost { prefix, lost, acknowledged };
            }
        }
        Verdict::Hole { acknowledged }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Writes {
        vec![(key.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))]
    }

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs
            .iter()
            .map(|(key, value)| (key.as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect()
    }

    fn oracle() -> Oracle {
        let mut oracle = Oracle::new(state(&[("a", "0")]));
        oracle.push(put("a", "1"), true);
        oracle.push(put("b", "1"), true);
        oracle.push(put("a", "2"), false);
        oracle
    }

    #[test]
    fn a_prefix_holding_every_acknowledged_commit_matches() {
        let oracle = oracle();
        let verdict = oracle.verify(&state(&[("a", "1"), ("b", "1")]));
        assert_eq!(verdict, Verdict::Matched { prefix: 2, acknowledged: 2 });
        let verdict = oracle.verify(&state(&[("a", "2"), ("b", "1")]));
        assert_eq!(verdict, Verdict::Matched { prefix: 3, acknowledged: 2 });
    }

    #[test]
    fn a_shorter_prefix_is_a_loss_and_anything_else_a_hole() {
        let oracle = oracle();
        let verdict = oracle.verify(&state(&[("a", "1")]));
        assert_eq!(verdict, Verdict::Lost { prefix: 1, lost: 1, acknowledged: 2 });
        let verdict = oracle.verify(&state(&[("a", "0")]));
        assert_eq!(verdict, Verdict::Lost { prefix: 0, lost: 2, acknowledged: 2 });
        // b without the a=1 before it: a hole.
        assert_eq!(
            oracle.verify(&state(&[("a", "0"), ("b", "1")])),
            Verdict::Hole { acknowledged: 2 }
        );
        assert_eq!(oracle.verify(&state(&[("a", "9")])), Verdict::Hole { acknowledged: 2 });
    }

    #[test]
    fn an_in_doubt_commit_before_an_acknowledged_one_may_be_missing() {
        let mut oracle = Oracle::new(State::new());
        oracle.push(put("a", "1"), false);
        oracle.push(put("b", "1"), true);
        assert!(matches!(oracle.verify(&state(&[("b", "1")])), Verdict::Matched { .. }));
        assert!(matches!(
            oracle.verify(&state(&[("a", "1"), ("b", "1")])),
            Verdict::Matched { .. }
        ));
    }
}

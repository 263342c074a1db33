//! The YCSB core workloads A to F: their operation mixes and request distributions, as the
//! `workloads/workload[a-f]` files of YCSB define them.
//!
//! | workload | mix | distribution |
//! |---|---|---|
//! | A update heavy | 50% read, 50% update | zipfian |
//! | B read mostly | 95% read, 5% update | zipfian |
//! | C read only | 100% read | zipfian |
//! | D read latest | 95% read, 5% insert | latest |
//! | E short ranges | 95% scan (1 to 100 records, uniform), 5% insert | zipfian |
//! | F read-modify-write | 50% read, 50% read-modify-write | zipfian |
//!
//! An update replaces the whole value of a record (YCSB's default rewrites one of ten 100-byte
//! fields; directdb's values have no fields, so this is YCSB's `writeallfields=true`). A
//! read-modify-write reads and rewrites a record in one transaction.

use rand::Rng;

use super::distribution::DistributionKind;

/// Longest scan of workload E, in records (YCSB's `maxscanlength`).
pub(crate) const SCAN_LENGTH_MAX: u64 = 100;

/// One of YCSB's core workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Workload {
    A,
    B,
    C,
    D,
    E,
    F,
}

/// What one operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OperationKind {
    /// Reads one record (`Db::get`).
    Read,
    /// Replaces one record's value (`Db::put`, a transaction of one write).
    Update,
    /// Adds the next record (`Db::put` of a new key).
    Insert,
    /// Reads 1 to [`SCAN_LENGTH_MAX`] records in key order from a chosen key (`Snapshot::range`).
    Scan,
    /// Reads and rewrites one record in one transaction, retried on `Error::Conflict`.
    ReadModifyWrite,
}

impl OperationKind {
    /// Every kind, in report order.
    pub(crate) const ALL: [OperationKind; 5] = [
        OperationKind::Read,
        OperationKind::Update,
        OperationKind::Insert,
        OperationKind::Scan,
        OperationKind::ReadModifyWrite,
    ];

    /// Its position in [`OperationKind::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The share of each operation kind, in the order of [`OperationKind::ALL`]; they sum to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Mix {
    pub(crate) proportions: [f64; 5],
}

impl Mix {
    const fn of(read: f64, update: f64, insert: f64, scan: f64, read_modify_write: f64) -> Mix {
        Mix { proportions: [read, update, insert, scan, read_modify_write] }
    }

    /// The share of `kind`.
    pub(crate) fn proportion(&self, kind: OperationKind) -> f64 {
        self.proportions[kind.index()]
    }

    /// One operation kind, drawn by its share (YCSB's `DiscreteGenerator`: one uniform draw
    /// against the running sum).
    pub(crate) fn choose(&self, rng: &mut impl Rng) -> OperationKind {
        let mut remaining: f64 = rng.random();
        for kind in OperationKind::ALL {
            let proportion = self.proportion(kind);
            if remaining < proportion {
                return kind;
            }
            remaining -= proportion;
        }
        // Rounding left a sliver above the last share: the last kind with any share.
        *OperationKind::ALL.iter().rev().find(|&&kind| self.proportion(kind) > 0.0).expect("a mix")
    }
}

impl Workload {
    /// Every workload, in order.
    pub(crate) const ALL: [Workload; 6] =
        [Workload::A, Workload::B, Workload::C, Workload::D, Workload::E, Workload::F];

    /// Its letter, lower case, as on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::A => "a",
            Workload::B => "b",
            Workload::C => "c",
            Workload::D => "d",
            Workload::E => "e",
            Workload::F => "f",
        }
    }

    /// The operation mix.
    pub(crate) fn mix(self) -> Mix {
        match self {
            Workload::A => Mix::of(0.5, 0.5, 0.0, 0.0, 0.0),
            Workload::B => Mix::of(0.95, 0.05, 0.0, 0.0, 0.0),
            Workload::C => Mix::of(1.0, 0.0, 0.0, 0.0, 0.0),
            Workload::D => Mix::of(0.95, 0.0, 0.05, 0.0, 0.0),
            Workload::E => Mix::of(0.0, 0.0, 0.05, 0.95, 0.0),
            Workload::F => Mix::of(0.5, 0.0, 0.0, 0.0, 0.5),
        }
    }

    /// The request distribution of the standard definition.
    pub(crate) fn standard_distribution(self) -> DistributionKind {
        match self {
            Workload::D => DistributionKind::Latest,
            _ => DistributionKind::Zipfian,
        }
    }

    /// Parses `--workloads`: comma-separated letters, each once, in order.
    pub(crate) fn parse_list(text: &str) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            let lower = name.to_ascii_lowercase();
            let workload = Workload::ALL
                .into_iter()
                .find(|workload| workload.name() == lower)
                .ok_or_else(|| format!("--workloads: {name:?} is not one of a, b, c, d, e, f"))?;
            if workloads.contains(&workload) {
                return Err(format!("--workloads: {name} is listed twice"));
            }
            workloads.push(workload);
        }
        if workloads.is_empty() {
            return Err(format!("--workloads: no workload in {text:?}"));
        }
        Ok(workloads)
    }
}

/// A scan length: uniform from 1 to [`SCAN_LENGTH_MAX`] (YCSB's `scanlengthdistribution`
/// default).
pub(crate) fn scan_length(rng: &mut impl Rng) -> u64 {
    rng.random_range(1..=SCAN_LENGTH_MAX)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    const DRAW_COUNT: u32 = 200_000;

    #[test]
    fn every_mix_sums_to_one() {
        for workload in Workload::ALL {
            let sum: f64 = workload.mix().proportions.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "{workload:?}");
        }
    }

    /// Over many draws each kind's share is within 0.5 percentage points of the definition
    /// (the standard deviation of a share near 0.5 over 200,000 draws is 0.11 points), and a
    /// kind the mix does not have is never drawn.
    #[test]
    fn drawn_operations_follow_each_mix() {
        let mut rng = SmallRng::seed_from_u64(11);
        for workload in Workload::ALL {
            let mix = workload.mix();
            let mut counts = [0u32; 5];
            for _ in 0..DRAW_COUNT {
                counts[mix.choose(&mut rng).index()] += 1;
            }
            for kind in OperationKind::ALL {
                let share = f64::from(counts[kind.index()]) / f64::from(DRAW_COUNT);
                let expected = mix.proportion(kind);
                assert!((share - expected).abs() < 0.005, "{workload:?} {kind:?}: {share}");
                if expected == 0.0 {
                    assert_eq!(counts[kind.index()], 0, "{workload:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn the_standard_mixes_are_ycsbs() {
        let a = Workload::A.mix();
        assert_eq!(a.proportion(OperationKind::Read), 0.5);
        assert_eq!(a.proportion(OperationKind::Update), 0.5);
        assert_eq!(Workload::B.mix().proportion(OperationKind::Update), 0.05);
        assert_eq!(Workload::C.mix().proportion(OperationKind::Read), 1.0);
        assert_eq!(Workload::D.mix().proportion(OperationKind::Insert), 0.05);
        assert_eq!(Workload::E.mix().proportion(OperationKind::Scan), 0.95);
        assert_eq!(Workload::F.mix().proportion(OperationKind::ReadModifyWrite), 0.5);
        assert_eq!(Workload::D.standard_distribution(), DistributionKind::Latest);
        assert_eq!(Workload::E.standard_distribution(), DistributionKind::Zipfian);
    }

    #[test]
    fn scan_lengths_are_uniform_from_one_to_the_maximum() {
        let mut rng = SmallRng::seed_from_u64(13);
        let mut counts = vec![0u32; usize::try_from(SCAN_LENGTH_MAX).unwrap() + 1];
        for _ in 0..DRAW_COUNT {
            counts[usize::try_from(scan_length(&mut rng)).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0);
        let expected = f64::from(DRAW_COUNT) / SCAN_LENGTH_MAX as f64;
        assert!(counts[1..].iter().all(|&count| (f64::from(count) / expected - 1.0).abs() < 0.1));
    }

    #[test]
    fn workload_lists_are_parsed_in_order_each_once() {
        let parsed = Workload::parse_list("f, A,,c").unwrap();
        assert_eq!(parsed, vec![Workload::F, Workload::A, Workload::C]);
        assert!(Workload::parse_list("").unwrap_err().contains("no workload"));
        assert!(Workload::parse_list("a,a").unwrap_err().contains("listed twice"));
        assert!(Workload::parse_list("g").unwrap_err().contains("not one of"));
    }
}

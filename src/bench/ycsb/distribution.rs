//! Which record an operation touches: YCSB's request distributions, over key numbers.
//!
//! A key number is the order in which a record was inserted (0 for the first record loaded).
//! The chooser draws key numbers below `limit`, the count of inserts acknowledged so far, so a
//! read never asks for a record that is not there yet.
//!
//! - **Scrambled zipfian** (YCSB's `ScrambledZipfianGenerator`, the default of A, B, C, E, F):
//!   a zipfian rank over a fixed space of [`SCRAMBLED_ITEM_COUNT`] items with constant 0.99,
//!   hashed with [`fnv_hash64`] and reduced modulo the key space. The hash scatters the hot
//!   ranks over the key numbers, so the most popular records are not the first ones loaded
//!   (which sit together in the load's write order). Because the ranks come from 10^10 items,
//!   the head is flatter than a zipfian over the records themselves: the hottest key number
//!   gets about 1 / 26.47 = 3.8% of the draws (plus whatever other ranks land on it), not the
//!   1 / zeta(n) of [`Zipfian`] over n records. That is what YCSB does, so numbers compare.
//! - **Uniform**: every acknowledged key number equally likely.
//! - **Latest** (YCSB's `SkewedLatestGenerator`, the default of D): a zipfian rank over the
//!   acknowledged records, counted back from the newest, so recent inserts are the hot ones.
//!
//! [`Zipfian`] is the generator of Gray et al., "Quickly generating billion-record synthetic
//! databases" (SIGMOD 1994), as YCSB implements it: exact for ranks 0 and 1, a closed-form
//! approximation above, and an incremental zeta when the item count grows (latest, with
//! inserts).

use rand::Rng;

/// The zipfian constant of every YCSB workload.
pub(crate) const ZIPFIAN_THETA: f64 = 0.99;
/// The item space of the scrambled zipfian: YCSB's `ScrambledZipfianGenerator.ITEM_COUNT`,
/// large enough that the record count never outgrows it.
pub(crate) const SCRAMBLED_ITEM_COUNT: u64 = 10_000_000_000;
/// zeta(10^10, 0.99): YCSB's precomputed `ScrambledZipfianGenerator.ZETAN` (summing 10^10
/// terms at start-up would take a minute; a test checks the constant).
pub(crate) const SCRAMBLED_ZETA: f64 = 26.469_028_201_783_02;
/// Draws a chooser may reject (a scrambled key number not acknowledged yet) before it gives
/// up and reduces modulo the acknowledged count. The key space is at most
/// [`KEY_SPACE_OVER_LIMIT_MAX`] times the acknowledged count, so a draw is rejected with
/// probability about 1/2 at most, and 64 rejections in a row (about 2^-64) do not happen.
const REJECTIONS_MAX: u32 = 64;
/// The scrambled key space is at most this many times the records present at the start of a
/// run (it holds room for the run's expected inserts).
pub(crate) const KEY_SPACE_OVER_LIMIT_MAX: u64 = 2;

/// FNV-64 offset basis.
const FNV_OFFSET_BASIS_64: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-64 prime.
const FNV_PRIME_64: u64 = 1_099_511_628_211;

/// YCSB's `Utils.fnvhash64`: FNV-1a over the 8 little-endian bytes of `value`, then the
/// absolute value of the result as a signed 64-bit number (so at most 2^63, 19 digits).
pub(crate) fn fnv_hash64(value: u64) -> u64 {
    let mut hash = FNV_OFFSET_BASIS_64;
    for byte in value.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME_64);
    }
    i64::from_ne_bytes(hash.to_ne_bytes()).unsigned_abs()
}

/// zeta(n, theta) = sum of 1 / i^theta for i in 1..=n, continued from `zeta_of_from` =
/// zeta(from, theta): O(n - from).
fn zeta_continued(from: u64, to: u64, theta: f64, zeta_of_from: f64) -> f64 {
    (from + 1..=to).fold(zeta_of_from, |sum, index| sum + 1.0 / (index as f64).powf(theta))
}

/// Zipfian ranks in `0..item_count`, rank 0 the most popular: P(rank r) = 1 / ((r + 1)^theta
/// zeta(item_count, theta)).
#[derive(Clone, Debug)]
pub(crate) struct Zipfian {
    theta: f64,
    /// 1 / (1 - theta).
    alpha: f64,
    /// zeta(2, theta).
    zeta_2: f64,
    /// zeta(item_count, theta).
    zeta_n: f64,
    /// The item count `zeta_n` and `eta` are for.
    item_count: u64,
    eta: f64,
}

impl Zipfian {
    /// A generator over `item_count` items (O(item_count) to sum zeta).
    pub(crate) fn new(item_count: u64, theta: f64) -> Zipfian {
        Self::with_zeta(item_count, theta, zeta_continued(0, item_count, theta, 0.0))
    }

    /// A generator over `item_count` items whose zeta(item_count, theta) is known.
    pub(crate) fn with_zeta(item_count: u64, theta: f64, zeta_n: f64) -> Zipfian {
        assert!(item_count >= 2, "a zipfian needs two items, not {item_count}");
        assert!(theta > 0.0 && theta < 1.0, "theta {theta} is outside (0, 1)");
        let zeta_2 = zeta_continued(0, 2, theta, 0.0);
        let mut zipfian =
            Zipfian { theta, alpha: 1.0 / (1.0 - theta), zeta_2, zeta_n, item_count, eta: 0.0 };
        zipfian.eta = zipfian.eta_for(item_count);
        zipfian
    }

    fn eta_for(&self, item_count: u64) -> f64 {
        (1.0 - (2.0 / item_count as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta_2 / self.zeta_n)
    }

    /// A rank in `0..item_count`. A larger `item_count` than the last call's extends zeta
    /// incrementally (inserts grow the latest distribution's item count one at a time); a
    /// smaller one sums it again (never needed by the workloads, but correct).
    pub(crate) fn next(&mut self, rng: &mut impl Rng, item_count: u64) -> u64 {
        if item_count != self.item_count {
            self.resize(item_count);
        }
        let uniform: f64 = rng.random();
        let scaled = uniform * self.zeta_n;
        if scaled < 1.0 {
            return 0;
        }
        if scaled < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let rank = self.item_count as f64 * (self.eta * uniform - self.eta + 1.0).powf(self.alpha);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a non-negative float below item_count"
        )]
        let rank = rank as u64;
        rank.min(self.item_count - 1)
    }

    fn resize(&mut self, item_count: u64) {
        assert!(item_count >= 2, "a zipfian needs two items, not {item_count}");
        self.zeta_n = if item_count > self.item_count {
            zeta_continued(self.item_count, item_count, self.theta, self.zeta_n)
        } else {
            zeta_continued(0, item_count, self.theta, 0.0)
        };
        self.item_count = item_count;
        self.eta = self.eta_for(item_count);
    }
}

/// Which request distribution a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DistributionKind {
    /// Scrambled zipfian, constant 0.99.
    Zipfian,
    /// Uniform over the acknowledged records.
    Uniform,
    /// Zipfian from the newest record back.
    Latest,
}

impl DistributionKind {
    /// The name on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DistributionKind::Zipfian => "zipfian",
            DistributionKind::Uniform => "uniform",
            DistributionKind::Latest => "latest",
        }
    }
}

impl std::str::FromStr for DistributionKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "zipfian" => Ok(DistributionKind::Zipfian),
            "uniform" => Ok(DistributionKind::Uniform),
            "latest" => Ok(DistributionKind::Latest),
            other => Err(format!("{other:?}: expected zipfian, uniform or latest")),
        }
    }
}

/// One thread's key-number chooser (cheap to clone: each thread clones a prepared one).
#[derive(Clone, Debug)]
pub(crate) enum KeyChooser {
    /// Zipfian ranks over [`SCRAMBLED_ITEM_COUNT`] items, hashed into `key_space`.
    ScrambledZipfian { ranks: Zipfian, key_space: u64 },
    /// Uniform below the limit.
    Uniform,
    /// Zipfian ranks over the acknowledged records, counted back from the newest.
    Latest { ranks: Zipfian },
}

impl KeyChooser {
    /// A chooser of `kind` for a run that starts with `record_count` records and expects about
    /// `expected_insert_count` inserts. The scrambled key space holds room for the inserts, as
    /// YCSB's does (`insertcount + expectednewkeys`), up to [`KEY_SPACE_OVER_LIMIT_MAX`] times
    /// the records, so rejected draws stay rare.
    pub(crate) fn new(
        kind: DistributionKind,
        record_count: u64,
        expected_insert_count: u64,
    ) -> KeyChooser {
        assert!(record_count >= 2, "a chooser needs two records, not {record_count}");
        match kind {
            DistributionKind::Zipfian => KeyChooser::ScrambledZipfian {
                ranks: Zipfian::with_zeta(SCRAMBLED_ITEM_COUNT, ZIPFIAN_THETA, SCRAMBLED_ZETA),
                key_space: record_count
                    + expected_insert_count.min(record_count * (KEY_SPACE_OVER_LIMIT_MAX - 1)),
            },
            DistributionKind::Uniform => KeyChooser::Uniform,
            DistributionKind::Latest => {
                KeyChooser::Latest { ranks: Zipfian::new(record_count, ZIPFIAN_THETA) }
            }
        }
    }

    /// A key number below `limit` (the acknowledged inserts; at least 2).
    pub(crate) fn next(&mut self, rng: &mut impl Rng, limit: u64) -> u64 {
        debug_assert!(limit >= 2);
        match self {
            KeyChooser::ScrambledZipfian { ranks, key_space } => {
                for _ in 0..REJECTIONS_MAX {
                    let key_number = fnv_hash64(ranks.next(rng, SCRAMBLED_ITEM_COUNT)) % *key_space;
                    if key_number < limit {
                        return key_number;
                    }
                }
                fnv_hash64(ranks.next(rng, SCRAMBLED_ITEM_COUNT)) % limit.min(*key_space)
            }
            KeyChooser::Uniform => rng.random_range(0..limit),
            KeyChooser::Latest { ranks } => limit - 1 - ranks.next(rng, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    const DRAW_COUNT: usize = 1_000_000;

    fn draw_counts(item_count: u64, mut draw: impl FnMut(&mut SmallRng) -> u64) -> Vec<u64> {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u64; usize::try_from(item_count).unwrap()];
        for _ in 0..DRAW_COUNT {
            counts[usize::try_from(draw(&mut rng)).unwrap()] += 1;
        }
        counts
    }

    fn at(counts: &[u64], index: u64) -> u64 {
        counts[usize::try_from(index).unwrap()]
    }

    fn share(count: u64) -> f64 {
        count as f64 / DRAW_COUNT as f64
    }

    #[test]
    fn fnv_hash_matches_ycsb() {
        // FNV-1a of eight zero bytes is 0xa8c7f832281a39c5, negative as an i64, so the hash
        // is its two's-complement negation (Java's Math.abs).
        assert_eq!(fnv_hash64(0), 0x5738_07cd_d7e5_c63b);
        assert!((0..100_000).all(|value| fnv_hash64(value) <= 1 << 63));
        let mut hashes: Vec<u64> = (0..100_000).map(fnv_hash64).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 100_000, "distinct key numbers get distinct keys");
    }

    /// YCSB's constant is zeta(10^10, 0.99): the sum to 10^6, then the Euler-Maclaurin tail
    /// (integral, half end terms, first derivative term) to 10^10.
    #[test]
    fn the_scrambled_zeta_constant_is_zeta_of_ten_billion() {
        let theta = ZIPFIAN_THETA;
        let (head_end, tail_end) = (1_000_000f64, 1e10f64);
        let head = zeta_continued(0, 1_000_000, theta, 0.0);
        let term = |x: f64| x.powf(-theta);
        let slope = |x: f64| -theta * x.powf(-theta - 1.0);
        let integral = (tail_end.powf(1.0 - theta) - head_end.powf(1.0 - theta)) / (1.0 - theta);
        let tail = integral
            + (term(tail_end) - term(head_end)) / 2.0
            + (slope(tail_end) - slope(head_end)) / 12.0;
        assert!((head + tail - SCRAMBLED_ZETA).abs() < 1e-6, "{}", head + tail);
    }

    /// Rank frequencies follow 1 / (r + 1)^0.99: rank 0 gets 1 / zeta(n) of the draws (exact in
    /// the generator), rank 1 that over 2^0.99, and the approximated ranks above stay within
    /// 15% of the law, aggregated over bands of ranks so each band has thousands of draws.
    #[test]
    fn zipfian_ranks_follow_the_power_law() {
        let item_count = 1000;
        let mut zipfian = Zipfian::new(item_count, ZIPFIAN_THETA);
        let counts = draw_counts(item_count, |rng| zipfian.next(rng, item_count));
        let zeta_n = zeta_continued(0, item_count, ZIPFIAN_THETA, 0.0);
        let expected = |rank: u64| 1.0 / ((rank + 1) as f64).powf(ZIPFIAN_THETA) / zeta_n;
        let top_share = share(counts[0]);
        assert!((top_share / expected(0) - 1.0).abs() < 0.02, "top key share {top_share}");
        assert!((share(counts[1]) / expected(1) - 1.0).abs() < 0.03);
        for (first, last) in [(2u64, 9u64), (10, 99), (100, 999)] {
            let observed: u64 = (first..=last).map(|rank| at(&counts, rank)).sum();
            let law: f64 = (first..=last).map(expected).sum();
            let ratio = share(observed) / law;
            assert!((ratio - 1.0).abs() < 0.15, "ranks {first}..={last}: {ratio}");
        }
        // Rank frequencies fall: each band's mean above the next band's.
        let mean = |first: usize, last: usize| {
            counts[first..=last].iter().sum::<u64>() as f64 / (last - first + 1) as f64
        };
        assert!(
            mean(0, 0) > mean(1, 9) && mean(1, 9) > mean(10, 99) && mean(10, 99) > mean(100, 999)
        );
    }

    #[test]
    fn zipfian_zeta_grows_incrementally_as_items_are_added() {
        let mut grown = Zipfian::new(1000, ZIPFIAN_THETA);
        let mut rng = SmallRng::seed_from_u64(1);
        for item_count in 1001..=1100 {
            assert!(grown.next(&mut rng, item_count) < item_count);
        }
        let fresh = Zipfian::new(1100, ZIPFIAN_THETA);
        assert_eq!(grown.item_count, 1100);
        assert!((grown.zeta_n - fresh.zeta_n).abs() < 1e-9);
        assert!((grown.eta - fresh.eta).abs() < 1e-12);
        grown.next(&mut rng, 500);
        assert!((grown.zeta_n - Zipfian::new(500, ZIPFIAN_THETA).zeta_n).abs() < 1e-9);
    }

    /// The scrambled zipfian's hot keys land all over the key numbers: the 100 hottest are
    /// spread over every tenth of the space, with a mean near the middle, while a plain zipfian's
    /// hot keys are the first key numbers. The top key's share is YCSB's 1 / 26.47.
    #[test]
    fn scrambled_zipfian_spreads_hot_keys_across_the_key_space() {
        let record_count = 10_000;
        let mut chooser = KeyChooser::new(DistributionKind::Zipfian, record_count, 0);
        let counts = draw_counts(record_count, |rng| chooser.next(rng, record_count));
        let mut by_heat: Vec<u64> = (0..record_count).collect();
        by_heat.sort_by_key(|&key| std::cmp::Reverse(at(&counts, key)));
        let hottest = &by_heat[..100];
        let mut tenths = [0usize; 10];
        for &key in hottest {
            tenths[usize::try_from(key * 10 / record_count).unwrap()] += 1;
        }
        assert!(tenths.iter().all(|&count| count >= 2), "hot keys per tenth {tenths:?}");
        let mean = hottest.iter().sum::<u64>() as f64 / 100.0;
        assert!((mean / record_count as f64 - 0.5).abs() < 0.15, "hot key mean {mean}");
        let top_share = share(at(&counts, by_heat[0]));
        assert!((0.035..0.06).contains(&top_share), "top key share {top_share}");
        // Skewed all the same: the hottest 1% of keys take far more than 1% of the draws.
        let hot_draws: u64 = by_heat[..100].iter().map(|&key| at(&counts, key)).sum();
        assert!(share(hot_draws) > 0.2, "hottest 1% share {}", share(hot_draws));
        let mut plain = Zipfian::new(record_count, ZIPFIAN_THETA);
        let plain_counts = draw_counts(record_count, |rng| plain.next(rng, record_count));
        assert!(
            plain_counts[0] > plain_counts[5000] * 100,
            "a plain zipfian's hot keys come first"
        );
    }

    #[test]
    fn scrambled_zipfian_draws_only_acknowledged_keys() {
        let mut chooser = KeyChooser::new(DistributionKind::Zipfian, 1000, 1000);
        let mut rng = SmallRng::seed_from_u64(3);
        for limit in [1000, 1500, 2000] {
            assert!((0..10_000).all(|_| chooser.next(&mut rng, limit) < limit));
        }
        match KeyChooser::new(DistributionKind::Zipfian, 1000, 1_000_000) {
            KeyChooser::ScrambledZipfian { key_space, .. } => assert_eq!(key_space, 2000),
            other => panic!("{other:?}"),
        }
    }

    /// Latest favours recent inserts: most draws fall among the newest 1% of records, the
    /// newest record is the most drawn, and new inserts take over at once.
    #[test]
    fn latest_favours_recent_inserts() {
        let record_count = 100_000;
        let mut chooser = KeyChooser::new(DistributionKind::Latest, record_count, 0);
        let counts = draw_counts(record_count + 100, |rng| chooser.next(rng, record_count));
        let recent: u64 = counts[99_000..100_000].iter().sum();
        assert!(share(recent) > 0.5, "newest 1% share {}", share(recent));
        let newest = counts[99_999];
        assert!(counts[..99_999].iter().all(|&count| count <= newest));
        assert!(counts[100_000..].iter().all(|&count| count == 0), "never beyond the limit");
        let mut rng = SmallRng::seed_from_u64(5);
        // zeta(100) / zeta(100_100) is about 0.41 of the draws for the 100 new records.
        let after_inserts = (0..10_000).filter(|_| chooser.next(&mut rng, 100_100) >= 100_000);
        assert!(after_inserts.count() > 3000, "the 100 new records are the hot ones");
    }

    #[test]
    fn uniform_covers_the_limit_evenly() {
        let mut chooser = KeyChooser::new(DistributionKind::Uniform, 100, 0);
        let counts = draw_counts(100, |rng| chooser.next(rng, 100));
        let expected = DRAW_COUNT as f64 / 100.0;
        assert!(counts.iter().all(|&count| (count as f64 / expected - 1.0).abs() < 0.05));
    }

    #[test]
    fn distribution_names_round_trip() {
        for kind in [DistributionKind::Zipfian, DistributionKind::Uniform, DistributionKind::Latest]
        {
            assert_eq!(kind.name().parse::<DistributionKind>(), Ok(kind));
        }
        assert!("pareto".parse::<DistributionKind>().unwrap_err().contains("expected"));
    }
}

//! The hit path of `bench pool`: the cost of fixing, reading and releasing a resident page,
//! against reading the same bytes from a plain arena.
//!
//! The page set is as large as the pool, every page of it resident. Page `p` holds, at body
//! offset [`VALUE_OFFSET`], the next page of one random cycle through the set (Sattolo's
//! shuffle, so the cycle visits every page). The arena is one slice of as many 4 KiB pages, with
//! the same 8 bytes at the same offset of each, on huge pages where the kernel gives them as
//! the pool's frames are. Two orders walk the cycle:
//!
//! - [`Order::Chase`]: each access reads the page the previous one named, as a B+tree descent
//!   does, so accesses cannot overlap and a row measures the latency of one;
//! - [`Order::Scatter`]: the pages come from a list of the cycle made beforehand, so the CPU may
//!   run many accesses at once, as a multi-get would, and a row measures throughput.
//!
//! A second reference row reads the arena between an atomic increment and decrement of a
//! counter on a cache line of the page's own: what a shared latch taken and released costs in
//! itself, which the pool's shared and exclusive fixes pay and its optimistic read does not.
//! Only the pool's rows are held to the target; the report compares a latched row that misses
//! it with this one.
//!
//! Accesses are timed in batches of [`BATCH_ACCESSES`] (reading the clock costs as much as an
//! arena read), and the ratio to the arena is taken on the median batch, which another tenant
//! of a shared machine disturbs less than the mean.
//!
//! The pool is built over an in-memory [`SimDisk`] file with its pages created in place
//! (`new_page`), and has no background writer: a hit never reaches the file, and nothing evicts
//! a page while the rows run (the report counts any miss, and should say 0).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bufferpool::{BufferPool, NoLog, PAGE_HEADER_BYTES, PageId};
use disk::{Disk, HugeSlice, OpenOptions, SimDisk};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{HIT_RATIO_TARGET_MAX, HIT_THREAD_COUNTS, PAGE_BYTES, PoolBenchOptions, VALUE_OFFSET};
use crate::bench::measure::{Measurement, run_threads};

/// Accesses timed as one operation: enough that reading the clock (tens of ns) is lost in the
/// batch, few enough that a batch (tens to hundreds of µs) is short next to a scheduler tick.
pub(crate) const BATCH_ACCESSES: usize = 1024;
/// Seed of the cycle through the page set: every run walks the same order.
const CYCLE_SEED: u64 = 0x9e37_79b9;

/// How a row reaches the bytes of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Access {
    /// An index into the arena: the reference.
    RawArena,
    /// The arena read between an atomic increment and decrement of a word on a cache line of
    /// the page's own, as a shared latch taken and released is: a second reference, for what
    /// writing shared memory on every access costs (the pool's shared and exclusive fixes do,
    /// the optimistic read and the arena do not).
    RawArenaCounted,
    /// `BufferPool::read` (optimistic: no shared write; validated after the read).
    OptimisticRead,
    /// `BufferPool::fix_shared`, the read, the guard dropped.
    FixShared,
    /// `BufferPool::fix_exclusive`, the read, the guard dropped (the page is not dirtied).
    FixExclusive,
}

impl Access {
    /// Every kind, the reference first.
    pub(crate) const ALL: [Access; 5] = [
        Access::RawArena,
        Access::RawArenaCounted,
        Access::OptimisticRead,
        Access::FixShared,
        Access::FixExclusive,
    ];

    /// Whether the row is the pool's (and so held to the target), not a reference.
    pub(crate) fn is_pool(self) -> bool {
        !matches!(self, Access::RawArena | Access::RawArenaCounted)
    }

    /// The name in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::RawArena => "raw arena read",
            Access::RawArenaCounted => "raw read, counted",
            Access::OptimisticRead => "pool read (optimistic)",
            Access::FixShared => "pool fix_shared",
            Access::FixExclusive => "pool fix_exclusive",
        }
    }
}

/// In which order a row visits the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Order {
    /// Each page read names the next: dependent accesses (latency).
    Chase,
    /// The next page comes from a list made beforehand: independent accesses (throughput).
    Scatter,
}

impl Order {
    /// Both orders, the one the target is meant for first.
    pub(crate) const ALL: [Order; 2] = [Order::Chase, Order::Scatter];

    /// The name in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Order::Chase => "chase",
            Order::Scatter => "scatter",
        }
    }
}

/// One row of the hit table.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct HitRow {
    /// How the pages were visited.
    pub(crate) order: Order,
    /// How a page was reached.
    pub(crate) access: Access,
    /// Threads, each walking the cycle from its own starting point.
    pub(crate) thread_count: usize,
    /// Median cost of one access (one thread's time: the median batch over its accesses).
    pub(crate) ns_per_access_p50: f64,
    /// Mean cost of one access (one thread's time).
    pub(crate) ns_per_access_mean: f64,
    /// Accesses per second over all threads.
    pub(crate) accesses_per_second: f64,
    /// Accesses made.
    pub(crate) access_count: u64,
    /// `ns_per_access_p50` over the arena's at the same order and thread count.
    pub(crate) over_raw_p50: f64,
    /// Whether that is at most [`HIT_RATIO_TARGET_MAX`] (none for the references).
    pub(crate) target_met: Option<bool>,
}

/// The hit path's results.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct HitReport {
    /// Pages in the set (the pool's frames, all resident).
    pub(crate) set_pages: usize,
    /// Body offset of the 8 bytes each access reads.
    pub(crate) value_offset_bytes: usize,
    /// Accesses per timed batch.
    pub(crate) batch_accesses: usize,
    /// One row per order, thread count and access kind.
    pub(crate) rows: Vec<HitRow>,
    /// Fixes the pool served from a frame during the rows.
    pub(crate) pool_hits: u64,
    /// Fixes that had to read the page during the rows (0 when the set stayed resident).
    pub(crate) pool_misses: u64,
    /// Optimistic reads that failed validation and ran again.
    pub(crate) optimistic_retries: u64,
}

/// The page set twice: in a pool and in a plain arena, with the same cycle written in both.
struct PageSet {
    pool: BufferPool,
    /// On huge pages where the kernel gives them, as the pool's frames are, so that the ratio
    /// is the pool's own cost and not a difference in TLB misses.
    arena: HugeSlice<u8>,
    /// One counter per page, each on a cache line of its own as a frame's latch is
    /// ([`Access::RawArenaCounted`]).
    counters: HugeSlice<CounterLine>,
    /// The cycle from page 0: page `order[i]` holds `order[i + 1]`.
    order: Vec<u32>,
}

impl PageSet {
    fn build(options: &PoolBenchOptions) -> Result<PageSet, String> {
        let set_pages = options.frame_count();
        let next = random_cycle(set_pages, &mut SmallRng::seed_from_u64(CYCLE_SEED));
        let mut order = Vec::with_capacity(set_pages);
        let mut page = 0u32;
        for _ in 0..set_pages {
            order.push(page);
            page = next[page as usize];
        }
        let mut arena = HugeSlice::<u8>::zeroed(set_pages * PAGE_BYTES)
            .map_err(|error| format!("mapping the raw arena: {error}"))?;
        let counters = HugeSlice::new(set_pages, |_| CounterLine::default())
            .map_err(|error| format!("mapping the raw arena's counters: {error}"))?;
        let disk = SimDisk::with_seed(CYCLE_SEED);
        let file = disk
            .open("/bench-pool-hit".as_ref(), OpenOptions::create())
            .map_err(|error| error.to_string())?;
        let pool = BufferPool::open(file, options.pool_options(false), Arc::new(NoLog))
            .map_err(|error| format!("opening the hit path's pool: {error}"))?;
        for (page, &next_page) in next.iter().enumerate() {
            let start = page * PAGE_BYTES + PAGE_HEADER_BYTES + VALUE_OFFSET;
            arena[start..start + 8].copy_from_slice(&u64::from(next_page).to_le_bytes());
            let mut held = pool
                .new_page(PageId(page as u64))
                .map_err(|error| format!("creating page {page} of the hit set: {error}"))?;
            held.writer().put_u64(VALUE_OFFSET, u64::from(next_page));
        }
        let stats = pool.stats();
        if stats.frames_free != 0 || stats.evictions != 0 {
            return Err(format!(
                "the hit set does not fill the pool exactly: {} frames free, {} evictions",
                stats.frames_free, stats.evictions
            ));
        }
        Ok(PageSet { pool, arena, counters, order })
    }

    /// The 8 bytes at [`VALUE_OFFSET`] of arena page `page`.
    fn arena_value(&self, page: u32) -> u64 {
        let start = page as usize * PAGE_BYTES + PAGE_HEADER_BYTES + VALUE_OFFSET;
        let bytes: [u8; 8] = self.arena[start..start + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(bytes)
    }

    /// [`PageSet::arena_value`] between an increment and a decrement of the page's counter.
    fn counted_arena_value(&self, page: u32) -> u64 {
        let counter = &self.counters[page as usize].0;
        counter.fetch_add(1, Ordering::Acquire);
        let value = self.arena_value(page);
        counter.fetch_sub(1, Ordering::Release);
        value
    }
}

/// A counter alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct CounterLine(AtomicU64);

/// A random cyclic permutation of `0..count` (Sattolo's algorithm): following `next` from any
/// page visits every page once before coming back.
fn random_cycle(count: usize, rng: &mut SmallRng) -> Vec<u32> {
    let mut next: Vec<u32> =
        (0..count).map(|page| u32::try_from(page).expect("frame counts fit in a u32")).collect();
    for index in (1..count).rev() {
        let other = rng.random_range(0..index);
        next.swap(index, other);
    }
    next
}

/// Runs every row: for each order and thread count, the arena first, then each pool access.
pub(super) fn run(
    options: &PoolBenchOptions,
    duration: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<HitReport, String> {
    let set = PageSet::build(options)?;
    let before = set.pool.stats();
    let mut rows = Vec::new();
    for order in Order::ALL {
        for thread_count in HIT_THREAD_COUNTS {
            progress(&format!("hit path, {} order, {thread_count} thread(s)", order.name()));
            let mut raw_p50 = None;
            for access in Access::ALL {
                let measurement = measure(&set, order, access, thread_count, duration)?;
                let row = hit_row(order, access, thread_count, &measurement, raw_p50);
                raw_p50.get_or_insert(row.ns_per_access_p50);
                rows.push(row);
            }
        }
    }
    let after = set.pool.stats();
    Ok(HitReport {
        set_pages: set.order.len(),
        value_offset_bytes: VALUE_OFFSET,
        batch_accesses: BATCH_ACCESSES,
        rows,
        pool_hits: after.hits - before.hits,
        pool_misses: after.misses - before.misses,
        optimistic_retries: after.optimistic_retries - before.optimistic_retries,
    })
}

/// One row's measurement: batches of [`BATCH_ACCESSES`] on `thread_count` threads, each thread
/// starting at its own point of the cycle.
fn measure(
    set: &PageSet,
    order: Order,
    access: Access,
    thread_count: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    // One monomorphised loop per access kind: the arena's loop carries no dispatch the pool's
    // do not, and the other way round.
    match access {
        Access::RawArena => measure_with(set, order, thread_count, duration, |page| {
            Ok::<u64, std::convert::Infallible>(set.arena_value(page))
        }),
        Access::RawArenaCounted => measure_with(set, order, thread_count, duration, |page| {
            Ok::<u64, std::convert::Infallible>(set.counted_arena_value(page))
        }),
        Access::OptimisticRead => measure_with(set, order, thread_count, duration, |page| {
            set.pool.read(PageId(u64::from(page)), |view| view.u64_at(VALUE_OFFSET))
        }),
        Access::FixShared => measure_with(set, order, thread_count, duration, |page| {
            set.pool.fix_shared(PageId(u64::from(page))).map(|held| held.u64_at(VALUE_OFFSET))
        }),
        Access::FixExclusive => measure_with(set, order, thread_count, duration, |page| {
            set.pool.fix_exclusive(PageId(u64::from(page))).map(|held| held.u64_at(VALUE_OFFSET))
        }),
    }
    .map_err(|error| format!("{}: {error}", access.name()))
}

/// [`measure`] for one way of reading a page's value. No value read is trusted as an index: a
/// wrong read is a reported error, never a panic or a walk off the set.
fn measure_with<Error: std::fmt::Display>(
    set: &PageSet,
    order: Order,
    thread_count: usize,
    duration: Duration,
    value_of: impl Fn(u32) -> Result<u64, Error> + Sync,
) -> Result<Measurement, String> {
    let set_pages = set.order.len();
    let start_of = |thread_index: usize| thread_index * set_pages / thread_count;
    let read = |page: u32| value_of(page).map_err(|error| format!("page {page}: {error}"));
    match order {
        // The next page is the value read, so the next access waits for this one. Comparing it
        // with `set.next` would let the CPU predict the branch and run ahead on `set.next`
        // instead, so only its range is checked here (the unit tests check the values).
        Order::Chase => run_threads(
            thread_count,
            duration,
            |thread_index| set.order[start_of(thread_index)],
            |page: &mut u32| {
                for _ in 0..BATCH_ACCESSES {
                    let value = read(*page)?;
                    *page = u32::try_from(value)
                        .ok()
                        .filter(|&next| (next as usize) < set_pages)
                        .ok_or_else(|| {
                        format!("page {page} names page {value}, off the set")
                    })?;
                }
                Ok(true)
            },
        ),
        Order::Scatter => run_threads(thread_count, duration, start_of, |index: &mut usize| {
            for _ in 0..BATCH_ACCESSES {
                let page = set.order[*index];
                *index = if *index + 1 == set_pages { 0 } else { *index + 1 };
                let value = read(page)?;
                let expected = set.order[*index];
                if value != u64::from(expected) {
                    return Err(format!("page {page} read {value}, not {expected}: wrong bytes"));
                }
            }
            Ok(true)
        }),
    }
}

/// A row's figures from its measurement (one operation = one batch), with the ratio to the
/// arena's median at the same order and thread count (`raw_p50`; none for the arena itself).
fn hit_row(
    order: Order,
    access: Access,
    thread_count: usize,
    measurement: &Measurement,
    raw_p50: Option<f64>,
) -> HitRow {
    let batch = BATCH_ACCESSES as f64;
    let accesses_per_second = measurement.ops_per_second * batch;
    let ns_per_access_p50 = measurement.latency_us_p50 * 1000.0 / batch;
    let ns_per_access_mean = if accesses_per_second > 0.0 {
        thread_count as f64 * 1e9 / accesses_per_second
    } else {
        0.0
    };
    let over_raw_p50 = match raw_p50 {
        Some(raw) if raw > 0.0 => ns_per_access_p50 / raw,
        Some(_) => 0.0,
        None => 1.0,
    };
    HitRow {
        order,
        access,
        thread_count,
        ns_per_access_p50,
        ns_per_access_mean,
        accesses_per_second,
        access_count: measurement.operation_count * BATCH_ACCESSES as u64,
        over_raw_p50,
        target_met: raw_p50
            .filter(|_| access.is_pool())
            .map(|_| over_raw_p50 <= HIT_RATIO_TARGET_MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_visits_every_page_once() {
        for count in [1usize, 2, 3, 8, 1000] {
            let next = random_cycle(count, &mut SmallRng::seed_from_u64(count as u64));
            let mut seen = vec![false; count];
            let mut page = 0u32;
            for _ in 0..count {
                assert!(!seen[page as usize], "page {page} visited twice of {count}");
                seen[page as usize] = true;
                page = next[page as usize];
            }
            assert_eq!(page, 0, "the cycle closes after {count} steps");
            assert!(seen.iter().all(|&visited| visited));
        }
    }

    #[test]
    fn every_access_reads_the_same_cycle() {
        let options = PoolBenchOptions::tiny(std::path::PathBuf::new());
        let set = PageSet::build(&options).unwrap();
        assert_eq!(set.order.len(), 64);
        let mut sorted = set.order.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().copied().eq(0..64), "the cycle covers the set once");
        for (index, &page) in set.order.iter().enumerate() {
            let next = set.order[(index + 1) % 64];
            assert_eq!(set.arena_value(page), u64::from(next));
            assert_eq!(set.counted_arena_value(page), u64::from(next));
            let in_pool = set.pool.read(PageId(u64::from(page)), |view| view.u64_at(VALUE_OFFSET));
            assert_eq!(in_pool.unwrap(), u64::from(next));
        }
        for order in Order::ALL {
            for access in Access::ALL {
                let measured = measure(&set, order, access, 2, Duration::from_millis(5)).unwrap();
                assert!(measured.operation_count > 0, "{order:?} {access:?}");
            }
        }
        assert!(
            set.counters.iter().all(|counter| counter.0.load(Ordering::Relaxed) == 0),
            "every count taken was given back"
        );
        let stats = set.pool.stats();
        assert_eq!(stats.misses, 0, "the set stays resident");
        assert!(stats.hits >= 2 * 3 * BATCH_ACCESSES as u64);
    }

    #[test]
    fn ratios_are_taken_against_the_arena_median() {
        let measurement = |latency_us_p50: f64| Measurement {
            operation_count: 10,
            elapsed_seconds: 1.0,
            ops_per_second: 1000.0,
            latency_us_p50,
            latency_us_p99: latency_us_p50 * 2.0,
        };
        let raw = hit_row(Order::Chase, Access::RawArena, 1, &measurement(102.4), None);
        assert_eq!(raw.ns_per_access_p50, 100.0);
        assert_eq!(raw.over_raw_p50, 1.0);
        assert_eq!(raw.target_met, None);
        assert_eq!(raw.access_count, 10 * BATCH_ACCESSES as u64);
        let counted =
            hit_row(Order::Chase, Access::RawArenaCounted, 1, &measurement(204.8), Some(100.0));
        assert_eq!(counted.over_raw_p50, 2.0);
        assert_eq!(counted.target_met, None, "a reference is held to no target");
        let pool = hit_row(Order::Chase, Access::FixShared, 2, &measurement(409.6), Some(100.0));
        assert_eq!(pool.over_raw_p50, 4.0);
        assert_eq!(pool.target_met, Some(false));
        // Two threads at 1000 batches/s in all: each spends 2 ms per 1024 accesses.
        assert!((pool.ns_per_access_mean - 2e9 / 1_024_000.0).abs() < 1e-9);
    }
}

//! [`PageSet`]: a set of page ids kept as a bitmap in chunks that copies share, so that a copy
//! costs one reference count per chunk, not one entry per page.
//!
//! This is what lets a checkpoint take the free pages in its view while it holds the tree latch
//! (`free_list::take_list_pages`) and turn them into runs after it has let go: the copy is cheap,
//! changes to either side afterwards copy only the chunk they touch (`Arc::make_mut`), and the
//! pages come out ascending, ready to be cut into runs. The set also counts its runs as it
//! changes, so the checkpoint knows how many list pages the runs need without listing them.
//!
//! Worked numbers: a chunk holds 512 pages in 8 words (64 bytes, one cache line). One million
//! free pages spread over two million take 3,907 chunks (about 400 KiB with the map: 80 bytes a
//! chunk and its counts, plus the map's entry), and a copy of them 3,907 reference counts; a
//! `BTreeSet<u64>` of the same pages takes 10 to 15 MiB, and a copy a million entries. The worst
//! case is one page per chunk: about 100 bytes a page, against 10 to 15.
//!
//! Invariants ([`PageSet::check_invariants`]):
//! 1. No chunk is empty (so equal sets are equal structures, and the first chunk holds the
//!    lowest page).
//! 2. `len` is the number of pages in the set; `run_count` the number of runs of consecutive
//!    pages.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Bits in a word of a chunk.
const WORD_BITS: u64 = 64;
/// Words in a chunk: 8 words of 8 bytes fill one 64-byte cache line.
const CHUNK_WORDS: usize = 8;
/// Pages a chunk holds.
const CHUNK_PAGES: u64 = 512;

const _: () = assert!(CHUNK_PAGES == WORD_BITS * CHUNK_WORDS as u64);

/// The pages `index * CHUNK_PAGES..(index + 1) * CHUNK_PAGES` of chunk `index`: bit `b` of word
/// `w` is page `index * CHUNK_PAGES + w * WORD_BITS + b`.
type Chunk = [u64; CHUNK_WORDS];

/// A set of page ids (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageSet {
    /// Chunk index (`page / CHUNK_PAGES`) → the chunk's bits. No chunk is all zero.
    chunks: BTreeMap<u64, Arc<Chunk>>,
    /// Pages in the set.
    len: usize,
    /// Runs of consecutive pages in the set.
    run_count: usize,
}

/// Where `page`'s bit is: (chunk index, word index in the chunk, bit mask in the word).
fn locate(page: u64) -> (u64, usize, u64) {
    let offset_in_chunk = page % CHUNK_PAGES;
    let word_index = usize::try_from(offset_in_chunk / WORD_BITS).expect("below CHUNK_WORDS");
    (page / CHUNK_PAGES, word_index, 1 << (offset_in_chunk % WORD_BITS))
}

impl PageSet {
    pub(crate) fn contains(&self, page: u64) -> bool {
        let (chunk_index, word_index, mask) = locate(page);
        self.chunks.get(&chunk_index).is_some_and(|chunk| chunk[word_index] & mask != 0)
    }

    /// Adds `page`; false if it was in the set already.
    pub(crate) fn insert(&mut self, page: u64) -> bool {
        if self.contains(page) {
            return false;
        }
        let (chunk_index, word_index, mask) = locate(page);
        let chunk = self.chunks.entry(chunk_index).or_insert_with(|| Arc::new([0; CHUNK_WORDS]));
        Arc::make_mut(chunk)[word_index] |= mask;
        self.len += 1;
        // A page joins the runs of its neighbours: one new run, less one per neighbour it meets.
        let neighbour_count = self.neighbour_count(page);
        self.run_count = self.run_count + 1 - neighbour_count;
        true
    }

    /// Takes `page` out; false if it was not in the set.
    pub(crate) fn remove(&mut self, page: u64) -> bool {
        if !self.contains(page) {
            return false;
        }
        let (chunk_index, word_index, mask) = locate(page);
        let chunk = self.chunks.get_mut(&chunk_index).expect("contains the page");
        let words = Arc::make_mut(chunk);
        words[word_index] &= !mask;
        if words.iter().all(|&word| word == 0) {
            self.chunks.remove(&chunk_index);
        }
        self.len -= 1;
        // The reverse of `insert`: the run loses the page, and splits if it goes on both sides.
        let neighbour_count = self.neighbour_count(page);
        self.run_count = self.run_count + neighbour_count - 1;
        true
    }

    /// Of `page - 1` and `page + 1`, how many are in the set.
    fn neighbour_count(&self, page: u64) -> usize {
        let below = page.checked_sub(1).is_some_and(|below| self.contains(below));
        let above = page.checked_add(1).is_some_and(|above| self.contains(above));
        usize::from(below) + usize::from(above)
    }

    /// The lowest page in the set.
    pub(crate) fn first(&self) -> Option<u64> {
        let (&chunk_index, chunk) = self.chunks.first_key_value()?;
        let (word, word_index) =
            chunk.iter().zip(0u64..).find(|(word, _)| **word != 0).expect("no chunk is empty");
        Some(chunk_index * CHUNK_PAGES + word_index * WORD_BITS + u64::from(word.trailing_zeros()))
    }

    /// Takes out and returns the lowest page in the set.
    pub(crate) fn pop_first(&mut self) -> Option<u64> {
        let page = self.first()?;
        assert!(self.remove(page));
        Some(page)
    }

    /// The pages, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.chunks.iter().flat_map(|(&chunk_index, chunk)| {
            chunk.iter().zip(0u64..).flat_map(move |(&word, word_index)| {
                let base = chunk_index * CHUNK_PAGES + word_index * WORD_BITS;
                Bits(word).map(move |bit| base + bit)
            })
        })
    }

    /// Pages in the set.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Runs of consecutive pages in the set.
    pub(crate) fn run_count(&self) -> usize {
        self.run_count
    }

    /// Panics unless the module doc's invariants hold (walks every page).
    pub(crate) fn check_invariants(&self) {
        for (chunk_index, chunk) in &self.chunks {
            assert!(chunk.iter().any(|&word| word != 0), "chunk {chunk_index} is empty");
        }
        let (mut len, mut run_count, mut previous) = (0usize, 0usize, None);
        for page in self.iter() {
            len += 1;
            if previous.is_none_or(|previous: u64| previous + 1 != page) {
                run_count += 1;
            }
            previous = Some(page);
        }
        assert_eq!(self.len, len, "pages counted");
        assert_eq!(self.run_count, run_count, "runs counted");
    }
}

impl FromIterator<u64> for PageSet {
    /// Builds the chunks in one ascending pass instead of inserting page by page, which looks
    /// up the map three times a page: for the million pages open may read from a checkpoint's
    /// list, 5 to 10 times faster, about as fast as collecting a `BTreeSet` (the pages come
    /// ascending, so the sort only checks them).
    fn from_iter<I: IntoIterator<Item = u64>>(pages: I) -> Self {
        let mut pages: Vec<u64> = pages.into_iter().collect();
        pages.sort_unstable();
        pages.dedup();
        let mut set = Self { len: pages.len(), ..Self::default() };
        let mut filling: Option<(u64, Chunk)> = None;
        let mut previous: Option<u64> = None;
        for &page in &pages {
            let (chunk_index, word_index, mask) = locate(page);
            match &mut filling {
                Some((index, words)) if *index == chunk_index => words[word_index] |= mask,
                _ => {
                    if let Some((index, words)) = filling.take() {
                        set.chunks.insert(index, Arc::new(words));
                    }
                    let mut words = [0; CHUNK_WORDS];
                    words[word_index] |= mask;
                    filling = Some((chunk_index, words));
                }
            }
            if previous.is_none_or(|previous| previous + 1 != page) {
                set.run_count += 1;
            }
            previous = Some(page);
        }
        if let Some((index, words)) = filling {
            set.chunks.insert(index, Arc::new(words));
        }
        set
    }
}

/// The set bits of a word, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.0 == 0 {
            return None;
        }
        let bit = u64::from(self.0.trailing_zeros());
        self.0 &= self.0 - 1; // clears the lowest set bit
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The runs of an ascending sequence of pages, counted the slow way.
    fn run_count_of(pages: &BTreeSet<u64>) -> usize {
        pages.iter().filter(|&&page| page == 0 || !pages.contains(&(page - 1))).count()
    }

    #[test]
    fn pages_at_chunk_and_word_edges() {
        let pages = [0, 1, 63, 64, 511, 512, 513, 1023, u64::MAX - 1, u64::MAX];
        let set: PageSet = pages.into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), pages);
        // 0..=1, 63..=64, 511..=513, 1023, MAX-1..=MAX.
        assert_eq!((set.len(), set.run_count()), (10, 5));
        set.check_invariants();
    }

    #[test]
    fn a_copy_is_not_changed_by_the_original_nor_the_original_by_it() {
        let mut original: PageSet = (10..20).chain(600..610).collect();
        let mut copy = original.clone();
        assert!(original.remove(15));
        assert!(original.insert(700));
        assert!(copy.remove(600));
        assert_eq!(copy.iter().collect::<Vec<_>>(), (10..20).chain(601..610).collect::<Vec<_>>());
        assert_eq!(
            original.iter().collect::<Vec<_>>(),
            (10..15).chain(16..20).chain(600..610).chain([700]).collect::<Vec<_>>()
        );
        assert_eq!((copy.run_count(), original.run_count()), (2, 4));
        original.check_invariants();
        copy.check_invariants();
    }

    proptest! {
        /// Collecting pages in any order, with repeats, builds what inserting them one by one
        /// builds.
        #[test]
        fn collecting_equals_inserting(pages in proptest::collection::vec(0u64..3000, 0..600)) {
            let collected: PageSet = pages.iter().copied().collect();
            let mut inserted = PageSet::default();
            for &page in &pages {
                inserted.insert(page);
            }
            collected.check_invariants();
            prop_assert_eq!(collected, inserted);
        }

        /// Against a `BTreeSet`: membership, order, counts, the lowest page, and a copy taken
        /// part way that later changes to the original leave as it was.
        #[test]
        fn matches_a_btree_set(
            steps in proptest::collection::vec((0u8..4, 0u64..1600), 1..400),
            copy_at in 0usize..400,
        ) {
            let mut set = PageSet::default();
            let mut model = BTreeSet::new();
            let mut copy: Option<(PageSet, BTreeSet<u64>)> = None;
            for (index, (step, page)) in steps.into_iter().enumerate() {
                match step {
                    0 | 1 => prop_assert_eq!(set.insert(page), model.insert(page)),
                    2 => prop_assert_eq!(set.remove(page), model.remove(&page)),
                    _ => prop_assert_eq!(set.pop_first(), model.pop_first()),
                }
                prop_assert_eq!(set.first(), model.first().copied());
                prop_assert_eq!(set.len(), model.len());
                prop_assert_eq!(set.run_count(), run_count_of(&model));
                if index == copy_at {
                    copy = Some((set.clone(), model.clone()));
                }
            }
            set.check_invariants();
            prop_assert!(set.iter().eq(model.iter().copied()));
            if let Some((copy, model_then)) = copy {
                copy.check_invariants();
                prop_assert!(copy.iter().eq(model_then.iter().copied()));
            }
        }
    }
}

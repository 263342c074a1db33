//! [`WriteLedger`]: the checksum of the last image the pool wrote of each page, kept until a
//! read back from the file has shown that the file holds it.
//!
//! A page's own checksum and id show that an image is whole and belongs at its place, not that
//! it is the *last* image written there. A write the device lost, or put at another offset (a
//! misdirected write), leaves an older image behind that passes both checks, and a reader would
//! take it for data. The ledger closes that for the pages this pool wrote:
//! - every read of a page from the file (a miss, a prefetch, an in-place read of a mapping) must
//!   find the image the ledger names, else it is [`crate::Error::Corruption`];
//! - [`crate::BufferPool::verify_writes`] reads back every page whose last write has ended,
//!   compares it with the ledger and forgets the ones that match. A checkpoint calls it after its
//!   flush and before its header names the pages, so no checkpoint names a page whose last write
//!   did not land where it was sent.
//!
//! What it cannot see: a write lost after the read back (the device said it held the image,
//! then lost it without a crash), and, on a file read through the kernel's page cache (buffered
//! or mmap I/O), anything below that cache — there the read back finds the kernel's copy.
//!
//! Invariants:
//! 1. An entry's `sequence` changes whenever a write of its page starts or ends, so a
//!    verification that finds the same sequence before and after its read knows that no write
//!    of the page overlapped the read (a read racing a write may see either image, or a torn
//!    one). Sequences come from one counter of the whole ledger, so an entry forgotten (its
//!    page freed) and made again by a later write never repeats one: the page freed, taken
//!    again and written while a verification read it has a new sequence, not the old one
//!    again.
//! 2. `pending` is `Some` while a write of the page is in flight (at most one is: `frame.rs`,
//!    invariant 4) and after such a write failed, when the file may hold either image.
//! 3. Only the pool's own writes enter the ledger; a page it never wrote has no entry and is
//!    checked by its checksum and id alone.

use std::collections::HashMap;

use disk::IoRequest;

use crate::error::{Error, Result};
use crate::limits::PREFETCH_PAGES_MAX;
use crate::page::{self, PageId};
use crate::pool::PoolCore;
use crate::stats::Counter;
use crate::sync::Mutex;

/// What the pool knows about the last writes of one page.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// The checksum of the last image whose write completed (`None`: none did yet).
    landed: Option<u32>,
    /// The checksum of the image being written, or of one whose write failed.
    pending: Option<u32>,
    /// Set from the ledger's counter when a write starts and when it ends (invariant 1).
    sequence: u64,
}

/// The entries and the counter their sequences come from.
#[derive(Debug, Default)]
struct Entries {
    by_page: HashMap<u64, Entry>,
    /// The last sequence given to an entry.
    sequence: u64,
}

impl Entries {
    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

/// The checksums of the pool's last writes, by page (see the module docs).
#[derive(Debug)]
pub(crate) struct WriteLedger {
    entries: Mutex<Entries>,
}

impl Default for WriteLedger {
    fn default() -> Self {
        Self { entries: Mutex::new(Entries::default()) }
    }
}

/// A page to read back: its id, the checksum it must have and the entry's sequence.
type Expected = (PageId, u32, u64);

impl WriteLedger {
    /// A write of `page` with the image whose checksum is `checksum` is about to be submitted.
    pub(crate) fn begin(&self, page: PageId, checksum: u32) {
        let mut entries = self.entries.lock();
        let sequence = entries.next_sequence();
        let entry = entries.by_page.entry(page.0).or_default();
        entry.pending = Some(checksum);
        entry.sequence = sequence;
    }

    /// The write of `page` begun last has ended: `landed` if the file acknowledged it. A failed
    /// write leaves its checksum pending: the file may hold either image (invariant 2).
    pub(crate) fn end(&self, page: PageId, landed: bool) {
        let mut entries = self.entries.lock();
        let sequence = entries.next_sequence();
        let Some(entry) = entries.by_page.get_mut(&page.0) else {
            panic!("the write of page {page} ended before it began");
        };
        if landed {
            entry.landed = entry.pending.take();
        }
        entry.sequence = sequence;
    }

    /// Checks that an image read from `page`'s place, whose own checksum is `checksum` (already
    /// verified against its bytes), is the last one the pool wrote there, if it wrote any.
    pub(crate) fn check(&self, page: PageId, checksum: u32) -> Result<(), String> {
        let Some(entry) = self.entries.lock().by_page.get(&page.0).copied() else { return Ok(()) };
        if entry.landed == Some(checksum) || entry.pending == Some(checksum) {
            return Ok(());
        }
        // Not landed and nothing pending cannot be (invariant 2); be safe and accept it.
        let Some(expected) = entry.landed.or(entry.pending) else { return Ok(()) };
        older_image(checksum, expected)
    }

    /// Forgets `page` (a page the layer above freed: nobody reads it until it is written again).
    pub(crate) fn forget(&self, page: PageId) {
        self.entries.lock().by_page.remove(&page.0);
    }

    /// Pages in the ledger.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().by_page.len()
    }

    /// The pages whose last write has ended and landed, with what they must hold.
    fn to_verify(&self) -> Vec<Expected> {
        let entries = self.entries.lock();
        let mut expected: Vec<Expected> = entries
            .by_page
            .iter()
            .filter(|(_, entry)| entry.pending.is_none())
            .filter_map(|(&page, entry)| Some((PageId(page), entry.landed?, entry.sequence)))
            .collect();
        expected.sort_unstable_by_key(|&(page, _, _)| page);
        expected
    }

    /// Whether no write of `page` started or ended since the entry had `sequence`.
    fn unchanged(&self, page: PageId, sequence: u64) -> bool {
        self.entries.lock().by_page.get(&page.0).is_some_and(|entry| entry.sequence == sequence)
    }

    /// Forgets `page` if no write of it started or ended since the entry had `sequence`.
    fn confirm(&self, page: PageId, sequence: u64) {
        let mut entries = self.entries.lock();
        if entries.by_page.get(&page.0).is_some_and(|entry| entry.sequence == sequence) {
            entries.by_page.remove(&page.0);
        }
    }
}

impl PoolCore {
    /// [`crate::BufferPool::verify_writes`].
    pub(crate) fn verify_writes(&self) -> Result<usize> {
        let expected = self.ledger.to_verify();
        let mut verified = 0;
        for batch in expected.chunks(PREFETCH_PAGES_MAX) {
            verified += self.verify_batch(batch)?;
        }
        self.counters.add(Counter::PagesVerified, verified as u64);
        Ok(verified)
    }

    /// Reads `batch` back in one submission and compares each page with its expected image.
    fn verify_batch(&self, batch: &[Expected]) -> Result<usize> {
        let mut images: Vec<_> = batch.iter().map(|_| self.staging_buffer()).collect();
        let results = {
            let mut requests: Vec<IoRequest<'_>> = images
                .iter_mut()
                .zip(batch)
                .map(|(image, &(page, _, _))| IoRequest::Read {
                    offset: self.offset_of(page),
                    buf: &mut image[..self.page_bytes],
                })
                .collect();
            self.file.submit(&mut requests)
        };
        let mut outcome = Ok(0);
        for ((result, image), &(page, checksum, sequence)) in
            results.into_iter().zip(&images).zip(batch)
        {
            let image = &image[..self.page_bytes];
            let checked = match result {
                Err(error) => Err(Error::Disk(error)),
                Ok(()) => page::verify(image, page)
                    .and_then(|()| older_image(page::checksum_of(image), checksum))
                    .map_err(|reason| Error::Corruption {
                        path: self.file.path().to_path_buf(),
                        page,
                        reason: format!("read back after its write: {reason}"),
                    }),
            };
            match checked {
                // A write that started meanwhile may have raced the read: that page waits for
                // the next verification (invariant 1).
                Err(_) if !self.ledger.unchanged(page, sequence) => {}
                Err(error) => {
                    if outcome.is_ok() {
                        outcome = Err(error);
                    }
                }
                Ok(()) => {
                    self.ledger.confirm(page, sequence);
                    outcome = outcome.map(|count| count + 1);
                }
            }
        }
        for image in images {
            self.return_staging(image);
        }
        outcome
    }
}

/// `Ok` if an image whose checksum is `found` is the one written last, whose checksum is
/// `expected`; else what is wrong, for [`Error::Corruption`].
fn older_image(found: u32, expected: u32) -> Result<(), String> {
    if found == expected {
        return Ok(());
    }
    Err(format!(
        "the page holds another image (checksum {found:#010x}) than the last one written to it \
         (checksum {expected:#010x}): that write was lost, or landed at another page's place"
    ))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A page freed while a verification holds its expected image, then taken again and
    /// written once (its write begun and ended): the entry made for the new write must not
    /// look unchanged to the verification. With a sequence per entry starting again at zero,
    /// the new entry's sequence after one write equalled the old one's, and the verification
    /// reported the new image as a lost write of the old one.
    #[test]
    fn a_page_freed_and_written_again_never_looks_unchanged() {
        let ledger = WriteLedger::default();
        let page = PageId(7);
        ledger.begin(page, 0xAAAA);
        ledger.end(page, true);
        let expected = ledger.to_verify();
        assert_eq!(expected.len(), 1);
        let (_, checksum, sequence) = expected[0];
        assert_eq!(checksum, 0xAAAA);
        assert!(ledger.unchanged(page, sequence));

        ledger.forget(page);
        ledger.begin(page, 0xBBBB);
        ledger.end(page, true);
        assert!(
            !ledger.unchanged(page, sequence),
            "the page was written again since the verification took its sequence"
        );
        ledger.confirm(page, sequence);
        assert_eq!(ledger.len(), 1, "a stale confirmation forgets nothing");
        assert_eq!(ledger.check(page, 0xBBBB), Ok(()));
        assert!(ledger.check(page, 0xAAAA).is_err(), "the old image is now an older one");
    }
}

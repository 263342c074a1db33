//! Overflow chains: a value too large to live inline in its leaf cell is cut into chunks, one
//! per page, in a singly linked chain. The leaf cell holds an [`OverflowRef`]: the value's
//! length, the first page's id and the crc32c of the whole value.
//!
//! ```text
//! Overflow page body (all integers little-endian):
//! OFFSET SIZE FIELD
//!  0      1   kind             3 (PageKind::Overflow), at the offset of a node's kind
//!  1      3   reserved         zero
//!  4      4   remaining_bytes  value bytes from this page's chunk to the end of the value
//!  8      8   epoch            the checkpoint epoch the page was written in (at the offset of
//!                              a node's epoch)
//! 16      8   next_page        the chain's next page; 0 (NO_PAGE) on the last page
//! 24      c   chunk            c = min(remaining_bytes, body_bytes - 24) bytes of the value
//! 24+c    .   zero
//! ```
//!
//! Worked: a 10,000-byte value in 4 KiB pages (4072-byte bodies, 4048-byte chunks) takes three
//! pages, with `remaining_bytes` 10000, 5952 and 1904.
//!
//! Overflow pages are written once and never changed: a new value gets a new chain, and the
//! old chain's pages are freed (at once if they are of the current epoch, after the next
//! checkpoint otherwise; their `epoch` says which).
//!
//! Invariants, checked on every page a chain walk reads:
//! 1. `kind` is 3 and `reserved` is zero.
//! 2. `remaining_bytes` is what the value's length and the page's place in the chain imply, so
//!    a reference to a page of another chain, or of another value, is caught.
//! 3. `next_page` is `NO_PAGE` exactly on the page whose chunk ends the value; otherwise it is
//!    a page id (`1..=PAGE_ID_MAX`).
//!
//! 4. The value read back has the crc32c its reference holds. Each page's own checksum proves
//!    the page is whole, not that it is the page the chain was given: a lost or misdirected
//!    write leaves an older page where a chain page should be (an earlier value's chunk, with a
//!    valid checksum and the right page id, and with values of one length, the same
//!    `remaining_bytes`). The value checksum, written in the leaf with the reference, catches it.
//!
//! A walk reads exactly the pages the value's length implies, so a cycle in a damaged chain
//! ends it with an error (the last page it reads has a `next_page`), never a loop. The chain
//! functions take callbacks for page access and allocation, so they hold no latch and know
//! nothing of the pool.

use std::fmt;

use bufferpool::PageId;

use super::body::{BodyRead, BodyWrite};
use super::node::{NO_PAGE, PageKind, is_tree_page};
use crate::limits::VALUE_BYTES_MAX;

const KIND_OFFSET: usize = 0;
const KIND_BYTES: usize = 1;
const RESERVED_OFFSET: usize = KIND_OFFSET + KIND_BYTES;
const RESERVED_BYTES: usize = 3;
const REMAINING_BYTES_OFFSET: usize = RESERVED_OFFSET + RESERVED_BYTES;
const REMAINING_BYTES_BYTES: usize = 4;
const EPOCH_OFFSET: usize = REMAINING_BYTES_OFFSET + REMAINING_BYTES_BYTES;
const EPOCH_BYTES: usize = 8;
const NEXT_PAGE_OFFSET: usize = EPOCH_OFFSET + EPOCH_BYTES;
const NEXT_PAGE_BYTES: usize = 8;
/// Bytes of an overflow page's header; the chunk starts here.
pub(crate) const OVERFLOW_HEADER_BYTES: usize = NEXT_PAGE_OFFSET + NEXT_PAGE_BYTES;

const _: () = assert!(OVERFLOW_HEADER_BYTES == 24);
const _: () = assert!(EPOCH_OFFSET == super::node::EPOCH_OFFSET, "node::epoch reads any tree page");
const _: () = assert!(KIND_OFFSET == 0, "every tree page has its kind at body offset 0");
const _: () = assert!(VALUE_BYTES_MAX <= u32::MAX as usize, "remaining_bytes is a u32");

/// Where a value in overflow pages lives: its length and its chain's first page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverflowRef {
    /// The whole value's length.
    pub(crate) value_bytes: usize,
    /// The chain's first page.
    pub(crate) first_page: PageId,
    /// The crc32c of the whole value.
    pub(crate) value_crc32c: u32,
}

/// Why a chain could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChainError<E> {
    /// The page access callback failed.
    Read(E),
    /// A page of the chain, or the reference to it, is damaged.
    Corrupt {
        /// The page (the first page, for a damaged reference).
        page: PageId,
        /// What is wrong.
        reason: String,
    },
}

impl<E: fmt::Display> fmt::Display for ChainError<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Read(error) => write!(formatter, "reading an overflow chain: {error}"),
            ChainError::Corrupt { page, reason } => {
                write!(formatter, "overflow page {page} is corrupt: {reason}")
            }
        }
    }
}

/// Bytes of value one overflow page holds.
pub(crate) fn chunk_bytes_max(body_bytes: usize) -> usize {
    body_bytes.saturating_sub(OVERFLOW_HEADER_BYTES)
}

/// Pages a chain holding `value_bytes` takes.
pub(crate) fn page_count(body_bytes: usize, value_bytes: usize) -> usize {
    value_bytes.div_ceil(chunk_bytes_max(body_bytes).max(1))
}

/// Writes one overflow page: `chunk` is the start of the last `remaining_bytes` of a value.
pub(crate) fn format_page<B: BodyWrite + ?Sized>(
    page: &mut B,
    epoch: u64,
    chunk: &[u8],
    remaining_bytes: usize,
    next_page: Option<PageId>,
) {
    let body_bytes = page.body_bytes();
    assert!(remaining_bytes <= VALUE_BYTES_MAX, "a value over the limit");
    assert_eq!(chunk.len(), remaining_bytes.min(chunk_bytes_max(body_bytes)), "a partial chunk");
    assert_eq!(
        next_page.is_some(),
        remaining_bytes > chunk.len(),
        "a chain ends at its value's end"
    );
    let next_page = next_page.map_or(NO_PAGE, |page| page.0);
    assert!(next_page == NO_PAGE || is_tree_page(next_page), "next page {next_page}");
    let mut image = vec![0u8; body_bytes];
    image[KIND_OFFSET] = PageKind::Overflow as u8;
    let remaining = u32::try_from(remaining_bytes).expect("bounded by VALUE_BYTES_MAX");
    image[REMAINING_BYTES_OFFSET..EPOCH_OFFSET].copy_from_slice(&remaining.to_le_bytes());
    image[EPOCH_OFFSET..NEXT_PAGE_OFFSET].copy_from_slice(&epoch.to_le_bytes());
    image[NEXT_PAGE_OFFSET..OVERFLOW_HEADER_BYTES].copy_from_slice(&next_page.to_le_bytes());
    image[OVERFLOW_HEADER_BYTES..OVERFLOW_HEADER_BYTES + chunk.len()].copy_from_slice(chunk);
    page.write_body(&image);
}

/// Writes `value` into a new chain of overflow pages of checkpoint epoch `epoch` (the current
/// one): `allocate` gives each page's id (in
/// chain order, the first first), and `write_page` receives each page's whole body image to
/// write (and log). On an error from either, the pages allocated so far are the caller's to
/// free.
///
/// # Panics
/// If the value is empty or over [`VALUE_BYTES_MAX`], or `allocate` returns an invalid page id.
pub(crate) fn write_chain<E>(
    value: &[u8],
    body_bytes: usize,
    epoch: u64,
    mut allocate: impl FnMut() -> Result<PageId, E>,
    mut write_page: impl FnMut(PageId, &[u8]) -> Result<(), E>,
) -> Result<OverflowRef, E> {
    assert!(!value.is_empty(), "an empty value is never in overflow pages");
    assert!(value.len() <= VALUE_BYTES_MAX, "a {}-byte value", value.len());
    let chunk_bytes = chunk_bytes_max(body_bytes);
    assert!(chunk_bytes > 0, "a {body_bytes}-byte body holds no chunk");
    let mut allocate_checked = || {
        let page = allocate()?;
        assert!(is_tree_page(page.0), "allocated page {page} is not a page id");
        Ok(page)
    };
    let first_page = allocate_checked()?;
    let mut page = first_page;
    let mut image = vec![0u8; body_bytes];
    for (index, chunk) in value.chunks(chunk_bytes).enumerate() {
        let remaining_bytes = value.len() - index * chunk_bytes;
        let next_page =
            if remaining_bytes > chunk.len() { Some(allocate_checked()?) } else { None };
        format_page(image.as_mut_slice(), epoch, chunk, remaining_bytes, next_page);
        write_page(page, &image)?;
        page = next_page.unwrap_or(page);
    }
    Ok(OverflowRef { value_bytes: value.len(), first_page, value_crc32c: crc32c::crc32c(value) })
}

/// Reads a value back from its chain and checks it against the reference's crc32c.
/// `read_page(page, target)` copies the first `target.len()` bytes of `page`'s body into
/// `target`.
pub(crate) fn read_chain<E>(
    reference: OverflowRef,
    body_bytes: usize,
    read_page: impl FnMut(PageId, &mut [u8]) -> Result<(), E>,
) -> Result<Vec<u8>, ChainError<E>> {
    let value = read_chain_unverified(reference, body_bytes, read_page)?;
    let found = crc32c::crc32c(&value);
    if found != reference.value_crc32c {
        return Err(ChainError::Corrupt {
            page: reference.first_page,
            reason: format!(
                "the chain's value has crc32c {found:#010x}, not the {:#010x} its leaf cell \
                 holds: a page of the chain holds another write (a lost or misdirected one)",
                reference.value_crc32c
            ),
        });
    }
    Ok(value)
}

/// The bytes a chain holds, every page checked but not the value's crc32c.
pub(crate) fn read_chain_unverified<E>(
    reference: OverflowRef,
    body_bytes: usize,
    read_page: impl FnMut(PageId, &mut [u8]) -> Result<(), E>,
) -> Result<Vec<u8>, ChainError<E>> {
    let mut value = Vec::with_capacity(reference.value_bytes.min(VALUE_BYTES_MAX));
    walk_chain(reference, body_bytes, body_bytes, read_page, |_, image, chunk_bytes| {
        value.extend_from_slice(&image[OVERFLOW_HEADER_BYTES..OVERFLOW_HEADER_BYTES + chunk_bytes]);
    })?;
    Ok(value)
}

/// The pages of a chain, first to last (to free them). Reads only each page's header, with
/// the same checks as [`read_chain`].
pub(crate) fn chain_pages<E>(
    reference: OverflowRef,
    body_bytes: usize,
    read_page: impl FnMut(PageId, &mut [u8]) -> Result<(), E>,
) -> Result<Vec<PageId>, ChainError<E>> {
    let mut pages = Vec::new();
    walk_chain(reference, body_bytes, OVERFLOW_HEADER_BYTES, read_page, |page, _, _| {
        pages.push(page);
    })?;
    Ok(pages)
}

/// Reads the first `read_bytes` of every page of a chain, checks each header against what the
/// reference implies, and hands `visit` the page, the bytes read and the page's chunk length.
fn walk_chain<E>(
    reference: OverflowRef,
    body_bytes: usize,
    read_bytes: usize,
    mut read_page: impl FnMut(PageId, &mut [u8]) -> Result<(), E>,
    mut visit: impl FnMut(PageId, &[u8], usize),
) -> Result<(), ChainError<E>> {
    let corrupt = |page: PageId, reason: String| ChainError::Corrupt { page, reason };
    let first_page = reference.first_page;
    if reference.value_bytes == 0 || reference.value_bytes > VALUE_BYTES_MAX {
        let reason = format!("a chain of a {}-byte value", reference.value_bytes);
        return Err(corrupt(first_page, reason));
    }
    let chunk_bytes_max = chunk_bytes_max(body_bytes);
    assert!(chunk_bytes_max > 0, "a {body_bytes}-byte body holds no chunk");
    assert!((OVERFLOW_HEADER_BYTES..=body_bytes).contains(&read_bytes), "read the header at least");
    let mut image = vec![0u8; read_bytes];
    let mut page = first_page;
    let mut remaining_bytes = reference.value_bytes;
    // Bounded: one page per chunk of the value, whatever the pages say.
    for _ in 0..page_count(body_bytes, reference.value_bytes) {
        if !is_tree_page(page.0) {
            return Err(corrupt(page, "not a page id".into()));
        }
        read_page(page, &mut image).map_err(ChainError::Read)?;
        let header =
            check_header(image.as_slice(), body_bytes).map_err(|reason| corrupt(page, reason))?;
        if header.remaining_bytes != remaining_bytes {
            let reason = format!(
                "holds the last {} bytes of a value; the chain expects {remaining_bytes}",
                header.remaining_bytes
            );
            return Err(corrupt(page, reason));
        }
        let chunk_bytes = remaining_bytes.min(chunk_bytes_max);
        visit(page, &image, chunk_bytes);
        remaining_bytes -= chunk_bytes;
        match header.next_page {
            Some(next) => page = next,
            None => break,
        }
    }
    // The header checks end the walk exactly at the value's end: a page that claims the
    // `remaining_bytes` of the value has a next page exactly when more than a chunk remains.
    debug_assert_eq!(remaining_bytes, 0);
    Ok(())
}

/// What [`check_page`] found in a valid overflow page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverflowSummary {
    /// Value bytes from this page's chunk to the end of the value.
    pub(crate) remaining_bytes: usize,
    /// The chain's next page (`None` on the last page).
    pub(crate) next_page: Option<PageId>,
    /// The checkpoint epoch the page was written in.
    pub(crate) epoch: u64,
}

/// Checks an overflow page read from a page of `page_bytes`, on its own (a chain walk also
/// checks each page's place in its chain). Never panics, whatever the bytes.
pub(crate) fn check_page<B: BodyRead + ?Sized>(
    page: &B,
    page_bytes: usize,
) -> Result<OverflowSummary, String> {
    let body_bytes = super::node::check_page_bytes(page, page_bytes)?;
    check_header(page, body_bytes)
}

/// Checks an overflow page's header (of which `page` may hold only the first
/// [`OVERFLOW_HEADER_BYTES`]) in a body of `body_bytes`.
fn check_header<B: BodyRead + ?Sized>(
    page: &B,
    body_bytes: usize,
) -> Result<OverflowSummary, String> {
    let kind = page.u8_at(KIND_OFFSET);
    if kind != PageKind::Overflow as u8 {
        return Err(format!("kind {kind}, not an overflow page"));
    }
    let mut reserved = [0u8; RESERVED_BYTES];
    page.read_into(RESERVED_OFFSET, &mut reserved);
    if reserved != [0; RESERVED_BYTES] {
        return Err("reserved bytes are not zero".into());
    }
    let remaining_bytes = page.u32_at(REMAINING_BYTES_OFFSET) as usize;
    if remaining_bytes == 0 || remaining_bytes > VALUE_BYTES_MAX {
        return Err(format!("{remaining_bytes} bytes of value remain (1..={VALUE_BYTES_MAX})"));
    }
    let next_page = page.u64_at(NEXT_PAGE_OFFSET);
    let is_last = remaining_bytes <= chunk_bytes_max(body_bytes);
    let next_page = match (is_last, next_page) {
        (true, NO_PAGE) => None,
        (true, _) => return Err(format!("the value ends here, yet next page is {next_page}")),
        (false, NO_PAGE) => {
            return Err(format!("the chain ends {remaining_bytes} bytes before the value does"));
        }
        (false, next) if !is_tree_page(next) => {
            return Err(format!("next page {next} is not a page id"));
        }
        (false, next) => Some(PageId(next)),
    };
    Ok(OverflowSummary { remaining_bytes, next_page, epoch: page.u64_at(EPOCH_OFFSET) })
}

#[cfg(test)]
mod tests;

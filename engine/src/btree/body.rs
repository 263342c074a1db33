//! [`BodyRead`] and [`BodyWrite`]: the bytes of one page body, wherever they are.
//!
//! The node and overflow code reads and writes page bodies only through these two traits, so
//! the same code runs on a page held in the buffer pool ([`bufferpool::PageView`] for reads,
//! [`PageBody`] for an exclusively held page) and on a plain byte image (`[u8]`: tests, fuzz
//! targets, page images built before they are logged).
//!
//! The contract is the pool's: reads never panic, and a read outside the body returns zeros,
//! because an optimistic reader may compute an offset from bytes a writer was changing (its
//! result is thrown away when the latch fails validation; it must not crash first). Writes
//! assert their range: they run only on a node that was checked, so a write out of range is a
//! bug.

use bufferpool::{ExclusivePage, PageView, PageWriter};

/// Read access to a page body.
pub(crate) trait BodyRead {
    /// Bytes of the body.
    fn body_bytes(&self) -> usize;

    /// Copies body bytes `offset..offset + target.len()` into `target`; bytes beyond the body
    /// read as zeros. Returns whether the whole range was inside the body.
    fn read_into(&self, offset: usize, target: &mut [u8]) -> bool;

    /// The byte at `offset` (0 beyond the body).
    fn u8_at(&self, offset: usize) -> u8 {
        let mut bytes = [0; 1];
        self.read_into(offset, &mut bytes);
        bytes[0]
    }

    /// The little-endian u16 at `offset` (0 beyond the body).
    fn u16_at(&self, offset: usize) -> u16 {
        let mut bytes = [0; 2];
        self.read_into(offset, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    /// The little-endian u32 at `offset` (0 beyond the body).
    fn u32_at(&self, offset: usize) -> u32 {
        let mut bytes = [0; 4];
        self.read_into(offset, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// The little-endian u64 at `offset` (0 beyond the body).
    fn u64_at(&self, offset: usize) -> u64 {
        let mut bytes = [0; 8];
        self.read_into(offset, &mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// The whole body, copied out.
    fn to_vec(&self) -> Vec<u8> {
        let mut body = vec![0; self.body_bytes()];
        self.read_into(0, &mut body);
        body
    }
}

/// Write access to a page body held exclusively.
pub(crate) trait BodyWrite: BodyRead {
    /// Writes `source` at `offset`.
    ///
    /// # Panics
    /// If the range overruns the body (a bug: writes go only to checked nodes).
    fn write(&mut self, offset: usize, source: &[u8]);

    /// Replaces the whole body with `body`, which must be exactly the body's size.
    fn write_body(&mut self, body: &[u8]);

    /// Moves `length_bytes` bytes from `source_offset` to `target_offset` (the ranges may
    /// overlap).
    fn copy_within(&mut self, source_offset: usize, target_offset: usize, length_bytes: usize) {
        let mut moved = vec![0; length_bytes];
        let inside = self.read_into(source_offset, &mut moved);
        assert!(inside, "a move of {length_bytes} bytes from {source_offset} overruns the body");
        self.write(target_offset, &moved);
    }

    /// Writes a little-endian u16.
    fn put_u16(&mut self, offset: usize, value: u16) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian u32.
    fn put_u32(&mut self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian u64.
    fn put_u64(&mut self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }
}

impl BodyRead for PageView<'_> {
    fn body_bytes(&self) -> usize {
        PageView::body_bytes(self)
    }

    fn read_into(&self, offset: usize, target: &mut [u8]) -> bool {
        PageView::read_into(self, offset, target)
    }

    fn u8_at(&self, offset: usize) -> u8 {
        PageView::u8_at(self, offset)
    }

    fn u16_at(&self, offset: usize) -> u16 {
        PageView::u16_at(self, offset)
    }

    fn u32_at(&self, offset: usize) -> u32 {
        PageView::u32_at(self, offset)
    }

    fn u64_at(&self, offset: usize) -> u64 {
        PageView::u64_at(self, offset)
    }
}

impl BodyRead for [u8] {
    fn body_bytes(&self) -> usize {
        self.len()
    }

    fn read_into(&self, offset: usize, target: &mut [u8]) -> bool {
        let inside = offset.checked_add(target.len()).is_some_and(|end| end <= self.len());
        let readable = self.len().saturating_sub(offset).min(target.len());
        let (head, tail) = target.split_at_mut(readable);
        if readable > 0 {
            head.copy_from_slice(&self[offset..offset + readable]);
        }
        tail.fill(0);
        inside
    }
}

impl BodyWrite for [u8] {
    fn write(&mut self, offset: usize, source: &[u8]) {
        let body_bytes = self.len();
        let end = offset.checked_add(source.len()).filter(|&end| end <= body_bytes);
        let end = end.unwrap_or_else(|| {
            panic!(
                "write of {} bytes at body offset {offset} overruns the {body_bytes}-byte body",
                source.len()
            )
        });
        self[offset..end].copy_from_slice(source);
    }

    fn write_body(&mut self, body: &[u8]) {
        assert_eq!(body.len(), self.len(), "a body image of the wrong size");
        self.copy_from_slice(body);
    }

    fn copy_within(&mut self, source_offset: usize, target_offset: usize, length_bytes: usize) {
        let body_bytes = self.len();
        let fits =
            |offset: usize| offset.checked_add(length_bytes).is_some_and(|end| end <= body_bytes);
        assert!(fits(source_offset) && fits(target_offset), "a move overruns the body");
        <[u8]>::copy_within(self, source_offset..source_offset + length_bytes, target_offset);
    }
}

impl BodyRead for Vec<u8> {
    fn body_bytes(&self) -> usize {
        self.len()
    }

    fn read_into(&self, offset: usize, target: &mut [u8]) -> bool {
        self.as_slice().read_into(offset, target)
    }
}

impl BodyWrite for Vec<u8> {
    fn write(&mut self, offset: usize, source: &[u8]) {
        self.as_mut_slice().write(offset, source);
    }

    fn write_body(&mut self, body: &[u8]) {
        self.as_mut_slice().write_body(body);
    }

    fn copy_within(&mut self, source_offset: usize, target_offset: usize, length_bytes: usize) {
        BodyWrite::copy_within(self.as_mut_slice(), source_offset, target_offset, length_bytes);
    }
}

/// The body of a page held exclusively in the pool, for reading and writing at once.
///
/// [`PageWriter`] only writes; the node code must read the node it changes. Both handles point
/// at the same frame words (atomics), so reads through the view see this thread's writes.
/// Creating a `PageBody` marks the page dirty, as [`ExclusivePage::writer`] does.
#[derive(Debug)]
pub(crate) struct PageBody<'page> {
    view: PageView<'page>,
    writer: PageWriter<'page>,
}

impl<'page> PageBody<'page> {
    /// Read and write access to `page`'s body for as long as `page` is borrowed.
    pub(crate) fn new(page: &'page mut ExclusivePage<'_>) -> Self {
        let view: PageView<'_> = **page;
        Self { view, writer: page.writer() }
    }
}

impl BodyRead for PageBody<'_> {
    fn body_bytes(&self) -> usize {
        self.view.body_bytes()
    }

    fn read_into(&self, offset: usize, target: &mut [u8]) -> bool {
        self.view.read_into(offset, target)
    }

    fn u16_at(&self, offset: usize) -> u16 {
        self.view.u16_at(offset)
    }

    fn u32_at(&self, offset: usize) -> u32 {
        self.view.u32_at(offset)
    }

    fn u64_at(&self, offset: usize) -> u64 {
        self.view.u64_at(offset)
    }
}

impl BodyWrite for PageBody<'_> {
    fn write(&mut self, offset: usize, source: &[u8]) {
        self.writer.write(offset, source);
    }

    fn write_body(&mut self, body: &[u8]) {
        self.writer.write_body(body);
    }

    fn copy_within(&mut self, source_offset: usize, target_offset: usize, length_bytes: usize) {
        self.writer.copy_within(source_offset, target_offset, length_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_image_reads_zeros_outside_and_never_panics() {
        let body: Vec<u8> = (1..=16).collect();
        assert_eq!(body.u16_at(0), 0x0201);
        assert_eq!(body.u32_at(14), 0x100F, "the part inside is read");
        assert_eq!(body.u64_at(16), 0);
        assert_eq!(body.u64_at(usize::MAX - 3), 0);
        let mut target = [9u8; 4];
        assert!(!body.read_into(usize::MAX, &mut target));
        assert_eq!(target, [0; 4]);
        assert!(body.read_into(12, &mut target));
        assert_eq!(target, [13, 14, 15, 16]);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_write_past_a_byte_image_is_a_bug() {
        let mut body = vec![0u8; 16];
        body.write(14, &[1; 3]);
    }
}

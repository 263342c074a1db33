//! [`PageView`] and [`PageWriter`]: how the layer above reads and writes the body of a page held
//! in a frame.
//!
//! Frame memory is an array of `AtomicU64` words and every access to a page's bytes is an atomic
//! load or store (`Relaxed`; on x86-64 and AArch64 these are plain moves). That is what makes an
//! optimistic read — one that runs while a writer may be changing the page — free of data
//! races in Rust's memory model: the reader's loads race only with atomic stores, and what it
//! read is used only after the frame's latch validates that no writer came by (see
//! `latch.rs`). The bytes the kernel reads into or writes from never alias a frame: I/O goes
//! through staging buffers and is copied in and out, word by word (a 4 KiB copy is about 1% of
//! a device read).
//!
//! Offsets are relative to the body (byte [`crate::PAGE_HEADER_BYTES`] of the page), so the layer
//! above cannot overwrite the checksum, the page id or the LSN by accident.
//!
//! Reads never panic: a read out of the body's range returns zeros (and `read_into` fills what it
//! cannot read with zeros), because an optimistic reader may compute an offset from bytes a
//! writer was changing. Its result is thrown away when validation fails; it must not crash
//! first. Writes, which run under the exclusive latch on a validated page, assert their range.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::page::{PAGE_HEADER_BYTES, PAGE_LSN_WORD};

const WORD_BYTES: usize = 8;
const HEADER_WORDS: usize = PAGE_HEADER_BYTES / WORD_BYTES;

/// Read access to the body of a page in a frame (optimistic, shared or exclusive).
#[derive(Clone, Copy, Debug)]
pub struct PageView<'frame> {
    words: &'frame [AtomicU64],
}

impl<'frame> PageView<'frame> {
    #[inline]
    pub(crate) fn new(words: &'frame [AtomicU64]) -> Self {
        debug_assert!(words.len() > HEADER_WORDS);
        Self { words }
    }

    /// Bytes of the body: the page size less the pool's header.
    #[inline]
    pub fn body_bytes(&self) -> usize {
        (self.words.len() - HEADER_WORDS) * WORD_BYTES
    }

    /// The page LSN (the LSN of the last log record applied to the page).
    #[inline]
    pub fn lsn(&self) -> u64 {
        self.words[PAGE_LSN_WORD].load(Ordering::Relaxed)
    }

    /// Copies body bytes `offset..offset + target.len()` into `target`; bytes beyond the body
    /// read as zeros. Returns whether the whole range was inside the body.
    #[inline]
    pub fn read_into(&self, offset: usize, target: &mut [u8]) -> bool {
        let body_bytes = self.body_bytes();
        let inside = offset.checked_add(target.len()).is_some_and(|end| end <= body_bytes);
        let readable = if offset >= body_bytes { 0 } else { target.len().min(body_bytes - offset) };
        let (head, tail) = target.split_at_mut(readable);
        tail.fill(0);
        // `min`: an offset past the body reads nothing, and must not overflow on the way.
        let mut byte_index = PAGE_HEADER_BYTES + offset.min(body_bytes);
        let mut written = 0;
        while written < head.len() {
            let word = self.words[byte_index / WORD_BYTES].load(Ordering::Relaxed).to_le_bytes();
            let in_word = byte_index % WORD_BYTES;
            let count = (WORD_BYTES - in_word).min(head.len() - written);
            head[written..written + count].copy_from_slice(&word[in_word..in_word + count]);
            written += count;
            byte_index += count;
        }
        inside
    }

    /// The `length_bytes` (1 to 8) bytes at body offset `offset` as a little-endian integer,
    /// if they lie inside the body and within one word: one load and a shift (the common case
    /// of the accessors below).
    #[inline]
    fn within_word(&self, offset: usize, length_bytes: usize) -> Option<u64> {
        let byte_index = PAGE_HEADER_BYTES.checked_add(offset)?;
        let in_word = byte_index % WORD_BYTES;
        if in_word + length_bytes > WORD_BYTES || offset + length_bytes > self.body_bytes() {
            return None;
        }
        let word = self.words[byte_index / WORD_BYTES].load(Ordering::Relaxed);
        let shifted = word >> (in_word * 8);
        Some(if length_bytes == WORD_BYTES {
            shifted
        } else {
            shifted & ((1 << (length_bytes * 8)) - 1)
        })
    }

    /// The byte at `offset` (0 beyond the body).
    #[inline]
    pub fn u8_at(&self, offset: usize) -> u8 {
        if let Some(value) = self.within_word(offset, 1) {
            return value.to_le_bytes()[0];
        }
        let mut bytes = [0; 1];
        self.read_into(offset, &mut bytes);
        bytes[0]
    }

    /// The little-endian u16 at `offset` (0 beyond the body).
    #[inline]
    pub fn u16_at(&self, offset: usize) -> u16 {
        if let Some(value) = self.within_word(offset, 2) {
            return u16::try_from(value).unwrap_or_default();
        }
        let mut bytes = [0; 2];
        self.read_into(offset, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    /// The little-endian u32 at `offset` (0 beyond the body).
    #[inline]
    pub fn u32_at(&self, offset: usize) -> u32 {
        if let Some(value) = self.within_word(offset, 4) {
            return u32::try_from(value).unwrap_or_default();
        }
        let mut bytes = [0; 4];
        self.read_into(offset, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// The little-endian u64 at `offset` (0 beyond the body).
    #[inline]
    pub fn u64_at(&self, offset: usize) -> u64 {
        if offset.checked_add(WORD_BYTES).is_some_and(|end| end <= self.body_bytes()) {
            // Inside the body: one load if aligned, else two words spliced. Worked: body offset
            // 13 is page byte 37, so bytes 5..8 of word 4 and bytes 0..5 of word 5.
            let byte_index = PAGE_HEADER_BYTES + offset;
            let word_index = byte_index / WORD_BYTES;
            let low = self.words[word_index].load(Ordering::Relaxed);
            let shift_bits = (byte_index % WORD_BYTES) * 8;
            if shift_bits == 0 {
                return low;
            }
            // A word follows: the 8 bytes end inside the body, past word `word_index`.
            let high = self.words[word_index + 1].load(Ordering::Relaxed);
            return (low >> shift_bits) | (high << (64 - shift_bits));
        }
        let mut bytes = [0; 8];
        self.read_into(offset, &mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// The whole body, copied out.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut body = vec![0; self.body_bytes()];
        self.read_into(0, &mut body);
        body
    }
}

/// Write access to the body of a page held exclusively. Obtained from an
/// [`crate::ExclusivePage`], which marks the page dirty.
#[derive(Debug)]
pub struct PageWriter<'frame> {
    words: &'frame [AtomicU64],
}

impl<'frame> PageWriter<'frame> {
    pub(crate) fn new(words: &'frame [AtomicU64]) -> Self {
        Self { words }
    }

    fn view(&self) -> PageView<'frame> {
        PageView::new(self.words)
    }

    fn assert_in_body(&self, offset: usize, length_bytes: usize) {
        let body_bytes = self.view().body_bytes();
        assert!(
            offset.checked_add(length_bytes).is_some_and(|end| end <= body_bytes),
            "write of {length_bytes} bytes at body offset {offset} overruns the {body_bytes}-byte body"
        );
    }

    /// Writes `source` at body offset `offset`.
    ///
    /// # Panics
    /// If the range overruns the body: a bug in the caller, which writes only validated pages.
    pub fn write(&mut self, offset: usize, source: &[u8]) {
        self.assert_in_body(offset, source.len());
        let mut byte_index = PAGE_HEADER_BYTES + offset;
        let mut read = 0;
        while read < source.len() {
            let word = &self.words[byte_index / WORD_BYTES];
            let in_word = byte_index % WORD_BYTES;
            let count = (WORD_BYTES - in_word).min(source.len() - read);
            // Only the exclusive holder stores to this page, so a load-merge-store loses nothing.
            let mut bytes = if count == WORD_BYTES {
                [0; WORD_BYTES]
            } else {
                word.load(Ordering::Relaxed).to_le_bytes()
            };
            bytes[in_word..in_word + count].copy_from_slice(&source[read..read + count]);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
            read += count;
            byte_index += count;
        }
    }

    /// Writes a byte.
    pub fn put_u8(&mut self, offset: usize, value: u8) {
        self.write(offset, &[value]);
    }

    /// Writes a little-endian u16.
    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian u32.
    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian u64.
    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Sets `length_bytes` bytes at `offset` to `byte`.
    pub fn fill(&mut self, offset: usize, length_bytes: usize, byte: u8) {
        self.assert_in_body(offset, length_bytes);
        let chunk = [byte; 64];
        let mut done = 0;
        while done < length_bytes {
            let count = (length_bytes - done).min(chunk.len());
            self.write(offset + done, &chunk[..count]);
            done += count;
        }
    }

    /// Moves `length_bytes` bytes from `source_offset` to `target_offset` (the ranges may
    /// overlap), as `slice::copy_within` does.
    pub fn copy_within(&mut self, source_offset: usize, target_offset: usize, length_bytes: usize) {
        self.assert_in_body(source_offset, length_bytes);
        self.assert_in_body(target_offset, length_bytes);
        let moved = {
            let mut bytes = vec![0; length_bytes];
            self.view().read_into(source_offset, &mut bytes);
            bytes
        };
        self.write(target_offset, &moved);
    }

    /// Replaces the whole body with `body` (which must be exactly the body's size).
    pub fn write_body(&mut self, body: &[u8]) {
        assert_eq!(body.len(), self.view().body_bytes(), "a body image of the wrong size");
        for (word, bytes) in self.words[HEADER_WORDS..].iter().zip(body.chunks_exact(WORD_BYTES)) {
            let bytes: [u8; WORD_BYTES] = bytes.try_into().expect("chunks of one word");
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
    }
}

/// Copies a frame's words into an I/O buffer (both a whole page).
pub(crate) fn copy_out(words: &[AtomicU64], image: &mut [u8]) {
    debug_assert_eq!(words.len() * WORD_BYTES, image.len());
    for (word, bytes) in words.iter().zip(image.chunks_exact_mut(WORD_BYTES)) {
        bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
}

/// Copies an I/O buffer into a frame's words (both a whole page).
pub(crate) fn copy_in(image: &[u8], words: &[AtomicU64]) {
    debug_assert_eq!(words.len() * WORD_BYTES, image.len());
    for (word, bytes) in words.iter().zip(image.chunks_exact(WORD_BYTES)) {
        let bytes: [u8; WORD_BYTES] = bytes.try_into().expect("chunks of one word");
        word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(page_bytes: usize) -> Vec<AtomicU64> {
        (0..page_bytes / WORD_BYTES).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn writes_at_any_offset_read_back_and_touch_nothing_else() {
        let memory = words(4096);
        let mut writer = PageWriter::new(&memory);
        let body_bytes = writer.view().body_bytes();
        let mut model = vec![0u8; body_bytes];
        for (index, offset) in [0usize, 1, 7, 8, 13, 100, body_bytes - 9].into_iter().enumerate() {
            let bytes: Vec<u8> =
                (0..9).map(|byte| u8::try_from(index * 16 + byte).unwrap() | 1).collect();
            writer.write(offset, &bytes);
            model[offset..offset + 9].copy_from_slice(&bytes);
            assert_eq!(writer.view().to_vec(), model, "after a write at {offset}");
        }
        writer.copy_within(0, 50, 30);
        model.copy_within(0..30, 50);
        writer.copy_within(50, 45, 30);
        model.copy_within(50..80, 45);
        writer.fill(200, 150, 0xAB);
        model[200..350].fill(0xAB);
        assert_eq!(writer.view().to_vec(), model);
        let view = writer.view();
        assert_eq!(view.u16_at(45), u16::from_le_bytes([model[45], model[46]]));
        assert_eq!(view.u64_at(8), u64::from_le_bytes(model[8..16].try_into().unwrap()));
        assert_eq!(view.u64_at(3), u64::from_le_bytes(model[3..11].try_into().unwrap()));
        assert!(memory[..HEADER_WORDS].iter().all(|word| word.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn reads_out_of_range_return_zeros_instead_of_panicking() {
        let memory = words(4096);
        let mut writer = PageWriter::new(&memory);
        let body_bytes = writer.view().body_bytes();
        writer.fill(0, body_bytes, 0xFF);
        let view = writer.view();
        assert_eq!(view.u64_at(body_bytes), 0);
        assert_eq!(view.u64_at(usize::MAX - 3), 0);
        assert_eq!(view.u32_at(body_bytes - 2), 0xFFFF, "the part inside is read");
        let mut target = [1u8; 8];
        assert!(!view.read_into(body_bytes - 4, &mut target));
        assert_eq!(target, [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_write_past_the_body_is_a_bug() {
        let memory = words(4096);
        PageWriter::new(&memory).write(4096 - 24 - 3, &[1; 4]);
    }
}

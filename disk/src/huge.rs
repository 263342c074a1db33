//! [`HugeSlice`]: a fixed-length slice in an anonymous mapping of its own, which the kernel
//! may back with 2 MiB pages. The buffer pool keeps its frames, their metadata and its page
//! table in them; it lives here because the pool has no `unsafe`.
//!
//! Those are read at random all over. On 4 KiB pages, a cached lookup in a pool of hundreds of
//! MiB misses the TLB at nearly every structure it touches, and each miss walks the page tables
//! (twice over in a virtual machine). One 2 MiB page covers 512 frames of 4 KiB, so the TLB
//! covers gigabytes of pool instead of a few MiB.
//!
//! The slice starts on a 2 MiB boundary of its mapping and its whole 2 MiB pages are advised
//! `MADV_HUGEPAGE`, which asks for huge pages when the kernel's transparent huge pages are in
//! `madvise` mode (the usual default) as well as in `always` mode. A slice under 2 MiB, and the
//! last part of one that is not a whole huge page, stay on 4 KiB pages: a huge page is
//! committed whole at its first touch, and a small pool's page table would take 2 MiB. Where
//! the kernel gives none (THP off, or memory too fragmented), the slice works the same on
//! 4 KiB pages: the advice is a hint, and its failure is ignored.
//!
//! The mapping is private and anonymous: its pages read as zeros until written, and take
//! memory only when first touched (in 2 MiB steps where huge pages are used). A slice of
//! [`Zeroable`] values ([`HugeSlice::zeroed`]) is written nowhere when it is made, so it takes
//! memory only where it is used; [`HugeSlice::new`] writes every value.
//!
//! [`HugeSlice::sparse`] is the one exception to the huge pages: a reservation of address
//! space larger than what will be touched (the flat part of the pool's page table has an
//! entry for each of a file's first page ids, of which the pool holds a few), touched here and
//! there. It stays on 4 KiB pages, so that each touch commits 4 KiB and not 2 MiB, and is
//! mapped `MAP_NORESERVE`, so that the kernel's overcommit heuristic does not refuse a
//! reservation larger than the machine's memory.

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;

use rustix::mm::{Advice, MapFlags, ProtFlags};

/// The huge page size the slice is aligned for (x86-64's and arm64's with 4 KiB base pages).
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// `len` values of `T` in a mapping of their own, on huge pages where the kernel gives them.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let words = disk::HugeSlice::<AtomicU64>::zeroed(1 << 20)?;
/// words[7].store(42, Ordering::Relaxed);
/// assert_eq!(words[7].load(Ordering::Relaxed), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct HugeSlice<T> {
    start: NonNull<T>,
    len: usize,
    mapping: NonNull<c_void>,
    mapping_bytes: usize,
}

// SAFETY: a `HugeSlice<T>` owns its values as a `Box<[T]>` does.
unsafe impl<T: Send> Send for HugeSlice<T> {}
// SAFETY: shared access hands out only `&[T]`.
unsafe impl<T: Sync> Sync for HugeSlice<T> {}

/// Types whose all-zero bytes are a valid value: a fresh anonymous mapping, which reads as
/// zeros, holds a slice of them already ([`HugeSlice::zeroed`]).
///
/// # Safety
/// All-zero bytes must be a valid value of the implementing type.
pub unsafe trait Zeroable {}

// SAFETY: zero is a valid integer.
unsafe impl Zeroable for u8 {}
// SAFETY: an `AtomicU64` has the in-memory representation of a `u64`.
unsafe impl Zeroable for std::sync::atomic::AtomicU64 {}
// SAFETY: an `AtomicU32` has the in-memory representation of a `u32`.
unsafe impl Zeroable for std::sync::atomic::AtomicU32 {}

impl<T: Zeroable> HugeSlice<T> {
    /// A slice of `len` zero values. Nothing is written: the kernel hands out zeroed pages as
    /// they are first touched, so memory is taken only where the slice is used (a pool larger
    /// than its data does not take all of its memory at open). An error as for
    /// [`HugeSlice::new`].
    pub fn zeroed(len: usize) -> io::Result<Self> {
        // SAFETY: the mapping reads as zeros, a valid `T` (`Zeroable`).
        unsafe { Self::map(len, Layout::Huge) }
    }

    /// A slice of `len` zero values meant to be touched sparsely: on 4 KiB pages, and mapped
    /// without reserving swap or memory for it (`MAP_NORESERVE`), so that a slice of many
    /// gigabytes costs address space and, in memory, only the 4 KiB pages written. An error as
    /// for [`HugeSlice::new`].
    pub fn sparse(len: usize) -> io::Result<Self> {
        // SAFETY: as in `zeroed`.
        unsafe { Self::map(len, Layout::Sparse) }
    }
}

/// How a slice's mapping is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Whole 2 MiB pages advised `MADV_HUGEPAGE`.
    Huge,
    /// 4 KiB pages, `MAP_NORESERVE`.
    Sparse,
}

impl<T> HugeSlice<T> {
    /// A slice of `len` values, value `i` being `init(i)`. An error if the kernel cannot map
    /// the memory, or if it is larger than the address space.
    pub fn new(len: usize, mut init: impl FnMut(usize) -> T) -> io::Result<Self> {
        // SAFETY: every value is written below, before the slice is handed out. Until then it
        // is not dropped: were `init` to panic, dropping it would drop values never written
        // (the mapping is left to the process instead).
        let slice = std::mem::ManuallyDrop::new(unsafe { Self::map(len, Layout::Huge) }?);
        for index in 0..len {
            // SAFETY: value `index` lies within the mapping, aligned (the start is aligned on
            // 2 MiB, which `T`'s alignment divides), and is written once, before any read.
            unsafe { slice.start.add(index).write(init(index)) };
        }
        Ok(std::mem::ManuallyDrop::into_inner(slice))
    }

    /// A slice over a fresh mapping of `len` values' room, which reads as zeros.
    ///
    /// # Safety
    /// The values are not initialised (unless all-zero bytes are a valid `T`): the caller
    /// writes each before the slice is read or dropped.
    unsafe fn map(len: usize, layout: Layout) -> io::Result<Self> {
        const { assert!(align_of::<T>() <= HUGE_PAGE_BYTES) };
        let bytes = len.checked_mul(size_of::<T>()).ok_or_else(too_large)?;
        // Only whole huge pages of values are advised onto huge pages: a huge page is committed
        // whole at its first touch, so a small slice, or the tail of one, stays on 4 KiB pages
        // rather than take up to 2 MiB it does not use. A sparse slice is kept off huge pages
        // even where the kernel would use them unasked (transparent huge pages `always`).
        let (flags, advice, advised_bytes) = match layout {
            Layout::Huge => (
                MapFlags::PRIVATE,
                Advice::LinuxHugepage,
                bytes / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES,
            ),
            Layout::Sparse => {
                (MapFlags::PRIVATE | MapFlags::NORESERVE, Advice::LinuxNoHugepage, bytes)
            }
        };
        // One huge page more than the values need, so that they can start on a boundary.
        let mapping_bytes = bytes
            .checked_next_multiple_of(HUGE_PAGE_BYTES)
            .and_then(|rounded| rounded.checked_add(HUGE_PAGE_BYTES))
            .ok_or_else(too_large)?;
        // SAFETY: a new private anonymous mapping aliases nothing.
        let mapping = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                mapping_bytes,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
            )
        }?;
        let mapping = NonNull::new(mapping).expect("mmap never maps at address zero");
        let skip = mapping.as_ptr().cast::<u8>().align_offset(HUGE_PAGE_BYTES);
        // SAFETY: `skip < HUGE_PAGE_BYTES`, so the values' `bytes` lie within the mapping.
        let start = unsafe { mapping.cast::<u8>().add(skip) };
        if advised_bytes > 0 {
            // SAFETY: the range lies within the mapping, which only this slice uses.
            // A hint: the slice works the same whichever pages the kernel uses.
            let _ = unsafe { rustix::mm::madvise(start.as_ptr().cast(), advised_bytes, advice) };
        }
        Ok(Self { start: start.cast::<T>(), len, mapping, mapping_bytes })
    }

    /// Bytes of the slice's memory in RAM now: its base pages the kernel has made resident
    /// (`mincore`). What a slice costs, as opposed to its length: a zeroed or sparse slice
    /// takes memory only where it has been touched. An error if `mincore` fails.
    pub fn resident_bytes(&self) -> io::Result<usize> {
        let pages = self.resident_pages_in(0..self.len)?;
        Ok(pages * rustix::param::page_size())
    }

    /// Base pages resident now in values `range` of the slice, which must start on a page.
    fn resident_pages_in(&self, range: std::ops::Range<usize>) -> io::Result<usize> {
        let page_bytes = rustix::param::page_size();
        let start_bytes = range.start * size_of::<T>();
        assert_eq!(start_bytes % page_bytes, 0, "the range starts on a page");
        assert!(range.end <= self.len, "the range lies within the slice");
        let bytes = range.len() * size_of::<T>();
        if bytes == 0 {
            return Ok(0);
        }
        let mut resident = vec![0u8; bytes.div_ceil(page_bytes)];
        // SAFETY: the range lies within the slice's mapping (asserted above) and starts on a
        // page boundary; `resident` has a byte for each of its pages, which is all `mincore`
        // writes.
        let result = unsafe {
            libc::mincore(
                self.start.as_ptr().cast::<u8>().add(start_bytes).cast(),
                bytes,
                resident.as_mut_ptr(),
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(resident.iter().filter(|&&page| page & 1 != 0).count())
    }
}

impl<T> std::ops::Deref for HugeSlice<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised values start at `start` and live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for HugeSlice<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the values were initialised in `new` and are dropped once, here.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.start.as_ptr(),
                self.len,
            ));
        }
        // SAFETY: the mapping is this slice's own and nothing refers to it any more. A failure
        // leaves the memory mapped until exit, which is all it could cost.
        let _ = unsafe { rustix::mm::munmap(self.mapping.as_ptr(), self.mapping_bytes) };
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HugeSlice")
            .field("len", &self.len)
            .field("mapping_bytes", &self.mapping_bytes)
            .finish_non_exhaustive()
    }
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, "the slice is larger than the address space")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn values_start_on_a_huge_page_boundary_and_hold_what_init_gave() {
        let slice = HugeSlice::new(3 * HUGE_PAGE_BYTES / 8 + 5, |index| index as u64 * 3).unwrap();
        assert_eq!(slice.as_ptr().addr() % HUGE_PAGE_BYTES, 0);
        assert_eq!(slice.len(), 3 * HUGE_PAGE_BYTES / 8 + 5);
        assert!(slice.iter().enumerate().all(|(index, &value)| value == index as u64 * 3));
    }

    #[test]
    fn zeroed_atomics_read_zero_and_can_be_written_everywhere() {
        let slice = HugeSlice::<AtomicU64>::zeroed(HUGE_PAGE_BYTES / 8 + 1).unwrap();
        for (index, word) in slice.iter().enumerate() {
            assert_eq!(word.load(Ordering::Relaxed), 0);
            word.store(index as u64, Ordering::Relaxed);
        }
        assert_eq!(slice.last().unwrap().load(Ordering::Relaxed), HUGE_PAGE_BYTES as u64 / 8);
    }

    /// Base pages of `slice` resident now (`mincore`).
    fn resident_pages<T>(slice: &HugeSlice<T>) -> usize {
        slice.resident_bytes().unwrap() / rustix::param::page_size()
    }

    /// A zeroed slice writes nothing: none of its memory is resident until it is touched, and
    /// a touch takes one page (a huge one at most).
    #[test]
    fn a_zeroed_slice_takes_memory_only_where_touched() {
        let mut slice = HugeSlice::<u8>::zeroed(16 * HUGE_PAGE_BYTES).unwrap();
        assert_eq!(resident_pages(&slice), 0, "a zeroed slice was written");
        slice[0] = 1;
        let touched = resident_pages(&slice);
        let huge_page_pages = HUGE_PAGE_BYTES / rustix::param::page_size();
        assert!(
            (1..=huge_page_pages).contains(&touched),
            "one touch made {touched} pages resident"
        );
        assert_eq!(slice[1], 0);
    }

    /// A sparse slice far larger than this machine's memory maps, and takes memory only where
    /// written: 4 KiB pages, not 2 MiB ones.
    #[test]
    fn a_sparse_slice_reserves_address_space_and_takes_base_pages_where_touched() {
        let len = 64usize << 30; // 256 GiB of u32s
        let slice = HugeSlice::<std::sync::atomic::AtomicU32>::sparse(len).unwrap();
        let page_values = rustix::param::page_size() / 4;
        for index in [0, len / 3, len - 1] {
            assert_eq!(slice[index].load(Ordering::Relaxed), 0);
            slice[index].store(7, Ordering::Relaxed);
        }
        // `mincore` over the whole reservation would need a 64 Mi-entry vector: look at the
        // pages around each touch instead.
        for index in [0, len / 3, len - 1] {
            let page_start = index / page_values * page_values;
            let around = HUGE_PAGE_BYTES / 4;
            let start = page_start.saturating_sub(around);
            let end = (page_start + page_values + around).min(len);
            let resident = slice.resident_pages_in(start..end).unwrap();
            assert_eq!(resident, 1, "a touch at {index} made {resident} pages resident");
            assert_eq!(slice[index].load(Ordering::Relaxed), 7);
        }
    }

    #[test]
    fn every_value_is_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(HugeSlice::new(1000, |_| Counted(Arc::clone(&drops))).unwrap());
        assert_eq!(drops.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn an_empty_slice_maps_and_unmaps() {
        let slice = HugeSlice::<u64>::new(0, |_| unreachable!()).unwrap();
        assert!(slice.is_empty());
        assert_eq!(slice.resident_bytes().unwrap(), 0);
    }

    #[test]
    fn a_slice_larger_than_the_address_space_is_an_error() {
        let error = HugeSlice::<u64>::new(usize::MAX / 4, |_| 0).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::OutOfMemory);
    }
}

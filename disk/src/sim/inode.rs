//! [`Inode`]: the contents of one simulated file, durable and volatile.
//!
//! A file is held three ways:
//!
//! - `durable`: what survives any crash;
//! - `pending`: the writes completed since, still in the volatile write cache, in the order they
//!   were issued (global sequence numbers);
//! - `current`: what reads see.
//!
//! Invariant 1: `current` equals `durable` with every live unit of every pending write applied
//! in sequence order ([`Inode::check_invariants`]).
//!
//! Invariant 2: no pending write holds a live unit that a durable write issued after it covers.
//! When a write becomes durable, the units it covers are marked dead in every older write still
//! pending, because the device's cache would have replaced them: a crash must never resurrect
//! data older than something already durable.
//!
//! Pending writes are tracked in units of [`UNIT_BYTES`] (the smallest sector) so that they can
//! be clipped (by a newer durable write, a truncate, or a failed write that landed only in part)
//! without losing their identity: the crash explorer names a write by its sequence number.

use std::fmt;

use super::UNIT_BYTES;

/// One write still in the volatile cache.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PendingRecord {
    /// Issue order, unique across the whole disk.
    pub(super) sequence: u64,
    /// Where it landed (which is where it was asked to land unless it was misdirected).
    pub(super) offset_bytes: u64,
    /// What it wrote (a multiple of [`UNIT_BYTES`] long).
    pub(super) data: Vec<u8>,
    /// One flag per [`UNIT_BYTES`] of `data`: false where the unit has no effect (it never
    /// landed, or a newer durable write or a truncate replaced it).
    pub(super) live_units: Vec<bool>,
    /// False once a write or flush touching it failed: a later flush does not make it durable.
    pub(super) flushable: bool,
}

impl PendingRecord {
    /// A record whose `live_units` say which units landed.
    pub(super) fn new(
        sequence: u64,
        offset_bytes: u64,
        data: Vec<u8>,
        live_units: Vec<bool>,
        flushable: bool,
    ) -> Self {
        assert_eq!(offset_bytes % UNIT_BYTES, 0);
        assert_eq!(data.len() as u64 % UNIT_BYTES, 0);
        assert_eq!(live_units.len() as u64, data.len() as u64 / UNIT_BYTES);
        Self { sequence, offset_bytes, data, live_units, flushable }
    }

    /// The byte just past the end of the write.
    pub(super) fn end_bytes(&self) -> u64 {
        self.offset_bytes + self.data.len() as u64
    }

    /// Whether any unit still has an effect.
    fn is_live(&self) -> bool {
        self.live_units.iter().any(|&live| live)
    }

    /// The file offset of unit `unit_index`.
    pub(super) fn unit_offset_bytes(&self, unit_index: usize) -> u64 {
        self.offset_bytes + unit_index as u64 * UNIT_BYTES
    }

    /// Marks dead every unit inside `[start_bytes, end_bytes)`.
    fn kill_range(&mut self, start_bytes: u64, end_bytes: u64) {
        for unit_index in 0..self.live_units.len() {
            let unit_offset = self.unit_offset_bytes(unit_index);
            if unit_offset >= start_bytes && unit_offset + UNIT_BYTES <= end_bytes {
                self.live_units[unit_index] = false;
            }
        }
    }

    /// Zeroes the data at and past file offset `start_bytes`: a truncate to a size that is not
    /// a multiple of [`UNIT_BYTES`] cuts a unit in two, and the part past the end reads as zeros
    /// if the file grows again.
    fn zero_from(&mut self, start_bytes: u64) {
        let start_in_record = start_bytes.saturating_sub(self.offset_bytes);
        if let Some(tail) = self.data.get_mut(to_index(start_in_record)..) {
            tail.fill(0);
        }
    }

    /// Copies unit `unit_index` onto `target`, growing it with zeros if needed.
    pub(super) fn apply_unit(&self, target: &mut Vec<u8>, unit_index: usize) {
        let Some(&true) = self.live_units.get(unit_index) else {
            return;
        };
        let unit_bytes = to_index(UNIT_BYTES);
        let source = &self.data[unit_index * unit_bytes..(unit_index + 1) * unit_bytes];
        // Offsets fit in usize: a write is admitted only below the disk's capacity, which is
        // bounded by memory (see `SimDiskOptions::capacity_bytes`).
        let start = to_index(self.unit_offset_bytes(unit_index));
        let end = start + unit_bytes;
        if target.len() < end {
            target.resize(end, 0);
        }
        target[start..end].copy_from_slice(source);
    }

    /// Copies every live unit onto `target`.
    pub(super) fn apply(&self, target: &mut Vec<u8>) {
        for unit_index in 0..self.live_units.len() {
            self.apply_unit(target, unit_index);
        }
    }
}

impl fmt::Debug for PendingRecord {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live_count = self.live_units.iter().filter(|&&live| live).count();
        formatter
            .debug_struct("PendingRecord")
            .field("sequence", &self.sequence)
            .field("offset_bytes", &self.offset_bytes)
            .field("length_bytes", &self.data.len())
            .field("live_units", &format_args!("{live_count}/{}", self.live_units.len()))
            .field("flushable", &self.flushable)
            .finish()
    }
}

/// Converts an offset already admitted below the disk's capacity into an index.
pub(super) fn to_index(offset_bytes: u64) -> usize {
    usize::try_from(offset_bytes).expect("offsets below the capacity fit in usize")
}

/// The contents of one simulated file.
#[derive(Clone, Default)]
pub(super) struct Inode {
    pub(super) durable: Vec<u8>,
    pub(super) current: Vec<u8>,
    /// Sorted by sequence; every record has a live unit.
    pub(super) pending: Vec<PendingRecord>,
    /// Handles open on it in the current epoch: an unlinked file lives until the last closes.
    pub(super) open_handle_count: u32,
}

impl Inode {
    /// Adds a completed write to the volatile cache and makes it visible.
    pub(super) fn push(&mut self, record: PendingRecord) {
        assert!(self.pending.last().is_none_or(|last| last.sequence < record.sequence));
        record.apply(&mut self.current);
        if record.is_live() {
            self.pending.push(record);
        }
    }

    /// Makes the pending write with `sequence` durable (a FUA write), and only it.
    pub(super) fn make_durable(&mut self, sequence: u64) {
        self.make_durable_where(|record| record.sequence == sequence);
    }

    /// Makes every flushable pending write durable (`fdatasync`). Writes whose write or a
    /// previous flush failed stay pending.
    pub(super) fn flush(&mut self) {
        self.make_durable_where(|record| record.flushable);
    }

    /// Marks every pending write as unflushable after a failed flush.
    pub(super) fn poison_pending(&mut self) {
        for record in &mut self.pending {
            record.flushable = false;
        }
    }

    /// Makes durable the units of the pending write with `sequence` that lie wholly inside the
    /// file's durable size, and leaves the rest of it pending (a completed write on a
    /// write-through device). The device puts the data on the media before it completes the
    /// write, but a write that grows the file also changes the file's size, which is file-system
    /// metadata: only `fdatasync` or an `O_DSYNC` write commits it, so until then a crash may
    /// lose the grown part.
    ///
    /// Worked example: durable size 1000 bytes, a 2048-byte write at 0: unit 0 (bytes 0..512)
    /// is durable at once; units 1..4 (512..2048) stay pending, unit 1 because it straddles the
    /// durable end.
    pub(super) fn make_durable_inside_size(&mut self, sequence: u64) {
        let Some(position) = self.pending.iter().position(|record| record.sequence == sequence)
        else {
            return; // a write with no live unit was never kept pending
        };
        let durable_end_bytes = self.durable.len() as u64;
        let record = &mut self.pending[position];
        let mut inside = record.clone();
        for unit_index in 0..record.live_units.len() {
            let unit_end_bytes = record.unit_offset_bytes(unit_index) + UNIT_BYTES;
            let is_inside = unit_end_bytes <= durable_end_bytes;
            inside.live_units[unit_index] &= is_inside;
            record.live_units[unit_index] &= !is_inside;
        }
        // The part left pending keeps the write's sequence number (the crash explorer names the
        // write by it); `harden` clips only writes older than the part it hardens, so not it.
        self.harden(&inside);
    }

    fn make_durable_where(&mut self, chosen: impl Fn(&PendingRecord) -> bool) {
        let (flushed, remaining): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|record| chosen(record));
        self.pending = remaining;
        for record in &flushed {
            self.harden(record);
        }
    }

    /// Applies `record`'s live units to the durable copy, kills the units of older pending
    /// writes under them, and drops pending writes left with no live unit.
    fn harden(&mut self, record: &PendingRecord) {
        record.apply(&mut self.durable);
        // Invariant 2: older pending data under a durable unit can never come back.
        for older in self.pending.iter_mut().filter(|older| older.sequence < record.sequence) {
            for unit_index in 0..record.live_units.len() {
                if record.live_units[unit_index] {
                    let unit_offset = record.unit_offset_bytes(unit_index);
                    older.kill_range(unit_offset, unit_offset + UNIT_BYTES);
                }
            }
        }
        self.pending.retain(PendingRecord::is_live);
    }

    /// Sets the size to `size_bytes`, durably. The kernel's `ftruncate` frees the blocks past
    /// the new end, so pending data there can never come back; the flush that makes the size
    /// durable makes every flushable pending write durable too.
    pub(super) fn truncate(&mut self, size_bytes: u64) {
        self.flush();
        for record in &mut self.pending {
            record.kill_range(size_bytes.next_multiple_of(UNIT_BYTES), u64::MAX);
            record.zero_from(size_bytes);
        }
        self.pending.retain(PendingRecord::is_live);
        let size = to_index(size_bytes);
        self.current.resize(size, 0);
        self.durable.resize(size, 0);
    }

    /// Grows the file to at least `size_bytes` with zeros, durably.
    pub(super) fn allocate(&mut self, size_bytes: u64) {
        self.flush();
        let size = to_index(size_bytes);
        if self.current.len() < size {
            self.current.resize(size, 0);
        }
        if self.durable.len() < size {
            self.durable.resize(size, 0);
        }
    }

    /// Flips one bit of the stored data at `offset_bytes` (media corruption): in what reads see,
    /// in the durable copy, and in every pending write over it, so that neither a flush nor a
    /// crash repairs it.
    pub(super) fn flip_bit(&mut self, offset_bytes: u64, bit_index: u8) {
        let mask = 1u8 << (bit_index % 8);
        let index = to_index(offset_bytes);
        if let Some(byte) = self.current.get_mut(index) {
            *byte ^= mask;
        }
        if let Some(byte) = self.durable.get_mut(index) {
            *byte ^= mask;
        }
        for record in &mut self.pending {
            if (record.offset_bytes..record.end_bytes()).contains(&offset_bytes) {
                let index_in_record = to_index(offset_bytes - record.offset_bytes);
                record.data[index_in_record] ^= mask;
            }
        }
    }

    /// Panics if invariant 1 or the ordering of `pending` does not hold.
    pub(super) fn check_invariants(&self) {
        let mut replayed = self.durable.clone();
        for record in &self.pending {
            record.apply(&mut replayed);
        }
        // The two may differ in length, by zeros only: a truncate leaves `current` longer than
        // the replay when it grows the file past unflushable writes, and shorter when it cuts a
        // unit of one in two (the cut part was zeroed).
        let common = replayed.len().min(self.current.len());
        assert!(replayed[..common] == self.current[..common], "current != durable + pending");
        assert!(replayed[common..].iter().all(|&byte| byte == 0), "replay overruns the file");
        assert!(self.current[common..].iter().all(|&byte| byte == 0), "file overruns replay");
        for pair in self.pending.windows(2) {
            assert!(pair[0].sequence < pair[1].sequence, "pending writes out of order");
        }
        for record in &self.pending {
            assert!(record.is_live(), "a dead pending write was kept");
        }
    }
}

impl fmt::Debug for Inode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Inode")
            .field("size_bytes", &self.current.len())
            .field("durable_size_bytes", &self.durable.len())
            .field("pending", &self.pending)
            .field("open_handle_count", &self.open_handle_count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u64, offset_bytes: u64, fill: u8, units: usize) -> PendingRecord {
        let data = vec![fill; units * to_index(UNIT_BYTES)];
        PendingRecord::new(sequence, offset_bytes, data, vec![true; units], true)
    }

    #[test]
    fn flush_makes_current_durable() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0xAA, 2));
        inode.push(record(2, 512, 0xBB, 2));
        assert_eq!(inode.current.len(), 1536);
        assert!(inode.durable.is_empty());
        inode.flush();
        assert_eq!(inode.durable, inode.current);
        assert!(inode.pending.is_empty());
        inode.check_invariants();
    }

    #[test]
    fn a_durable_write_kills_older_pending_units_under_it() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0xAA, 2));
        inode.push(record(2, 512, 0xBB, 1));
        inode.make_durable(2);
        assert_eq!(inode.pending.len(), 1);
        assert_eq!(inode.pending[0].live_units, [true, false]);
        inode.check_invariants();
    }

    #[test]
    fn a_durable_write_covering_everything_older_empties_the_cache() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0xAA, 1));
        inode.push(record(2, 0, 0xBB, 1));
        inode.make_durable(2);
        assert!(inode.pending.is_empty());
        assert_eq!(inode.durable[0], 0xBB);
        inode.check_invariants();
    }

    #[test]
    fn inside_size_hardens_only_whole_units_below_the_durable_end() {
        // The worked example of `make_durable_inside_size`: durable size 1000, a 2048-byte
        // write at 0.
        let mut inode = Inode::default();
        inode.allocate(1000);
        inode.push(record(1, 0, 0xAA, 4));
        inode.make_durable_inside_size(1);
        assert_eq!(inode.durable.len(), 1000, "the size is not committed");
        assert!(inode.durable[..512].iter().all(|&byte| byte == 0xAA));
        assert!(inode.durable[512..].iter().all(|&byte| byte == 0), "unit 1 straddles the end");
        assert_eq!(inode.pending.len(), 1);
        assert_eq!(inode.pending[0].sequence, 1, "the pending part keeps its write's name");
        assert_eq!(inode.pending[0].live_units, [false, true, true, true]);
        inode.check_invariants();
    }

    #[test]
    fn inside_size_clips_older_pending_writes_but_not_its_own_pending_part() {
        let mut inode = Inode::default();
        inode.allocate(1024);
        inode.push(record(1, 0, 0xAA, 2));
        inode.poison_pending(); // an older failed write, pending for good
        inode.push(record(2, 512, 0xBB, 2));
        inode.make_durable_inside_size(2);
        assert_eq!(inode.pending.len(), 2);
        assert_eq!(inode.pending[0].live_units, [true, false], "unit 1 is durable below it");
        assert_eq!(inode.pending[1].live_units, [false, true], "past the durable end");
        assert_eq!(inode.durable[512], 0xBB);
        inode.check_invariants();
    }

    #[test]
    fn unflushable_writes_survive_a_flush_as_pending() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0xAA, 2));
        inode.poison_pending();
        inode.push(record(2, 512, 0xBB, 2));
        inode.flush();
        assert_eq!(inode.pending.len(), 1);
        assert_eq!(inode.pending[0].sequence, 1);
        assert_eq!(inode.pending[0].live_units, [true, false], "unit under the flushed write");
        inode.check_invariants();
    }

    #[test]
    fn truncate_clips_pending_writes_and_is_durable() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0xAA, 4));
        inode.poison_pending();
        inode.truncate(1024);
        assert_eq!(inode.current.len(), 1024);
        assert_eq!(inode.durable.len(), 1024);
        assert_eq!(inode.pending[0].live_units, [true, true, false, false]);
        inode.check_invariants();
    }

    #[test]
    fn flip_bit_survives_flush() {
        let mut inode = Inode::default();
        inode.push(record(1, 0, 0, 1));
        inode.flip_bit(3, 0);
        assert_eq!(inode.current[3], 1);
        inode.flush();
        assert_eq!(inode.durable[3], 1);
        inode.check_invariants();
    }
}

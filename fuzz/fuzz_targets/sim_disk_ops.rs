//! Drives a `SimDisk` with arbitrary sequences of writes, reads, flushes, durable writes and
//! crashes, against a model of two byte images per file: what reads must see, and what is
//! durable. Checks that reads always see the last write, that a crash never loses a byte that
//! was durable, and that the simulator's own invariants hold. Never panics on its own input.
//!
//! Run: `cargo +nightly fuzz run sim_disk_ops` (from `fuzz/`).

#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use libfuzzer_sys::fuzz_target;

const SECTOR_BYTES: usize = 512;
/// Files are kept small so that every byte of the model can be compared after each step.
const FILE_SECTOR_COUNT_MAX: u16 = 64;
const OPERATION_COUNT_MAX: usize = 256;

#[derive(Debug, Arbitrary)]
enum Step {
    Write { sector: u16, sector_count: u8, byte: u8, durable: bool },
    Read { sector: u16, sector_count: u8 },
    Sync,
    Crash,
}

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u64,
    steps: Vec<Step>,
}

/// What the model knows of one byte after a crash: it is durable (must survive with this
/// value), or it may hold any of the values written since (lost, kept or torn).
struct Model {
    visible: Vec<u8>,
    durable: Vec<Option<u8>>,
}

fuzz_target!(|input: Input| {
    let disk = SimDisk::with_seed(input.seed);
    disk.create_dir_all(Path::new("/db")).unwrap();
    let path = Path::new("/db/file");
    let mut file = disk.open(path, OpenOptions::create()).unwrap();
    disk.sync_dir(Path::new("/db")).unwrap();
    let file_bytes = usize::from(FILE_SECTOR_COUNT_MAX) * SECTOR_BYTES;
    file.allocate(file_bytes as u64).unwrap();
    let mut model = Model { visible: vec![0; file_bytes], durable: vec![Some(0); file_bytes] };
    for step in input.steps.into_iter().take(OPERATION_COUNT_MAX) {
        match step {
            Step::Write { sector, sector_count, byte, durable } => {
                let Some((start, length)) = range(sector, sector_count) else { continue };
                let mut buf = AlignedBuf::zeroed(length, 4096);
                buf.fill(byte);
                if durable {
                    file.write_at_durable(&buf, start as u64).unwrap();
                } else {
                    file.write_at(&buf, start as u64).unwrap();
                }
                model.visible[start..start + length].fill(byte);
                let durable_value = durable.then_some(byte);
                for slot in &mut model.durable[start..start + length] {
                    // A non-durable write makes the byte uncertain until the next sync.
                    *slot = durable_value;
                }
            }
            Step::Read { sector, sector_count } => {
                let Some((start, length)) = range(sector, sector_count) else { continue };
                let mut buf = AlignedBuf::zeroed(length, 4096);
                file.read_at(&mut buf, start as u64).unwrap();
                assert_eq!(&buf[..], &model.visible[start..start + length]);
            }
            Step::Sync => {
                file.sync_data().unwrap();
                for (slot, &value) in model.durable.iter_mut().zip(&model.visible) {
                    *slot = Some(value);
                }
            }
            Step::Crash => {
                disk.crash();
                file = disk.open(path, OpenOptions::existing()).unwrap();
                let mut image = AlignedBuf::zeroed(file_bytes, 4096);
                file.read_at(&mut image, 0).unwrap();
                for (index, (&byte, durable)) in image.iter().zip(&model.durable).enumerate() {
                    if let Some(value) = durable {
                        assert_eq!(byte, *value, "durable byte {index} changed by a crash");
                    }
                }
                model.visible.copy_from_slice(&image);
                for (slot, &value) in model.durable.iter_mut().zip(image.iter()) {
                    *slot = Some(value);
                }
            }
        }
        disk.check_invariants();
    }
});

/// The byte range of a request clipped to the file, or `None` when it is empty.
fn range(sector: u16, sector_count: u8) -> Option<(usize, usize)> {
    let first = sector % FILE_SECTOR_COUNT_MAX;
    let count = u16::from(sector_count).min(FILE_SECTOR_COUNT_MAX - first);
    (count > 0).then(|| (usize::from(first) * SECTOR_BYTES, usize::from(count) * SECTOR_BYTES))
}

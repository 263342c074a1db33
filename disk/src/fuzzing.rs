//! The entry point of the `sim_disk_ops` cargo-fuzz target in `fuzz/` (feature `fuzzing`), kept
//! here so that a stable test can replay the target's corpus through the same code. Not part of
//! the disk's API.
//!
//! [`sim_disk_ops`] drives a [`SimDisk`] with arbitrary sequences of writes, reads, flushes,
//! durable writes and crashes, against a model of two byte images per file: what reads must see,
//! and what is durable. It checks that reads always see the last write, that a crash never loses
//! a byte that was durable, and that the simulator's own invariants hold. It panics only when one
//! of those promises is broken, never on its own input.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};

use crate::{AlignedBuf, Disk, OpenOptions, SimDisk};

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

/// Decodes `data` as the fuzzer does (bytes that do not decode are skipped, as libFuzzer's
/// `fuzz_target!` skips them) and runs the steps against the model.
pub fn sim_disk_ops(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let disk = SimDisk::with_seed(input.seed);
    disk.create_dir_all(Path::new("/db")).expect("a simulated directory");
    let path = Path::new("/db/file");
    let mut file = disk.open(path, OpenOptions::create()).expect("a simulated file");
    disk.sync_dir(Path::new("/db")).expect("a healthy simulated disk");
    let file_bytes = usize::from(FILE_SECTOR_COUNT_MAX) * SECTOR_BYTES;
    file.allocate(file_bytes as u64).expect("a healthy simulated disk");
    let mut model = Model { visible: vec![0; file_bytes], durable: vec![Some(0); file_bytes] };
    for step in input.steps.into_iter().take(OPERATION_COUNT_MAX) {
        match step {
            Step::Write { sector, sector_count, byte, durable } => {
                let Some((start, length)) = range(sector, sector_count) else { continue };
                write(&*file, &mut model, start, length, byte, durable);
            }
            Step::Read { sector, sector_count } => {
                let Some((start, length)) = range(sector, sector_count) else { continue };
                let mut buf = AlignedBuf::zeroed(length, 4096);
                file.read_at(&mut buf, start as u64).expect("a healthy simulated disk");
                assert_eq!(&buf[..], &model.visible[start..start + length]);
            }
            Step::Sync => {
                file.sync_data().expect("a healthy simulated disk");
                for (slot, &value) in model.durable.iter_mut().zip(&model.visible) {
                    *slot = Some(value);
                }
            }
            Step::Crash => {
                disk.crash();
                file = disk.open(path, OpenOptions::existing()).expect("a durable file");
                crashed(&*file, &mut model, file_bytes);
            }
        }
        disk.check_invariants();
    }
}

fn write(
    file: &dyn crate::File,
    model: &mut Model,
    start: usize,
    length: usize,
    byte: u8,
    durable: bool,
) {
    let mut buf = AlignedBuf::zeroed(length, 4096);
    buf.fill(byte);
    if durable {
        file.write_at_durable(&buf, start as u64).expect("a healthy simulated disk");
    } else {
        file.write_at(&buf, start as u64).expect("a healthy simulated disk");
    }
    model.visible[start..start + length].fill(byte);
    let durable_value = durable.then_some(byte);
    for slot in &mut model.durable[start..start + length] {
        // A non-durable write makes the byte uncertain until the next sync.
        *slot = durable_value;
    }
}

/// After a crash: every durable byte kept its value; what survived becomes the new model.
fn crashed(file: &dyn crate::File, model: &mut Model, file_bytes: usize) {
    let mut image = AlignedBuf::zeroed(file_bytes, 4096);
    file.read_at(&mut image, 0).expect("a healthy simulated disk");
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

/// The byte range of a request clipped to the file, or `None` when it is empty.
fn range(sector: u16, sector_count: u8) -> Option<(usize, usize)> {
    let first = sector % FILE_SECTOR_COUNT_MAX;
    let count = u16::from(sector_count).min(FILE_SECTOR_COUNT_MAX - first);
    (count > 0).then(|| (usize::from(first) * SECTOR_BYTES, usize::from(count) * SECTOR_BYTES))
}

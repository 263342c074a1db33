//! Target `open_directory`: a database directory whose files hold arbitrary bytes is opened,
//! and if it opens, read whole, read key by key and checked. Never a panic or a hang, and never
//! data nobody wrote without an error: whatever the files hold, the answer is a database or a
//! clear [`engine::Error`].
//!
//! The directory starts as one of a few real databases on a [`SimDisk`] (made once through the
//! API and forked for each input), or empty; then edits chosen by the fuzzer replace files with
//! arbitrary bytes, overwrite parts of them, cut them short, copy one over another or remove
//! them. Random bytes alone rarely pass a header check; edits of a real database reach the
//! checks behind it (pages, the log's records, the free space, the replay).
//!
//! What a database that opened, read and checked without an error may hold:
//!
//! | start                 | allowed contents                                                 |
//! |-----------------------|------------------------------------------------------------------|
//! | empty directory       | anything its files encode (the fuzzer can write valid files)       |
//! | a real database       | the state after some prefix of its commits (the oracle's `Matched` or `Lost`: damage can look like a torn log tail, or a torn newest header slot, which an older state answers) |
//!
//! and in both cases, every key the range returned reads back the same value with `get`. A
//! state no prefix explains (a partial commit, a value nobody wrote) is wrong data without an
//! error, unless the fuzzer forged checksums over data of its own making.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use engine::{DATA_FILE_NAME, LOCK_FILE_NAME, WAL_DIRECTORY_NAME};

use crate::crashtest::oracle::{Oracle, State, Verdict};
use crate::crashtest::verify::{SIM_DIRECTORY, open_sim};
use crate::crashtest::workload::{self, Profile, contents};

/// Edits of one input, at most.
const EDIT_COUNT_MAX: usize = 8;
/// Bytes of a file an edit writes, at most (the simulated disk holds files in memory).
const EDIT_BYTES_MAX: usize = 1 << 20;
/// Log segment file names offered to edits besides those the database has: a log's first
/// segments and its first spare (the names `wal` gives them).
const EXTRA_WAL_FILE_NAMES: [&str; 3] =
    ["wal-0000000000000000.seg", "wal-0000000000000001.seg", "wal-spare-0.seg"];

#[derive(Debug, Arbitrary)]
struct Input {
    /// 0: an empty directory; 1: a database checkpointed and closed; 2: one with commits after
    /// its checkpoint, which recovery replays from the log.
    base: u8,
    edits: Vec<Edit>,
}

/// Files are named by index into the directory's candidate files (see [`candidates`]).
#[derive(Debug, Arbitrary)]
enum Edit {
    /// The file holds these bytes (created if missing).
    Replace { file: u8, bytes: Vec<u8> },
    /// These bytes overwrite the file from `offset` (wrapped into its size; the file grows if
    /// they run past its end).
    Patch { file: u8, offset: u32, bytes: Vec<u8> },
    /// The file is cut to `length` bytes (wrapped into its size).
    Truncate { file: u8, length: u32 },
    /// `source`'s bytes replace `target`'s (a stale or misplaced copy).
    Copy { source: u8, target: u8 },
    /// The file is removed.
    Remove { file: u8 },
}

/// A starting directory: the disk it lives on (forked for each input) and the commits made.
struct Base {
    disk: SimDisk,
    oracle: Oracle,
}

/// Decodes `data` as the fuzzer does (bytes that do not decode are skipped, as libFuzzer's
/// `fuzz_target!` skips them), edits a directory, opens it and reads it.
pub fn open_directory(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let bases = bases();
    let base_index = usize::from(input.base) % bases.len();
    let base = &bases[base_index];
    let disk = base.disk.fork();
    let files = candidates(&disk);
    for edit in input.edits.iter().take(EDIT_COUNT_MAX) {
        apply(&disk, &files, edit);
    }
    let Some(state) = open_and_read(&disk) else { return };
    if base_index != 0 {
        let verdict = base.oracle.verify(&state);
        assert!(
            !matches!(verdict, Verdict::Hole { .. }),
            "a damaged database opened and checked, holding {} entries no prefix of its \
             commits explains",
            state.len()
        );
    }
}

/// Opens the database, reads it whole and key by key, and checks it. Returns its contents if
/// all of that succeeded; an error is fine, as long as it says something.
fn open_and_read(disk: &SimDisk) -> Option<State> {
    let db = clear(open_sim(disk, &workload::options()))?;
    let state = clear(contents(&db))?;
    for (key, value) in &state {
        if let Some(read) = clear(db.get(key)) {
            assert_eq!(read.as_ref(), Some(value), "get disagrees with the range it came from");
        }
    }
    clear(db.check())?;
    Some(state)
}

/// The value, or `None` for an error, which must have a message.
fn clear<T>(result: engine::Result<T>) -> Option<T> {
    result.map_err(|error| assert!(!error.to_string().is_empty(), "an error says nothing")).ok()
}

/// The starting directories, made once per process (deterministically: a replayed input
/// meets the same bytes).
fn bases() -> &'static [Base] {
    static BASES: OnceLock<Vec<Base>> = OnceLock::new();
    BASES.get_or_init(|| {
        let empty = SimDisk::with_seed(0);
        empty.create_dir_all(Path::new(SIM_DIRECTORY)).expect("a healthy simulated disk");
        let empty = Base { disk: empty, oracle: Oracle::default() };
        vec![empty, real_database(false), real_database(true)]
    })
}

/// A database with a few transactions (one value in eight in overflow pages), checkpointed and
/// closed; with `unreplayed`, a few more after the checkpoint, left in the log.
fn real_database(unreplayed: bool) -> Base {
    let disk = SimDisk::with_seed(1);
    let profile = Profile { checkpoint_one_in: 0, read_one_in: 0, ..Profile::tiny() };
    let mut oracle = Oracle::default();
    let db = open_sim(&disk, &workload::options()).expect("a new database");
    let outcome = workload::run(&db, &workload::plan(1, &profile), &mut oracle, State::new(), 0);
    assert!(outcome.first_error.is_none(), "a healthy disk: {outcome:?}");
    db.checkpoint().expect("a healthy disk");
    if unreplayed {
        let model = oracle.final_state();
        let outcome = workload::run(&db, &workload::plan(2, &profile), &mut oracle, model, 0);
        assert!(outcome.first_error.is_none(), "a healthy disk: {outcome:?}");
    }
    drop(db);
    Base { disk, oracle }
}

/// The files edits choose from: the database's files and a few log file names it may not
/// have, in a fixed order.
fn candidates(disk: &SimDisk) -> Vec<PathBuf> {
    let directory = Path::new(SIM_DIRECTORY);
    let wal_directory = directory.join(WAL_DIRECTORY_NAME);
    let mut files = vec![directory.join(DATA_FILE_NAME), directory.join(LOCK_FILE_NAME)];
    files.extend(EXTRA_WAL_FILE_NAMES.iter().map(|name| wal_directory.join(name)));
    files.extend(disk.list_dir(&wal_directory).unwrap_or_default());
    files.sort();
    files.dedup();
    files
}

fn apply(disk: &SimDisk, files: &[PathBuf], edit: &Edit) {
    let pick = |index: u8| &files[usize::from(index) % files.len()];
    match edit {
        Edit::Replace { file, bytes } => write_file(disk, pick(*file), bytes),
        Edit::Patch { file, offset, bytes } => {
            let mut content = read_file(disk, pick(*file));
            let start = usize::try_from(*offset).expect("32 bits fit") % (content.len() + 1);
            let bytes = &bytes[..bytes.len().min(EDIT_BYTES_MAX)];
            if content.len() < start + bytes.len() {
                content.resize(start + bytes.len(), 0);
            }
            content[start..start + bytes.len()].copy_from_slice(bytes);
            write_file(disk, pick(*file), &content);
        }
        Edit::Truncate { file, length } => {
            let mut content = read_file(disk, pick(*file));
            content.truncate(usize::try_from(*length).expect("32 bits fit") % (content.len() + 1));
            write_file(disk, pick(*file), &content);
        }
        Edit::Copy { source, target } => {
            let content = read_file(disk, pick(*source));
            write_file(disk, pick(*target), &content);
        }
        Edit::Remove { file } => {
            let path = pick(*file);
            if disk.exists(path).expect("a healthy simulated disk") {
                disk.remove(path).expect("a healthy simulated disk");
            }
        }
    }
}

/// The file's bytes (none if it does not exist).
fn read_file(disk: &SimDisk, path: &Path) -> Vec<u8> {
    let Ok(file) = disk.open(path, OpenOptions::existing()) else { return Vec::new() };
    let size_bytes = usize::try_from(file.size_bytes().expect("a healthy simulated disk"))
        .expect("a simulated file fits in memory");
    let mut buf = AlignedBuf::zeroed(size_bytes.next_multiple_of(4096), 4096);
    match file.read_at(&mut buf, 0) {
        // The last block is short unless the size is a multiple of 4 KiB: its bytes are read.
        Ok(()) | Err(disk::Error::ShortRead { .. }) => {}
        Err(error) => panic!("a healthy simulated disk: {error}"),
    }
    buf[..size_bytes].to_vec()
}

/// Makes the file hold `content` exactly (created, with its directory, if missing), durably.
fn write_file(disk: &SimDisk, path: &Path, content: &[u8]) {
    let content = &content[..content.len().min(EDIT_BYTES_MAX)];
    let parent = path.parent().expect("a file in a directory");
    disk.create_dir_all(parent).expect("a healthy simulated disk");
    let file: Arc<dyn disk::File> =
        disk.open(path, OpenOptions::create()).expect("a healthy simulated disk");
    let mut buf = AlignedBuf::zeroed(content.len().next_multiple_of(4096), 4096);
    buf[..content.len()].copy_from_slice(content);
    file.truncate(0).expect("a healthy simulated disk");
    if !content.is_empty() {
        file.write_at(&buf, 0).expect("a healthy simulated disk");
    }
    file.truncate(content.len() as u64).expect("a healthy simulated disk");
    file.sync_data().expect("a healthy simulated disk");
    disk.sync_dir(parent).expect("a healthy simulated disk");
}

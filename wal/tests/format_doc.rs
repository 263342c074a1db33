//! Keeps `docs/FORMAT.md` honest: parses its tables and checks every documented field against the
//! bytes a real log leaves on a [`SimDisk`].
//!
//! The document's tables are read as data: the constants, the segment header, record and shadow
//! layouts (`| offset | size | field | type | contents |`), the parts of a shadow's body, the
//! record kinds and the worked geometry example. A log is then written through the public API,
//! and its durable bytes
//! ([`SimDisk::durable_content`]) must hold, at each documented offset and size, the value the
//! document says: fixed literals (magic, version, reserved zeros) are taken from the document's
//! `contents` column, everything else (indexes, LSNs, lengths, kinds, tags, payloads) from what the
//! test wrote, and the checksums are recomputed with `crc32c` by the documented rules, the record
//! header's seeded with the segment's salt as read at the documented salt offset.
//!
//! A documented field the test has no check for fails the test, and so does a field the test
//! checks that the document no longer lists, so neither side can drift alone.
//!
//! What this cannot check through the public API, and where it is checked instead:
//! - that the salt is random: only that it is not zero and differs between two segments (the
//!   record checksums prove its offset); a zero salt has odds of 2^-64;
//! - the read-side rules (the order of the checks, what an unknown version or a non-zero
//!   reserved byte does, when a shadow is valid): unit tests in `record.rs`, `segment.rs` and
//!   `shadow.rs`, and the recovery tests;
//! - `durable_lsn`'s meaning beyond its value in a fresh log (the crash and recovery tests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{Disk, SimDisk};
use wal::{Appended, Lsn, Wal, WalOptions};

const DIRECTORY: &str = "/db/wal";

// ---- reading the document ------------------------------------------------------------------

fn document() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The header and rows of the first table in the section whose heading starts with `heading`.
/// A section without a table fails (the search never runs into the next section's table).
fn table(doc: &str, heading: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|line| !line.starts_with(heading));
    assert!(lines.next().is_some(), "FORMAT.md has no heading starting with {heading:?}");
    let mut table_lines = Vec::new();
    for line in lines {
        let is_row = line.trim_start().starts_with('|');
        if is_row {
            table_lines.push(line);
        } else if !table_lines.is_empty() {
            break;
        } else {
            assert!(!line.starts_with('#'), "section {heading:?} of FORMAT.md has no table");
        }
    }
    let mut rows = table_lines.into_iter().map(cells);
    let header = rows.next().unwrap_or_else(|| panic!("section {heading:?} has no table"));
    assert_eq!(header, columns, "the columns of the table under {heading:?}");
    let separator = rows.next().expect("a table has a separator row");
    assert!(separator.iter().all(|cell| cell.chars().all(|c| c == '-' || c == ':')));
    let rows: Vec<Vec<String>> = rows.collect();
    assert!(!rows.is_empty(), "the table under {heading:?} is empty");
    for row in &rows {
        assert_eq!(row.len(), columns.len(), "row {row:?} under {heading:?}");
    }
    rows
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|cell| cell.trim().to_string()).collect()
}

/// The cell's text without backticks.
fn plain(cell: &str) -> String {
    cell.replace('`', "")
}

/// A number cell: its first word, digits only (`,` and `_` allowed as separators).
fn number(cell: &str) -> u64 {
    let word = plain(cell).split_whitespace().next().unwrap_or_default().replace([',', '_'], "");
    word.parse().unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

/// The literal in backticks that opens a `contents` cell, if there is one: a quoted string
/// (with `\0` escapes) or an integer stored in `size_bytes` little-endian bytes.
fn literal(contents: &str, size_bytes: Option<usize>) -> Option<Vec<u8>> {
    let rest = contents.strip_prefix('`')?;
    let text = &rest[..rest.find('`').expect("a closing backtick")];
    if let Some(quoted) = text.strip_prefix('"') {
        let quoted = quoted.strip_suffix('"').expect("a closing quote");
        return Some(quoted.replace("\\0", "\0").into_bytes());
    }
    let value: u64 = text.parse().unwrap_or_else(|_| panic!("literal {text:?} is not a number"));
    let size_bytes = size_bytes.expect("an integer literal needs a numeric size");
    let bytes = value.to_le_bytes();
    assert!(bytes[size_bytes..].iter().all(|&byte| byte == 0), "{value} fits {size_bytes} bytes");
    Some(bytes[..size_bytes].to_vec())
}

// ---- the document's tables as data ---------------------------------------------------------

/// The size of a field: a number, or the value of an earlier field of the same table.
#[derive(Debug)]
enum Size {
    Bytes(usize),
    Field(String),
    /// `-`: the rest of the image (the last field only).
    Rest,
}

/// One row of a layout table.
#[derive(Debug)]
struct Field {
    offset: usize,
    size: Size,
    name: String,
    /// A value the document fixes: a literal in `contents`, or zeros for type `zero`.
    fixed: Option<Vec<u8>>,
}

/// Reads a layout table and checks that it is well formed: offsets chain from 0, integer
/// types have their width, and only the last field has a size named by another field.
fn layout(doc: &str, heading: &str) -> Vec<Field> {
    let columns = ["offset", "size", "field", "type", "contents"];
    let mut fields: Vec<Field> = Vec::new();
    let mut next_offset = Some(0);
    for row in table(doc, heading, &columns) {
        let offset = usize::try_from(number(&row[0])).expect("offset fits usize");
        let name = plain(&row[2]);
        assert_eq!(Some(offset), next_offset, "{heading}: field {name} does not follow on");
        let size = match plain(&row[1]).parse::<usize>() {
            Ok(bytes) => Size::Bytes(bytes),
            Err(_) if plain(&row[1]) == "-" => Size::Rest,
            Err(_) => Size::Field(plain(&row[1])),
        };
        let size_bytes = match &size {
            Size::Bytes(bytes) => Some(*bytes),
            Size::Rest => None,
            Size::Field(other) => {
                assert!(fields.iter().any(|field| &field.name == other), "{name}: size {other}");
                None
            }
        };
        let width = match row[3].as_str() {
            "u8" => Some(1),
            "u32" => Some(4),
            "u64" => Some(8),
            "bytes" | "zero" => None,
            other => panic!("{heading}: field {name} has unknown type {other:?}"),
        };
        if let Some(width) = width {
            assert_eq!(size_bytes, Some(width), "{heading}: {name} is a {} of size", row[3]);
        }
        let mut fixed = literal(&row[4], size_bytes);
        if row[3] == "zero" {
            let zeros = vec![0; size_bytes.expect("a zero field has a numeric size")];
            assert!(fixed.as_ref().is_none_or(|fixed| *fixed == zeros), "{name} is zero");
            fixed = Some(zeros);
        }
        next_offset = size_bytes.map(|bytes| offset + bytes);
        fields.push(Field { offset, size, name, fixed });
    }
    fields
}

/// Everything the test reads from `docs/FORMAT.md`.
struct Doc {
    text: String,
    constants: BTreeMap<String, u64>,
    segment_header: Vec<Field>,
    record: Vec<Field>,
    kinds: BTreeMap<String, u8>,
    shadow: Vec<Field>,
}

impl Doc {
    fn read() -> Self {
        let text = document();
        let constants = table(&text, "## Constants", &["constant", "value", "what it is"])
            .into_iter()
            .map(|row| (plain(&row[0]), number(&row[1])))
            .collect();
        let segment_header = layout(&text, "## Segment header");
        let record = layout(&text, "## Records");
        let kinds = table(&text, "### Record kinds", &["kind", "name", "meaning"])
            .into_iter()
            .map(|row| (plain(&row[1]), u8::try_from(number(&row[0])).expect("a kind is a byte")))
            .collect();
        let shadow = layout(&text, "## Shadows");
        Self { text, constants, segment_header, record, kinds, shadow }
    }

    fn constant(&self, name: &str) -> u64 {
        *self.constants.get(name).unwrap_or_else(|| panic!("FORMAT.md lists no constant {name}"))
    }

    fn constant_usize(&self, name: &str) -> usize {
        usize::try_from(self.constant(name)).expect("fits usize")
    }

    fn kind(&self, name: &str) -> u8 {
        *self.kinds.get(name).unwrap_or_else(|| panic!("FORMAT.md lists no record kind {name:?}"))
    }

    /// Bytes of a segment's data area, by the documented geometry.
    fn data_bytes(&self, segment_bytes: u32) -> u64 {
        u64::from(segment_bytes) - self.constant("SEGMENT_HEADER_BYTES")
    }

    /// Where `lsn` lives, by the documented geometry: (segment index, file offset).
    fn locate(&self, segment_bytes: u32, lsn: u64) -> (u64, usize) {
        let data_bytes = self.data_bytes(segment_bytes);
        let offset = self.constant("SEGMENT_HEADER_BYTES") + lsn % data_bytes;
        (lsn / data_bytes, usize::try_from(offset).expect("fits usize"))
    }
}

fn field<'a>(fields: &'a [Field], name: &str) -> &'a Field {
    fields.iter().find(|field| field.name == name).unwrap_or_else(|| panic!("no field {name}"))
}

/// The bytes of `field` in `image` (which starts where the table's offset 0 is).
fn bytes_of<'a>(fields: &[Field], name: &str, image: &'a [u8]) -> &'a [u8] {
    let field = field(fields, name);
    let size = match &field.size {
        Size::Bytes(bytes) => *bytes,
        Size::Field(other) => usize::try_from(integer(bytes_of(fields, other, image))).unwrap(),
        Size::Rest => image.len() - field.offset,
    };
    &image[field.offset..field.offset + size]
}

fn integer(bytes: &[u8]) -> u64 {
    let mut padded = [0u8; 8];
    padded[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(padded)
}

// ---- checking an image against a layout ----------------------------------------------------

/// What a field's bytes must hold.
enum Expect {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// The value the document fixes in its `contents` column (which must give one).
    Documented,
    /// Anything but zeros (a random value).
    NonZero,
}

/// Checks every documented field of `image` against `expected`, and that the document and the
/// test name the same fields.
fn check_layout(what: &str, fields: &[Field], image: &[u8], expected: &BTreeMap<&str, Expect>) {
    let documented: BTreeSet<&str> = fields.iter().map(|field| field.name.as_str()).collect();
    let checked: BTreeSet<&str> = expected.keys().copied().collect();
    assert_eq!(documented, checked, "{what}: documented fields vs fields this test checks");
    for field in fields {
        let bytes = bytes_of(fields, &field.name, image);
        let name = &field.name;
        if let Some(fixed) = &field.fixed {
            assert_eq!(bytes, &fixed[..], "{what}: {name} at offset {}", field.offset);
        }
        match &expected[name.as_str()] {
            Expect::Bytes(value) => {
                assert_eq!(bytes, &value[..], "{what}: {name} at offset {}", field.offset);
            }
            Expect::Documented => assert!(field.fixed.is_some(), "{what}: {name} has no value"),
            Expect::NonZero => assert!(bytes.iter().any(|&byte| byte != 0), "{what}: {name}"),
        }
    }
}

fn le32(value: u32) -> Expect {
    Expect::Bytes(value.to_le_bytes().to_vec())
}

fn le64(value: u64) -> Expect {
    Expect::Bytes(value.to_le_bytes().to_vec())
}

fn crc_of(parts: &[&[u8]]) -> Expect {
    le32(crc32c::crc32c(&parts.concat()))
}

/// Checks the header block of segment `index` and returns its salt's bytes.
fn check_segment_header(doc: &Doc, image: &[u8], segment_bytes: u32, index: u64) -> Vec<u8> {
    let fields = &doc.segment_header;
    let header_bytes = doc.constant_usize("SEGMENT_HEADER_BYTES");
    let last = fields.last().expect("fields");
    let Size::Bytes(last_size) = last.size else { panic!("the header block has a fixed size") };
    assert_eq!(last.offset + last_size, header_bytes, "the table covers the header block");
    let header = &image[..header_bytes];
    let crc_offset = field(fields, "header_crc").offset;
    let expected = BTreeMap::from([
        ("magic", Expect::Documented),
        ("format_version", Expect::Documented),
        ("segment_bytes", le32(segment_bytes)),
        ("segment_index", le64(index)),
        ("salt", Expect::NonZero),
        ("first_lsn", le64(index * doc.data_bytes(segment_bytes))),
        ("reserved", Expect::Documented),
        ("header_crc", crc_of(&[&header[..crc_offset]])),
        ("unused", Expect::Documented),
    ]);
    check_layout(&format!("segment {index} header"), fields, header, &expected);
    let version = integer(bytes_of(fields, "format_version", header));
    assert_eq!(version, doc.constant("FORMAT_VERSION"), "the version written is FORMAT_VERSION");
    bytes_of(fields, "salt", header).to_vec()
}

/// A record the test wrote, and what the document says its bytes are.
struct Written {
    lsn: u64,
    durable_lsn: u64,
    kind: &'static str,
    tag: u8,
    payload: Vec<u8>,
}

/// Checks one record in the log's durable files, and its zero padding.
fn check_record(doc: &Doc, files: &Files, written: &Written) {
    let (index, offset) = doc.locate(files.segment_bytes, written.lsn);
    let segment = files.segment(index);
    let salt = check_segment_header(doc, segment, files.segment_bytes, index);
    let record = &segment[offset..];
    let fields = &doc.record;
    let header_bytes = doc.constant_usize("RECORD_HEADER_BYTES");
    assert_eq!(field(fields, "payload").offset, header_bytes, "the payload follows the header");
    let header_crc = field(fields, "header_crc");
    let Size::Bytes(crc_size) = header_crc.size else { panic!("header_crc has a fixed size") };
    let covered = &record[header_crc.offset + crc_size..header_bytes];
    let payload_bytes = u32::try_from(written.payload.len()).expect("bounded");
    let expected = BTreeMap::from([
        ("header_crc", crc_of(&[&salt, covered])),
        ("payload_crc", crc_of(&[&written.payload])),
        ("lsn", le64(written.lsn)),
        ("durable_lsn", le64(written.durable_lsn)),
        ("payload_bytes", le32(payload_bytes)),
        ("kind", Expect::Bytes(vec![doc.kind(written.kind)])),
        ("tag", Expect::Bytes(vec![written.tag])),
        ("reserved", Expect::Documented),
        ("payload", Expect::Bytes(written.payload.clone())),
    ]);
    check_layout(&format!("record at LSN {}", written.lsn), fields, record, &expected);
    let end = header_bytes + written.payload.len();
    let padded_end = end.next_multiple_of(doc.constant_usize("RECORD_ALIGN_BYTES"));
    assert!(record[end..padded_end].iter().all(|&byte| byte == 0), "padding is zero");
}

// ---- the log under test --------------------------------------------------------------------

/// The durable files of a log.
struct Files {
    disk: SimDisk,
    segment_bytes: u32,
    images: BTreeMap<u64, Vec<u8>>,
}

impl Files {
    fn read(disk: &SimDisk, segment_bytes: u32, indexes: &[u64]) -> Self {
        let images = indexes
            .iter()
            .map(|&index| {
                let image = disk.durable_content(&segment_path(index)).unwrap();
                assert_eq!(image.len(), segment_bytes as usize, "segment {index} is full size");
                (index, image)
            })
            .collect();
        Self { disk: disk.clone(), segment_bytes, images }
    }

    fn segment(&self, index: u64) -> &[u8] {
        &self.images[&index]
    }
}

fn segment_path(index: u64) -> PathBuf {
    Path::new(DIRECTORY).join(format!("wal-{index:016x}.seg"))
}

fn open(disk: &SimDisk, segment_bytes: u32) -> Wal {
    let options = WalOptions { segment_bytes, ..WalOptions::default() };
    let disk = Arc::new(disk.clone()) as Arc<dyn Disk>;
    let (log, replayed) = Wal::open(disk, DIRECTORY, options, Lsn::ZERO).unwrap();
    assert!(replayed.is_empty());
    log
}

/// Bytes that name their position, so a misplaced payload shows.
fn pattern(length_bytes: usize, seed: u8) -> Vec<u8> {
    (0..length_bytes).map(|index| u8::try_from(index % 251).unwrap() ^ seed).collect()
}

/// Appends records as one batch and flushes it; returns where each went. Checks the documented
/// size rule: each record ends `round_up(RECORD_HEADER_BYTES + payload, RECORD_ALIGN_BYTES)`
/// after its start.
fn batch(doc: &Doc, log: &Wal, records: &[(u8, &[u8])]) -> Vec<Appended> {
    let appended: Vec<Appended> =
        records.iter().map(|(tag, payload)| log.append(*tag, payload).unwrap()).collect();
    for (appended, (_, payload)) in appended.iter().zip(records) {
        let size = (doc.constant("RECORD_HEADER_BYTES") + payload.len() as u64)
            .next_multiple_of(doc.constant("RECORD_ALIGN_BYTES"));
        assert_eq!(appended.lsn_end.0 - appended.lsn.0, size, "record size rule");
    }
    log.flush().unwrap();
    appended
}

fn data(appended: &Appended, durable_lsn: u64, tag: u8, payload: &[u8]) -> Written {
    Written { lsn: appended.lsn.0, durable_lsn, kind: "data", tag, payload: payload.to_vec() }
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn documented_constants_match_the_code() {
    let doc = Doc::read();
    let code = BTreeMap::from([
        ("SEGMENT_HEADER_BYTES", wal::limits::SEGMENT_HEADER_BYTES as u64),
        ("RECORD_HEADER_BYTES", wal::limits::RECORD_HEADER_BYTES as u64),
        ("RECORD_ALIGN_BYTES", wal::limits::RECORD_ALIGN_BYTES as u64),
        ("RECORD_PAYLOAD_BYTES_MAX", wal::limits::RECORD_PAYLOAD_BYTES_MAX as u64),
        ("SEGMENT_BYTES_MIN", u64::from(wal::limits::SEGMENT_BYTES_MIN)),
        ("SEGMENT_BYTES_DEFAULT", u64::from(wal::limits::SEGMENT_BYTES_DEFAULT)),
        ("SEGMENT_BYTES_MAX", u64::from(wal::limits::SEGMENT_BYTES_MAX)),
        ("SPARE_SEGMENT_COUNT_MAX", wal::limits::SPARE_SEGMENT_COUNT_MAX as u64),
        ("BLOCK_BYTES_MIN", wal::limits::BLOCK_BYTES_MIN),
        ("BLOCK_BYTES_MAX", wal::limits::BLOCK_BYTES_MAX),
        ("SHADOW_HEADER_BYTES", wal::limits::SHADOW_HEADER_BYTES as u64),
        ("SHADOW_UNIT_BYTES", wal::limits::SHADOW_UNIT_BYTES as u64),
        ("SHADOW_UNIT_COUNT_MAX", wal::limits::SHADOW_UNIT_COUNT_MAX as u64),
    ]);
    for (name, value) in &code {
        assert_eq!(doc.constant(name), *value, "FORMAT.md's {name}");
    }
    // FORMAT_VERSION is private to the crate: the log image test checks the version written.
    let documented: BTreeSet<&str> = doc.constants.keys().map(String::as_str).collect();
    let checked: BTreeSet<&str> = code.keys().copied().chain(["FORMAT_VERSION"]).collect();
    assert_eq!(documented, checked, "documented constants vs constants this test checks");
    let default_bytes = u64::from(WalOptions::default().segment_bytes);
    assert_eq!(default_bytes, doc.constant("SEGMENT_BYTES_DEFAULT"));
}

/// Writes a log across two segments and checks both headers, every record (data records, a
/// segment end, the largest and the empty payload), the zeros after the segment end, and the
/// file names of segments and spares.
#[test]
fn a_written_log_matches_the_documented_layout() {
    let doc = Doc::read();
    let segment_bytes = u32::try_from(doc.constant("SEGMENT_BYTES_MIN")).unwrap();
    let disk = SimDisk::with_seed(11);
    let log = open(&disk, segment_bytes);
    let payload_max = doc.constant_usize("RECORD_PAYLOAD_BYTES_MAX");
    let too_large = log.append(1, &vec![0; payload_max + 1]).unwrap_err();
    assert!(matches!(too_large, wal::Error::RecordTooLarge { .. }), "{too_large}");

    let (hello, middle, large) =
        (b"hello, log".to_vec(), pattern(100, 0x11), pattern(payload_max, 0x22));
    let first = batch(&doc, &log, &[(7, &hello), (9, &middle)]);
    let second = batch(&doc, &log, &[(11, &large)]);
    let crossing = pattern(payload_max, 0x33);
    let third = batch(&doc, &log, &[(13, &crossing)]);
    let fourth = batch(&doc, &log, &[(15, &[])]);

    // The crossing record did not fit in segment 0: it starts segment 1's data area, and a
    // segment end sits where segment 0's log stopped.
    let data_bytes = doc.data_bytes(segment_bytes);
    let segment_end_lsn = second[0].lsn_end.0;
    assert!(data_bytes - segment_end_lsn >= doc.constant("RECORD_HEADER_BYTES"));
    assert_eq!(third[0].lsn.0, data_bytes, "the next record starts the next segment");
    let files = Files::read(&disk, segment_bytes, &[0, 1]);
    let salts =
        [0, 1].map(|index| check_segment_header(&doc, files.segment(index), segment_bytes, index));
    assert_ne!(salts[0], salts[1], "each segment draws its own salt");

    let written = [
        data(&first[0], 0, 7, &hello),
        data(&first[1], 0, 9, &middle),
        data(&second[0], first[1].lsn_end.0, 11, &large),
        Written {
            lsn: segment_end_lsn,
            durable_lsn: second[0].lsn_end.0,
            kind: "segment end",
            tag: 0,
            payload: Vec::new(),
        },
        data(&third[0], second[0].lsn_end.0, 13, &crossing),
        data(&fourth[0], third[0].lsn_end.0, 15, &[]),
    ];
    for record in &written {
        check_record(&doc, &files, record);
    }
    let (_, after_end) = doc.locate(segment_bytes, segment_end_lsn);
    let after_end = after_end + doc.constant_usize("RECORD_HEADER_BYTES");
    assert!(files.segment(0)[after_end..].iter().all(|&byte| byte == 0), "zeros after the end");

    check_file_names(&doc, &files, &log, fourth[0].lsn_end);
}

/// Three batches: the first inside the log's first block (no units before it, a one-block
/// shadow); the second ending 8 bytes before its last block's end, after one unit (a padded
/// checksum, and used bytes that leave no room for the header in one block: a two-block
/// shadow); the third after four units (no padding). Each shadow lies at the end of the block
/// holding its batch's last byte, holds the documented fields and body, and zeros follow it to
/// the end of its last block.
#[test]
fn the_shadow_of_a_batch_matches_the_documented_layout() {
    let doc = Doc::read();
    let segment_bytes = u32::try_from(doc.constant("SEGMENT_BYTES_MIN")).unwrap();
    let disk = SimDisk::with_seed(13);
    let log = open(&disk, segment_bytes);
    let block_bytes = block_bytes_of(&doc, &disk);
    let header_bytes = doc.constant("RECORD_HEADER_BYTES");
    let check = |records: &[(u8, &[u8])], unit_count: u64, block_count: usize| {
        let start = log.lsn_next();
        let appended = batch(&doc, &log, records);
        let end = appended.last().unwrap().lsn_end;
        let shadow = ShadowOf { start, end, block_bytes, unit_count, block_count };
        check_shadow(&doc, &disk, segment_bytes, &shadow);
        end
    };
    let end = check(&[(5, &pattern(100, 0x55)), (6, &pattern(20, 0x66))], 0, 1);
    assert_eq!(end, Lsn(192));
    // From LSN 192 to 8 bytes before the end of the block [512, 1,024).
    let payload = pattern(usize::try_from(1016 - 192 - header_bytes).unwrap(), 0x77);
    assert_eq!(check(&[(7, &payload)], 1, 2), Lsn(1016));
    // From LSN 1,016 into the block [2,560, 3,072): units [512, 2,560).
    let payload = pattern(usize::try_from(2600 - 1016 - header_bytes).unwrap(), 0x88);
    assert_eq!(check(&[(8, &payload)], 4, 1), Lsn(2600));
}

/// The log block of the test's disk, by the documented rule: the segment file's offset
/// alignment, at least `BLOCK_BYTES_MIN`.
fn block_bytes_of(doc: &Doc, disk: &SimDisk) -> u64 {
    let file = disk.open(&segment_path(0), disk::OpenOptions::existing()).unwrap();
    let alignment_bytes = u64::from(file.info().alignment.offset_bytes);
    let block_bytes = alignment_bytes.max(doc.constant("BLOCK_BYTES_MIN"));
    assert!(block_bytes <= doc.constant("BLOCK_BYTES_MAX"));
    block_bytes
}

/// A batch written from `start` to `end`, and what its shadow must be.
struct ShadowOf {
    start: Lsn,
    end: Lsn,
    block_bytes: u64,
    /// Units the shadow checksums, by the documented rule (asserted).
    unit_count: u64,
    /// Blocks the shadow takes.
    block_count: usize,
}

/// Checks the shadow of the batch `of` (the log's last) against the header table and the body
/// table.
fn check_shadow(doc: &Doc, disk: &SimDisk, segment_bytes: u32, of: &ShadowOf) {
    let unit_bytes = doc.constant("SHADOW_UNIT_BYTES");
    let last_byte = of.end.0 - 1;
    let block_lsn = last_byte - last_byte % of.block_bytes;
    // The batch writes from the block holding the previous batch's end.
    let first_unit_lsn = of.start.0 - of.start.0 % of.block_bytes;
    let unit_count = (block_lsn - first_unit_lsn) / unit_bytes;
    assert_eq!(unit_count, of.unit_count, "units before the last block");
    let (index, first_unit_offset) = doc.locate(segment_bytes, first_unit_lsn);
    let (_, block_offset) = doc.locate(segment_bytes, block_lsn);
    let (_, shadow_offset) = doc.locate(segment_bytes, block_lsn + of.block_bytes);
    let files = Files::read(disk, segment_bytes, &[index]);
    let segment = files.segment(index);
    let salt = check_segment_header(doc, segment, segment_bytes, index);
    let used_bytes = usize::try_from(of.end.0 - block_lsn).unwrap();
    let block_bytes = usize::try_from(of.block_bytes).unwrap();
    let batch = &segment[first_unit_offset..block_offset + used_bytes];
    let body = documented_body(doc, batch, block_bytes);
    let shadow_end = shadow_offset + doc.constant_usize("SHADOW_HEADER_BYTES") + body.len();
    let shadow = &segment[shadow_offset..shadow_end];
    let fields = &doc.shadow;
    assert_eq!(field(fields, "body").offset, doc.constant_usize("SHADOW_HEADER_BYTES"));
    let crc_offset = field(fields, "shadow_crc").offset;
    let expected = BTreeMap::from([
        ("magic", Expect::Documented),
        ("block_lsn_inverted", le64(!block_lsn)),
        ("salt", Expect::Bytes(salt)),
        ("used_bytes", le32(u32::try_from(used_bytes).unwrap())),
        ("unit_count_inverted", le32(!u32::try_from(unit_count).unwrap())),
        ("shadow_crc", crc_of(&[&shadow[..crc_offset], &body])),
        ("reserved", Expect::Documented),
        ("body", Expect::Bytes(body)),
    ]);
    check_layout(&format!("shadow of the block at LSN {block_lsn}"), fields, shadow, &expected);
    let blocks_end = (shadow_end - shadow_offset).next_multiple_of(block_bytes);
    let zeros = &segment[shadow_end..shadow_offset + blocks_end];
    assert!(zeros.iter().all(|&byte| byte == 0), "zeros after it");
    assert_eq!(blocks_end / block_bytes, of.block_count, "the blocks it takes");
}

/// A shadow's body, by the body table: the checksum of each unit of `batch` (the batch's bytes
/// from its first unit to its end) before its last block, padding, then the last block's used
/// bytes inverted. The table must list exactly those parts, in that order.
fn documented_body(doc: &Doc, batch: &[u8], block_bytes: usize) -> Vec<u8> {
    let columns = ["part", "size", "contents"];
    let parts: Vec<String> = table(&doc.text, "The body, from offset 40", &columns)
        .into_iter()
        .map(|row| plain(&row[0]))
        .collect();
    assert_eq!(parts, ["unit checksums", "padding", "image"], "the body's parts");
    let unit_bytes = doc.constant_usize("SHADOW_UNIT_BYTES");
    let units_bytes = (batch.len() - 1) / block_bytes * block_bytes;
    let mut body: Vec<u8> = batch[..units_bytes]
        .chunks_exact(unit_bytes)
        .flat_map(|unit| crc32c::crc32c(unit).to_le_bytes())
        .collect();
    body.resize(body.len().next_multiple_of(8), 0xFF);
    body.extend(batch[units_bytes..].iter().map(|&byte| !byte));
    body
}

/// Segment and spare names: the ones the document gives as examples are the ones on disk.
fn check_file_names(doc: &Doc, files: &Files, log: &Wal, release_lsn: Lsn) {
    for name in ["`wal-0000000000000001.seg`", "`wal-spare-0.seg`"] {
        assert!(doc.text.contains(name), "FORMAT.md names {name}");
    }
    assert!(
        files.disk.durable_content(&Path::new(DIRECTORY).join("wal-0000000000000001.seg")).is_ok()
    );
    log.release_before(release_lsn).unwrap();
    let spare = files.disk.durable_content(&Path::new(DIRECTORY).join("wal-spare-0.seg")).unwrap();
    assert_eq!(spare, files.segment(0), "segment 0 became the first spare, unchanged");
    assert!(files.disk.durable_content(&segment_path(0)).is_err(), "its old name is gone");
}

/// The worked example: a 16 MiB log written until a record starts at the example's LSN, which
/// must then sit in the example's file at the example's offset.
#[test]
fn the_worked_geometry_example_is_where_the_log_puts_it() {
    let doc = Doc::read();
    let columns = ["segment_bytes", "data_bytes", "lsn", "segment_index", "file", "file_offset"];
    let rows = table(&doc.text, "Worked example", &columns);
    for row in rows {
        let segment_bytes = u32::try_from(number(&row[0])).unwrap();
        let lsn = number(&row[2]);
        let index = number(&row[3]);
        assert_eq!(number(&row[1]), doc.data_bytes(segment_bytes), "data_bytes");
        let (_, file_offset) = doc.locate(segment_bytes, lsn);
        assert_eq!(doc.locate(segment_bytes, lsn).0, index, "segment_index");
        assert_eq!(usize::try_from(number(&row[5])).unwrap(), file_offset, "file_offset");
        assert_eq!(Path::new(DIRECTORY).join(plain(&row[4])), segment_path(index), "file");

        let disk = SimDisk::with_seed(12);
        let log = open(&disk, segment_bytes);
        let durable_lsn = fill_until(&doc, &log, segment_bytes, lsn);
        let payload = pattern(64, 0x44);
        let appended = log.append_durable(3, &payload).unwrap();
        assert_eq!(appended.lsn, Lsn(lsn));
        let files = Files::read(&disk, segment_bytes, &[index]);
        check_record(&doc, &files, &data(&appended, durable_lsn, 3, &payload));
    }
}

/// Appends records to a log of `segment_bytes` until the next one would start at `target`, and
/// flushes them; returns the durable point (the next record's `durable_lsn`).
fn fill_until(doc: &Doc, log: &Wal, segment_bytes: u32, target: u64) -> u64 {
    let header_bytes = doc.constant("RECORD_HEADER_BYTES");
    let largest = (header_bytes + doc.constant("RECORD_PAYLOAD_BYTES_MAX"))
        .next_multiple_of(doc.constant("RECORD_ALIGN_BYTES"));
    let segment_start = target - target % doc.data_bytes(segment_bytes);
    loop {
        let next = log.lsn_next().0;
        assert!(next <= target, "filling overshot: {next} > {target}");
        if next == target {
            return log.flush().unwrap().0;
        }
        // Before the target's segment, the largest records: the one that does not fit moves the
        // log to the next segment. In the target's segment, sizes that land exactly on it, never
        // leaving less room than a record header.
        let room = target - next;
        let size = if next < segment_start {
            largest
        } else if room > largest {
            largest.min(room - header_bytes)
        } else {
            room
        };
        assert!(size >= header_bytes, "{room} bytes of room cannot be filled exactly");
        let payload = vec![0x5a; usize::try_from(size - header_bytes).unwrap()];
        log.append(1, &payload).unwrap();
    }
}

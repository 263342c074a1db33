//! Keeps the "Data page header" table of `docs/FORMAT.md` honest: its rows must chain from
//! offset 0, name exactly the fields this test checks, and match the bytes a pool writes on a
//! `SimDisk` (the durable file content after `flush_dirty`).

mod common;

use std::path::Path;

use bufferpool::{PAGE_HEADER_BYTES, PageId};
use common::{DATA_PATH, PAGE_BYTES, pool, sim_file};

const HEADING: &str = "## Data page header";

/// `(offset, size, field, contents)` of each row of the table under [`HEADING`].
fn rows() -> Vec<(usize, Option<usize>, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md");
    let document = std::fs::read_to_string(&path).expect("read FORMAT.md");
    let section =
        document.split(HEADING).nth(1).expect("FORMAT.md has the data page header section");
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and the separator
        .map(|line| {
            let cells: Vec<String> =
                line.trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect();
            (
                cells[0].parse().expect("an offset"),
                cells[1].parse().ok(),
                cells[2].clone(),
                cells[4].clone(),
            )
        })
        .collect()
}

#[test]
fn the_documented_header_matches_the_bytes_the_pool_writes() {
    let (disk, file) = sim_file(1);
    let pool = pool(&file, 8, false);
    {
        let mut page = pool.new_page(PageId(5)).unwrap();
        page.writer().write(0, b"body bytes");
        page.set_lsn(0x0102_0304);
    }
    pool.flush_dirty().unwrap();
    let content = disk.durable_content(Path::new(DATA_PATH)).unwrap();
    let image = &content[5 * PAGE_BYTES..6 * PAGE_BYTES];

    let rows = rows();
    let mut next_offset = 0;
    let mut fields = Vec::new();
    for (offset, size, field, contents) in &rows {
        assert_eq!(*offset, next_offset, "field {field} does not follow the previous one");
        let size = size.unwrap_or(PAGE_BYTES - offset);
        let bytes = &image[*offset..offset + size];
        match field.as_str() {
            "checksum" => assert_eq!(bytes, crc32c::crc32c(&image[4..]).to_le_bytes()),
            "magic" => {
                let literal = contents.split('`').nth(1).expect("a literal").trim_matches('"');
                assert_eq!(bytes, literal.as_bytes());
            }
            "page_id" => assert_eq!(bytes, 5u64.to_le_bytes()),
            "page_lsn" => assert_eq!(bytes, 0x0102_0304u64.to_le_bytes()),
            "body" => {
                assert_eq!(*offset, PAGE_HEADER_BYTES);
                assert_eq!(&bytes[..10], b"body bytes");
            }
            other => panic!("FORMAT.md documents a field {other:?} this test does not check"),
        }
        fields.push(field.as_str());
        next_offset = offset + size;
    }
    assert_eq!(
        fields,
        ["checksum", "magic", "page_id", "page_lsn", "body"],
        "every field is documented"
    );
    assert_eq!(next_offset, PAGE_BYTES);
}

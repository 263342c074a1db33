//! Helpers shared by the B+tree unit tests: node images, a page store for overflow chains, a
//! buffer pool on a simulated disk, and the reader of `docs/FORMAT.md`'s tables.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bufferpool::{BufferPool, NoLog, PAGE_HEADER_BYTES, PageId, PoolOptions};
use disk::{Disk, OpenOptions, SimDisk};

use super::body::BodyRead;
use super::node;

/// The page size most tests use.
pub(crate) const PAGE_BYTES: usize = 4096;
/// The checkpoint epoch of the pages tests write.
pub(crate) const EPOCH: u64 = 5;

/// The body of a page of `page_bytes`.
pub(crate) fn body_bytes(page_bytes: usize) -> usize {
    page_bytes - PAGE_HEADER_BYTES
}

/// An empty leaf in a page of `page_bytes`.
pub(crate) fn empty_leaf(page_bytes: usize, right_sibling: Option<PageId>) -> Vec<u8> {
    let mut body = vec![0u8; body_bytes(page_bytes)];
    node::format_leaf(&mut body, EPOCH, right_sibling);
    body
}

/// An empty branch in a page of `page_bytes`.
pub(crate) fn empty_branch(page_bytes: usize, level: u8, leftmost_child: PageId) -> Vec<u8> {
    let mut body = vec![0u8; body_bytes(page_bytes)];
    node::format_branch(&mut body, EPOCH, level, leftmost_child);
    body
}

/// Page bodies by id, with an allocator: a stand-in for the pool under overflow chains.
#[derive(Debug, Default)]
pub(crate) struct PageStore {
    pub(crate) pages: BTreeMap<PageId, Vec<u8>>,
    pub(crate) next_page: u64,
}

impl PageStore {
    /// A fresh page id.
    pub(crate) fn allocate(&mut self) -> PageId {
        self.next_page += 1;
        PageId(self.next_page)
    }

    /// Copies the start of a stored page's body into `target` (the chain readers' callback).
    pub(crate) fn read(&self, page: PageId, target: &mut [u8]) -> Result<(), String> {
        let body = self.pages.get(&page).ok_or_else(|| format!("no page {page}"))?;
        body.read_into(0, target);
        Ok(())
    }
}

/// A pool of `frame_count` frames of `page_bytes` on a simulated disk, without a log, and
/// without a background writer (tests stay deterministic).
pub(crate) fn sim_pool(page_bytes: usize, frame_count: usize) -> BufferPool {
    let disk = SimDisk::with_seed(7);
    let options = OpenOptions { create: true, ..OpenOptions::default() };
    let file = disk.open(Path::new("data"), options).expect("open the data file");
    let options = PoolOptions {
        pool_bytes: frame_count * page_bytes,
        page_bytes,
        background_writer: false,
        ..PoolOptions::default()
    };
    BufferPool::open(file, options, Arc::new(NoLog)).expect("open the pool")
}

/// The cells of each row of the first table after the heading `heading` in `docs/FORMAT.md`,
/// as written.
pub(crate) fn format_doc_table(heading: &str) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md");
    let document = std::fs::read_to_string(&path).expect("read FORMAT.md");
    let section = document
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("FORMAT.md has no heading {heading:?}"))
        .1;
    let rows: Vec<_> = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and the separator
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect();
    assert!(!rows.is_empty(), "no table under {heading:?}");
    rows
}

/// `(offset, size, field)` of each row of a layout table in `docs/FORMAT.md`.
fn format_doc_rows(heading: &str) -> Vec<(String, String, String)> {
    let rows = format_doc_table(heading);
    rows.into_iter().map(|row| (row[0].clone(), row[1].clone(), row[2].clone())).collect()
}

/// Asserts that the documented rows are exactly `expected` and that numeric rows chain.
pub(crate) fn assert_doc_rows(heading: &str, expected: &[(String, String, &str)]) {
    let rows = format_doc_rows(heading);
    let rows: Vec<(String, String, String)> = rows;
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(offset, size, field)| (offset.clone(), size.clone(), (*field).to_owned()))
        .collect();
    assert_eq!(rows, expected, "the table under {heading:?} and the code disagree");
    let mut next_offset = 0;
    for (offset, size, field) in &rows {
        let Ok(offset) = offset.parse::<usize>() else { break };
        assert_eq!(offset, next_offset, "{field} does not follow the field before it");
        let Ok(size) = size.parse::<usize>() else { break };
        next_offset = offset + size;
    }
}

//! [`Tree`]: the B+tree over the buffer pool, copy-on-write per checkpoint epoch
//! (docs/DESIGN.md, "Durability").
//!
//! - A page whose epoch is the current one is changed in place. A page of an older epoch belongs
//!   to a checkpointed tree and is never written again: the first change copies it to a free page
//!   of the current epoch and points its parent at the copy (changes descend from the root, so
//!   the parent is already of the current epoch). The old page waits in [`FreeSpace`] until the
//!   checkpoint of the current epoch is durable.
//! - Leaves' right-sibling links are not kept under copy-on-write (copying a leaf would copy its
//!   left neighbour too); scans move from leaf to leaf through the parents instead: each leaf's
//!   upper bound is the nearest separator to its right on the path, and the next leaf is found
//!   by descending from that key.
//! - Concurrency: the caller serialises changes against each other and against readers (the
//!   engine's tree latch, `tree_latch.rs`: the applier of committed versions holds it
//!   exclusively, scans shared). Within that, pages are fixed through the pool as usual. Point
//!   reads may also run with no latch held ([`Tree::get_optimistic`]), reading nodes
//!   optimistically; the caller then validates the tree latch's version.
//! - Every node is checked ([`node::check_node`]) when it is fixed, so a damaged page is a
//!   corruption error naming the page, never a panic.
//!
//! Deletes merge an underfull node with a sibling when the two fit in one node (rebalancing
//! two siblings that do not fit is not done), and a root branch left with one child gives way
//! to it.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bufferpool::{BufferPool, ExclusivePage, PAGE_HEADER_BYTES, PageId, SharedPage};
use parking_lot::Mutex;

use crate::btree::body::{BodyRead, BodyWrite, PageBody};
use crate::btree::free_list::{self, Run};
use crate::btree::node::{self, Cell, LeafValue, PageKind, SearchResult, Value};
use crate::btree::overflow::{self, ChainError, OverflowRef};
use crate::error::{Error, Result};
use crate::free_space::FreeSpace;
use crate::limits::{KEY_BYTES_MAX, LEVEL_MAX, VALUE_BYTES_MAX};

/// The pages a tree uses and its shape, from [`Tree::shape`].
#[derive(Debug, Default)]
pub(crate) struct TreeShape {
    /// Every page the tree uses: nodes and overflow pages.
    pub(crate) pages: Vec<u64>,
    /// Per level, leaves first.
    pub(crate) levels: Vec<LevelShape>,
    /// Overflow pages (of values too large for a leaf).
    pub(crate) overflow_pages: u64,
}

/// The nodes of one level of a tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LevelShape {
    /// Nodes on the level.
    pub nodes: u64,
    /// Bytes their cells and slots use (the rest of their node space is free).
    pub bytes_used: u64,
}

/// Leaves a scan asks the pool to read ahead of it.
const SCAN_PREFETCH_LEAF_COUNT: usize = 8;
/// A scan chunk goes on to the next leaf under the same parent (no descent from the root) until
/// it holds this many entries...
const SCAN_CHUNK_ENTRIES_MIN: usize = 64;
/// ...or has read this many leaves: the caller holds the tree shared meanwhile, so writers
/// wait for at most this many leaf reads (the next ones prefetched).
const SCAN_CHUNK_LEAVES_MAX: usize = 8;
// A chunk's first prefetch covers every other leaf the chunk may read.
const _: () = assert!(SCAN_PREFETCH_LEAF_COUNT >= SCAN_CHUNK_LEAVES_MAX - 1);

/// The B+tree of one data file.
#[derive(Debug)]
pub(crate) struct Tree {
    pool: Arc<BufferPool>,
    page_bytes: usize,
    body_bytes: usize,
    /// The root page (0: the tree is empty).
    root: AtomicU64,
    /// The current checkpoint epoch: pages of this epoch are changed in place.
    epoch: AtomicU64,
    space: Mutex<FreeSpace>,
}

/// The path from the root to a leaf: each page and the index of the child taken from it.
type Path = Vec<(PageId, usize)>;

/// A few leaves' worth of a range scan.
pub(crate) struct ScanChunk {
    /// Entries of the leaves read within the bounds, in key order.
    pub(crate) entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the leaf after them starts (`None`: they were the last).
    pub(crate) next_start: Option<Vec<u8>>,
}

impl Tree {
    /// The tree rooted at `root` (0: empty) in a file whose checkpointed state is `epoch`; new
    /// changes go to epoch `epoch + 1`.
    pub(crate) fn new(pool: Arc<BufferPool>, root: u64, epoch: u64, space: FreeSpace) -> Self {
        let page_bytes = pool.page_bytes();
        Self {
            pool,
            page_bytes,
            body_bytes: page_bytes - PAGE_HEADER_BYTES,
            root: AtomicU64::new(root),
            epoch: AtomicU64::new(epoch + 1),
            space: Mutex::new(space),
        }
    }

    /// The root page (0: empty).
    pub(crate) fn root(&self) -> u64 {
        self.root.load(Ordering::Acquire)
    }

    /// The current epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Freezes the current epoch for a checkpoint: from now on its pages are copied before
    /// they change. Returns the frozen epoch. The caller excludes changes while it runs.
    pub(crate) fn freeze(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::AcqRel)
    }

    /// The free-space state (for checkpoints).
    pub(crate) fn space(&self) -> &Mutex<FreeSpace> {
        &self.space
    }

    /// The pool.
    pub(crate) fn pool(&self) -> &Arc<BufferPool> {
        &self.pool
    }

    // ---- reading -------------------------------------------------------------------------

    /// Fixes `page` shared and checks it is a node — once per image the pool reads: the pool
    /// remembers the check until the frame gets a new image, and the tree's own changes keep a
    /// node valid (the node code checks them in debug builds).
    fn fix_node(&self, page: PageId) -> Result<SharedPage<'_>> {
        let held = self.pool.fix_shared(page)?;
        if !held.is_checked() {
            node::check_node(&*held, self.page_bytes)
                .map_err(|reason| self.corrupt(page, reason))?;
            held.mark_checked();
        }
        Ok(held)
    }

    fn corrupt(&self, page: PageId, reason: String) -> Error {
        Error::Corruption {
            path: self.pool.path().to_path_buf(),
            what: format!("page {page}"),
            reason,
        }
    }

    /// The value of `key`, if the tree has it: one descent, each page held shared only while
    /// its child is chosen. The caller keeps changes out (the engine's tree latch, shared).
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_by(|page| Ok(descent_step(&*self.fix_node(page)?, key)))
    }

    /// As [`Tree::get`], holding no page: each node is read optimistically, and only a node
    /// not yet checked since the pool read it is fixed shared (and checked). Safe while the tree
    /// changes — never a panic, never a data race — but then the answer, or the error, may be
    /// wrong: the caller validates that no change ran meanwhile (the engine's tree latch) and
    /// throws it away if one did.
    pub(crate) fn get_optimistic(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_by(|page| {
            let step = self.pool.read_checked(page, |view, checked| {
                if checked { descent_step(view, key) } else { DescentStep::Unchecked }
            })?;
            match step {
                DescentStep::Unchecked => Ok(descent_step(&*self.fix_node(page)?, key)),
                step => Ok(step),
            }
        })
    }

    /// One descent from the root to a key's leaf, reading each node with `step` (which returns
    /// what the node says about the key).
    fn get_by(
        &self,
        mut step: impl FnMut(PageId) -> Result<DescentStep>,
    ) -> Result<Option<Vec<u8>>> {
        let mut page = PageId(self.root());
        if page.0 == node::NO_PAGE {
            return Ok(None);
        }
        for _ in 0..=LEVEL_MAX {
            match step(page)? {
                DescentStep::Child(child) => page = child,
                DescentStep::Found(value) => return self.materialise(value).map(Some),
                DescentStep::Absent => return Ok(None),
                DescentStep::BadChild(child) => {
                    return Err(self.corrupt(page, format!("child {child} is not a page")));
                }
                DescentStep::NotANode => {
                    return Err(self.corrupt(page, "not a leaf or branch on a tree path".into()));
                }
                DescentStep::Unchecked => unreachable!("a step reads checked nodes only"),
            }
        }
        Err(self.corrupt(page, format!("the tree is deeper than {LEVEL_MAX} levels: a cycle?")))
    }

    /// Reads into the pool what changes to `keys` will touch: called under the shared tree lock
    /// before a commit's changes, so that the misses they would take under the exclusive lock
    /// happen while other readers and warmers run. The branches on each key's path are read one
    /// at a time (they are mostly cached); the leaves below them, which mostly are not, in
    /// batches of one submission each, rather than one miss after another.
    pub(crate) fn warm<'key>(&self, keys: impl IntoIterator<Item = &'key [u8]>) -> Result<()> {
        let mut leaves = Vec::new();
        for key in keys {
            if let Some(WalkEnd::LeafPage(leaf)) = self.walk(key, false, |_, _| {})? {
                leaves.push(leaf);
            }
        }
        leaves.sort_unstable();
        leaves.dedup();
        for batch in leaves.chunks(bufferpool::PREFETCH_PAGES_MAX) {
            self.pool.prefetch(batch)?;
        }
        Ok(())
    }

    /// The path from the root to the leaf whose range holds `key` (`None`: empty tree).
    fn descend(&self, key: &[u8]) -> Result<Option<Path>> {
        let mut path = Vec::new();
        let end = self.walk(key, true, |page, child_index| path.push((page, child_index)))?;
        Ok(end.map(|end| {
            let (WalkEnd::Leaf(leaf_page, _) | WalkEnd::LeafPage(leaf_page)) = end;
            path.push((leaf_page, 0));
            path
        }))
    }

    /// Descends from the root to the leaf whose range holds `key`, calling `visit` with each
    /// branch and the index of the child taken (`None`: empty tree). With `read_leaf` the walk
    /// returns the leaf, still held; without, it stops at the branch above the leaves and
    /// returns the leaf's page unread (a leaf root is read either way). Each branch is held
    /// only while its child is chosen.
    fn walk(
        &self,
        key: &[u8],
        read_leaf: bool,
        mut visit: impl FnMut(PageId, usize),
    ) -> Result<Option<WalkEnd<'_>>> {
        let mut page = PageId(self.root());
        if page.0 == node::NO_PAGE {
            return Ok(None);
        }
        for _ in 0..=LEVEL_MAX {
            let held = self.fix_node(page)?;
            match node::kind(&*held) {
                Some(PageKind::Leaf) => return Ok(Some(WalkEnd::Leaf(page, held))),
                Some(PageKind::Branch) => {
                    let (child_index, child) = node::child_for_key(&*held, key);
                    if !node::is_tree_page(child.0) {
                        return Err(self.corrupt(page, format!("child {child} is not a page")));
                    }
                    visit(page, child_index);
                    if !read_leaf && node::level(&*held) == 1 {
                        return Ok(Some(WalkEnd::LeafPage(child)));
                    }
                    page = child;
                }
                _ => return Err(self.corrupt(page, "not a leaf or branch on a tree path".into())),
            }
        }
        Err(self.corrupt(page, format!("the tree is deeper than {LEVEL_MAX} levels: a cycle?")))
    }

    /// The bytes of a value read from a leaf.
    fn materialise(&self, value: Value) -> Result<Vec<u8>> {
        match value {
            Value::Inline(bytes) => Ok(bytes),
            Value::Overflow(reference) => {
                overflow::read_chain(reference, self.body_bytes, |page, target| {
                    self.read_body(page, target)
                })
                .map_err(|error| self.chain_error(error))
            }
        }
    }

    fn read_body(&self, page: PageId, target: &mut [u8]) -> Result<()> {
        let held = self.pool.fix_shared(page)?;
        held.read_into(0, target);
        Ok(())
    }

    fn chain_error(&self, error: ChainError<Error>) -> Error {
        match error {
            ChainError::Read(error) => error,
            ChainError::Corrupt { page, reason } => self.corrupt(page, reason),
        }
    }

    /// The entries within (`start`, `end`) of the leaf holding `start` and, while fewer than
    /// [`SCAN_CHUNK_ENTRIES_MIN`], of the leaves right of it under the same parent (at most
    /// [`SCAN_CHUNK_LEAVES_MAX`] in all), and where the leaf after them starts. Prefetches the
    /// next leaves. The caller keeps the tree from changing meanwhile (holds it shared).
    pub(crate) fn scan_leaf(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Result<ScanChunk> {
        let seek: &[u8] = match start {
            Bound::Included(key) | Bound::Excluded(key) => key,
            Bound::Unbounded => &[],
        };
        let Some(mut path) = self.descend(seek)? else {
            return Ok(ScanChunk { entries: Vec::new(), next_start: None });
        };
        // Also prefetches the leaves after this one under its parent, before it is read: as
        // many as a chunk reads, so the steps below need not ask again.
        let mut next_start = self.upper_bound(&path, true)?;
        let mut entries = Vec::new();
        let mut values = Vec::new();
        for leaf_index in 1.. {
            let leaf_page = path.last().expect("a path ends at a leaf").0;
            let leaf = self.fix_node(leaf_page)?;
            for slot in 0..node::entry_count(&*leaf) {
                let key = node::key_at(&*leaf, slot);
                if !after_start(&key, start) {
                    continue;
                }
                if !before_end(&key, end) {
                    drop(leaf);
                    return self.finish_chunk(entries, values, None);
                }
                values.push(node::value_at(&*leaf, slot));
                entries.push(key);
            }
            drop(leaf);
            // The next leaf under the same parent, without a descent from the root, while the
            // chunk is small: the tree does not change while the caller holds it shared.
            if entries.len() >= SCAN_CHUNK_ENTRIES_MIN
                || leaf_index == SCAN_CHUNK_LEAVES_MAX
                || !next_start.as_ref().is_some_and(|next| before_end(next, end))
                || !self.step_to_next_leaf(&mut path)?
            {
                break;
            }
            next_start = self.upper_bound(&path, false)?;
        }
        let next_start = next_start.filter(|next| before_end(next, end));
        self.finish_chunk(entries, values, next_start)
    }

    /// Moves `path` to the leaf right of its leaf under the same parent; false if its leaf is
    /// its parent's last child (or the root).
    fn step_to_next_leaf(&self, path: &mut Path) -> Result<bool> {
        let depth = path.len();
        if depth < 2 {
            return Ok(false);
        }
        let (parent_page, child_index) = path[depth - 2];
        let parent = self.fix_node(parent_page)?;
        if child_index >= node::entry_count(&*parent) {
            return Ok(false);
        }
        let next_leaf = node::child_at(&*parent, child_index + 1);
        drop(parent);
        path[depth - 2].1 = child_index + 1;
        path[depth - 1] = (next_leaf, 0);
        Ok(true)
    }

    fn finish_chunk(
        &self,
        keys: Vec<Vec<u8>>,
        values: Vec<Value>,
        next_start: Option<Vec<u8>>,
    ) -> Result<ScanChunk> {
        let entries = keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| Ok((key, self.materialise(value)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanChunk { entries, next_start })
    }

    /// The smallest separator to the right of the path's leaf (the next leaf's first possible
    /// key); with `prefetch`, also asks the pool for the next [`SCAN_PREFETCH_LEAF_COUNT`]
    /// leaves under the leaf's parent.
    fn upper_bound(&self, path: &Path, prefetch: bool) -> Result<Option<Vec<u8>>> {
        for (depth, &(page, child_index)) in path.iter().enumerate().rev().skip(1) {
            let branch = self.fix_node(page)?;
            if child_index < node::entry_count(&*branch) {
                if prefetch && depth + 2 == path.len() {
                    let last =
                        node::child_count(&*branch).min(child_index + 1 + SCAN_PREFETCH_LEAF_COUNT);
                    let upcoming: Vec<PageId> = (child_index + 1..last)
                        .map(|index| node::child_at(&*branch, index))
                        .collect();
                    drop(branch);
                    self.pool.prefetch(&upcoming)?;
                    let branch = self.fix_node(page)?;
                    return Ok(Some(node::key_at(&*branch, child_index)));
                }
                return Ok(Some(node::key_at(&*branch, child_index)));
            }
        }
        Ok(None)
    }

    /// Every page the tree uses (nodes and overflow pages), for integrity checks, and the
    /// tree's shape: nodes and their bytes used per level.
    pub(crate) fn shape(&self) -> Result<TreeShape> {
        let mut shape = TreeShape::default();
        let pages = &mut shape.pages;
        let mut stack = Vec::new();
        if self.root() != node::NO_PAGE {
            stack.push((PageId(self.root()), u8::MAX));
        }
        let page_count = usize::try_from(self.space.lock().page_count()).unwrap_or(usize::MAX);
        while let Some((page, parent_level)) = stack.pop() {
            if pages.len() > page_count {
                return Err(
                    self.corrupt(page, "the tree reaches more pages than the file has".into())
                );
            }
            pages.push(page.0);
            let held = self.fix_node(page)?;
            let level = node::level(&*held);
            if level >= parent_level {
                return Err(self
                    .corrupt(page, format!("level {level} under a level {parent_level} branch")));
            }
            let depth = usize::from(level);
            if shape.levels.len() <= depth {
                shape.levels.resize(depth + 1, LevelShape::default());
            }
            shape.levels[depth].nodes += 1;
            shape.levels[depth].bytes_used += node::used_bytes(&*held) as u64;
            match node::kind(&*held) {
                Some(PageKind::Branch) => {
                    let children: Vec<PageId> = (0..node::child_count(&*held))
                        .map(|index| node::child_at(&*held, index))
                        .collect();
                    drop(held);
                    // Read the children in batches (one submission each) instead of one miss
                    // at a time; visited in the order they were read.
                    for batch in children.chunks(bufferpool::PREFETCH_PAGES_MAX) {
                        self.pool.prefetch(batch)?;
                    }
                    stack.extend(children.into_iter().rev().map(|child| (child, level)));
                }
                _ => {
                    let references: Vec<OverflowRef> = (0..node::entry_count(&*held))
                        .filter_map(|slot| match node::value_at(&*held, slot) {
                            Value::Overflow(reference) => Some(reference),
                            Value::Inline(_) => None,
                        })
                        .collect();
                    drop(held);
                    for reference in references {
                        let chain = self.chain_pages(reference)?;
                        shape.overflow_pages += chain.len() as u64;
                        pages.extend(chain.into_iter().map(|page| page.0));
                    }
                }
            }
        }
        Ok(shape)
    }

    /// Reads and checks the root node (if the tree has one): open's cheap sign that the file
    /// holds the tree its header names (a truncated file fails here, or on the first read of a
    /// page it lost).
    pub(crate) fn check_root(&self) -> Result<()> {
        if self.root() != node::NO_PAGE {
            drop(self.fix_node(PageId(self.root()))?);
        }
        Ok(())
    }

    /// Writes the free-page list of the checkpoint of `epoch`: `runs` on `list_pages` (at least
    /// as many as [`free_list::page_count`] says, allocated by the caller and free in no one's
    /// view; pages beyond those the runs need hold none), chained in order. Returns the first
    /// page (0: no list page).
    pub(crate) fn write_free_list(
        &self,
        epoch: u64,
        list_pages: &[u64],
        runs: &[Run],
    ) -> Result<u64> {
        let per_page = free_list::runs_per_page(self.body_bytes);
        assert!(list_pages.len() >= free_list::page_count(self.body_bytes, runs.len()));
        for (index, &page) in list_pages.iter().enumerate() {
            let start = (index * per_page).min(runs.len());
            let chunk = &runs[start..(start + per_page).min(runs.len())];
            let next = list_pages.get(index + 1).map(|&page| PageId(page));
            let mut held = self.pool.new_page(PageId(page))?;
            free_list::format_page(&mut PageBody::new(&mut held), epoch, next, chunk);
        }
        Ok(list_pages.first().copied().unwrap_or(node::NO_PAGE))
    }

    /// Reads the free-page list that the checkpoint of `epoch` wrote from `first_list_page` on,
    /// for a file of `page_count` pages whose tree pages start at `first_page`: the free pages
    /// and the list's own pages, both ascending. Any damage is a corruption error naming the
    /// list page (`free_list.rs` lists what is checked).
    pub(crate) fn read_free_list(
        &self,
        first_list_page: u64,
        epoch: u64,
        first_page: u64,
        page_count: u64,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let mut runs = free_list::Runs::new(first_page, page_count);
        let mut list_pages = std::collections::BTreeSet::new();
        let mut next = (first_list_page != node::NO_PAGE).then_some(PageId(first_list_page));
        while let Some(page) = next {
            if !(first_page..page_count).contains(&page.0) {
                let reason =
                    format!("a free-list page outside the tree's pages {first_page}..{page_count}");
                return Err(self.corrupt(page, reason));
            }
            if !list_pages.insert(page.0) {
                return Err(self.corrupt(page, "the free-list chain visits it twice".into()));
            }
            let list_page = {
                let held = self.pool.fix_shared(page)?;
                free_list::check_page(&*held, self.page_bytes, epoch)
                    .map_err(|reason| self.corrupt(page, reason))?
            };
            for run in list_page.runs {
                runs.push(run).map_err(|reason| self.corrupt(page, reason))?;
            }
            next = list_page.next_page;
        }
        let free = runs.into_pages();
        if let Some(&page) = list_pages.iter().find(|page| free.binary_search(page).is_ok()) {
            let reason = "a free-list page that its own list calls free".into();
            return Err(self.corrupt(PageId(page), reason));
        }
        Ok((free, list_pages.into_iter().collect()))
    }

    fn chain_pages(&self, reference: OverflowRef) -> Result<Vec<PageId>> {
        overflow::chain_pages(reference, self.body_bytes, |page, target| {
            self.read_body(page, target)
        })
        .map_err(|error| self.chain_error(error))
    }

    // ---- changing ------------------------------------------------------------------------

    /// Sets `key` to `value` (`None`: deletes it), with the change's log position `lsn`.
    /// Returns the value the tree held before. The caller holds the tree exclusively.
    pub(crate) fn apply(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        lsn: u64,
    ) -> Result<Option<Vec<u8>>> {
        assert!(key.len() <= KEY_BYTES_MAX, "a {}-byte key", key.len());
        if let Some(value) = value {
            assert!(value.len() <= VALUE_BYTES_MAX, "a {}-byte value", value.len());
        }
        if self.root() == node::NO_PAGE {
            let Some(value) = value else { return Ok(None) };
            let root = self.allocate()?;
            {
                let mut page = self.pool.new_page(root)?;
                node::format_leaf(&mut PageBody::new(&mut page), self.epoch(), None);
                set_lsn(&mut page, lsn);
            }
            self.root.store(root.0, Ordering::Release);
            return self.apply(key, Some(value), lsn);
        }
        let path = self.descend(key)?.expect("the tree has a root");
        let path = self.make_writable(path, lsn)?;
        let leaf_page = path.last().expect("a path ends at a leaf").0;
        let mut leaf = self.pool.fix_exclusive(leaf_page)?;
        let old = match node::search(&*leaf, key) {
            SearchResult::Found(slot) => {
                let old_value = node::value_at(&*leaf, slot);
                node::remove(&mut PageBody::new(&mut leaf), slot);
                set_lsn(&mut leaf, lsn);
                drop(leaf);
                let old_bytes = self.materialise(old_value.clone())?;
                if let Value::Overflow(reference) = old_value {
                    self.release_chain(reference)?;
                }
                Some(old_bytes)
            }
            SearchResult::NotFound(_) => {
                drop(leaf);
                None
            }
        };
        match value {
            Some(value) => self.insert(path, key, value, lsn)?,
            None if old.is_some() => self.merge_up(&path, lsn)?,
            None => {}
        }
        Ok(old)
    }

    /// After a delete: while the node at the end of the (writable) path is underfull, merges
    /// it with a sibling when the two fit in one node, removing the separator from the parent,
    /// or else evens the two out; then collapses a root branch left with a single child.
    fn merge_up(&self, path: &Path, lsn: u64) -> Result<()> {
        for depth in (1..path.len()).rev() {
            let (page, _) = path[depth];
            let underfull = node::is_underfull(&*self.fix_node(page)?);
            if !underfull || !self.merge_with_sibling(path[depth - 1], lsn)? {
                break;
            }
        }
        self.collapse_root(lsn)
    }

    /// Merges child `child_index` of `parent` with its right sibling (or its left one, for the
    /// last child) if they fit in one node; otherwise redistributes their cells evenly (see
    /// [`Tree::rebalance_siblings`]). Returns whether it merged (the parent lost an entry).
    fn merge_with_sibling(&self, (parent, child_index): (PageId, usize), lsn: u64) -> Result<bool> {
        let (separator, left_index) = {
            let held = self.fix_node(parent)?;
            let child_count = node::child_count(&*held);
            if child_count < 2 {
                return Ok(false);
            }
            let left_index =
                if child_index + 1 < child_count { child_index } else { child_index - 1 };
            (node::key_at(&*held, left_index), left_index)
        };
        let left = self.make_child_writable(parent, left_index, lsn)?;
        let right = self.make_child_writable(parent, left_index + 1, lsn)?;
        let mut left_page = self.pool.fix_exclusive(left)?;
        let mut right_page = self.pool.fix_exclusive(right)?;
        if !node::can_merge(&*left_page, &*right_page, &separator) {
            self.rebalance_siblings(
                (parent, left_index),
                (&mut left_page, &mut right_page),
                &separator,
                lsn,
            )?;
            return Ok(false);
        }
        node::merge(&mut PageBody::new(&mut left_page), &*right_page, &separator);
        set_lsn(&mut left_page, lsn);
        drop((left_page, right_page));
        let mut parent_page = self.pool.fix_exclusive(parent)?;
        node::remove(&mut PageBody::new(&mut parent_page), left_index);
        set_lsn(&mut parent_page, lsn);
        drop(parent_page);
        self.release(right, self.epoch())?;
        Ok(true)
    }

    /// Evens out two writable siblings, children `left_index` and `left_index + 1` of the
    /// writable `parent`, that do not fit in one node, and puts the new separator in the
    /// parent. The cells are redistributed on copies first: if the parent has no room for a
    /// longer separator, nothing changes (the underfull node stays so until a later delete or
    /// insert beside it).
    fn rebalance_siblings(
        &self,
        (parent, left_index): (PageId, usize),
        (left_page, right_page): (&mut ExclusivePage<'_>, &mut ExclusivePage<'_>),
        separator: &[u8],
        lsn: u64,
    ) -> Result<()> {
        let mut left = PageBody::new(left_page).to_vec();
        let mut right = PageBody::new(right_page).to_vec();
        let new_separator = node::rebalance(&mut left, &mut right, separator);
        let right_id = right_page.page_id();
        let mut parent_page = self.pool.fix_exclusive(parent)?;
        let room_bytes = node::free_bytes(&*parent_page) + separator.len();
        if new_separator.len() > room_bytes {
            return Ok(());
        }
        PageBody::new(left_page).write_body(&left);
        PageBody::new(right_page).write_body(&right);
        set_lsn(left_page, lsn);
        set_lsn(right_page, lsn);
        let mut parent_body = PageBody::new(&mut parent_page);
        node::remove(&mut parent_body, left_index);
        let cell = Cell::Branch { key: &new_separator, child: right_id };
        node::insert(&mut parent_body, left_index, &cell);
        set_lsn(&mut parent_page, lsn);
        Ok(())
    }

    /// The child `child_index` of the writable `parent`, copied first if it belongs to a
    /// checkpointed epoch.
    fn make_child_writable(&self, parent: PageId, child_index: usize, lsn: u64) -> Result<PageId> {
        let child = node::child_at(&*self.fix_node(parent)?, child_index);
        let epoch = self.epoch();
        if node::epoch(&*self.fix_node(child)?) == epoch {
            return Ok(child);
        }
        let copy = self.copy_page(child, epoch, lsn)?;
        self.space.lock().release_after(child.0, epoch);
        let mut held = self.pool.fix_exclusive(parent)?;
        node::set_child(&mut PageBody::new(&mut held), child_index, copy);
        set_lsn(&mut held, lsn);
        Ok(copy)
    }

    /// A root branch left with one child gives way to that child (repeatedly); a root leaf
    /// left empty gives way to the empty tree.
    fn collapse_root(&self, lsn: u64) -> Result<()> {
        let _ = lsn;
        loop {
            let root = PageId(self.root());
            if root.0 == node::NO_PAGE {
                return Ok(());
            }
            let (kind, entry_count, only_child, root_epoch) = {
                let held = self.fix_node(root)?;
                (
                    node::kind(&*held),
                    node::entry_count(&*held),
                    node::child_at(&*held, 0),
                    node::epoch(&*held),
                )
            };
            let next = match (kind, entry_count) {
                (Some(PageKind::Branch), 0) => only_child.0,
                (Some(PageKind::Leaf), 0) => node::NO_PAGE,
                _ => return Ok(()),
            };
            self.root.store(next, Ordering::Release);
            self.release(root, root_epoch)?;
        }
    }

    /// Inserts a key known to be absent into the leaf at the end of the (writable) path,
    /// splitting up the path as needed.
    fn insert(&self, path: Path, key: &[u8], value: &[u8], lsn: u64) -> Result<()> {
        let stored =
            if node::value_is_inline(self.body_bytes, key.len(), value.len()) || value.is_empty() {
                None
            } else {
                Some(self.write_chain(value, lsn)?)
            };
        let leaf_value = match &stored {
            Some(reference) => LeafValue::Overflow(*reference),
            None => LeafValue::Inline(value),
        };
        let mut cell = CellOwned::Leaf { key: key.to_vec(), value: leaf_value_owned(leaf_value) };
        for depth in (0..path.len()).rev() {
            let (page, _) = path[depth];
            match self.insert_into(page, &cell, lsn)? {
                None => return Ok(()),
                Some((separator, right)) => {
                    cell = CellOwned::Branch { key: separator, child: right };
                }
            }
        }
        // The root split: a new root over the old root and its new right sibling.
        let CellOwned::Branch { key: separator, child: right } = cell else { unreachable!() };
        let old_root = PageId(self.root());
        let level = {
            let held = self.fix_node(old_root)?;
            node::level(&*held) + 1
        };
        let new_root = self.allocate()?;
        let mut page = self.pool.new_page(new_root)?;
        let mut body = PageBody::new(&mut page);
        node::format_branch(&mut body, self.epoch(), level, old_root);
        node::insert(&mut body, 0, &Cell::Branch { key: &separator, child: right });
        set_lsn(&mut page, lsn);
        drop(page);
        self.root.store(new_root.0, Ordering::Release);
        Ok(())
    }

    /// Inserts `cell` into node `page`; if it does not fit, splits the node and returns the
    /// separator and the new right node for the parent.
    fn insert_into(
        &self,
        page: PageId,
        cell: &CellOwned,
        lsn: u64,
    ) -> Result<Option<(Vec<u8>, PageId)>> {
        let mut held = self.pool.fix_exclusive(page)?;
        let borrowed = cell.borrow();
        let slot = match node::search(&*held, borrowed.key()) {
            SearchResult::Found(slot) | SearchResult::NotFound(slot) => slot,
        };
        if node::fits(&*held, &borrowed) {
            node::insert(&mut PageBody::new(&mut held), slot, &borrowed);
            set_lsn(&mut held, lsn);
            return Ok(None);
        }
        let right_page = self.allocate()?;
        let mut right = self.pool.new_page(right_page)?;
        let separator = node::split_insert(
            &mut PageBody::new(&mut held),
            &mut PageBody::new(&mut right),
            right_page,
            slot,
            &borrowed,
        );
        set_lsn(&mut held, lsn);
        set_lsn(&mut right, lsn);
        Ok(Some((separator, right_page)))
    }

    /// Copies every page of `path` that belongs to a checkpointed epoch, root first, and
    /// returns the path of the copies.
    fn make_writable(&self, mut path: Path, lsn: u64) -> Result<Path> {
        let epoch = self.epoch();
        for depth in 0..path.len() {
            let (page, child_index) = path[depth];
            let page_epoch = {
                let held = self.fix_node(page)?;
                node::epoch(&*held)
            };
            if page_epoch == epoch {
                continue;
            }
            let copy = self.copy_page(page, epoch, lsn)?;
            self.space.lock().release_after(page.0, epoch);
            if depth == 0 {
                self.root.store(copy.0, Ordering::Release);
            } else {
                let (parent, parent_child_index) = path[depth - 1];
                let mut held = self.pool.fix_exclusive(parent)?;
                node::set_child(&mut PageBody::new(&mut held), parent_child_index, copy);
                set_lsn(&mut held, lsn);
            }
            path[depth] = (copy, child_index);
        }
        Ok(path)
    }

    fn copy_page(&self, page: PageId, epoch: u64, lsn: u64) -> Result<PageId> {
        let body = self.fix_node(page)?.to_vec();
        let copy = self.allocate()?;
        let mut held = self.pool.new_page(copy)?;
        let mut writable = PageBody::new(&mut held);
        bufferpool_write_body(&mut writable, &body);
        node::set_epoch(&mut writable, epoch);
        set_lsn(&mut held, lsn);
        Ok(copy)
    }

    fn allocate(&self) -> Result<PageId> {
        Ok(PageId(self.space.lock().allocate()))
    }

    /// Frees a page the tree no longer uses: at once if it was written in this epoch, else
    /// once this epoch's checkpoint is durable.
    fn release(&self, page: PageId, page_epoch: u64) -> Result<()> {
        let epoch = self.epoch();
        if page_epoch == epoch {
            self.pool.discard(page)?;
            self.space.lock().release_now(page.0);
        } else {
            self.space.lock().release_after(page.0, epoch);
        }
        Ok(())
    }

    fn write_chain(&self, value: &[u8], lsn: u64) -> Result<OverflowRef> {
        overflow::write_chain(
            value,
            self.body_bytes,
            self.epoch(),
            || self.allocate(),
            |page, image| {
                let mut held = self.pool.new_page(page)?;
                bufferpool_write_body(&mut PageBody::new(&mut held), image);
                set_lsn(&mut held, lsn);
                Ok(())
            },
        )
    }

    fn release_chain(&self, reference: OverflowRef) -> Result<()> {
        for page in self.chain_pages(reference)? {
            let page_epoch = {
                let held = self.pool.fix_shared(page)?;
                node::epoch(&*held)
            };
            self.release(page, page_epoch)?;
        }
        Ok(())
    }
}

/// What one node on the path to a key says about it.
enum DescentStep {
    /// Go on to this child (a branch).
    Child(PageId),
    /// The key's value (a leaf that has it).
    Found(Value),
    /// The key is absent (a leaf that does not have it).
    Absent,
    /// A branch names this child, which is not a page id.
    BadChild(PageId),
    /// The page is not a leaf or a branch.
    NotANode,
    /// The node has not been checked since the pool read it: fix it and check it first.
    Unchecked,
}

/// Where [`Tree::walk`] stopped.
enum WalkEnd<'pool> {
    /// The leaf whose range holds the key, held.
    Leaf(PageId, SharedPage<'pool>),
    /// That leaf's page, not read.
    LeafPage(PageId),
}

/// What `node` (a checked node, or bytes read optimistically) says about `key`.
#[inline]
fn descent_step<B: BodyRead + ?Sized>(node: &B, key: &[u8]) -> DescentStep {
    match node::kind(node) {
        Some(PageKind::Leaf) => match node::search(node, key) {
            SearchResult::Found(slot) => DescentStep::Found(node::value_at(node, slot)),
            SearchResult::NotFound(_) => DescentStep::Absent,
        },
        Some(PageKind::Branch) => {
            let (_, child) = node::child_for_key(node, key);
            if node::is_tree_page(child.0) {
                DescentStep::Child(child)
            } else {
                DescentStep::BadChild(child)
            }
        }
        _ => DescentStep::NotANode,
    }
}

/// Raises a page's LSN to `lsn` (pages hold changes of several commits, applied in any order).
fn set_lsn(page: &mut ExclusivePage<'_>, lsn: u64) {
    if lsn > page.lsn() {
        page.set_lsn(lsn);
    }
}

fn bufferpool_write_body(body: &mut PageBody<'_>, image: &[u8]) {
    use crate::btree::body::BodyWrite;
    body.write_body(image);
}

fn after_start(key: &[u8], start: Bound<&[u8]>) -> bool {
    match start {
        Bound::Included(bound) => key >= bound,
        Bound::Excluded(bound) => key > bound,
        Bound::Unbounded => true,
    }
}

fn before_end(key: &[u8], end: Bound<&[u8]>) -> bool {
    match end {
        Bound::Included(bound) => key <= bound,
        Bound::Excluded(bound) => key < bound,
        Bound::Unbounded => true,
    }
}

/// A cell that owns its key (one being carried up a split path).
enum CellOwned {
    Leaf { key: Vec<u8>, value: LeafValueOwned },
    Branch { key: Vec<u8>, child: PageId },
}

enum LeafValueOwned {
    Inline(Vec<u8>),
    Overflow(OverflowRef),
}

fn leaf_value_owned(value: LeafValue<'_>) -> LeafValueOwned {
    match value {
        LeafValue::Inline(bytes) => LeafValueOwned::Inline(bytes.to_vec()),
        LeafValue::Overflow(reference) => LeafValueOwned::Overflow(reference),
    }
}

impl CellOwned {
    fn borrow(&self) -> Cell<'_> {
        match self {
            CellOwned::Leaf { key, value: LeafValueOwned::Inline(bytes) } => {
                Cell::Leaf { key, value: LeafValue::Inline(bytes) }
            }
            CellOwned::Leaf { key, value: LeafValueOwned::Overflow(reference) } => {
                Cell::Leaf { key, value: LeafValue::Overflow(*reference) }
            }
            CellOwned::Branch { key, child } => Cell::Branch { key, child: *child },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use bufferpool::{NoLog, PoolOptions};
    use disk::{Disk, OpenOptions, SimDisk};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const PAGE_BYTES: usize = 4096;
    const FIRST_PAGE: u64 = 2;

    fn tree_on(
        disk: &SimDisk,
        frame_count: usize,
        root: u64,
        epoch: u64,
        space: FreeSpace,
    ) -> Tree {
        let file = disk
            .open(Path::new("data"), OpenOptions { create: true, ..OpenOptions::default() })
            .unwrap();
        let options = PoolOptions {
            pool_bytes: frame_count * PAGE_BYTES,
            page_bytes: PAGE_BYTES,
            ..PoolOptions::default()
        };
        let pool = Arc::new(BufferPool::open(file, options, Arc::new(NoLog)).unwrap());
        Tree::new(pool, root, epoch, space)
    }

    fn scan_all(tree: &Tree, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries = Vec::new();
        let mut chunk = tree.scan_leaf(start, end).unwrap();
        loop {
            entries.extend(chunk.entries);
            let Some(next) = chunk.next_start else { return entries };
            chunk = tree.scan_leaf(Bound::Included(&next), end).unwrap();
        }
    }

    fn value_for(rng: &mut ChaCha8Rng) -> Vec<u8> {
        let length = match rng.random_range(0..10) {
            0 => rng.random_range(1000..20_000), // overflow pages
            1 => 0,
            _ => rng.random_range(1..200),
        };
        (0..length).map(|_| rng.random()).collect()
    }

    /// On a cold pool, warming a set of keys reads their leaves in prefetch batches (the
    /// branches above them one at a time), so that reading the keys afterwards takes no miss.
    #[test]
    fn warming_reads_the_leaves_of_many_keys_in_batches() {
        let disk = SimDisk::with_seed(9);
        let tree = tree_on(&disk, 64, 0, 0, FreeSpace::new(FIRST_PAGE, FIRST_PAGE, []));
        let key = |index: u32| format!("key{index:05}").into_bytes();
        for index in 0..2000 {
            tree.apply(&key(index), Some(&[7; 100]), 1).unwrap();
        }
        tree.freeze();
        tree.pool().flush_dirty().unwrap();
        let (root, epoch, space) = (tree.root(), tree.epoch(), tree.space().lock().clone());
        drop(tree);
        let cold = tree_on(&disk, 256, root, epoch, space);
        let keys: Vec<Vec<u8>> = (0..2000).step_by(97).map(key).collect();
        cold.warm(keys.iter().map(Vec::as_slice)).unwrap();
        let warmed = cold.pool().stats();
        assert!(warmed.prefetch_batches >= 1, "the leaves were not prefetched");
        assert!(
            warmed.pages_prefetched >= 10,
            "{} leaves prefetched for 21 keys over 2000",
            warmed.pages_prefetched
        );
        for key in &keys {
            assert_eq!(cold.get(key).unwrap(), Some(vec![7; 100]));
        }
        assert_eq!(cold.pool().stats().misses, warmed.misses, "a warmed read missed");
    }

    /// Random puts and deletes (inline, empty and overflow values) against a BTreeMap, with
    /// epochs frozen along the way (copy-on-write), a pool much smaller than the tree, and
    /// checks of gets, scans and page accounting; then the tree is reopened from its root on a
    /// fresh pool and must read the same.
    #[test]
    fn matches_a_btree_map_across_epochs_and_a_reopen() {
        let disk = SimDisk::with_seed(5);
        let tree = tree_on(&disk, 64, 0, 0, FreeSpace::new(FIRST_PAGE, FIRST_PAGE, []));
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for step in 0..3000u64 {
            let key = format!("key{:05}", rng.random_range(0..800)).into_bytes();
            if rng.random_range(0..4) == 0 {
                let old = tree.apply(&key, None, step).unwrap();
                assert_eq!(old, model.remove(&key), "delete {key:?}");
            } else {
                let value = value_for(&mut rng);
                let old = tree.apply(&key, Some(&value), step).unwrap();
                assert_eq!(old, model.insert(key.clone(), value), "put {key:?}");
            }
            if step % 500 == 499 {
                let frozen = tree.freeze();
                tree.space().lock().checkpoint_durable(frozen - 1);
            }
            if step % 300 == 0 {
                let probe = format!("key{:05}", rng.random_range(0..800)).into_bytes();
                assert_eq!(tree.get(&probe).unwrap(), model.get(&probe).cloned());
            }
        }
        let all: Vec<_> = model.iter().map(|(key, value)| (key.clone(), value.clone())).collect();
        assert_eq!(scan_all(&tree, Bound::Unbounded, Bound::Unbounded), all);
        let (low, high) = (b"key00100".as_slice(), b"key00400".as_slice());
        let expected: Vec<_> = model
            .range::<[u8], _>((Bound::Excluded(low), Bound::Included(high)))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        assert_eq!(scan_all(&tree, Bound::Excluded(low), Bound::Included(high)), expected);

        // Every page is either reachable, free or pending, exactly once.
        let reachable: BTreeSet<u64> = tree.shape().unwrap().pages.into_iter().collect();
        let space = tree.space().lock().clone();
        let listed: BTreeSet<u64> = space.free_as_of_checkpoint(u64::MAX).into_iter().collect();
        assert!(reachable.is_disjoint(&listed), "a reachable page is listed free");
        assert_eq!(
            reachable.len() + listed.len(),
            usize::try_from(space.page_count() - FIRST_PAGE).unwrap(),
            "a page leaked"
        );

        tree.pool().flush_dirty().unwrap();
        let (root, epoch) = (tree.root(), tree.epoch());
        drop(tree);
        let reopened =
            tree_on(&disk, 16, root, epoch, FreeSpace::new(FIRST_PAGE, space.page_count(), listed));
        assert_eq!(scan_all(&reopened, Bound::Unbounded, Bound::Unbounded), all);
        for (key, value) in model.iter().take(50) {
            assert_eq!(reopened.get(key).unwrap().as_ref(), Some(value));
        }
    }

    /// A frozen epoch's pages are never written again: after a freeze, changes copy them, and
    /// the frozen tree (read from its old root) still holds the frozen state.
    #[test]
    fn a_frozen_tree_is_never_changed() {
        let disk = SimDisk::with_seed(6);
        let tree = tree_on(&disk, 64, 0, 0, FreeSpace::new(FIRST_PAGE, FIRST_PAGE, []));
        for index in 0..300u32 {
            tree.apply(format!("k{index:04}").as_bytes(), Some(&[1; 40]), 1).unwrap();
        }
        let frozen_root = tree.root();
        let frozen_pages: BTreeSet<u64> = tree.shape().unwrap().pages.into_iter().collect();
        tree.freeze();
        tree.pool().flush_dirty().unwrap();
        let frozen_image = disk.durable_content(Path::new("data")).unwrap();
        for index in 0..300u32 {
            tree.apply(format!("k{index:04}").as_bytes(), Some(&[2; 40]), 2).unwrap();
        }
        tree.apply(b"k0007", None, 3).unwrap();
        tree.pool().flush_dirty().unwrap();
        let image = disk.durable_content(Path::new("data")).unwrap();
        for page in &frozen_pages {
            let start = usize::try_from(*page).unwrap() * PAGE_BYTES;
            let range = start..start + PAGE_BYTES;
            assert_eq!(
                image[range.clone()],
                frozen_image[range],
                "frozen page {page} was overwritten"
            );
        }
        assert_ne!(tree.root(), frozen_root);
        let old = tree_on(&disk, 16, frozen_root, 0, FreeSpace::new(FIRST_PAGE, FIRST_PAGE, []));
        assert_eq!(old.get(b"k0007").unwrap(), Some(vec![1; 40]));
    }
}

#[cfg(test)]
mod merge_tests {
    use std::path::Path;

    use bufferpool::{NoLog, PoolOptions};
    use disk::{Disk, OpenOptions, SimDisk};

    use super::*;

    /// An empty tree over a 256-page pool of 4 KiB pages on a simulated disk.
    fn empty_tree(seed: u64) -> Tree {
        let disk = SimDisk::with_seed(seed);
        let file = disk
            .open(Path::new("data"), OpenOptions { create: true, ..OpenOptions::default() })
            .unwrap();
        let options =
            PoolOptions { pool_bytes: 256 * 4096, page_bytes: 4096, ..PoolOptions::default() };
        let pool = Arc::new(BufferPool::open(file, options, Arc::new(NoLog)).unwrap());
        Tree::new(pool, 0, 0, FreeSpace::new(2, 2, []))
    }

    /// The keys of a leaf, and its right sibling.
    fn leaf_keys(tree: &Tree, leaf: PageId) -> (Vec<Vec<u8>>, Option<PageId>) {
        let held = tree.fix_node(leaf).unwrap();
        let keys = (0..node::entry_count(&*held)).map(|slot| node::key_at(&*held, slot)).collect();
        (keys, node::right_sibling(&*held))
    }

    /// A leaf that deletes leave underfull beside a sibling too full to merge with is evened
    /// out with it: both end at least a quarter full, and every key stays readable.
    #[test]
    fn an_underfull_leaf_beside_a_full_one_is_rebalanced() {
        let tree = empty_tree(10);
        let value = [5; 60];
        for index in 0..2000 {
            tree.apply(format!("key{index:06}").as_bytes(), Some(&value), 1).unwrap();
        }
        let leftmost = *tree.descend(b"").unwrap().unwrap().last().unwrap();
        let (left_keys, right) = leaf_keys(&tree, leftmost.0);
        let right = right.unwrap();
        // Fill the right sibling to 42 cells of 82 bytes (with slots: 3444 of 4048 bytes), so
        // that it cannot merge with a left leaf of 11 (902 bytes, underfull: under 1012).
        let (right_keys, _) = leaf_keys(&tree, right);
        let mut extra = 0;
        while leaf_keys(&tree, right).0.len() < 42 {
            let key = [right_keys[0].as_slice(), format!("x{extra:03}").as_bytes()].concat();
            tree.apply(&key, Some(&value), 2).unwrap();
            extra += 1;
        }
        assert_eq!(leaf_keys(&tree, leftmost.0).1, Some(right), "the right leaf did not split");
        let kept = &left_keys[..11];
        for key in &left_keys[11..] {
            assert!(tree.apply(key, None, 3).unwrap().is_some());
        }
        let (left_after, right_after) = (leaf_keys(&tree, leftmost.0).0, leaf_keys(&tree, right).0);
        assert!(
            !node::is_underfull(&*tree.fix_node(leftmost.0).unwrap()),
            "{} keys",
            left_after.len()
        );
        assert!(!node::is_underfull(&*tree.fix_node(right).unwrap()));
        assert!(left_after.len() > 11, "cells moved over from the right");
        assert_eq!(left_after.len() + right_after.len(), 11 + 42);
        for key in kept.iter().chain(&right_keys) {
            assert_eq!(tree.get(key).unwrap(), Some(value.to_vec()));
        }
        for key in &left_keys[11..] {
            assert_eq!(tree.get(key).unwrap(), None);
        }
    }

    /// Deleting every key merges the leaves back and collapses the root: the tree ends empty
    /// and every page it used is free again; deleting three quarters leaves a tree that shrank.
    #[test]
    fn deletes_merge_nodes_and_free_their_pages() {
        let tree = empty_tree(9);
        let key = |index: u32| format!("key{:06}", index.wrapping_mul(7919) % 4000).into_bytes();
        for index in 0..4000 {
            tree.apply(&key(index), Some(&[5; 60]), 1).unwrap();
        }
        let full = tree.shape().unwrap().pages.len();
        for index in 0..3000 {
            assert!(tree.apply(&key(index), None, 2).unwrap().is_some());
        }
        let quarter = tree.shape().unwrap().pages.len();
        assert!(quarter * 10 < full * 6, "deleting 3/4 of the keys left {quarter} of {full} pages");
        for index in 3000..4000 {
            assert_eq!(tree.get(&key(index)).unwrap(), Some(vec![5; 60]));
        }
        tree.freeze(); // the rest are deleted in a new epoch: merges copy-on-write too
        for index in 3000..4000 {
            assert!(tree.apply(&key(index), None, 3).unwrap().is_some());
        }
        assert_eq!(tree.root(), node::NO_PAGE, "the empty tree has no root");
        assert!(tree.shape().unwrap().pages.is_empty());
        let space = tree.space().lock();
        let listed = space.free_as_of_checkpoint(u64::MAX).len() as u64;
        assert_eq!(listed, space.page_count() - 2, "every page is free or pending again");
    }
}

//! Mmap mode on a real file: unchanged pages are read in place in the mapping (no frame, no
//! read), a changed page is staged in a frame and read from there until it is written back,
//! damage found in place is a corruption error, and many threads reading and writing keep
//! seeing the last write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bufferpool::{BufferPool, Error, NoLog, PageId, PoolOptions};
use disk::{Disk, DiskOptions, File, IoMode, OpenOptions, RealDisk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PAGE_BYTES: usize = 4096;

fn mapped_file(directory: &tempfile::TempDir) -> Arc<dyn File> {
    let disk = RealDisk::new(DiskOptions {
        io_mode: IoMode::Mmap,
        mmap_reserve_bytes: 1 << 30,
        ..DiskOptions::default()
    });
    let file = disk
        .open(
            &directory.path().join("data"),
            OpenOptions { create: true, ..OpenOptions::default() },
        )
        .unwrap();
    assert!(file.mapped_words().is_some(), "the mmap backend exposes its mapping");
    file
}

fn pool(file: &Arc<dyn File>, frame_count: usize) -> BufferPool {
    let options = PoolOptions {
        pool_bytes: frame_count * PAGE_BYTES,
        page_bytes: PAGE_BYTES,
        ..PoolOptions::default()
    };
    BufferPool::open(Arc::clone(file), options, Arc::new(NoLog)).unwrap()
}

fn write_pages(pool: &BufferPool, page_count: u64) {
    for page in 0..page_count {
        pool.new_page(PageId(page)).unwrap().writer().put_u64(0, page);
    }
    pool.flush_dirty().unwrap();
}

#[test]
fn unchanged_pages_are_read_in_place_and_changed_ones_from_their_frame() {
    let directory = tempfile::tempdir().unwrap();
    let file = mapped_file(&directory);
    write_pages(&pool(&file, 16), 64);
    let pool = pool(&file, 16);
    for page in 0..64 {
        assert_eq!(pool.read(PageId(page), |view| view.u64_at(0)).unwrap(), page);
        assert_eq!(pool.fix_shared(PageId(page)).unwrap().u64_at(0), page);
    }
    let stats = pool.stats();
    assert_eq!((stats.misses, stats.pages_read, stats.in_place_reads), (0, 0, 128), "{stats:?}");

    pool.fix_exclusive(PageId(7)).unwrap().writer().put_u64(8, 99);
    assert_eq!(
        pool.read(PageId(7), |view| view.u64_at(8)).unwrap(),
        99,
        "the staged frame is read"
    );
    assert_eq!(pool.fix_shared(PageId(7)).unwrap().u64_at(8), 99);
    pool.flush_dirty().unwrap();
    pool.check_invariants();
    assert!(pool.discard(PageId(7)).unwrap(), "unstage the clean page");
    let before = pool.stats().in_place_reads;
    assert_eq!(
        pool.read(PageId(7), |view| view.u64_at(8)).unwrap(),
        99,
        "written back, read in place"
    );
    assert_eq!(pool.stats().in_place_reads, before + 1);
    pool.check_invariants();
}

#[test]
fn damage_found_in_place_is_a_corruption_error() {
    let directory = tempfile::tempdir().unwrap();
    let file = mapped_file(&directory);
    write_pages(&pool(&file, 16), 4);
    let mut image = disk::AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment);
    file.read_at(&mut image, 2 * PAGE_BYTES as u64).unwrap();
    image[500] ^= 1;
    file.write_at(&image, 2 * PAGE_BYTES as u64).unwrap();
    let pool = pool(&file, 16);
    for result in [
        pool.read(PageId(2), |view| view.u64_at(0)),
        pool.fix_shared(PageId(2)).map(|page| page.u64_at(0)),
    ] {
        match result {
            Err(Error::Corruption { page, reason, .. }) => {
                assert_eq!(page, PageId(2));
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }
    assert!(pool.fix_shared(PageId(9)).is_err(), "beyond the file");
    pool.check_invariants();
}

#[test]
fn threads_reading_in_place_and_writing_through_frames_see_the_last_write() {
    const PAGE_COUNT: u64 = 128;
    let directory = tempfile::tempdir().unwrap();
    let file = mapped_file(&directory);
    write_pages(&pool(&file, 16), PAGE_COUNT);
    let pool = Arc::new(pool(&file, 16));
    let model: Arc<Vec<AtomicU64>> = Arc::new((0..PAGE_COUNT).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(thread);
                for _ in 0..4000 {
                    let page = rng.random_range(0..PAGE_COUNT);
                    let slot = &model[usize::try_from(page).unwrap()];
                    if rng.random_range(0..4) == 0 {
                        let mut held = pool.fix_exclusive(PageId(page)).unwrap();
                        let version = held.u64_at(8) + 1;
                        assert_eq!(
                            version - 1,
                            slot.load(Ordering::SeqCst),
                            "page {page} lost a write"
                        );
                        let mut writer = held.writer();
                        writer.put_u64(8, version);
                        writer.put_u64(1000, version);
                        slot.store(version, Ordering::SeqCst);
                    } else {
                        let before = slot.load(Ordering::SeqCst);
                        let (holds, version, copy) = pool
                            .read(PageId(page), |view| {
                                (view.u64_at(0), view.u64_at(8), view.u64_at(1000))
                            })
                            .unwrap();
                        assert_eq!((holds, version), (page, copy), "a torn or foreign page");
                        assert!(
                            version >= before,
                            "page {page}: read {version} after the model had {before}"
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    pool.check_invariants();
    let stats = pool.stats();
    assert!(stats.in_place_reads > 0 && stats.pages_written > 0, "{stats:?}");
    pool.flush_dirty().unwrap();
    drop(pool);
    let fresh = self::pool(&file, 16);
    for page in 0..PAGE_COUNT {
        assert_eq!(
            fresh.fix_shared(PageId(page)).unwrap().u64_at(8),
            model[usize::try_from(page).unwrap()].load(Ordering::SeqCst)
        );
    }
}

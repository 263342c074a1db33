//! Criterion benchmarks of the `disk` layer: the cost of one 4 KiB read on each backend, of a
//! batch of 32 in one submission, and of an `IoQueue` kept at depth 32.
//!
//! The file is small and written just before, so direct reads measure the device path and
//! buffered/mmap reads measure the page-cache hit path. `directdb bench io` is the cold,
//! device-sized measurement; this bench tracks the per-request overhead of the code.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk::{
    AlignedBuf, Disk, DiskOptions, File, IoMode, IoQueue, IoRequest, OpenOptions, RealDisk,
};

const FILE_BYTES: u64 = 64 << 20;
const PAGE_BYTES: usize = 4096;
const BATCH_COUNT: usize = 32;
const QUEUE_DEPTH: u32 = 32;
const _: () = assert!(BATCH_COUNT == QUEUE_DEPTH as usize);

fn open(directory: &std::path::Path, io_mode: IoMode, io_uring: bool) -> Arc<dyn File> {
    let disk = RealDisk::new(DiskOptions { io_mode, io_uring, ..DiskOptions::default() });
    let file = disk.open(&directory.join("bench.dat"), OpenOptions::create()).unwrap();
    file.allocate(FILE_BYTES).unwrap();
    file
}

/// A page offset that walks the file in a fixed pseudo-random order.
fn offset_of(step: u64) -> u64 {
    let page_count = FILE_BYTES / PAGE_BYTES as u64;
    (step.wrapping_mul(0x9E37_79B9_7F4A_7C15) % page_count) * PAGE_BYTES as u64
}

fn single_reads(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().unwrap();
    let mut group = criterion.benchmark_group("read_4k");
    group.throughput(Throughput::Bytes(PAGE_BYTES as u64));
    for (name, io_mode, io_uring) in [
        ("direct_pread", IoMode::Direct, false),
        ("direct_io_uring", IoMode::Direct, true),
        ("buffered_hit", IoMode::Buffered, false),
        ("mmap_hit", IoMode::Mmap, false),
    ] {
        let file = open(directory.path(), io_mode, io_uring);
        let mut buf = AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment);
        let mut step = 0u64;
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                step += 1;
                let offset = offset_of(step);
                if io_uring {
                    let mut request = [IoRequest::Read { offset, buf: &mut buf }];
                    black_box(file.submit(&mut request));
                } else {
                    file.read_at(&mut buf, offset).unwrap();
                }
                black_box(&buf);
            });
        });
    }
    group.finish();
}

fn batched_reads(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().unwrap();
    let file = open(directory.path(), IoMode::Direct, true);
    let mut group = criterion.benchmark_group("read_4k_x32");
    group.throughput(Throughput::Bytes((PAGE_BYTES * BATCH_COUNT) as u64));
    let mut bufs: Vec<AlignedBuf> = (0..BATCH_COUNT)
        .map(|_| AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment))
        .collect();
    let mut step = 0u64;
    group.bench_function("direct_batch", |bencher| {
        bencher.iter(|| {
            let mut requests: Vec<IoRequest<'_>> = bufs
                .iter_mut()
                .map(|buf| {
                    step += 1;
                    IoRequest::Read { offset: offset_of(step), buf }
                })
                .collect();
            black_box(file.submit(&mut requests));
        });
    });
    let mut queue: IoQueue<()> = IoQueue::new(QUEUE_DEPTH);
    let mut spare: Vec<AlignedBuf> = (0..BATCH_COUNT)
        .map(|_| AlignedBuf::for_alignment(PAGE_BYTES, file.info().alignment))
        .collect();
    group.bench_function("direct_queue_depth_32", |bencher| {
        // One iteration = 32 completions with the queue kept full.
        bencher.iter(|| {
            for _ in 0..BATCH_COUNT {
                while let Some(buf) = spare.pop() {
                    step += 1;
                    queue.push_read(&file, offset_of(step), buf, ());
                }
                queue.submit();
                let completion = queue.next_completion().unwrap();
                completion.result.unwrap();
                spare.push(completion.buf);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, single_reads, batched_reads);
criterion_main!(benches);

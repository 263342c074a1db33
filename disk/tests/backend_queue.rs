//! `IoQueue`: many requests in flight from one thread, completions handed back with their
//! buffers and tags, on every backend.

mod common;

use std::collections::BTreeMap;

use common::{each_backend, page, pattern};
use disk::{AlignedBuf, Error, IoMode, IoQueue};

const DEPTH: u32 = 8;
const PAGE_COUNT: u64 = 50;

#[test]
fn a_queue_keeps_requests_in_flight_and_returns_every_buffer() {
    each_backend(|io_mode, file| {
        file.allocate(PAGE_COUNT * 4096).unwrap();
        let mut queue: IoQueue<u64> = IoQueue::new(DEPTH);
        if io_mode == IoMode::Direct && file.io_uring_fd().is_some() {
            assert!(queue.fallback_reason().is_none(), "{:?}", queue.fallback_reason());
        }
        // Writes, more than the depth, taking completions whenever the queue is full.
        let mut written = 0;
        for slot in 0..PAGE_COUNT {
            if queue.room() == 0 {
                let completion = queue.next_completion().expect("a request is pending");
                completion.result.unwrap();
                written += 1;
            }
            let offset = slot * 4096;
            queue.push_write(&file, offset, pattern(&*file, 4096, offset, 6), slot % 5 == 0, slot);
            queue.submit();
        }
        while let Some(completion) = queue.next_completion() {
            completion.result.unwrap();
            written += 1;
        }
        assert_eq!(written, PAGE_COUNT, "{io_mode:?}");
        // Reads, checking each buffer against its tag.
        let mut seen = BTreeMap::new();
        for slot in (0..PAGE_COUNT).rev() {
            while queue.room() == 0 {
                let completion = queue.next_completion().unwrap();
                seen.insert(completion.tag, completion);
            }
            queue.push_read(&file, slot * 4096, page(&*file, 0), slot);
            queue.submit();
        }
        while let Some(completion) = queue.next_completion() {
            seen.insert(completion.tag, completion);
        }
        assert_eq!(seen.len() as u64, PAGE_COUNT);
        for (slot, completion) in seen {
            completion.result.unwrap();
            assert_eq!(
                &completion.buf[..],
                &pattern(&*file, 4096, slot * 4096, 6)[..],
                "{io_mode:?}"
            );
        }
        assert_eq!(queue.pending_count(), 0);
    });
}

#[test]
fn queue_errors_come_back_as_completions() {
    each_backend(|io_mode, file| {
        file.allocate(4096).unwrap();
        let mut queue: IoQueue<&str> = IoQueue::new(4);
        queue.push_read(&file, 1 << 30, page(&*file, 0), "past end");
        let misaligned = AlignedBuf::zeroed(4096 + 512, 4096);
        let mut buf = page(&*file, 0);
        buf.copy_from_slice(&misaligned[..4096]);
        queue.push_read(&file, 100, buf, "misaligned offset");
        queue.push_read(&file, 0, page(&*file, 0), "good");
        queue.submit();
        let mut outcomes = BTreeMap::new();
        while let Some(completion) = queue.next_completion() {
            outcomes.insert(completion.tag, completion.result);
        }
        assert!(
            matches!(outcomes["past end"], Err(Error::ShortRead { .. })),
            "{io_mode:?} {outcomes:?}"
        );
        assert!(
            matches!(outcomes["misaligned offset"], Err(Error::Misaligned { .. })),
            "{io_mode:?}"
        );
        assert!(outcomes["good"].is_ok(), "{io_mode:?}");
    });
}

#[test]
fn dropping_a_queue_waits_for_requests_in_flight() {
    each_backend(|io_mode, file| {
        file.allocate(16 * 4096).unwrap();
        {
            let mut queue: IoQueue<()> = IoQueue::new(16);
            for slot in 0..16u64 {
                queue.push_write(&file, slot * 4096, page(&*file, 0x77), false, ());
            }
            queue.submit();
            // Dropped here with requests in flight: the drop must wait for them.
        }
        for slot in 0..16u64 {
            let mut read = page(&*file, 0);
            file.read_at(&mut read, slot * 4096).unwrap();
            assert!(read.iter().all(|&byte| byte == 0x77), "{io_mode:?} slot {slot}");
        }
    });
}

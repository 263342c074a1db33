//! The log records of a commit (docs/FORMAT.md, "Commit records"): the commit timestamp and
//! every key the transaction wrote with its new value or its deletion. Redo replays them in log
//! order, so they carry whole values, never deltas.
//!
//! A commit takes one or more records, appended back to back inside the commit critical
//! section: every record but the last has tag [`TAG_PART`], the last [`TAG_COMMIT`]. A log
//! whose tail was cut in the middle of a commit's records holds only parts, which recovery drops.
//! A value larger than a record is split into fragments, each naming its offset in the value.
//!
//! ```text
//! record payload:
//! OFFSET SIZE FIELD
//!      0    8 commit_ts       the commit's timestamp (the same in all its records)
//!      8    4 fragment_count  fragments that follow
//!     12    - fragments
//!
//! fragment:
//! OFFSET SIZE FIELD
//!      0    2 key_bytes       1..=KEY_BYTES_MAX
//!      2    1 kind            1 put, 2 delete
//!      3    4 value_bytes     the whole value's length (0 for a delete)
//!      7    4 chunk_offset    where this fragment's bytes go in the value
//!     11    4 chunk_bytes     bytes of value in this fragment
//!     15    - key, then the chunk
//! ```

use std::collections::BTreeMap;

use crate::limits::{KEY_BYTES_MAX, VALUE_BYTES_MAX};

/// Tag of a commit's last record.
pub(crate) const TAG_COMMIT: u8 = 1;
/// Tag of a commit's records before its last.
pub(crate) const TAG_PART: u8 = 2;
/// Most payload bytes one record carries: below the log's record limit (1 MiB), so one record
/// never needs a segment to itself.
pub(crate) const RECORD_PAYLOAD_BYTES_TARGET: usize = 256 << 10;

const PAYLOAD_HEADER_BYTES: usize = 12;
const FRAGMENT_HEADER_BYTES: usize = 15;
const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;

const _: () = assert!(
    RECORD_PAYLOAD_BYTES_TARGET + KEY_BYTES_MAX + FRAGMENT_HEADER_BYTES
        < wal::limits::RECORD_PAYLOAD_BYTES_MAX
);

/// One write of a commit.
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// The payloads of the records of one commit, in order (the last gets [`TAG_COMMIT`]).
pub(crate) fn encode(commit_ts: u64, writes: &[Write]) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let mut current = new_payload(commit_ts);
    let mut fragment_count = 0u32;
    for (key, value) in writes {
        assert!(!key.is_empty() && key.len() <= KEY_BYTES_MAX, "a {}-byte key", key.len());
        let value_bytes = value.as_ref().map_or(0, Vec::len);
        assert!(value_bytes <= VALUE_BYTES_MAX);
        let mut chunk_offset = 0;
        loop {
            let room = RECORD_PAYLOAD_BYTES_TARGET
                .saturating_sub(current.len() + FRAGMENT_HEADER_BYTES + key.len());
            if room == 0 && fragment_count > 0 {
                finish(&mut current, fragment_count);
                payloads.push(std::mem::replace(&mut current, new_payload(commit_ts)));
                fragment_count = 0;
                continue;
            }
            let chunk_bytes = (value_bytes - chunk_offset).min(room.max(1));
            let chunk_bytes = if value_bytes == 0 { 0 } else { chunk_bytes };
            current.extend_from_slice(&u16::try_from(key.len()).expect("checked").to_le_bytes());
            current.push(if value.is_some() { KIND_PUT } else { KIND_DELETE });
            for field in [value_bytes, chunk_offset, chunk_bytes] {
                current.extend_from_slice(
                    &u32::try_from(field).expect("below VALUE_BYTES_MAX").to_le_bytes(),
                );
            }
            current.extend_from_slice(key);
            if let Some(value) = value {
                current.extend_from_slice(&value[chunk_offset..chunk_offset + chunk_bytes]);
            }
            fragment_count += 1;
            chunk_offset += chunk_bytes;
            if chunk_offset >= value_bytes {
                break;
            }
        }
    }
    finish(&mut current, fragment_count);
    payloads.push(current);
    payloads
}

fn new_payload(commit_ts: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PAYLOAD_HEADER_BYTES);
    payload.extend_from_slice(&commit_ts.to_le_bytes());
    payload.extend_from_slice(&0u32.to_le_bytes());
    payload
}

fn finish(payload: &mut [u8], fragment_count: u32) {
    payload[8..12].copy_from_slice(&fragment_count.to_le_bytes());
}

/// Reassembles commits from records read back in log order.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    commit_ts: Option<u64>,
    /// Values being assembled: key → (kind put?, whole length, bytes so far).
    writes: BTreeMap<Vec<u8>, (bool, Vec<u8>, usize)>,
}

/// A whole commit read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) commit_ts: u64,
    pub(crate) writes: Vec<Write>,
}

impl Decoder {
    /// Feeds one record. Returns the commit when `tag` is [`TAG_COMMIT`]. Never panics; the
    /// error says what is wrong with the payload.
    pub(crate) fn feed(&mut self, tag: u8, payload: &[u8]) -> Result<Option<Commit>, String> {
        if tag != TAG_COMMIT && tag != TAG_PART {
            return Err(format!("unknown record tag {tag}"));
        }
        let commit_ts = read_u64(payload, 0).ok_or("a record shorter than its header")?;
        if self.commit_ts.is_some_and(|ts| ts != commit_ts) {
            return Err(format!(
                "a part of commit {commit_ts} inside commit {}",
                self.commit_ts.unwrap_or(0)
            ));
        }
        self.commit_ts = Some(commit_ts);
        let fragment_count = read_u32(payload, 8).ok_or("a record shorter than its header")?;
        let mut offset = PAYLOAD_HEADER_BYTES;
        for index in 0..fragment_count {
            offset = self
                .fragment(payload, offset)
                .map_err(|reason| format!("fragment {index}: {reason}"))?;
        }
        if offset != payload.len() {
            return Err(format!("{} bytes after the last fragment", payload.len() - offset));
        }
        if tag == TAG_PART {
            return Ok(None);
        }
        let writes = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|(key, (put, value, filled))| {
                if filled != value.len() {
                    return Err(format!("a value of {} bytes has {filled} bytes", value.len()));
                }
                Ok((key, put.then_some(value)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.commit_ts = None;
        Ok(Some(Commit { commit_ts, writes }))
    }

    fn fragment(&mut self, payload: &[u8], offset: usize) -> Result<usize, String> {
        let truncated = || "truncated".to_string();
        let key_bytes = usize::from(read_u16(payload, offset).ok_or_else(truncated)?);
        let kind = *payload.get(offset + 2).ok_or_else(truncated)?;
        let value_bytes = read_u32(payload, offset + 3).ok_or_else(truncated)? as usize;
        let chunk_offset = read_u32(payload, offset + 7).ok_or_else(truncated)? as usize;
        let chunk_bytes = read_u32(payload, offset + 11).ok_or_else(truncated)? as usize;
        if key_bytes == 0 || key_bytes > KEY_BYTES_MAX {
            return Err(format!("a {key_bytes}-byte key"));
        }
        if value_bytes > VALUE_BYTES_MAX
            || chunk_offset.checked_add(chunk_bytes).is_none_or(|end| end > value_bytes)
        {
            return Err(format!(
                "chunk {chunk_offset}+{chunk_bytes} of a {value_bytes}-byte value"
            ));
        }
        let put = match kind {
            KIND_PUT => true,
            KIND_DELETE if value_bytes == 0 => false,
            _ => return Err(format!("kind {kind} with {value_bytes} value bytes")),
        };
        let key_start = offset + FRAGMENT_HEADER_BYTES;
        let chunk_start = key_start + key_bytes;
        let end = chunk_start + chunk_bytes;
        let key = payload.get(key_start..chunk_start).ok_or_else(truncated)?;
        let chunk = payload.get(chunk_start..end).ok_or_else(truncated)?;
        let entry =
            self.writes.entry(key.to_vec()).or_insert_with(|| (put, vec![0; value_bytes], 0));
        if entry.0 != put || entry.1.len() != value_bytes || entry.2 != chunk_offset {
            return Err("a fragment that does not continue its value".into());
        }
        entry.1[chunk_offset..chunk_offset + chunk_bytes].copy_from_slice(chunk);
        entry.2 += chunk_bytes;
        Ok(end)
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(offset..offset + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(offset..offset + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(offset..offset + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(commit_ts: u64, writes: &[Write]) -> Commit {
        let payloads = encode(commit_ts, writes);
        let mut decoder = Decoder::default();
        let last = payloads.len() - 1;
        let mut commit = None;
        for (index, payload) in payloads.iter().enumerate() {
            assert!(
                payload.len()
                    <= RECORD_PAYLOAD_BYTES_TARGET + KEY_BYTES_MAX + FRAGMENT_HEADER_BYTES
            );
            let tag = if index == last { TAG_COMMIT } else { TAG_PART };
            commit = decoder.feed(tag, payload).unwrap();
            assert_eq!(commit.is_some(), index == last);
        }
        commit.unwrap()
    }

    #[test]
    fn large_values_span_records_and_come_back_whole() {
        let big: Vec<u8> = (0..3_000_000u32).map(|index| (index % 251) as u8).collect();
        let writes = vec![
            (b"a".to_vec(), Some(b"small".to_vec())),
            (b"b".to_vec(), Some(big)),
            (b"c".to_vec(), None),
            (b"d".to_vec(), Some(Vec::new())),
        ];
        assert!(encode(9, &writes).len() > 10);
        assert_eq!(round_trip(9, &writes), Commit { commit_ts: 9, writes });
    }

    #[test]
    fn a_hand_built_record_matches_the_layout() {
        let mut payload = Vec::new();
        payload.extend_from_slice(&7u64.to_le_bytes());
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&2u16.to_le_bytes());
        payload.push(1);
        for field in [3u32, 0, 3] {
            payload.extend_from_slice(&field.to_le_bytes());
        }
        payload.extend_from_slice(b"kvval");
        assert_eq!(encode(7, &[(b"kv".to_vec(), Some(b"val".to_vec()))]), vec![payload.clone()]);
        let commit = Decoder::default().feed(TAG_COMMIT, &payload).unwrap().unwrap();
        assert_eq!(commit.writes, vec![(b"kv".to_vec(), Some(b"val".to_vec()))]);
    }

    proptest! {
        #[test]
        fn any_bytes_are_an_error_or_a_commit_never_a_panic(
            tag in 1u8..3,
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = Decoder::default().feed(tag, &bytes);
        }

        #[test]
        fn the_fuzz_entry_point_holds_on_arbitrary_and_encoded_records(
            garbage in proptest::collection::vec((1u8..3, proptest::collection::vec(any::<u8>(), 0..80)), 0..6),
            commit_ts in any::<u64>(),
        ) {
            crate::fuzzing::commit_records(&garbage);
            let encoded = encode(commit_ts, &[(b"k".to_vec(), Some(vec![1; 10])), (b"z".to_vec(), None)]);
            crate::fuzzing::commit_records(&[(TAG_COMMIT, encoded[0].clone())]);
        }

        #[test]
        fn writes_round_trip(
            writes in proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 1..40),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3000)),
                0..20,
            )
        ) {
            let writes: Vec<Write> = writes.into_iter().collect();
            prop_assert_eq!(round_trip(3, &writes).writes, writes);
        }
    }
}

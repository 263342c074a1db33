//! Log records claiming to be commit records: `engine::fuzzing::targets::commit_records`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| engine::fuzzing::targets::commit_records(data));

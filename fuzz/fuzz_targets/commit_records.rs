//! Log records claiming to be commit records: `engine::fuzzing::commit_records`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|records: Vec<(u8, Vec<u8>)>| {
    engine::fuzzing::commit_records(&records);
});

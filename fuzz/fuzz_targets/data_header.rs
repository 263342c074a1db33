//! The data file's two header slots from arbitrary bytes: `engine::fuzzing::data_header`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Vec<u8>)| {
    let (split, bytes) = input;
    engine::fuzzing::data_header(&bytes, usize::from(split));
});

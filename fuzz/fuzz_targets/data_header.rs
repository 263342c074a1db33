//! The data file's two header slots from arbitrary bytes:
//! `engine::fuzzing::targets::data_header`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| engine::fuzzing::targets::data_header(data));

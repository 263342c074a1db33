//! Helpers shared by the CLI tests: run the built binary, read fields of its JSON report.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::process::{Command, Output};

use serde_json::Value;

/// Runs the built `directdb` binary with `arguments`.
pub(crate) fn directdb(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_directdb"))
        .args(arguments)
        .output()
        .expect("the directdb binary runs")
}

/// `value[key]`, failing with the key's name and the whole object when it is absent.
pub(crate) fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or_else(|| panic!("no key {key:?} in {value:#}"))
}

/// `value[key]` as a count.
pub(crate) fn count(value: &Value, key: &str) -> u64 {
    field(value, key).as_u64().unwrap_or_else(|| panic!("{key} is not a count in {value:#}"))
}

/// `value[key]` as a count above zero.
pub(crate) fn positive_count(value: &Value, key: &str) -> u64 {
    let count = count(value, key);
    assert!(count > 0, "{key} is 0 in {value:#}");
    count
}

/// `value[key]` as a number.
pub(crate) fn number(value: &Value, key: &str) -> f64 {
    field(value, key).as_f64().unwrap_or_else(|| panic!("{key} is not a number in {value:#}"))
}

/// `value[key]` as a number above zero.
pub(crate) fn positive_number(value: &Value, key: &str) -> f64 {
    let number = number(value, key);
    assert!(number > 0.0, "{key} is not positive in {value:#}");
    number
}

/// `value[key]` as an array.
pub(crate) fn array<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    field(value, key).as_array().unwrap_or_else(|| panic!("{key} is not an array in {value:#}"))
}

//! The `directdb` command line: `probe`, `bench`, `crashtest`, `check`.

fn main() {}

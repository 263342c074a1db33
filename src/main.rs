//! The `directdb` command line: `probe`, `bench`, `crashtest`, `check`.

mod bench;
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

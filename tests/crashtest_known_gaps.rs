//! Faults outside the crash model that the engine does not detect yet, each found by the
//! harness and kept here as a named reproducer. They are ignored so the suite stays green; run
//! them with `cargo test -p directdb --test crashtest_known_gaps -- --ignored` (each fails until
//! its gap is closed, then the `#[ignore]` goes).

use directdb::crashtest::{self, Config, Mode};

fn sim_seed(seed: u64) -> crashtest::ModeReport {
    crashtest::run(Mode::Sim, &Config { seed, iterations: Some(1), ..Config::default() })
}

/// Seed 474 (and 2099, the same gap): a write of a B+tree overflow page (page 4 of the data file) is misdirected to
/// another offset. The page's old image stays where the write should have gone: an earlier
/// value's overflow page, with a valid checksum and the right page id. The checkpoint makes the
/// tree point at it, and after recovery the key's value has the right first 4048 bytes and a
/// stale tail — served without an error. Pages carry no proof of which write they hold (no
/// checksum or generation of the child in its parent, as ZFS and btrfs keep), so a lost or
/// misdirected write of a page is invisible when the old image is a valid page.
#[test]
#[ignore = "engine gap: a lost or misdirected page write leaves a stale page that reads as valid"]
fn a_misdirected_page_write_leaves_a_stale_page_that_reads_as_valid() {
    let report = sim_seed(474);
    assert!(report.passed(), "{report}");
}

/// Seed 1429: a bit flipped at rest in the last batch of the log. Nothing written after that
/// batch vouches for it (docs/DURABILITY.md, "The blind spot"), so recovery reads the damaged
/// record as a torn tail, cuts the log there and loses the acknowledged commit in it without an
/// error.
#[test]
#[ignore = "engine gap: damage to the last log batch reads as a torn tail (docs/DURABILITY.md)"]
fn a_bit_flip_in_the_last_log_batch_loses_an_acknowledged_commit_silently() {
    let report = sim_seed(1429);
    assert!(report.passed(), "{report}");
}

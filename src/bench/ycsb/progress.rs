//! Progress on stderr while a phase runs: a step line, and a bar (indicatif) when stderr is a
//! terminal. Both are off for `--json` on stdout, whose reader wants one object and nothing
//! else on the terminal.

use std::io::Write as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bar redraws per second: enough to look alive, too few to cost anything.
const REDRAWS_PER_SECOND: u8 = 4;

/// Where progress goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    enabled: bool,
}

impl Progress {
    /// Progress on stderr when `enabled`; nothing otherwise.
    pub(crate) fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// Silent.
    #[cfg(test)]
    pub(crate) fn off() -> Progress {
        Progress { enabled: false }
    }

    /// Whether progress is shown (a child process shows it the same way).
    pub(crate) fn is_enabled(self) -> bool {
        self.enabled
    }

    /// A line on stderr saying what runs next.
    pub(crate) fn step(&self, message: &str) {
        if self.enabled {
            // Progress is a courtesy: a closed stderr must not stop the benchmark.
            let _ = writeln!(std::io::stderr(), "running {message}");
        }
    }

    /// A line on stderr saying that `target` failed and the run goes on without it.
    pub(crate) fn failed(&self, target: &str, error: &str) {
        if self.enabled {
            let _ =
                writeln!(std::io::stderr(), "{target} failed, going on with the others: {error}");
        }
    }

    /// A bar from 0 to `length` (operations, records, or milliseconds of a timed run), drawn
    /// only when enabled and stderr is a terminal.
    pub(crate) fn bar(&self, length: u64, unit: &str) -> Bar {
        if !self.enabled {
            return Bar(None);
        }
        let target = ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND);
        let bar = ProgressBar::with_draw_target(Some(length), target);
        if let Ok(style) = ProgressStyle::with_template(&bar_template(unit)) {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(Some(bar))
    }
}

/// The bar's line: how far, of what, how long so far, and how long the rest takes at the rate
/// so far. The estimate is what says early that a phase will not finish in a sensible time: an
/// LMDB load that thrashed its memory limit crawled at a few hundred records a second for many
/// minutes, and the bar said only how long it had run.
fn bar_template(unit: &str) -> String {
    format!("  [{{bar:40}}] {{percent:>3}}% of {{human_len}} {unit}, {{elapsed}}, {{eta}} left")
}

/// A bar, or nothing.
#[derive(Debug)]
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    /// Moves the bar to `position`.
    pub(crate) fn set(&self, position: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(position);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// indicatif takes the template (a bad one would silently leave the default style).
    #[test]
    fn the_bar_template_parses() {
        ProgressStyle::with_template(&bar_template("records")).unwrap();
    }
}

//! Colours and verbosity shared by the human reporters.

use crate::events::Outcome;
use console::Style;

/// `-q`, default, `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

impl Verbosity {
    pub fn from_flags(verbose: u8, quiet: bool) -> Self {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            _ => Verbosity::Verbose,
        }
    }
}

/// Styles that collapse to plain text when colour is off.
#[derive(Debug, Clone)]
pub struct Palette {
    pub ok: Style,
    pub fail: Style,
    pub warn: Style,
    pub dim: Style,
    pub bold: Style,
}

impl Palette {
    pub fn new(color: bool) -> Self {
        let s = |st: Style| st.force_styling(color);
        Self {
            ok: s(Style::new().green()),
            fail: s(Style::new().red().bold()),
            warn: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
        }
    }

    pub fn outcome(&self, o: Outcome) -> String {
        let st = match o {
            Outcome::Ok | Outcome::Cached | Outcome::Reused => &self.ok,
            Outcome::Skipped => &self.dim,
            Outcome::Flaky => &self.warn,
            Outcome::Failed | Outcome::Cancelled => &self.fail,
        };
        st.apply_to(o.as_str()).to_string()
    }
}

/// `1234` ms → `1.23s`; under a second `87ms`.
pub fn secs(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.2}s", ms as f64 / 1000.0)
    }
}

/// Time left on a countdown, to the second: `2m13s`, `45s`, `1h02m`.
pub fn left(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A wait's count and time left: `0/1 ready, 2m13s left`.
pub fn wait_counts(ready: u32, want: u32, left_ms: u64) -> String {
    format!("{ready}/{want} ready, {} left", left(left_ms))
}

/// The totals line of `run`.
pub fn scenario_totals(
    total: usize,
    passed: usize,
    failed: usize,
    flaky: usize,
    skipped: usize,
) -> String {
    format!("{total} scenarios: {passed} passed, {failed} failed, {flaky} flaky, {skipped} not run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_like_a_clock() {
        assert_eq!(left(0), "0s");
        assert_eq!(left(45_900), "45s");
        assert_eq!(left(133_000), "2m13s");
        assert_eq!(left(3_720_000), "1h02m");
        assert_eq!(wait_counts(0, 1, 133_000), "0/1 ready, 2m13s left");
    }
}

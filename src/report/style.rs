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

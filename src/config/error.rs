//! Config errors that name the file, the line and column, and what was expected.

use super::locate::Location;
use std::fmt;
use std::path::PathBuf;

/// Everything wrong with one config file; never empty.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

/// One thing wrong, at one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `None` when the file itself cannot be read.
    pub location: Option<Location>,
    pub message: String,
    pub expected: Option<String>,
    pub hint: Option<String>,
    /// The text of the offending line, for the caret display.
    pub source_line: Option<String>,
}

impl Problem {
    pub fn new(location: Option<Location>, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            expected: None,
            hint: None,
            source_line: None,
        }
    }
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    pub fn hint(mut self, h: Option<String>) -> Self {
        self.hint = h;
        self
    }
}

impl ConfigError {
    pub fn single(file: impl Into<PathBuf>, problem: Problem) -> Self {
        Self {
            file: file.into(),
            problems: vec![problem],
        }
    }

    /// Fill in the source lines of every located problem from the file's text.
    pub(crate) fn with_source(mut self, text: &str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        for p in &mut self.problems {
            if let Some(loc) = p.location {
                p.source_line = lines.get(loc.line.wrapping_sub(1)).map(|l| (*l).to_owned());
            }
        }
        self
    }

    /// The first line of each problem: `file:line:col: message` — what tests and CI logs match on.
    pub fn headlines(&self) -> Vec<String> {
        self.problems.iter().map(|p| self.headline(p)).collect()
    }

    fn headline(&self, p: &Problem) -> String {
        match p.location {
            Some(l) => format!(
                "{}:{}:{}: {}",
                self.file.display(),
                l.line,
                l.column,
                p.message
            ),
            None => format!("{}: {}", self.file.display(), p.message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.headline(p))?;
            if let (Some(loc), Some(src)) = (p.location, &p.source_line) {
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                let caret_pad: String = src
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n{pad} |\n{num} | {src}\n{pad} | {caret_pad}^")?;
            }
            if let Some(e) = &p.expected {
                write!(f, "\n  expected: {e}")?;
            }
            if let Some(h) = &p.hint {
                write!(f, "\n  hint: {h}")?;
            }
        }
        Ok(())
    }
}

/// `did you mean `x`?` for a close misspelling among `candidates`.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

//! What one check reports: pass/warn/fail, a summary, the evidence it saw, the fix commands.

use serde::Serialize;
use std::time::Duration;

/// How a check came out; ordered so that the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The result of one named check. Field names are the stable JSON of `doctor --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// What was seen: command output, file contents, numbers.
    pub evidence: Vec<String>,
    /// Commands that fix what failed or warned, in order.
    pub fix: Vec<String>,
    pub elapsed_ms: u64,
}

impl CheckResult {
    /// The check did not finish within its time limit.
    pub fn hung(id: &'static str, limit: Duration) -> Self {
        Self {
            id,
            status: Status::Fail,
            summary: format!(
                "the check hung: no answer within {} (a command or the engine did not respond)",
                humantime::format_duration(limit)
            ),
            evidence: Vec::new(),
            fix: Vec::new(),
            elapsed_ms: limit.as_millis() as u64,
        }
    }
}

/// Collects what a check finds; the worst finding decides the status and the summary.
#[derive(Debug)]
pub struct Findings {
    id: &'static str,
    problems: Vec<(Status, String)>,
    evidence: Vec<String>,
    fix: Vec<String>,
}

impl Findings {
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            problems: Vec::new(),
            evidence: Vec::new(),
            fix: Vec::new(),
        }
    }

    pub fn see(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    pub fn warn<S: Into<String>>(
        &mut self,
        what: impl Into<String>,
        fix: impl IntoIterator<Item = S>,
    ) {
        self.problem(Status::Warn, what.into(), fix);
    }

    pub fn fail<S: Into<String>>(
        &mut self,
        what: impl Into<String>,
        fix: impl IntoIterator<Item = S>,
    ) {
        self.problem(Status::Fail, what.into(), fix);
    }

    fn problem<S: Into<String>>(
        &mut self,
        status: Status,
        what: String,
        fix: impl IntoIterator<Item = S>,
    ) {
        self.problems.push((status, what));
        for f in fix {
            let f = f.into();
            if !self.fix.contains(&f) {
                self.fix.push(f);
            }
        }
    }

    pub fn status(&self) -> Status {
        self.problems
            .iter()
            .map(|(s, _)| *s)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// The result; `ok` is the summary when nothing is wrong. Otherwise the summary lists
    /// the failures first, then the warnings.
    pub fn finish(self, ok: impl Into<String>) -> CheckResult {
        let status = self.status();
        let summary = if self.problems.is_empty() {
            ok.into()
        } else {
            let mut ps = self.problems;
            ps.sort_by_key(|p| std::cmp::Reverse(p.0));
            ps.into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .join("; ")
        };
        CheckResult {
            id: self.id,
            status,
            summary,
            evidence: self.evidence,
            fix: self.fix,
            elapsed_ms: 0,
        }
    }
}

pub use crate::sizes::bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_finding_decides() {
        let mut f = Findings::new("x");
        f.see("seen");
        assert_eq!(f.status(), Status::Pass);
        f.warn("a warning", ["fix a", "fix b"]);
        f.fail("a failure", ["fix b", "fix c"]);
        let r = f.finish("fine");
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.summary, "a failure; a warning");
        assert_eq!(r.fix, ["fix a", "fix b", "fix c"]);
        assert_eq!(Findings::new("y").finish("fine").summary, "fine");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn hung_check_says_so() {
        let r = CheckResult::hung("podman-machine", Duration::from_secs(2));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("hung: no answer within 2s"),
            "{}",
            r.summary
        );
    }
}

//! What a scenario run produced: per-step and per-scenario results for the reports.

use crate::events::Outcome;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StepResult {
    pub index: usize,
    pub title: String,
    pub cleanup: bool,
    pub outcome: Outcome,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// Start of the step, ms since the scenario started (for the timeline).
    pub started_ms: u64,
    /// Why it failed, with every mismatch.
    pub message: Option<String>,
    /// What the step saw when it failed (response, output).
    pub observed: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// Line of each step in `file`, by step index (cleanup steps continue the count).
    pub step_lines: Vec<usize>,
    pub tags: Vec<String>,
    /// Ok, Failed, Flaky (passed on a retry) or Skipped (not run after --fail-fast).
    pub outcome: Outcome,
    /// Runs made (1 + retries used).
    pub runs: u32,
    pub elapsed_ms: u64,
    /// Steps of the last run.
    pub steps: Vec<StepResult>,
    /// Where its failure bundle was written.
    pub artifacts: Option<PathBuf>,
    /// The namespace its cluster steps ran in (last run).
    pub namespace: Option<String>,
    /// Pods, workloads, events and logs of that namespace when the last run failed.
    pub namespace_report: Option<crate::k8s::namespace_report::NamespaceReport>,
}

impl ScenarioResult {
    /// The first failing step of the last run (the JUnit failure message).
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.outcome == Outcome::Failed)
    }

    /// `file:line` of a step, when the step came from the file (not a set-up failure).
    pub fn step_location(&self, step: &StepResult) -> Option<String> {
        self.step_lines
            .get(step.index)
            .filter(|_| step.title != "set-up" && step.title != "scenario timeout")
            .map(|l| format!("{}:{l}", self.file.display()))
    }
}

/// Totals for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub flaky: usize,
    pub skipped: usize,
}

pub fn totals(results: &[ScenarioResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        match r.outcome {
            Outcome::Failed | Outcome::Cancelled => t.failed += 1,
            Outcome::Flaky => t.flaky += 1,
            Outcome::Skipped => t.skipped += 1,
            Outcome::Ok | Outcome::Cached | Outcome::Reused => t.passed += 1,
        }
    }
    t
}

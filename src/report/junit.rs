//! JUnit XML of a scenario run: one testcase per scenario, steps in system-out, the first
//! failing step (with its mismatches) as the failure message; flaky passes keep their
//! failed runs as `flakyFailure`.

use crate::events::Outcome;
use crate::scenario::results::ScenarioResult;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
use std::time::Duration;

pub fn render_junit(
    environment: &str,
    results: &[ScenarioResult],
    elapsed: Duration,
) -> anyhow::Result<String> {
    let mut suite = TestSuite::new(format!("kubetest {environment}"));
    suite.set_time(elapsed);
    for r in results {
        let status = match r.outcome {
            Outcome::Ok | Outcome::Cached | Outcome::Reused => TestCaseStatus::success(),
            Outcome::Flaky => {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun.set_message(format!("passed on run {} after failing", r.runs));
                TestCaseStatus::Success {
                    flaky_runs: vec![rerun],
                }
            }
            Outcome::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message("not run (--fail-fast stopped the run)");
                s
            }
            Outcome::Failed | Outcome::Cancelled => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let Some(step) = r.first_failure() {
                    s.set_message(format!(
                        "{}: {}",
                        step.title,
                        step.message
                            .as_deref()
                            .unwrap_or("failed")
                            .lines()
                            .next()
                            .unwrap_or("")
                    ));
                    let mut description = step.message.clone().unwrap_or_default();
                    if let Some(o) = &step.observed {
                        description.push_str(&format!("\n\nobserved:\n{o}"));
                    }
                    s.set_description(description);
                } else {
                    s.set_message("failed");
                }
                s.set_type("scenario failure");
                s
            }
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(r.file.display().to_string());
        case.set_time(Duration::from_millis(r.elapsed_ms));
        case.set_system_out(steps_text(r));
        suite.add_test_case(case);
    }
    let mut report = Report::new("kubetest");
    report.set_time(elapsed);
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

/// One line per step of the last run: outcome, time, attempts, title.
pub fn steps_text(r: &ScenarioResult) -> String {
    let mut out = String::new();
    for s in &r.steps {
        let tries = if s.attempts > 1 {
            format!(" ({} attempts)", s.attempts)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "[{:>7}ms +{:>6}ms] {:<6} {}{tries}\n",
            s.started_ms,
            s.elapsed_ms,
            s.outcome.as_str(),
            s.title
        ));
        if let Some(m) = &s.message {
            for l in m.lines() {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
    out
}

//! The end-of-command summary table: each phase, its outcome, its wall time.

use super::style::{secs, Palette};
use crate::events::{Outcome, PhaseSummary};

pub fn render_summary(
    command: &str,
    outcome: Outcome,
    elapsed_ms: u64,
    phases: &[PhaseSummary],
    p: &Palette,
) -> String {
    let mut out = format!(
        "{}\n",
        p.bold.apply_to(format!("summary of `kubetest {command}`"))
    );
    for s in phases {
        out.push_str(&format!(
            "  {:<10} {:<10} {:>9}\n",
            s.phase.as_str(),
            pad(&p.outcome(s.outcome), s.outcome.as_str(), 10),
            secs(s.elapsed_ms)
        ));
    }
    out.push_str(&format!(
        "  {:<10} {:<10} {:>9}",
        "total",
        pad(&p.outcome(outcome), outcome.as_str(), 10),
        secs(elapsed_ms)
    ));
    out
}

/// Left-align a styled string by its visible width.
fn pad(styled: &str, plain: &str, width: usize) -> String {
    format!("{styled}{}", " ".repeat(width.saturating_sub(plain.len())))
}

/// A command stopped by its own arguments or files (exit 2) before any phase ran: the error
/// says everything, a table of no phases would only add "total failed 0ms".
pub fn is_usage_error(exit_code: i32, phases: &[PhaseSummary]) -> bool {
    exit_code == crate::exit::CONFIG && phases.is_empty()
}

/// How the config file was chosen, in words (`config_found.source`).
pub fn source_text(source: &str) -> &'static str {
    match source {
        "--file" => "from --file",
        "KUBETEST_FILE" => "from KUBETEST_FILE",
        "search" => "found in this directory or a parent",
        _ => "no kubetest.yaml found here or in a parent directory",
    }
}

/// The line of a successful `validate`.
pub fn validated_text(
    config: &str,
    scenario_files: usize,
    scenarios: usize,
    manifest_files: usize,
    objects: usize,
) -> String {
    format!(
        "valid: {config}, {scenarios} scenarios in {scenario_files} files, {objects} objects in {manifest_files} manifest files"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Outcome, Phase};

    #[test]
    fn usage_errors_have_no_summary_but_failed_phases_do() {
        assert!(is_usage_error(2, &[]));
        assert!(!is_usage_error(3, &[]));
        let ran = [PhaseSummary {
            phase: Phase::Build,
            outcome: Outcome::Failed,
            elapsed_ms: 5,
        }];
        assert!(!is_usage_error(2, &ran));
    }
}

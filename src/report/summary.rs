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

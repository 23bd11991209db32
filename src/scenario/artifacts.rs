//! The failure bundle of a scenario: `<artifacts>/<run>/<scenario>/` with the failing step
//! and its place in the file, what it saw, a timeline of the steps, the scenario's namespace
//! as it was at the failure, the application's namespaces and the dependency containers —
//! and `README.txt` saying what is where.

use super::results::ScenarioResult;
use crate::bundle::{self, Bundle};
use crate::plan::Plan;
use crate::state::State;
use std::path::{Path, PathBuf};

/// Write the bundle of a failed or flaky scenario; returns its directory.
pub async fn write_bundle(
    run_dir: &Path,
    r: &ScenarioResult,
    plan: &Plan,
    state: &State,
) -> anyhow::Result<PathBuf> {
    let dir = run_dir.join(bundle::writer::slug(&r.name));
    let mut b = Bundle::create(
        &dir,
        format!(
            "kubetest failure bundle: scenario `{}` ({}:{}) {} after {} run(s)",
            r.name,
            r.file.display(),
            r.line,
            r.outcome.as_str(),
            r.runs
        ),
    )?;
    let mut failure = format!(
        "scenario: {}\nfile: {}:{}\noutcome: {} after {} run(s)\n",
        r.name,
        r.file.display(),
        r.line,
        r.outcome.as_str(),
        r.runs
    );
    if let Some(step) = r.first_failure() {
        let at = r.step_location(step);
        failure.push_str(&format!(
            "\nfailing step: {}{} (attempts: {})\n\n{}\n",
            step.title,
            at.as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default(),
            step.attempts,
            step.message.as_deref().unwrap_or("")
        ));
        if let Some(o) = &step.observed {
            failure.push_str(&format!("\nobserved:\n{o}\n"));
        }
        b.glance(format!(
            "failing step: {}{}",
            step.title,
            at.map(|a| format!(" ({a})")).unwrap_or_default()
        ));
        if let Some(first) = step.message.as_deref().and_then(|m| m.lines().next()) {
            b.glance(format!("  {first}"));
        }
    }
    b.write(
        "failure.txt",
        "the failing step, its place in the scenario file, why it failed and what it saw",
        &failure,
    )?;
    b.write(
        "timeline.txt",
        "every step of the last run with its outcome and timing",
        &crate::report::steps_text(r),
    )?;
    let done: Vec<_> = r.namespace_report.iter().cloned().collect();
    let mut namespaces = bundle::deploy_namespaces(plan);
    if let Some(ns) = &r.namespace {
        namespaces.push(ns.clone());
    }
    bundle::add_environment(&mut b, plan, state, &namespaces, &done).await?;
    b.finish()
}

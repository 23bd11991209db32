//! The failure bundle of a scenario: `<artifacts>/<run>/<scenario>/` with the failing step,
//! what it saw, a timeline of the steps, and the pods of its namespace (`namespace.txt`).

use super::results::ScenarioResult;
use std::path::{Path, PathBuf};

/// Write the bundle of a failed or flaky scenario; returns its directory.
pub fn write_bundle(run_dir: &Path, r: &ScenarioResult) -> anyhow::Result<PathBuf> {
    let dir = run_dir.join(&r.name);
    crate::state::private::create_dir(&dir)?;
    let mut failure = format!(
        "scenario: {}\nfile: {}:{}\noutcome: {} after {} run(s)\n",
        r.name,
        r.file.display(),
        r.line,
        r.outcome.as_str(),
        r.runs
    );
    if let Some(step) = r.first_failure() {
        failure.push_str(&format!(
            "\nfailing step: {} (attempts: {})\n\n{}\n",
            step.title,
            step.attempts,
            step.message.as_deref().unwrap_or("")
        ));
        if let Some(o) = &step.observed {
            failure.push_str(&format!("\nobserved:\n{o}\n"));
        }
    }
    let write =
        |name: &str, text: &str| crate::state::private::write_artifact(&dir.join(name), text);
    write("failure.txt", &failure)?;
    write("timeline.txt", &crate::report::steps_text(r))?;
    if let Some(report) = &r.namespace_report {
        write("namespace.txt", report)?;
    }
    Ok(dir)
}

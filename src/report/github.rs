//! GitHub Actions annotations (`::error file=…,line=…::…`) for failed and flaky scenarios.

use crate::events::Outcome;
use crate::scenario::results::ScenarioResult;

/// Annotation lines; GitHub reads them from the job's output.
pub fn render_annotations(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for r in results {
        let (level, text) = match r.outcome {
            Outcome::Failed | Outcome::Cancelled => {
                let msg = r
                    .first_failure()
                    .map(|s| format!("{}: {}", s.title, s.message.as_deref().unwrap_or("failed")))
                    .unwrap_or_else(|| "failed".to_owned());
                ("error", msg)
            }
            Outcome::Flaky => (
                "warning",
                format!("flaky: passed on run {} after failing", r.runs),
            ),
            _ => continue,
        };
        out.push_str(&format!(
            "::{level} file={},line={},title={}::{}\n",
            escape_property(&r.file.display().to_string()),
            r.line,
            escape_property(&format!("scenario {}", r.name)),
            escape_data(&text)
        ));
    }
    out
}

/// Workflow-command escaping of the message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Property escaping adds `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

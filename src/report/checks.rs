//! How `doctor`'s check results look: a table for people, one JSON object for tools.

use super::style::Palette;
use crate::doctor::checks::{CheckResult, Status};
use serde::Serialize;

/// The `doctor --json` document. Field names are stable.
#[derive(Serialize)]
struct Document<'a> {
    checks: &'a [CheckResult],
    pass: usize,
    warn: usize,
    fail: usize,
}

fn count(results: &[CheckResult], s: Status) -> usize {
    results.iter().filter(|r| r.status == s).count()
}

/// `{"checks":[{"id","status","summary","evidence","fix","elapsed_ms"}…],"pass":n,"warn":n,"fail":n}`
pub fn render_checks_json(results: &[CheckResult]) -> String {
    let doc = Document {
        checks: results,
        pass: count(results, Status::Pass),
        warn: count(results, Status::Warn),
        fail: count(results, Status::Fail),
    };
    serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
}

/// One row per check (status, id, summary), its evidence and fix commands beneath it.
pub fn render_checks(results: &[CheckResult], p: &Palette) -> String {
    render(results, |_| true, p)
}

/// `doctor -q`: only the checks that warn or fail, then the same totals line.
pub fn render_problem_checks(results: &[CheckResult], p: &Palette) -> String {
    render(results, |r| r.status != Status::Pass, p)
}

fn render(results: &[CheckResult], show: impl Fn(&CheckResult) -> bool, p: &Palette) -> String {
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results.iter().filter(|r| show(r)) {
        let style = match r.status {
            Status::Pass => &p.ok,
            Status::Warn => &p.warn,
            Status::Fail => &p.fail,
        };
        out.push_str(&format!(
            "{}  {:<width$}  {}\n",
            style.apply_to(format!("{:<4}", r.status.as_str())),
            r.id,
            r.summary
        ));
        for e in &r.evidence {
            out.push_str(&format!("      {:<width$}  {}\n", "", p.dim.apply_to(e)));
        }
        for f in &r.fix {
            out.push_str(&format!(
                "      {:<width$}  {} {f}\n",
                "",
                p.bold.apply_to("fix:")
            ));
        }
    }
    let (pass, warn, fail) = (
        count(results, Status::Pass),
        count(results, Status::Warn),
        count(results, Status::Fail),
    );
    out.push_str(&format!(
        "{} checks: {pass} pass, {warn} warn, {fail} fail\n",
        results.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<CheckResult> {
        vec![
            CheckResult {
                id: "engine-endpoints",
                status: Status::Pass,
                summary: "using podman 4.3.1".into(),
                evidence: vec![
                    "CONTAINER_HOST unix:///run/podman/podman.sock: podman 4.3.1".into(),
                ],
                fix: vec![],
                elapsed_ms: 12,
            },
            CheckResult {
                id: "kind",
                status: Status::Fail,
                summary: "kind is not installed".into(),
                evidence: vec![],
                fix: vec!["go install sigs.k8s.io/kind@latest".into()],
                elapsed_ms: 3,
            },
        ]
    }

    #[test]
    fn table() {
        let text = render_checks(&results(), &Palette::new(false));
        assert_eq!(
            text,
            "pass  engine-endpoints  using podman 4.3.1\n\
             \x20                       CONTAINER_HOST unix:///run/podman/podman.sock: podman 4.3.1\n\
             fail  kind              kind is not installed\n\
             \x20                       fix: go install sigs.k8s.io/kind@latest\n\
             2 checks: 1 pass, 0 warn, 1 fail\n"
        );
    }

    #[test]
    fn json_document() {
        let v: serde_json::Value = serde_json::from_str(&render_checks_json(&results())).unwrap();
        assert_eq!(v["checks"][0]["id"], "engine-endpoints");
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(
            v["checks"][1]["fix"][0],
            "go install sigs.k8s.io/kind@latest"
        );
        assert_eq!((v["pass"].as_u64(), v["fail"].as_u64()), (Some(1), Some(1)));
        let keys: Vec<&str> = v["checks"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["elapsed_ms", "evidence", "fix", "id", "status", "summary"]
        );
    }
}

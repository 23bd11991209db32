//! Partial matching of an actual tree against an expected one: maps are subsets, lists
//! match order-insensitively as subsets, and every mismatch is reported with its path.

use serde_json::Value;
use std::fmt;

/// One difference between expected and actual.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `.status.conditions[type=Ready].status`-like path; `[i]` for list items.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(
            f,
            "{path}: expected {}, found {}",
            self.expected, self.actual
        )
    }
}

/// Every mismatch of `actual` against `expected`; empty when it holds.
pub fn mismatches(expected: &Value, actual: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(expected, actual, "", &mut out);
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        other => {
            let s = other.to_string();
            if s.len() > 120 {
                format!(
                    "{}…",
                    &s[..s.char_indices().nth(117).map_or(s.len(), |(i, _)| i)]
                )
            } else {
                s
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn walk(expected: &Value, actual: &Value, path: &str, out: &mut Vec<Mismatch>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => walk(ev, av, &p, out),
                    None => out.push(Mismatch {
                        path: p,
                        expected: show(ev),
                        actual: "nothing (key absent)".into(),
                    }),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => match_list(e, a, path, out),
        (Value::Number(e), Value::Number(a)) => {
            if e.as_f64() != a.as_f64() {
                out.push(Mismatch {
                    path: path.to_owned(),
                    expected: show(expected),
                    actual: show(actual),
                });
            }
        }
        (e, a) if std::mem::discriminant(e) == std::mem::discriminant(a) => {
            if e != a {
                out.push(Mismatch {
                    path: path.to_owned(),
                    expected: show(e),
                    actual: show(a),
                });
            }
        }
        (e, a) => out.push(Mismatch {
            path: path.to_owned(),
            expected: format!("{} ({})", show(e), kind(e)),
            actual: format!("{} ({})", show(a), kind(a)),
        }),
    }
}

/// Each expected item must match a different actual item, in any order. Items that match
/// nothing are reported against their closest candidate (fewest mismatches), so the report
/// says what differs instead of only "not found".
fn match_list(expected: &[Value], actual: &[Value], path: &str, out: &mut Vec<Mismatch>) {
    // cost[i][j] = mismatches of expected[i] against actual[j]
    let costs: Vec<Vec<Vec<Mismatch>>> = expected
        .iter()
        .map(|e| actual.iter().map(|a| mismatches(e, a)).collect())
        .collect();
    let mut used = vec![false; actual.len()];
    let mut assignment: Vec<Option<usize>> = vec![None; expected.len()];
    if !assign(0, &costs, &mut used, &mut assignment) {
        // No perfect assignment: keep the greedy best one for the report.
        assignment = vec![None; expected.len()];
        used = vec![false; actual.len()];
        for (i, row) in costs.iter().enumerate() {
            if let Some(j) = (0..actual.len())
                .filter(|j| !used[*j] && row[*j].is_empty())
                .min()
            {
                used[j] = true;
                assignment[i] = Some(j);
            }
        }
    }
    for (i, e) in expected.iter().enumerate() {
        if assignment[i].is_some() {
            continue;
        }
        let label = item_label(e, i);
        let closest = (0..actual.len())
            .filter(|j| !used[*j])
            .min_by_key(|j| costs[i][*j].len());
        match closest {
            Some(j) if matches!((e, &actual[j]), (Value::Object(_), Value::Object(_))) => {
                used[j] = true;
                for m in &costs[i][j] {
                    out.push(Mismatch {
                        path: format!("{path}{label}{}", m.path),
                        expected: m.expected.clone(),
                        actual: m.actual.clone(),
                    });
                }
            }
            _ => out.push(Mismatch {
                path: format!("{path}{label}"),
                expected: show(e),
                actual: if actual.is_empty() {
                    "an empty list".into()
                } else {
                    "no matching item".into()
                },
            }),
        }
    }
}

/// `[type=Ready]` for a map item with a `name`/`type` key (as Kubernetes lists use), else `[i]`.
fn item_label(e: &Value, i: usize) -> String {
    for key in ["name", "type"] {
        if let Some(Value::String(v)) = e.get(key) {
            return format!("[{key}={v}]");
        }
    }
    format!("[{i}]")
}

/// Backtracking search for an assignment where every expected item matches (lists are short).
fn assign(
    i: usize,
    costs: &[Vec<Vec<Mismatch>>],
    used: &mut [bool],
    out: &mut [Option<usize>],
) -> bool {
    if i == costs.len() {
        return true;
    }
    for j in 0..used.len() {
        if !used[j] && costs[i][j].is_empty() {
            used[j] = true;
            out[i] = Some(j);
            if assign(i + 1, costs, used, out) {
                return true;
            }
            used[j] = false;
            out[i] = None;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expected: Value, actual: Value) -> Vec<String> {
        mismatches(&expected, &actual)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn table() {
        let pod = json!({
            "metadata": {"name": "app", "labels": {"app": "demo", "tier": "web"}},
            "spec": {"containers": [{"name": "app", "image": "localhost/app:dev", "ports": [{"containerPort": 8080}]},
                                    {"name": "sidecar", "image": "localhost/side:1"}]},
            "status": {"phase": "Running", "restartCount": 0, "ready": true,
                       "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]}
        });
        let cases: Vec<(Value, Vec<&str>)> = vec![
            // maps are subsets
            (json!({"metadata": {"labels": {"app": "demo"}}}), vec![]),
            (json!({}), vec![]),
            (json!({"status": {"phase": "Running", "ready": true, "restartCount": 0}}), vec![]),
            // numbers compare by value
            (json!({"status": {"restartCount": 0.0}}), vec![]),
            // every mismatch, not only the first
            (
                json!({"status": {"phase": "Pending", "ready": false}, "metadata": {"labels": {"app": "other"}}}),
                vec![
                    ".metadata.labels.app: expected \"other\", found \"demo\"",
                    ".status.phase: expected \"Pending\", found \"Running\"",
                    ".status.ready: expected false, found true",
                ],
            ),
            // missing keys
            (json!({"metadata": {"annotations": {"x": "1"}}}), vec![".metadata.annotations: expected {\"x\":\"1\"}, found nothing (key absent)"]),
            // type mismatches say both types
            (json!({"status": {"phase": 1}}), vec![".status.phase: expected 1 (a number), found \"Running\" (a string)"]),
            (json!({"status": {"conditions": {"type": "Ready"}}}), vec![".status.conditions: expected {\"type\":\"Ready\"} (a map), found [{\"status\":\"True\",\"type\":\"Initialized\"},{\"status\":\"True\",\"type\":\"Ready\"}] (a list)"]),
            // lists: order-insensitive subsets
            (json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}), vec![]),
            (json!({"status": {"conditions": [{"type": "Ready"}, {"type": "Initialized"}]}}), vec![]),
            (json!({"spec": {"containers": [{"name": "sidecar"}, {"name": "app", "ports": [{"containerPort": 8080}]}]}}), vec![]),
            // a list item that differs is reported against its closest candidate, by its name/type
            (
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                vec![".status.conditions[type=Ready].status: expected \"False\", found \"True\""],
            ),
            (
                json!({"spec": {"containers": [{"name": "app", "image": "localhost/app:v2"}]}}),
                vec![".spec.containers[name=app].image: expected \"localhost/app:v2\", found \"localhost/app:dev\""],
            ),
            // nested lists
            (json!({"spec": {"containers": [{"ports": [{"containerPort": 9090}]}]}}), vec![".spec.containers[0].ports[0].containerPort: expected 9090, found 8080"]),
            // two expected items cannot both take the same actual item
            (json!({"status": {"conditions": [{"status": "True"}, {"status": "True"}, {"status": "True"}]}}), vec![".status.conditions[2]: expected {\"status\":\"True\"}, found no matching item"]),
            // scalars in lists
            (json!({"tags": ["a"]}), vec![".tags: expected [\"a\"], found nothing (key absent)"]),
            // null
            (json!({"status": {"phase": null}}), vec![".status.phase: expected null (null), found \"Running\" (a string)"]),
        ];
        for (i, (expected, want)) in cases.into_iter().enumerate() {
            assert_eq!(check(expected, pod.clone()), want, "case {i}");
        }
    }

    #[test]
    fn scalar_lists_and_roots() {
        assert!(check(json!(["b", "a"]), json!(["a", "b", "c"])).is_empty());
        assert_eq!(
            check(json!(["a", "z"]), json!(["a", "b"])),
            vec!["[1]: expected \"z\", found no matching item"]
        );
        assert_eq!(
            check(json!(["a"]), json!([])),
            vec!["[0]: expected \"a\", found an empty list"]
        );
        assert_eq!(
            check(json!("x"), json!("y")),
            vec!["(root): expected \"x\", found \"y\""]
        );
        assert_eq!(
            check(json!({"a": 1}), json!(null)),
            vec!["(root): expected {\"a\":1} (a map), found null (null)"]
        );
    }
}

//! `assert:` objects must partially match an expected tree (every mismatch reported), and
//! `error:` the opposite — no object may exist (or, with `expect`, match).

use super::objects::{as_yaml, capture_value, fetch, kind_api, label, tree, KindApi, Selection};
use super::{StepFailure, StepOutput};
use crate::scenario::cluster::Cluster;
use crate::scenario::matcher::mismatches;
use crate::scenario::model::AssertStep;
use crate::scenario::template::{render_value, Vars};
use serde_json::Value;

fn selection(step: &AssertStep, ns: &str, vars: &Vars) -> Result<Selection, StepFailure> {
    Selection::new(
        &step.api_version,
        &step.kind,
        &step.name,
        &step.selector,
        &step.namespace,
        ns,
        vars,
    )
}

/// An absent `expect` matches any object.
fn expected(step: &AssertStep, vars: &Vars) -> Result<Option<Value>, StepFailure> {
    match &step.expect {
        Value::Null => Ok(None),
        e => render_value(e, vars)
            .map(Some)
            .map_err(|e| StepFailure::new(e.to_string())),
    }
}

/// What `assert` and `error` both start from: the selection, the expected tree (templated)
/// and the objects the selection finds now.
struct Found {
    sel: Selection,
    want: Option<Value>,
    k: KindApi,
    found: Vec<kube::api::DynamicObject>,
}

async fn look_up(
    cluster: &Cluster,
    step: &AssertStep,
    namespace: &str,
    vars: &Vars,
) -> Result<Found, StepFailure> {
    let sel = selection(step, namespace, vars)?.in_run(cluster);
    let want = expected(step, vars)?;
    let k = kind_api(cluster, &sel).await?;
    let found = fetch(&k, &sel).await?;
    Ok(Found {
        sel,
        want,
        k,
        found,
    })
}

pub async fn run_assert(
    cluster: &Cluster,
    step: &AssertStep,
    namespace: &str,
    vars: &Vars,
) -> Result<StepOutput, StepFailure> {
    let Found {
        sel,
        want,
        k,
        found,
    } = look_up(cluster, step, namespace, vars).await?;
    let what = sel.describe(k.namespace.as_deref());
    if found.is_empty() {
        return Err(StepFailure::new(match &sel.name {
            Some(_) => format!("{what} does not exist"),
            None => format!("no {what}"),
        }));
    }
    let trees: Vec<Value> = found.iter().map(|o| tree(o, &k.resource)).collect();
    let mut details = Vec::new();
    let mut failing = Vec::new();
    if let Some(want) = &want {
        for (obj, t) in found.iter().zip(&trees) {
            let ms = mismatches(want, t);
            if ms.is_empty() {
                continue;
            }
            let who = label(obj, &k.resource);
            if found.len() == 1 {
                details.extend(ms.iter().map(ToString::to_string));
            } else {
                details.extend(ms.iter().map(|m| format!("{who}: {m}")));
            }
            failing.push((who, t.clone()));
        }
    }
    if !failing.is_empty() {
        let message = if found.len() == 1 {
            format!("{what}: {} mismatch(es)", details.len())
        } else {
            format!(
                "{} of {} {what} do not match: {}",
                failing.len(),
                found.len(),
                failing
                    .iter()
                    .map(|(w, _)| w.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let observed: Vec<Value> = failing.into_iter().map(|(_, t)| t).collect();
        return Err(StepFailure {
            message,
            details,
            observed: Some(as_yaml(&observed)),
        });
    }
    let summary = format!("{} object(s) match", trees.len());
    Ok(StepOutput {
        value: capture_value(&sel, trees),
        summary,
    })
}

pub async fn run_error(
    cluster: &Cluster,
    step: &AssertStep,
    namespace: &str,
    vars: &Vars,
) -> Result<StepOutput, StepFailure> {
    let Found { want, k, found, .. } = look_up(cluster, step, namespace, vars).await?;
    let offending: Vec<(String, Value)> = found
        .iter()
        .map(|o| (label(o, &k.resource), tree(o, &k.resource)))
        .filter(|(_, t)| want.as_ref().is_none_or(|w| mismatches(w, t).is_empty()))
        .collect();
    if offending.is_empty() {
        return Ok(StepOutput {
            value: Value::Null,
            summary: match want {
                Some(_) => format!("{} object(s), none matches", found.len()),
                None => "no such object".into(),
            },
        });
    }
    let names: Vec<&str> = offending.iter().map(|(n, _)| n.as_str()).collect();
    let message = match want {
        Some(_) => format!(
            "expected no object to match, but {} do: {}",
            names.len(),
            names.join(", ")
        ),
        None => format!(
            "expected no such object, but {} exist(s): {}",
            names.len(),
            names.join(", ")
        ),
    };
    let observed: Vec<Value> = offending.into_iter().map(|(_, t)| t).collect();
    Err(StepFailure {
        message,
        details: Vec::new(),
        observed: Some(as_yaml(&observed)),
    })
}

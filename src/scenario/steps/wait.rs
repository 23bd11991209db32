//! `wait:` by watching the objects until they are ready, deleted, have a condition `True`, or
//! a JSONPath reaches a value. Pods and named workloads reuse the readiness wait of `up`
//! (which fails at once on CrashLoopBackOff, image pull errors and the like).

use super::objects::{as_yaml, capture_value, kind_api, label, tree, KindApi, Selection};
use super::{StepFailure, StepOutput};
use crate::k8s::outage::{clock, watch_unreachable, with_causes, Connection};
use crate::k8s::ready::{judge, JudgeOptions};
use crate::k8s::wait::{wait_ready, Progress, Target, WaitRequest, WorkloadKind};
use crate::scenario::cluster::Cluster;
use crate::scenario::jsonpath;
use crate::scenario::matcher::mismatches;
use crate::scenario::model::WaitStep;
use crate::scenario::template::{render_value, Vars};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one look at the watched objects says.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Done,
    /// Not yet; what is missing, for the timeout message.
    Waiting(String),
    /// It will not happen without someone changing something.
    Failed(String),
}

/// Hears of API server outages during a step as they happen (the runner makes them warnings).
pub type ApiReport<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Watch the selection until `check` says done, fails, or `timeout` passes. Returns the
/// objects last seen. Lost connections are retried with backoff and reported to `report`.
pub async fn watch_until(
    k: &KindApi,
    sel: &Selection,
    timeout: Duration,
    what: &str,
    report: ApiReport<'_>,
    mut check: impl FnMut(&[&DynamicObject]) -> Check,
) -> Result<Vec<DynamicObject>, StepFailure> {
    let deadline = crate::deadline::tokio_after(timeout);
    let mut conn = Connection::default();
    let mut config = watcher::Config::default();
    if let Some(n) = &sel.name {
        config = config.fields(&format!("metadata.name={n}"));
    }
    if let Some(s) = &sel.selector {
        config = config.labels(s);
    }
    let mut stream = watcher::watcher(k.api.clone(), config)
        .default_backoff()
        .boxed();
    let mut objects: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut buffer: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut initialising = true;
    let mut status = "nothing seen yet".to_owned();
    let key = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = tokio::time::sleep_until(deadline) => {
                let trees: Vec<Value> = objects.values().map(|o| tree(o, &k.resource)).collect();
                let status = match conn.outage() {
                    Some(o) => format!("{}; what was last seen may be stale", o.describe()),
                    None => status,
                };
                return Err(StepFailure {
                    message: format!(
                        "{} not {what} after {}: {status}",
                        sel.describe(k.namespace.as_deref()),
                        humantime::format_duration(timeout)
                    ),
                    details: Vec::new(),
                    observed: (!trees.is_empty()).then(|| as_yaml(&trees)),
                });
            }
        };
        match item {
            None => return Err(StepFailure::new("the watch ended")),
            Some(Err(e)) => {
                if watch_unreachable(&e) && conn.lost(with_causes(&e)) {
                    let since = conn.outage().map(|o| clock(o.since)).unwrap_or_default();
                    report(format!(
                        "{}: API server unreachable since {since}, retrying ({})",
                        sel.describe(k.namespace.as_deref()),
                        with_causes(&e)
                    ));
                }
                status = format!("watch error (retrying): {e}");
                continue;
            }
            Some(Ok(ev)) => match resumed(ev, &mut conn, &|after| {
                report(format!(
                    "{}: API server answers again after {:.1} s; watching resumed",
                    sel.describe(k.namespace.as_deref()),
                    after.as_secs_f64()
                ))
            }) {
                Event::Init => {
                    initialising = true;
                    buffer.clear();
                    continue;
                }
                Event::InitApply(o) => {
                    buffer.insert(key(&o), o);
                    continue;
                }
                Event::InitDone => {
                    initialising = false;
                    objects = std::mem::take(&mut buffer);
                }
                Event::Apply(o) => {
                    objects.insert(key(&o), o);
                }
                Event::Delete(o) => {
                    objects.remove(&key(&o));
                }
            },
        }
        if initialising {
            continue;
        }
        let seen: Vec<&DynamicObject> = objects.values().collect();
        match check(&seen) {
            Check::Done => return Ok(objects.into_values().collect()),
            Check::Waiting(s) => status = s,
            Check::Failed(why) => {
                let trees: Vec<Value> = objects.values().map(|o| tree(o, &k.resource)).collect();
                return Err(StepFailure {
                    message: format!(
                        "{} will not be {what}: {why}",
                        sel.describe(k.namespace.as_deref())
                    ),
                    details: Vec::new(),
                    observed: Some(as_yaml(&trees)),
                });
            }
        }
    }
}

/// An answer from the API server: reports the end of an outage, if one was going on.
fn resumed<T>(ev: T, conn: &mut Connection, report: &dyn Fn(Duration)) -> T {
    if let Some(after) = conn.answered() {
        report(after);
    }
    ev
}

/// Every object passes `each` (and there is at least one).
fn all(
    objects: &[&DynamicObject],
    resource: &kube::discovery::ApiResource,
    each: impl Fn(&Value) -> Result<(), String>,
) -> Check {
    if objects.is_empty() {
        return Check::Waiting("no such object yet".into());
    }
    let mut waiting = Vec::new();
    for o in objects {
        if let Err(why) = each(&tree(o, resource)) {
            waiting.push(format!("{}: {why}", label(o, resource)));
        }
    }
    if waiting.is_empty() {
        Check::Done
    } else {
        Check::Waiting(waiting.join("; "))
    }
}

/// The status of condition `type` of an object, if it has one.
pub fn condition_status<'a>(obj: &'a Value, kind: &str) -> Option<&'a str> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?
        .get("status")?
        .as_str()
}

fn has_condition(obj: &Value, kind: &str) -> Result<(), String> {
    match condition_status(obj, kind) {
        Some("True") => Ok(()),
        Some(other) => Err(format!("condition {kind} is {other}")),
        None => Err(format!("no {kind} condition")),
    }
}

/// A JSONPath value equals the wanted one: scalars compared as text (`3` = `"3"`), maps and
/// lists by partial match.
fn has_value(obj: &Value, path: &str, want: &Value) -> Result<(), String> {
    let got = jsonpath::lookup(obj, path).map_err(|e| e.to_string())?;
    let Some(got) = got else {
        return Err(format!("nothing at {path}"));
    };
    let same = match want {
        Value::Object(_) | Value::Array(_) => mismatches(want, got).is_empty(),
        _ => jsonpath::as_text(got) == jsonpath::as_text(want),
    };
    if same {
        Ok(())
    } else {
        Err(format!("{path} is {}", jsonpath::as_text(got)))
    }
}

/// Workloads by their status: all wanted replicas available / ready, or a Job complete.
pub fn workload_ready(obj: &Value) -> Result<(), String> {
    let n = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let kind = obj["kind"].as_str().unwrap_or("");
    let generation = n("/metadata/generation");
    if generation > n("/status/observedGeneration") && kind != "Job" {
        return Err("its controller has not seen the latest spec yet".into());
    }
    let (have, want, what) = match kind {
        "Deployment" => (
            n("/status/availableReplicas"),
            obj.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            "available",
        ),
        "StatefulSet" | "ReplicaSet" => (
            n("/status/readyReplicas"),
            obj.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            "ready",
        ),
        "DaemonSet" => (
            n("/status/numberReady"),
            n("/status/desiredNumberScheduled"),
            "ready",
        ),
        "Job" => {
            return match (
                condition_status(obj, "Complete"),
                condition_status(obj, "Failed"),
            ) {
                (Some("True"), _) => Ok(()),
                (_, Some("True")) => Err("the Job failed".into()),
                _ => Err("not complete".into()),
            }
        }
        _ => return has_condition(obj, "Ready"),
    };
    if have >= want {
        Ok(())
    } else {
        Err(format!("{have}/{want} {what}"))
    }
}

fn workload_kind(api_version: &str, kind: &str) -> Option<WorkloadKind> {
    match (api_version, kind) {
        ("apps/v1", "Deployment") => Some(WorkloadKind::Deployment),
        ("apps/v1", "StatefulSet") => Some(WorkloadKind::StatefulSet),
        ("apps/v1", "DaemonSet") => Some(WorkloadKind::DaemonSet),
        ("batch/v1", "Job") => Some(WorkloadKind::Job),
        _ => None,
    }
}

pub async fn run_wait(
    cluster: &Cluster,
    step: &WaitStep,
    namespace: &str,
    vars: &Vars,
    timeout: Duration,
    report: ApiReport<'_>,
) -> Result<StepOutput, StepFailure> {
    let sel = Selection::new(
        &step.api_version,
        &step.kind,
        &step.name,
        &step.selector,
        &step.namespace,
        namespace,
        vars,
    )?
    .in_run(cluster);
    let is_pod = sel.api_version == "v1" && sel.kind == "Pod";
    let workload = workload_kind(&sel.api_version, &sel.kind);
    if step.until == "ready"
        && (is_pod && sel.name.is_none() || workload.is_some() && sel.name.is_some())
    {
        let target = match (workload, &sel.name) {
            (Some(kind), Some(name)) => Target::Workload {
                kind,
                name: name.clone(),
            },
            _ => Target::Selector(sel.selector.clone().unwrap_or_default()),
        };
        return ready_pods(
            cluster,
            &sel,
            target,
            workload == Some(WorkloadKind::Job),
            timeout,
            report,
        )
        .await;
    }
    let k = kind_api(cluster, &sel).await?;
    let resource = k.resource.clone();
    let (what, found) = match (step.until.as_str(), &step.jsonpath) {
        ("deleted", _) => (
            "deleted".to_owned(),
            watch_until(&k, &sel, timeout, "deleted", report, |objs| {
                if objs.is_empty() {
                    Check::Done
                } else {
                    let names: Vec<String> = objs.iter().map(|o| label(o, &resource)).collect();
                    Check::Waiting(format!("still there: {}", names.join(", ")))
                }
            })
            .await?,
        ),
        (_, Some(path)) => {
            let want = render_value(step.value.as_ref().unwrap_or(&Value::Null), vars)
                .map_err(|e| StepFailure::new(e.to_string()))?;
            let what = format!("at {path} = {}", jsonpath::as_text(&want));
            let found = watch_until(&k, &sel, timeout, &what, report, |objs| {
                all(objs, &resource, |t| has_value(t, path, &want))
            })
            .await?;
            (what, found)
        }
        ("ready", None) if is_pod => (
            "ready".to_owned(),
            watch_until(&k, &sel, timeout, "ready", report, pods_ready).await?,
        ),
        ("ready", None) => (
            "ready".to_owned(),
            watch_until(&k, &sel, timeout, "ready", report, |objs| {
                all(objs, &resource, workload_ready)
            })
            .await?,
        ),
        (condition, None) => {
            let what = condition.to_owned();
            let found = watch_until(&k, &sel, timeout, &what, report, |objs| {
                all(objs, &resource, |t| has_condition(t, condition))
            })
            .await?;
            (what, found)
        }
    };
    let trees: Vec<Value> = found.iter().map(|o| tree(o, &k.resource)).collect();
    Ok(StepOutput {
        summary: format!("{} {what}", sel.describe(k.namespace.as_deref())),
        value: capture_value(&sel, trees),
    })
}

/// Named pods: Ready, or failed for a reason that will not go away by waiting.
fn pods_ready(objs: &[&DynamicObject]) -> Check {
    if objs.is_empty() {
        return Check::Waiting("no such pod yet".into());
    }
    let mut waiting = Vec::new();
    for o in objs {
        let Ok(pod) = serde_json::to_value(o).and_then(serde_json::from_value::<Pod>) else {
            continue;
        };
        let j = judge(&pod, &JudgeOptions::default());
        let name = pod.metadata.name.clone().unwrap_or_default();
        if let Some(f) = j.failure {
            return Check::Failed(format!("pod {name}: {f}"));
        }
        if !j.ready {
            waiting.push(format!("pod {name} {}", j.summary));
        }
    }
    if waiting.is_empty() {
        Check::Done
    } else {
        Check::Waiting(waiting.join("; "))
    }
}

async fn ready_pods(
    cluster: &Cluster,
    sel: &Selection,
    target: Target,
    job: bool,
    timeout: Duration,
    report: ApiReport<'_>,
) -> Result<StepOutput, StepFailure> {
    let req = WaitRequest {
        namespace: sel.namespace.clone(),
        target,
        min: 1,
        timeout,
        judge: JudgeOptions {
            job,
            ..JudgeOptions::default()
        },
    };
    let what = sel.describe(Some(&sel.namespace));
    let progress = |p: Progress| match p {
        Progress::Unreachable {
            since,
            error,
            first: true,
            ..
        } => report(format!(
            "{what}: API server unreachable since {}, retrying ({error})",
            clock(since)
        )),
        Progress::Reachable { after } => report(format!(
            "{what}: API server answers again after {:.1} s; watching resumed",
            after.as_secs_f64()
        )),
        _ => {}
    };
    match wait_ready(&cluster.client, &req, progress).await {
        Ok(pods) => Ok(StepOutput {
            summary: format!("{what} ready ({} pod(s))", pods.len()),
            value: serde_json::json!({ "items": pods }),
        }),
        Err(e) => {
            let observed: Vec<String> = e
                .pods()
                .iter()
                .map(crate::k8s::diagnose::render_status)
                .collect();
            Err(StepFailure {
                message: format!("{what}: {e}"),
                details: Vec::new(),
                observed: (!observed.is_empty()).then(|| observed.join("\n")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workloads_by_status() {
        let d = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
                       "status": {"observedGeneration": 2, "availableReplicas": 1}});
        assert_eq!(workload_ready(&d), Err("1/2 available".into()));
        let d = json!({"kind": "Deployment", "metadata": {"generation": 3}, "spec": {"replicas": 2},
                       "status": {"observedGeneration": 2, "availableReplicas": 2}});
        assert!(workload_ready(&d)
            .unwrap_err()
            .contains("not seen the latest spec"));
        let j = json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(workload_ready(&j), Ok(()));
        let c = json!({"kind": "Widget", "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(workload_ready(&c), Err("condition Ready is False".into()));
    }

    #[test]
    fn values_and_conditions() {
        let o = json!({"status": {"phase": "Running", "n": 3, "conditions": [{"type": "Synced", "status": "True"}]}});
        assert_eq!(has_value(&o, ".status.n", &json!("3")), Ok(()));
        assert_eq!(has_value(&o, ".status.n", &json!(3)), Ok(()));
        assert_eq!(
            has_value(&o, ".status.phase", &json!("Failed")),
            Err(".status.phase is Running".into())
        );
        assert_eq!(
            has_value(&o, ".status.x", &json!(1)),
            Err("nothing at .status.x".into())
        );
        assert_eq!(has_condition(&o, "Synced"), Ok(()));
        assert_eq!(has_condition(&o, "Ready"), Err("no Ready condition".into()));
    }
}

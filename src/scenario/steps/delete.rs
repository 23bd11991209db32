//! `delete:` objects by name or selector (already gone is fine); with `wait: true`, watch until
//! every deleted object is gone (finalizers done, or replaced by a new object of the same name).

use super::objects::{fetch, kind_api, label, KindApi, Selection};
use super::wait::{watch_until, ApiReport, Check};
use super::{StepFailure, StepOutput};
use crate::k8s::apply::server_message;
use crate::k8s::run_cluster::{self, Released};
use crate::scenario::cluster::Cluster;
use crate::scenario::model::ObjectRef;
use crate::scenario::template::Vars;
use crate::state::RunClusterObject;
use kube::api::{DeleteParams, DynamicObject};
use std::collections::BTreeSet;
use std::time::Duration;

pub async fn run_delete(
    cluster: &Cluster,
    step: &ObjectRef,
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
    let k = kind_api(cluster, &sel).await?;
    let found = fetch(&k, &sel).await?;
    let mut uids = BTreeSet::new();
    let mut deleted = Vec::new();
    let mut released = Vec::new();
    for obj in &found {
        let name = obj.metadata.name.clone().unwrap_or_default();
        match run_share(cluster, &k, obj) {
            RunShare::Plain => {}
            RunShare::Others(runs) => {
                released.push(format!(
                    "{}: left, used by run(s) {}",
                    label(obj, &k.resource),
                    runs.join(", ")
                ));
                continue;
            }
            RunShare::Ours(id) => {
                let o = RunClusterObject {
                    api_version: k.resource.api_version.clone(),
                    kind: k.resource.kind.clone(),
                    name: name.clone(),
                    shared: true,
                };
                let done = run_cluster::remove(&cluster.client, &cluster.kinds, &id, &o)
                    .await
                    .map_err(StepFailure::new)?;
                forget(cluster, &o)?;
                if done == Released::Deleted {
                    uids.extend(obj.metadata.uid.clone());
                    deleted.push(label(obj, &k.resource));
                } else {
                    released.push(format!("{}: {}", label(obj, &k.resource), done.describe()));
                }
                continue;
            }
        }
        match k.api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {
                uids.extend(obj.metadata.uid.clone());
                deleted.push(label(obj, &k.resource));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(StepFailure::new(format!(
                    "deleting {}: {}",
                    label(obj, &k.resource),
                    server_message(&e)
                )))
            }
        }
    }
    if step.wait && !uids.is_empty() {
        let resource = k.resource.clone();
        watch_until(&k, &sel, timeout, "gone", report, |objs| {
            let left: Vec<String> = objs
                .iter()
                .filter(|o| o.metadata.uid.as_ref().is_some_and(|u| uids.contains(u)))
                .map(|o| {
                    let mut s = label(o, &resource);
                    if let Some(f) = o.metadata.finalizers.as_ref().filter(|f| !f.is_empty()) {
                        s.push_str(&format!(" (finalizers: {})", f.join(", ")));
                    }
                    s
                })
                .collect();
            if left.is_empty() {
                Check::Done
            } else {
                Check::Waiting(format!("still there: {}", left.join(", ")))
            }
        })
        .await?;
    }
    let mut summary = if deleted.is_empty() && released.is_empty() {
        format!("no {} to delete", sel.describe(k.namespace.as_deref()))
    } else if deleted.is_empty() {
        String::new()
    } else {
        format!("deleted {}", deleted.join(", "))
    };
    if !released.is_empty() {
        if !summary.is_empty() {
            summary.push_str("; ");
        }
        summary.push_str(&format!("shared with other runs: {}", released.join("; ")));
    }
    Ok(StepOutput {
        value: serde_json::json!({ "deleted": deleted, "released": released }),
        summary,
    })
}

/// How a cluster-scoped object stands among the runs of a shared cluster (src/k8s/run_cluster.rs).
#[derive(Debug, PartialEq, Eq)]
enum RunShare {
    /// Not shared between runs (or no run identity, or namespaced): delete it.
    Plain,
    /// This run's label is on it (run `id`): release it as `down` does, so it goes only with
    /// the last run's label.
    Ours(String),
    /// Only other runs' labels: deleting it would take it from them; leave it.
    Others(Vec<String>),
}

fn run_share(cluster: &Cluster, k: &KindApi, obj: &DynamicObject) -> RunShare {
    let (Some(id), None) = (cluster.run_id.as_deref(), &k.namespace) else {
        return RunShare::Plain;
    };
    share_of(id, obj.metadata.labels.as_ref())
}

fn share_of(id: &str, labels: Option<&std::collections::BTreeMap<String, String>>) -> RunShare {
    let runs: Vec<String> = labels
        .into_iter()
        .flat_map(|l| l.keys())
        .filter_map(|k| k.strip_prefix(run_cluster::RUN_LABEL_PREFIX))
        .map(str::to_owned)
        .collect();
    if runs.iter().any(|r| r == id) {
        RunShare::Ours(id.to_owned())
    } else if runs.is_empty() {
        RunShare::Plain
    } else {
        RunShare::Others(runs)
    }
}

/// Drop a released object from the state file: `down` has nothing left to do with it.
fn forget(cluster: &Cluster, o: &RunClusterObject) -> Result<(), StepFailure> {
    cluster.forget_run_cluster_object(o).map_err(|e| {
        StepFailure::new(format!(
            "released {} {}, but cannot update the state file: {e:#}",
            o.kind, o.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_objects_are_released_and_other_runs_objects_left() {
        let labels = |pairs: &[&str]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|k| (k.to_string(), "true".to_owned()))
                .collect()
        };
        let both = labels(&[
            "run.kubetest.io/a",
            "run.kubetest.io/b",
            "kubetest.io/shared",
        ]);
        assert_eq!(share_of("a", Some(&both)), RunShare::Ours("a".into()));
        let theirs = labels(&["run.kubetest.io/b", "kubetest.io/shared"]);
        assert_eq!(
            share_of("a", Some(&theirs)),
            RunShare::Others(vec!["b".into()])
        );
        assert_eq!(share_of("a", Some(&labels(&["app"]))), RunShare::Plain);
        assert_eq!(share_of("a", None), RunShare::Plain);
    }
}

//! `delete:` objects by name or selector (already gone is fine); with `wait: true`, watch until
//! every deleted object is gone (finalizers done, or replaced by a new object of the same name).

use super::objects::{fetch, kind_api, label, Selection};
use super::wait::{watch_until, ApiReport, Check};
use super::{StepFailure, StepOutput};
use crate::k8s::apply::server_message;
use crate::scenario::cluster::Cluster;
use crate::scenario::model::ObjectRef;
use crate::scenario::template::Vars;
use kube::api::DeleteParams;
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
    for obj in &found {
        let name = obj.metadata.name.clone().unwrap_or_default();
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
    Ok(StepOutput {
        value: serde_json::json!({ "deleted": deleted }),
        summary: if deleted.is_empty() {
            format!("no {} to delete", sel.describe(k.namespace.as_deref()))
        } else {
            format!("deleted {}", deleted.join(", "))
        },
    })
}

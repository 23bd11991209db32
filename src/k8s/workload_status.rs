//! Workloads as text for failure bundles: Deployments, StatefulSets, DaemonSets, Jobs and
//! ReplicaSets with their replica counts and conditions (no API calls).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::fmt::Write;

/// One condition of any workload kind, as text.
struct Cond<'a> {
    type_: &'a str,
    status: &'a str,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    since: Option<&'a Time>,
}

/// Write `status.conditions` of any workload kind: each kind has its own condition type, with
/// the same fields.
macro_rules! write_conditions {
    ($out:expr, $workload:expr) => {{
        let conds: Vec<Cond<'_>> = $workload
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .map(|c| Cond {
                type_: c.type_.text(),
                status: c.status.text(),
                reason: c.reason.as_deref(),
                message: c.message.as_deref(),
                since: c.last_transition_time.as_ref(),
            })
            .collect();
        conditions($out, &conds);
    }};
}

fn conditions(out: &mut String, conds: &[Cond<'_>]) {
    let _ = writeln!(out, "  conditions:");
    if conds.is_empty() {
        let _ = writeln!(out, "    (none)");
    }
    for c in conds {
        let _ = write!(out, "    {}={}", c.type_, c.status);
        if let Some(r) = c.reason {
            let _ = write!(out, " {r}");
        }
        if let Some(m) = c.message {
            let _ = write!(out, ": {m}");
        }
        if let Some(t) = c.since {
            let _ = write!(out, " (since {})", t.0);
        }
        out.push('\n');
    }
}

/// Condition fields are `String` in some kinds and `Option<String>` in others (k8s-openapi
/// follows each kind's OpenAPI schema).
trait Text {
    fn text(&self) -> &str;
}

impl Text for String {
    fn text(&self) -> &str {
        self
    }
}

impl Text for Option<String> {
    fn text(&self) -> &str {
        self.as_deref().unwrap_or("")
    }
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// The Deployment does not have all its replicas updated and available, or says it is
/// stuck (`Progressing=False`, `Available=False`, `ReplicaFailure=True`).
pub fn deployment_failing(d: &Deployment) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    let Some(s) = &d.status else {
        return want > 0;
    };
    let bad_condition = s.conditions.iter().flatten().any(|c| {
        let (t, st) = (c.type_.text(), c.status.text());
        (t == "ReplicaFailure" && st == "True")
            || ((t == "Progressing" || t == "Available") && st == "False")
    });
    bad_condition || n(s.available_replicas) < want || n(s.updated_replicas) < want
}

pub fn render_deployment(d: &Deployment) -> String {
    let mut out = String::new();
    let want = d.spec.replicas.unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "deployment {}: {want} wanted, {} updated, {} ready, {} available, {} unavailable (generation {}, observed {})",
        d.metadata.name.as_deref().unwrap_or(""),
        n(s.updated_replicas),
        n(s.ready_replicas),
        n(s.available_replicas),
        n(s.unavailable_replicas),
        d.metadata.generation.unwrap_or(0),
        s.observed_generation.unwrap_or(0),
    );
    write_conditions!(&mut out, d);
    out
}

pub fn render_statefulset(d: &StatefulSet) -> String {
    let mut out = String::new();
    let want = d.spec.replicas.unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "statefulset {}: {want} wanted, {} current, {} updated, {} ready, {} available",
        d.metadata.name.as_deref().unwrap_or(""),
        n(s.current_replicas),
        n(s.updated_replicas),
        n(s.ready_replicas),
        n(s.available_replicas),
    );
    write_conditions!(&mut out, d);
    out
}

pub fn render_daemonset(d: &DaemonSet) -> String {
    let mut out = String::new();
    let s = d.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "daemonset {}: {} scheduled, {} updated, {} ready, {} available, {} unavailable, {} misscheduled",
        d.metadata.name.as_deref().unwrap_or(""),
        s.desired_number_scheduled,
        n(s.updated_number_scheduled),
        s.number_ready,
        n(s.number_available),
        n(s.number_unavailable),
        s.number_misscheduled,
    );
    write_conditions!(&mut out, d);
    out
}

pub fn render_job(d: &Job) -> String {
    let mut out = String::new();
    let s = d.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "job {}: {} completions wanted, {} active, {} succeeded, {} failed (backoff limit {})",
        d.metadata.name.as_deref().unwrap_or(""),
        d.spec.as_ref().and_then(|s| s.completions).unwrap_or(1),
        n(s.active),
        n(s.succeeded),
        n(s.failed),
        d.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6),
    );
    write_conditions!(&mut out, d);
    out
}

pub fn render_replicaset(d: &ReplicaSet) -> String {
    let mut out = String::new();
    let s = d.status.clone().unwrap_or_default();
    let revision = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .map(|r| format!(", revision {r}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "replicaset {}: {} wanted, {} created, {} ready, {} available{revision}",
        d.metadata.name.as_deref().unwrap_or(""),
        d.spec.replicas.unwrap_or(1),
        s.replicas,
        n(s.ready_replicas),
        n(s.available_replicas),
    );
    write_conditions!(&mut out, d);
    out
}

/// The ReplicaSet belongs to the Deployment (its controller owner reference names its uid).
pub fn owned_by(rs: &ReplicaSet, d: &Deployment) -> bool {
    let Some(uid) = &d.metadata.uid else {
        return false;
    };
    rs.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Deployment" && &o.uid == uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn a_deployment_stuck_on_an_unready_pod_is_failing_and_says_why() {
        let d: Deployment = yaml(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: demo, uid: d-1, generation: 2 }
spec: { replicas: 2, selector: { matchLabels: { app: web } }, template: { spec: { containers: [] } } }
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 1
  availableReplicas: 1
  unavailableReplicas: 1
  conditions:
    - type: Available
      status: "False"
      reason: MinimumReplicasUnavailable
      message: Deployment does not have minimum availability.
      lastTransitionTime: "2026-03-02T10:15:06Z"
    - type: Progressing
      status: "True"
      reason: ReplicaSetUpdated
      message: ReplicaSet "web-7d4b9c6f5" is progressing.
"#,
        );
        assert!(deployment_failing(&d));
        let text = render_deployment(&d);
        assert!(text.starts_with("deployment web: 2 wanted, 2 updated, 1 ready, 1 available, 1 unavailable (generation 2, observed 2)\n"), "{text}");
        assert!(text.contains("    Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability. (since 2026-03-02T10:15:06Z)"), "{text}");
        let rs: ReplicaSet = yaml(
            r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-7d4b9c6f5
  annotations: { deployment.kubernetes.io/revision: "2" }
  ownerReferences: [ { apiVersion: apps/v1, kind: Deployment, name: web, uid: d-1, controller: true } ]
spec: { replicas: 2, selector: { matchLabels: { app: web } } }
status: { replicas: 2, readyReplicas: 1, availableReplicas: 1 }
"#,
        );
        assert!(owned_by(&rs, &d));
        assert_eq!(
            render_replicaset(&rs).lines().next().unwrap(),
            "replicaset web-7d4b9c6f5: 2 wanted, 2 created, 1 ready, 1 available, revision 2"
        );
    }

    #[test]
    fn a_complete_deployment_is_not_failing() {
        let d: Deployment = yaml(
            r#"
metadata: { name: ok }
spec: { replicas: 1, selector: {}, template: {} }
status: { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1,
  conditions: [ { type: Available, status: "True" }, { type: Progressing, status: "True", reason: NewReplicaSetAvailable } ] }
"#,
        );
        assert!(!deployment_failing(&d));
    }
}

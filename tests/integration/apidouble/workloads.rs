//! Deployments, their ReplicaSets and the controllers' events, shaped as kube-apiserver
//! returns them while a rollout is stuck on pods that do not become ready.
//!
//! Sources: the Deployment status and conditions the deployment controller writes
//! (<https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status>:
//! `Available=False MinimumReplicasUnavailable` while fewer than the wanted replicas are
//! available, `Progressing=True ReplicaSetUpdated` until `progressDeadlineSeconds` passes);
//! the ReplicaSet it owns, named `<deployment>-<pod-template-hash>`, with a controller
//! owner reference to the Deployment's uid and the `deployment.kubernetes.io/revision`
//! annotation (<https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/>);
//! and the `ScalingReplicaSet` event of `deployment-controller`
//! (<https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/>).

use super::time;
use serde_json::{json, Value};

/// A Deployment of `replicas` pods labelled `app=<app>`, its rollout waiting for them.
pub fn stuck_deployment(ns: &str, app: &str, image: &str, replicas: u32) -> Value {
    let now = time::now();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": app, "namespace": ns, "generation": 1,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "labels": {"app": app},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "unavailableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "False", "lastUpdateTime": now, "lastTransitionTime": now,
                 "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
                 "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{app}-7d4b9c6f5\" is progressing.")},
            ],
        },
    })
}

/// The ReplicaSet the deployment controller made for `deployment` (as stored, with its uid).
pub fn replicaset_of(deployment: &Value, template_hash: &str) -> Value {
    let app = deployment["metadata"]["name"].as_str().unwrap_or("app");
    let ns = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(template_hash);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{app}-{template_hash}"),
            "namespace": ns,
            "labels": {"app": app, "pod-template-hash": template_hash},
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                "uid": deployment["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app, "pod-template-hash": template_hash}},
            "template": template,
        },
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1},
    })
}

/// An event of `deployment-controller` about `deployment`.
pub fn deployment_event(deployment: &Value, reason: &str, message: &str) -> Value {
    let name = deployment["metadata"]["name"].as_str().unwrap_or("");
    let ns = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let now = time::now();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", reason.len() * 7919 + message.len()), "namespace": ns},
        "involvedObject": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "namespace": ns,
            "uid": deployment["metadata"]["uid"], "resourceVersion": deployment["metadata"]["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "source": {"component": "deployment-controller"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": "Normal",
        "eventTime": null,
        "reportingComponent": "deployment-controller",
        "reportingInstance": "",
    })
}

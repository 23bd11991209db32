//! Pods and events shaped as kube-apiserver returns them, in the states kubetest must judge.

use super::time;
use serde_json::{json, Value};

/// A Deployment's pod (one container `app`) as created by the ReplicaSet controller and
/// scheduled: status Pending, ContainerCreating.
pub fn deployment_pod(ns: &str, app: &str, suffix: &str, image: &str) -> Value {
    let now = time::now();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{app}-7d4b9c6f5-{suffix}"),
            "generateName": format!("{app}-7d4b9c6f5-"),
            "namespace": ns,
            "labels": {"app": app, "pod-template-hash": "7d4b9c6f5"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d4b9c6f5"),
                "uid": "0c9e8d7f-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "readinessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                    "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3,
                },
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "nodeName": "kt-i6-control-plane",
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
            ],
        },
        "status": {
            "phase": "Pending",
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "qosClass": "BestEffort",
            "startTime": now,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": null, "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": "ContainersNotReady", "message": "containers with unready status: [app]"},
                {"type": "ContainersReady", "status": "False", "lastProbeTime": null, "lastTransitionTime": now, "reason": "ContainersNotReady", "message": "containers with unready status: [app]"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
            ],
            "containerStatuses": [{
                "name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                "lastState": {},
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "volumeMounts": [{"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"}],
            }],
        },
    })
}

fn set_condition(
    pod: &mut Value,
    kind: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) {
    let now = time::now();
    let conds = pod["status"]["conditions"].as_array_mut().unwrap();
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    match conds.iter_mut().find(|x| x["type"] == kind) {
        Some(x) => {
            if x["status"] == status {
                c["lastTransitionTime"] = x["lastTransitionTime"].clone();
            }
            *x = c;
        }
        None => conds.push(c),
    }
}

fn container(pod: &mut Value) -> &mut Value {
    &mut pod["status"]["containerStatuses"][0]
}

/// The container started; the readiness probe has not passed yet.
pub fn running_not_ready(mut pod: Value) -> Value {
    let now = time::now();
    pod["status"]["phase"] = json!("Running");
    pod["status"]["podIP"] = json!("10.244.0.7");
    pod["status"]["podIPs"] = json!([{"ip": "10.244.0.7"}]);
    set_condition(&mut pod, "PodReadyToStartContainers", "True", None, None);
    set_condition(
        &mut pod,
        "Ready",
        "False",
        Some("ContainersNotReady"),
        Some("containers with unready status: [app]"),
    );
    set_condition(
        &mut pod,
        "ContainersReady",
        "False",
        Some("ContainersNotReady"),
        Some("containers with unready status: [app]"),
    );
    let c = container(&mut pod);
    c["imageID"] = json!("sha256:9b2c1f0e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c");
    c["containerID"] =
        json!("containerd://5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d");
    c["started"] = json!(true);
    c["ready"] = json!(false);
    c["state"] = json!({"running": {"startedAt": now}});
    pod
}

/// The readiness probe passed: Running, Ready=True.
pub fn ready(pod: Value) -> Value {
    let mut pod = running_not_ready(pod);
    set_condition(&mut pod, "Ready", "True", None, None);
    set_condition(&mut pod, "ContainersReady", "True", None, None);
    container(&mut pod)["ready"] = json!(true);
    pod
}

/// The container waits with `reason`/`message` (ErrImagePull, CreateContainerConfigError, …).
pub fn waiting(mut pod: Value, reason: &str, message: &str) -> Value {
    container(&mut pod)["state"] = json!({"waiting": {"reason": reason, "message": message}});
    pod
}

/// The container keeps exiting with code 1: CrashLoopBackOff after `restarts` restarts.
pub fn crash_loop(pod: Value, restarts: u32) -> Value {
    let mut pod = running_not_ready(pod);
    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    let ns = pod["metadata"]["namespace"].as_str().unwrap().to_owned();
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let now = time::now();
    let c = container(&mut pod);
    c["restartCount"] = json!(restarts);
    c["started"] = json!(false);
    c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
        "containerID": "containerd://aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44"}});
    c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
        "message": format!("back-off 40s restarting failed container=app pod={name}_{ns}({uid})")}});
    pod
}

/// The scheduler found no node.
pub fn unschedulable(mut pod: Value, message: &str) -> Value {
    if let Some(spec) = pod["spec"].as_object_mut() {
        spec.remove("nodeName");
    }
    let status = pod["status"].as_object_mut().unwrap();
    for k in ["hostIP", "hostIPs", "startTime", "containerStatuses"] {
        status.remove(k);
    }
    pod["status"]["conditions"] = json!([]);
    set_condition(
        &mut pod,
        "PodScheduled",
        "False",
        Some("Unschedulable"),
        Some(message),
    );
    pod
}

/// A core/v1 Event about `pod` as the kubelet records it.
pub fn event_for(pod: &Value, kind: &str, reason: &str, message: &str, count: u32) -> Value {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let now = time::now();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{:x}", reason.len() * 7919 + message.len()), "namespace": ns},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns,
            "uid": pod["metadata"]["uid"], "resourceVersion": pod["metadata"]["resourceVersion"],
            "fieldPath": "spec.containers{app}",
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "kt-i6-control-plane"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": count,
        "type": kind,
        "eventTime": null,
        "reportingComponent": "kubelet",
        "reportingInstance": "kt-i6-control-plane",
    })
}

/// The pod as the ReplicaSet of a template stamped with `kubetest.io/image-ids` makes it:
/// the template's annotations are copied to the pod, its template hash names the ReplicaSet.
pub fn stamped(mut pod: Value, template_hash: &str, image_ids: &str) -> Value {
    let app = pod["metadata"]["labels"]["app"]
        .as_str()
        .unwrap_or("app")
        .to_owned();
    let suffix = pod["metadata"]["name"]
        .as_str()
        .and_then(|n| n.rsplit('-').next())
        .unwrap_or("x")
        .to_owned();
    pod["metadata"]["name"] = json!(format!("{app}-{template_hash}-{suffix}"));
    pod["metadata"]["generateName"] = json!(format!("{app}-{template_hash}-"));
    pod["metadata"]["labels"]["pod-template-hash"] = json!(template_hash);
    pod["metadata"]["ownerReferences"][0]["name"] = json!(format!("{app}-{template_hash}"));
    pod["metadata"]["annotations"] = json!({ "kubetest.io/image-ids": image_ids });
    pod
}

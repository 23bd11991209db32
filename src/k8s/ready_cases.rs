//! Table tests of the readiness judgement over Pods shaped as kube-apiserver returns them.

use super::*;

/// A Deployment's pod as the API server returns it, with `status` replaced.
fn pod(status: &str) -> Pod {
    pod_with("localhost/demo-app:dev", "IfNotPresent", status)
}

fn pod_with(image: &str, policy: &str, status: &str) -> Pod {
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: demo-app-7d4b9c6f5-x2k8p
  generateName: demo-app-7d4b9c6f5-
  namespace: demo
  uid: 3f1c2a8e-5b7d-4e21-9c0a-1d2e3f4a5b6c
  resourceVersion: "1843"
  creationTimestamp: "2026-03-02T10:15:04Z"
  labels: {{app: demo-app, pod-template-hash: 7d4b9c6f5}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: demo-app-7d4b9c6f5, uid: 0c9e8d7f-1a2b-4c3d-8e9f-0a1b2c3d4e5f, controller: true, blockOwnerDeletion: true}}
spec:
  containers:
  - name: app
    image: {image}
    imagePullPolicy: {policy}
    ports: [{{containerPort: 8080, protocol: TCP}}]
    readinessProbe:
      httpGet: {{path: /healthz, port: 8080, scheme: HTTP}}
      periodSeconds: 10
      timeoutSeconds: 1
      successThreshold: 1
      failureThreshold: 3
    resources: {{}}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: demo-control-plane
  restartPolicy: Always
  schedulerName: default-scheduler
  serviceAccountName: default
  terminationGracePeriodSeconds: 30
status:
{status}
"#
    );
    serde_yaml::from_str(&yaml).expect("test pod YAML")
}

const RUNNING_READY: &str = r#"
  phase: Running
  hostIP: 172.18.0.2
  podIP: 10.244.0.7
  qosClass: BestEffort
  startTime: "2026-03-02T10:15:04Z"
  conditions:
  - {type: PodReadyToStartContainers, status: "True", lastTransitionTime: "2026-03-02T10:15:06Z"}
  - {type: Initialized, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}
  - {type: Ready, status: "True", lastTransitionTime: "2026-03-02T10:15:12Z"}
  - {type: ContainersReady, status: "True", lastTransitionTime: "2026-03-02T10:15:12Z"}
  - {type: PodScheduled, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}
  containerStatuses:
  - name: app
    image: localhost/demo-app:dev
    imageID: sha256:9b2c1f0e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c
    containerID: containerd://5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d
    ready: true
    restartCount: 0
    started: true
    state:
      running: {startedAt: "2026-03-02T10:15:06Z"}
"#;

const RUNNING_NOT_READY: &str = r#"
  phase: Running
  startTime: "2026-03-02T10:15:04Z"
  conditions:
  - {type: Initialized, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}
  - {type: Ready, status: "False", lastTransitionTime: "2026-03-02T10:15:04Z", reason: ContainersNotReady, message: "containers with unready status: [app]"}
  - {type: ContainersReady, status: "False", lastTransitionTime: "2026-03-02T10:15:04Z", reason: ContainersNotReady, message: "containers with unready status: [app]"}
  - {type: PodScheduled, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}
  containerStatuses:
  - name: app
    image: localhost/demo-app:dev
    imageID: sha256:9b2c1f0e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c
    containerID: containerd://5e4d3c2b1a0f
    ready: false
    restartCount: 0
    started: true
    state:
      running: {startedAt: "2026-03-02T10:15:06Z"}
"#;

fn waiting_status(reason: &str, message: &str, restarts: u32, last_state: &str) -> String {
    format!(
        r#"
  phase: Pending
  startTime: "2026-03-02T10:15:04Z"
  conditions:
  - {{type: Initialized, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}}
  - {{type: Ready, status: "False", lastTransitionTime: "2026-03-02T10:15:04Z", reason: ContainersNotReady, message: "containers with unready status: [app]"}}
  - {{type: PodScheduled, status: "True", lastTransitionTime: "2026-03-02T10:15:04Z"}}
  containerStatuses:
  - name: app
    image: localhost/demo-app:dev
    imageID: ""
    ready: false
    restartCount: {restarts}
    started: false
    lastState: {last_state}
    state:
      waiting:
        reason: {reason}
        message: {message}
"#,
        message = serde_json::to_string(message).unwrap()
    )
}

fn crashloop(restarts: u32) -> String {
    waiting_status(
        "CrashLoopBackOff",
        "back-off 40s restarting failed container=app pod=demo-app-7d4b9c6f5-x2k8p_demo(3f1c2a8e-5b7d-4e21-9c0a-1d2e3f4a5b6c)",
        restarts,
        r#"{terminated: {exitCode: 1, reason: Error, startedAt: "2026-03-02T10:15:40Z", finishedAt: "2026-03-02T10:15:41Z", containerID: "containerd://aa11"}}"#,
    )
    .replace("phase: Pending", "phase: Running")
}

fn opts() -> JudgeOptions {
    JudgeOptions {
        restarts_allowed: 2,
        job: false,
        loaded_images: vec!["localhost/demo-app:dev".into()],
        ..JudgeOptions::default()
    }
}

#[test]
fn running_and_ready_is_ready_and_records_when() {
    let p = pod(RUNNING_READY);
    let j = judge(&p, &opts());
    assert!(j.ready);
    assert_eq!(j.summary, "Running, ready");
    assert_eq!(j.failure, None);
    assert_eq!(
        ready_since(&p).map(|t| t.0.to_string()),
        Some("2026-03-02T10:15:12Z".into())
    );
}

#[test]
fn running_but_not_ready_waits() {
    let j = judge(&pod(RUNNING_NOT_READY), &opts());
    assert!(!j.ready);
    assert_eq!(j.summary, "Running, 0/1 ready");
    assert_eq!(j.failure, None);
}

#[test]
fn pending_container_creating_waits() {
    let j = judge(
        &pod(&waiting_status("ContainerCreating", "", 0, "{}")),
        &opts(),
    );
    assert_eq!(
        (j.ready, j.summary.as_str(), j.failure),
        (false, "Pending (ContainerCreating)", None)
    );
}

#[test]
fn crashloop_tolerated_up_to_restarts_allowed() {
    let j = judge(&pod(&crashloop(2)), &opts());
    assert_eq!(j.failure, None, "2 restarts are allowed");
    assert_eq!(
        j.summary,
        "Running, 0/1 ready (CrashLoopBackOff, 2 restarts)"
    );
    let j = judge(&pod(&crashloop(3)), &opts());
    assert_eq!(
        j.failure.unwrap().to_string(),
        "container `app` is in CrashLoopBackOff after 3 restarts (last exit: code 1, Error); its previous logs below say why it exits"
    );
}

#[test]
fn image_pull_failures_say_whether_kubetest_loaded_the_image() {
    let never = waiting_status(
        "ErrImageNeverPull",
        "Container image \"localhost/other:dev\" is not present with pull policy of Never",
        0,
        "{}",
    );
    let f = judge(&pod_with("localhost/other:dev", "Never", &never), &opts())
        .failure
        .unwrap()
        .to_string();
    assert!(f.starts_with("container `app` cannot get image `localhost/other:dev`: ErrImageNeverPull (Container image \"localhost/other:dev\" is not present with pull policy of Never)"), "{f}");
    assert!(f.contains("the image was probably not loaded into the cluster: kubetest did not build or load `localhost/other:dev`"), "{f}");

    let backoff = waiting_status(
        "ImagePullBackOff",
        "Back-off pulling image \"localhost/demo-app:dev\"",
        0,
        "{}",
    );
    let f = judge(
        &pod_with("localhost/demo-app:dev", "Always", &backoff),
        &opts(),
    )
    .failure
    .unwrap()
    .to_string();
    assert!(f.contains("kubetest loaded `localhost/demo-app:dev` into the cluster, but the pull policy is Always"), "{f}");

    let err = waiting_status("ErrImagePull", "failed to pull and unpack image \"docker.io/library/demo:dev\": failed to resolve reference", 0, "{}");
    let mut o = opts();
    o.loaded_images = vec!["docker.io/library/demo:dev".into()];
    let f = judge(&pod_with("demo:dev", "IfNotPresent", &err), &o)
        .failure
        .unwrap();
    assert!(
        matches!(f, FailReason::ImagePull { loaded: true, pulls_always: false, ref reason, .. } if reason == "ErrImagePull"),
        "{f:?}"
    );
    assert!(f
        .to_string()
        .contains("yet the node does not have it under this name"));
}

#[test]
fn missing_configmap_or_secret_is_named() {
    for (message, missing) in [
        (
            "configmap \"app-config\" not found",
            "ConfigMap demo/app-config is missing",
        ),
        (
            "secret \"db-credentials\" not found",
            "Secret demo/db-credentials is missing",
        ),
        (
            "couldn't find key PASSWORD in Secret demo/db",
            "key `PASSWORD` of Secret demo/db is missing",
        ),
    ] {
        let j = judge(
            &pod(&waiting_status(
                "CreateContainerConfigError",
                message,
                0,
                "{}",
            )),
            &opts(),
        );
        let f = j.failure.unwrap().to_string();
        assert!(
            f.starts_with(&format!("container `app` cannot be created: {message}")),
            "{f}"
        );
        assert!(f.contains(missing), "{f}");
    }
}

#[test]
fn invalid_image_name() {
    let s = waiting_status(
        "InvalidImageName",
        "Failed to apply default image tag \"Demo:dev\": couldn't parse image reference \"Demo:dev\": invalid reference format: repository name must be lowercase",
        0,
        "{}",
    );
    let f = judge(&pod_with("Demo:dev", "IfNotPresent", &s), &opts())
        .failure
        .unwrap();
    assert!(f.to_string().starts_with("container `app` has an invalid image name `Demo:dev`: Failed to apply default image tag"), "{f}");
}

#[test]
fn unschedulable_carries_the_scheduler_message() {
    let s = r#"
  phase: Pending
  qosClass: Burstable
  conditions:
  - type: PodScheduled
    status: "False"
    lastProbeTime: null
    lastTransitionTime: "2026-03-02T10:15:04Z"
    reason: Unschedulable
    message: '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.'
"#;
    let j = judge(&pod(s), &opts());
    assert_eq!(j.summary, "Pending (Unschedulable)");
    assert_eq!(
        j.failure.unwrap().to_string(),
        "the pod cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
}

#[test]
fn job_pods_are_done_when_succeeded_and_fail_on_a_container_error() {
    let mut o = opts();
    o.job = true;
    let succeeded = r#"
  phase: Succeeded
  conditions:
  - {type: Ready, status: "False", lastTransitionTime: "2026-03-02T10:15:09Z", reason: PodCompleted}
  containerStatuses:
  - name: app
    image: localhost/demo-app:dev
    imageID: sha256:9b2c
    ready: false
    restartCount: 0
    state:
      terminated: {exitCode: 0, reason: Completed, startedAt: "2026-03-02T10:15:06Z", finishedAt: "2026-03-02T10:15:09Z"}
"#;
    assert!(judge(&pod(succeeded), &o).ready);
    assert!(
        !judge(&pod(succeeded), &opts()).ready,
        "not a Job: Succeeded is not Ready"
    );
    let failed = succeeded.replace("Succeeded", "Failed").replace(
        "exitCode: 0, reason: Completed",
        "exitCode: 3, reason: Error, message: 'migration 0042 failed'",
    );
    assert_eq!(
        judge(&pod(&failed), &o).failure.unwrap().to_string(),
        "container `app` of the Job terminated with exit code 3 (Error): migration 0042 failed"
    );
    // Not a Job, restartPolicy Never: the pod's phase says it failed.
    let f = judge(&pod(&failed), &opts()).failure.unwrap();
    assert!(matches!(f, FailReason::PodFailed { .. }), "{f:?}");
}

#[test]
fn terminating_pods_neither_fail_nor_count() {
    let mut p = pod(&crashloop(9));
    p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
    let j = judge(&p, &opts());
    assert_eq!(
        (j.ready, j.summary.as_str(), j.failure),
        (false, "Terminating", None)
    );
}

//! Failure bundles: what a failed `up` and a failed scenario leave on disk, and the index
//! that says what is where.

use crate::apidouble::{pods, workloads, ApiDouble};
use crate::support::{kubetest, Run};
use std::path::{Path, PathBuf};

const IMAGE: &str = "localhost/kt-bundle-app:dev";

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The text of the only file under `dir` whose path ends with `tail`.
pub fn read_one(files: &[PathBuf], tail: &str) -> String {
    let p = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(tail))
        .unwrap_or_else(|| panic!("no {tail} in {files:#?}"));
    std::fs::read_to_string(p).unwrap()
}

/// A `deploy.wait` timeout on a Deployment whose pod never becomes ready leaves, in the `up`
/// bundle, the Deployment's status and conditions, its ReplicaSet, the namespace's events in
/// order and the container's last log lines — and an index naming each file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_wait_timeout_leaves_the_deployment_replicaset_events_and_logs() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    double.put(
        "",
        "namespaces",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    );
    let deployment = double.put(
        "apps",
        "deployments",
        workloads::stuck_deployment("demo", "web", IMAGE, 1),
    );
    double.put(
        "apps",
        "replicasets",
        workloads::replicaset_of(&deployment, "7d4b9c6f5"),
    );
    let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
        "demo", "web", "x2k8p", IMAGE,
    )));
    // Recorded a minute before the pod's event (the API lists events by name, not time).
    let mut scaled = workloads::deployment_event(
        &deployment,
        "ScalingReplicaSet",
        "Scaled up replica set web-7d4b9c6f5 from 0 to 1",
    );
    scaled["metadata"]["name"] = serde_json::json!("zz-web.scaled");
    scaled["firstTimestamp"] = serde_json::json!("2026-03-02T10:14:00Z");
    scaled["lastTimestamp"] = serde_json::json!("2026-03-02T10:14:00Z");
    double.put("", "events", scaled);
    double.add_pod_event(
        &pod,
        "Warning",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        7,
    );
    let log: String = (1..=250)
        .map(|i| format!("line {i}: cannot reach postgres:5432\n"))
        .collect();
    double.set_logs("demo", "web-7d4b9c6f5-x2k8p", "app", false, &log);

    double.write_kubeconfig(tmp.path());
    std::fs::create_dir(tmp.path().join("manifests")).unwrap();
    std::fs::write(
        tmp.path().join("manifests/web.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: demo }}\n\
             spec:\n  replicas: 1\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec: {{ containers: [ {{ name: app, image: \"{IMAGE}\" }} ] }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: kt-bundle\ncluster: { provider: existing, kubeconfig: kubeconfig, context: kind-kt-i6 }\n\
         deploy:\n  namespace: demo\n  manifests: [manifests/]\n  wait:\n    - { deployment: web, timeout: 2s }\n",
    )
    .unwrap();
    let dir = tmp.path().to_owned();
    let up = tokio::task::spawn_blocking(move || {
        Run::new(kubetest().current_dir(dir).args(["up", "--output", "json"]))
    })
    .await
    .unwrap();
    assert_eq!(up.code, 3, "{}\n{}", up.stdout, up.stderr);
    let note = up
        .events
        .iter()
        .find_map(|e| {
            e["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("failure bundle in "))
        })
        .unwrap_or_else(|| panic!("a note names the bundle: {}", up.stdout));
    let bundle = PathBuf::from(note);
    assert!(
        bundle.starts_with(tmp.path().join(".kubetest/artifacts")),
        "{note}"
    );
    let files = files_under(&bundle);

    let index = read_one(&files, "README.txt");
    for want in [
        "`kubetest up` of environment `kt-bundle`",
        "failed in phase ready",
        "namespace demo: 1 pod(s), 1 container(s) not ready; not available: deployment/web",
        "failure.txt",
        "ready-1-demo-deployment-web.txt",
        "namespaces/demo/pods.txt",
        "namespaces/demo/workloads.txt",
        "namespaces/demo/events.txt",
        "namespaces/demo/logs/web-7d4b9c6f5-x2k8p.app.log",
        "Nothing was cut.",
    ] {
        assert!(
            index.contains(want),
            "missing `{want}` in the index:\n{index}"
        );
    }
    let workloads = read_one(&files, "namespaces/demo/workloads.txt");
    for want in [
        "deployment web: 1 wanted, 1 updated, 0 ready, 0 available, 1 unavailable",
        "Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability.",
        "Progressing=True ReplicaSetUpdated",
        "replicasets (1):",
        "replicaset web-7d4b9c6f5: 1 wanted, 1 created, 0 ready, 0 available, revision 1",
    ] {
        assert!(workloads.contains(want), "missing `{want}` in:\n{workloads}");
    }
    let events = read_one(&files, "namespaces/demo/events.txt");
    let scaled = events
        .find("Deployment/web Normal ScalingReplicaSet")
        .unwrap_or_else(|| panic!("{events}"));
    let unhealthy = events
        .find("Pod/web-7d4b9c6f5-x2k8p Warning Unhealthy (x7): Readiness probe failed")
        .unwrap_or_else(|| panic!("{events}"));
    assert!(scaled < unhealthy, "oldest first:\n{events}");
    let pods = read_one(&files, "namespaces/demo/pods.txt");
    assert!(
        pods.contains("pod demo/web-7d4b9c6f5-x2k8p: phase Running")
            && pods.contains("Ready=False ContainersNotReady"),
        "{pods}"
    );
    let logs = read_one(&files, "namespaces/demo/logs/web-7d4b9c6f5-x2k8p.app.log");
    assert_eq!(logs.lines().count(), 200, "the last 200 lines");
    assert!(
        logs.starts_with("line 51: ") && logs.ends_with("line 250: cannot reach postgres:5432\n"),
        "{logs}"
    );
    let failure = read_one(&files, "failure.txt");
    assert!(
        failure.contains("demo/deployment/web: not ready after 2s"),
        "{failure}"
    );
}

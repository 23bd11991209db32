//! Readiness detection benchmark against the Kubernetes API double: how long from a pod's
//! Ready flip on the server to kubetest's event, and from a CrashLoopBackOff to the failed
//! wait; with `kubectl wait --for=condition=Ready` on the same double for comparison.
//!
//! `cargo bench --bench ready` (add `--profile dev` to skip the release build).

#[path = "../tests/integration/apidouble/mod.rs"]
mod apidouble;

use apidouble::{pods, ApiDouble};
use kubetest::k8s::client::{connect, ClusterAccess};
use kubetest::k8s::ready::JudgeOptions;
use kubetest::k8s::wait::{wait_ready, Progress, Target, WaitRequest};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLIPS: usize = 50;
const IMAGE: &str = "localhost/kt-i6-bench:dev";

fn request(app: &str) -> WaitRequest {
    WaitRequest {
        namespace: "demo".into(),
        target: Target::Selector(format!("app={app}")),
        min: 1,
        timeout: Duration::from_secs(30),
        judge: JudgeOptions {
            restarts_allowed: 2,
            job: false,
            loaded_images: vec![IMAGE.into()],
            ..JudgeOptions::default()
        },
    }
}

fn stats(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name}: n={} median {:.2} ms, p95 {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms.len(),
        pct(0.5),
        pct(0.95),
        ms[0],
        ms[ms.len() - 1]
    );
}

/// Start a wait on `app`'s pods; returns when its watch is open.
async fn start_wait(
    double: &ApiDouble,
    client: &kube::Client,
    app: &str,
) -> (
    tokio::task::JoinHandle<Result<(), String>>,
    Arc<Mutex<Option<Instant>>>,
) {
    double.until_no_watches().await;
    let seen = Arc::new(Mutex::new(None));
    let (client, req, seen2) = (client.clone(), request(app), seen.clone());
    let h = tokio::spawn(async move {
        wait_ready(&client, &req, |p| {
            if let Progress::Pod(c) = p {
                if c.ready {
                    seen2.lock().unwrap().get_or_insert(Instant::now());
                }
            }
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    double.until_watching(1).await;
    (h, seen)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let access = ClusterAccess {
        kubeconfig: Some(double.write_kubeconfig(dir.path())),
        context: None,
    };
    let client = connect(&access).await.unwrap();
    double.put(
        "",
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    );

    let mut ready_ms = Vec::new();
    for i in 0..FLIPS {
        let app = format!("flip{i}");
        let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
            "demo", &app, "a", IMAGE,
        )));
        let (h, seen) = start_wait(&double, &client, &app).await;
        let t0 = Instant::now();
        double.set_pod(pods::ready(pod));
        h.await.unwrap().expect("ready");
        let at = seen.lock().unwrap().expect("ready event");
        ready_ms.push(at.duration_since(t0).as_secs_f64() * 1e3);
    }
    stats("ready flip → kubetest pod_status event", ready_ms);

    let mut fail_ms = Vec::new();
    for i in 0..FLIPS {
        let app = format!("crash{i}");
        let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
            "demo", &app, "a", IMAGE,
        )));
        let (h, _) = start_wait(&double, &client, &app).await;
        let t0 = Instant::now();
        double.set_pod(pods::crash_loop(pod, 3));
        let err = h.await.unwrap().expect_err("crash loop fails the wait");
        fail_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        assert!(err.contains("CrashLoopBackOff"), "{err}");
    }
    stats("CrashLoopBackOff appears → wait failed", fail_ms);

    kubectl_wait(&double, dir.path()).await;
}

/// `kubectl wait --for=condition=Ready` against the same double, if kubectl is here.
async fn kubectl_wait(double: &ApiDouble, dir: &std::path::Path) {
    let Ok(kubectl) = which::which("kubectl") else {
        println!("kubectl wait: kubectl not found, skipped");
        return;
    };
    let kubeconfig = double.write_kubeconfig(dir);
    let mut ms = Vec::new();
    for i in 0..20 {
        let app = format!("kubectl{i}");
        let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
            "demo", &app, "a", IMAGE,
        )));
        double.until_no_watches().await;
        let child = tokio::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["wait", "--for=condition=Ready", "pod", "-n", "demo", "-l"])
            .arg(format!("app={app}"))
            .arg("--timeout=30s")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let watching =
            tokio::time::timeout(Duration::from_secs(10), double.until_watching(1)).await;
        if watching.is_err() {
            let out = child.wait_with_output().await.unwrap();
            println!(
                "kubectl wait: never watched the double: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        let t0 = Instant::now();
        double.set_pod(pods::ready(pod));
        let out = child.wait_with_output().await.unwrap();
        if !out.status.success() {
            println!(
                "kubectl wait: failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    stats(
        "kubectl wait --for=condition=Ready (flip → process exit)",
        ms,
    );
}

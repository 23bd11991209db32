//! Scenario runner benchmark: kubetest's own time per step (200 trivial steps: `sleep: 0ms`,
//! `run: [true]`, `assert` against the Kubernetes API double, and `http` to a local server,
//! directly and through a port-forward of the double), in process and through `kubetest run`;
//! and 50 independent scenarios with `--parallel 1` vs `--parallel 8`.
//!
//! `cargo bench --bench scenarios` (add `--profile dev` to skip the release build).

#[path = "../tests/integration/apidouble/mod.rs"]
mod apidouble;

use apidouble::ApiDouble;
use kubetest::events::{Events, Reporter, Stamped};
use kubetest::k8s::client::{connect, ClusterAccess};
use kubetest::scenario::cluster::Cluster;
use kubetest::scenario::load::{load_file, Known, LoadedScenario};
use kubetest::scenario::runner::{run_all, RunEnv, RunOptions};
use kubetest::state::{ClusterRecord, State, StateStore};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const STEPS: usize = 200;
const SCENARIOS: usize = 50;

struct Quiet;
impl Reporter for Quiet {
    fn handle(&mut self, _: &Stamped) {}
}

fn scenario_file(dir: &Path, name: &str, text: &str) -> Vec<LoadedScenario> {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    load_file(&p, &Known::default()).unwrap()
}

fn steps_yaml(step: &str, n: usize) -> String {
    (0..n).map(|_| format!("  - {step}\n")).collect()
}

fn env(cluster: Option<Cluster>) -> RunEnv {
    RunEnv {
        vars: Default::default(),
        env: Vec::new(),
        http: reqwest::Client::new(),
        events: Events::new(Box::new(Quiet)),
        cluster,
        engine: None,
        dependency_containers: Default::default(),
    }
}

const OPTS: RunOptions = RunOptions {
    parallel: 1,
    fail_fast: false,
    retries: 0,
    phase: kubetest::events::Phase::Scenarios,
    keep_namespaces: kubetest::scenario::runner::KeepNamespaces::Never,
};

/// Per-step time of `n` copies of `step` in one scenario, in process (best of 3).
async fn in_process(dir: &Path, label: &str, step: &str, e: &RunEnv) -> f64 {
    let mut best = f64::MAX;
    for round in 0..3 {
        let text = format!(
            "name: {label}-{round}\nnamespace: bench\nsteps:\n{}",
            steps_yaml(step, STEPS)
        );
        let loaded = scenario_file(dir, &format!("{label}-{round}"), &text);
        let cancel = tokio_util::sync::CancellationToken::new();
        let t = Instant::now();
        let results = run_all(loaded, e, OPTS, &cancel).await;
        let took = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(
            results[0].outcome,
            kubetest::events::Outcome::Ok,
            "{:?}",
            results[0].steps.iter().find_map(|s| s.message.clone())
        );
        best = best.min(took);
    }
    let per = best / STEPS as f64;
    println!("in process, {STEPS} × `{step}`: {best:.1} ms total, {per:.3} ms per step");
    per
}

/// An HTTP server on 127.0.0.1 answering every request with `200 ok` and closing.
async fn tiny_http_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    addr
}

/// An environment directory whose state records the double as its cluster.
fn environment(double: &ApiDouble, files: &[(String, String)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("scenarios")).unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join("scenarios").join(name), text).unwrap();
    }
    let config = tmp.path().join("kubetest.yaml");
    std::fs::write(
        &config,
        "name: kt-i7-bench\ncluster: { provider: none }\nscenarios: scenarios/\n",
    )
    .unwrap();
    let plan = kubetest::plan::Plan::from_config(&kubetest::config::load(&config).unwrap());
    let mut state = State::new(&plan.environment);
    state.cluster = Some(ClusterRecord {
        provider: "kind".into(),
        name: "kt-i6".into(),
        created: true,
        kubeconfig: Some(double.write_kubeconfig(tmp.path())),
        context: Some("kind-kt-i6".into()),
    });
    StateStore::new(&plan.state_dir).save(&state).unwrap();
    tmp
}

/// Wall time of `kubetest run ARGS` (ms), best of 3.
async fn binary(dir: &Path, args: &[&str]) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let dir = dir.to_owned();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let took = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_kubetest"))
                .current_dir(&dir)
                .args(["run", "--output", "json"])
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            t.elapsed()
        })
        .await
        .unwrap();
        best = best.min(took.as_secs_f64() * 1e3);
    }
    best
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let double = ApiDouble::start().await;
    double.put(
        "",
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
    );
    double.put(
        "",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "settings", "namespace": "bench", "labels": {"app": "bench"}},
               "data": {"mode": "fast", "retries": "3"}}),
    );
    let client = connect(&ClusterAccess {
        kubeconfig: Some(double.write_kubeconfig(dir)),
        context: None,
    })
    .await
    .unwrap();

    println!("== overhead per step ==");
    let plain = env(None);
    in_process(dir, "sleep", "sleep: 0ms", &plain).await;
    in_process(dir, "run", "run: { command: [\"true\"] }", &plain).await;
    let with_cluster = env(Some(Cluster::new(client.clone(), "bench")));
    in_process(
        dir,
        "assert",
        "assert: { apiVersion: v1, kind: ConfigMap, name: settings, expect: { data: { mode: fast } } }",
        &with_cluster,
    )
    .await;
    in_process(
        dir,
        "assert-selector",
        "assert: { apiVersion: v1, kind: ConfigMap, selector: app=bench, expect: { data: { mode: fast } } }",
        &with_cluster,
    )
    .await;
    // http: straight to a local server, and to the same server as a pod's port through the
    // double's pods/portforward (one forwarded connection per request).
    let server = tiny_http_server().await;
    let pod = double.set_pod(apidouble::pods::ready(apidouble::pods::running_not_ready(
        apidouble::pods::deployment_pod("bench", "web", "b3nch", "localhost/bench:1"),
    )));
    let pod = pod["metadata"]["name"].as_str().unwrap().to_owned();
    double.on_portforward("bench", &pod, 8080, server);
    in_process(
        dir,
        "http",
        &format!("http: {{ url: \"http://{server}/ok\" }}"),
        &with_cluster,
    )
    .await;
    in_process(
        dir,
        "http-forward",
        &format!("http: {{ url: /ok, forward: {{ pod: {pod}, port: 8080 }} }}"),
        &with_cluster,
    )
    .await;

    // Through the binary: the difference between 200 steps and 1 step is the steps' cost.
    for (label, step) in [
        ("sleep: 0ms", "sleep: 0ms"),
        (
            "assert",
            "assert: { apiVersion: v1, kind: ConfigMap, name: settings, namespace: bench, expect: { data: { mode: fast } } }",
        ),
    ] {
        let one = environment(
            &double,
            &[("s.yaml".into(), format!("name: s\nsteps:\n{}", steps_yaml(step, 1)))],
        );
        let many = environment(
            &double,
            &[("s.yaml".into(), format!("name: s\nsteps:\n{}", steps_yaml(step, STEPS)))],
        );
        let t1 = binary(one.path(), &[]).await;
        let tn = binary(many.path(), &[]).await;
        println!(
            "kubetest run, `{label}`: 1 step {t1:.1} ms, {STEPS} steps {tn:.1} ms → {:.3} ms per step",
            (tn - t1) / (STEPS - 1) as f64
        );
    }

    println!("== {SCENARIOS} independent scenarios ==");
    let sleepers: Vec<(String, String)> = (0..SCENARIOS)
        .map(|i| {
            (
                format!("s{i:02}.yaml"),
                format!("name: s{i:02}\nsteps:\n  - sleep: 100ms\n"),
            )
        })
        .collect();
    let cluster_scenarios: Vec<(String, String)> = (0..SCENARIOS)
        .map(|i| {
            (
                format!("c{i:02}.yaml"),
                format!(
                    "name: c{i:02}\nsteps:\n  - apply: {{ objects: [ {{ apiVersion: v1, kind: ConfigMap, metadata: {{ name: cfg }}, data: {{ n: \"{i}\" }} }} ] }}\n  - assert: {{ apiVersion: v1, kind: ConfigMap, name: cfg, expect: {{ data: {{ n: \"{i}\" }} }} }}\n  - wait: {{ apiVersion: v1, kind: ConfigMap, name: cfg, for: jsonpath, jsonpath: .data.n, value: \"{i}\" }}\n  - delete: {{ apiVersion: v1, kind: ConfigMap, name: cfg, wait: true }}\n"
                ),
            )
        })
        .collect();
    for (label, files) in [
        ("sleep 100ms each", sleepers),
        (
            "apply+assert+wait+delete in a fresh namespace each",
            cluster_scenarios,
        ),
    ] {
        let e = environment(&double, &files);
        let p1 = binary(e.path(), &["--parallel", "1"]).await;
        let p8 = binary(e.path(), &["--parallel", "8"]).await;
        println!(
            "{label}: --parallel 1 {p1:.0} ms, --parallel 8 {p8:.0} ms → {:.1}× faster",
            p1 / p8
        );
    }
}

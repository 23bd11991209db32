//! `up` as a task graph against its critical path, on each engine that answers.
//!
//! Scaled down 5× from the case of issue 19 (kind 30 s, builds 20 s, a dependency that needs
//! 15 s to start): the fake kind (tests/fake-kind) takes 1 s for each of its 6 steps of
//! `create cluster` (6 s); one image builds in 4 s (`RUN sleep 4`), one at once; a dependency
//! on a stock image needs 3 s to become healthy. The cluster's "node" is a container labelled
//! like kind's (connect joins it to the environment's network), the API server is the
//! Kubernetes API double of the tests.
//!
//! Printed per round and as medians: the wall time of `up`, the critical path computed from
//! the same run's events (preflight + max(cluster + the last image's load, slowest build +
//! its load, the stock dependency) + connect + deploy + ready + setup), their ratio, and what
//! the previous stage-by-stage order (build ‖ cluster, then load ‖ deps) would take with the
//! same durations.
//!
//! `cargo bench --bench pipeline` (`--profile dev` skips the release build).

#[path = "../tests/integration/apidouble/mod.rs"]
mod apidouble;
#[path = "../tests/common/test_engines.rs"]
mod test_engines;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 3;
const KIND_STEP_DELAY: &str = "1.0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let double = rt.block_on(apidouble::ApiDouble::start());
    let fake_kind = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake-kind/kind");
    for (name, _var, url, up) in test_engines::test_engines() {
        if !up {
            println!("{name}: not reachable at {url}, skipped");
            continue;
        }
        let dir = tempfile::tempdir()?;
        let kind_dir = tempfile::tempdir()?;
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis();
        let env = format!("bench-graph-{name}-{run}");
        let cluster = format!("ktg-{name}-{run}");
        let stock = format!("localhost/kt-bench-graph-stock-{name}:1");
        let kt = |args: &[&str]| -> Result<(u128, Vec<Value>), String> {
            let mut c = Command::new(env!("CARGO_BIN_EXE_kubetest"));
            c.current_dir(dir.path())
                .env_remove("DOCKER_HOST")
                .env_remove("CONTAINER_HOST")
                .env_remove("KUBECONFIG")
                .env_remove("KIND_EXPERIMENTAL_PROVIDER")
                .env(
                    if name == "podman" {
                        "CONTAINER_HOST"
                    } else {
                        "DOCKER_HOST"
                    },
                    &url,
                )
                .env("HOME", kind_dir.path())
                .env("FAKE_KIND_DIR", kind_dir.path())
                .env("FAKE_KIND_SERVER", double.url())
                .env("FAKE_KIND_STEP_DELAY", KIND_STEP_DELAY)
                .args(["--output", "json"])
                .args(args);
            let t = Instant::now();
            let out = c
                .output()
                .map_err(|e| format!("cannot run kubetest: {e}"))?;
            let ms = t.elapsed().as_millis();
            let events = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if !out.status.success() {
                return Err(format!(
                    "{name}: kubetest {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok((ms, events))
        };
        // The stock image, built beforehand by a config of its own.
        std::fs::create_dir_all(dir.path().join("stock"))?;
        // Also the image of the cluster's "node": its `crictl images -o json` lists nothing.
        let ctx = dir.path().join("stock/ctx");
        busybox_context(
            &ctx,
            "stock",
            "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY crictl /usr/local/bin/crictl\nRUN [\"/bin/busybox\", \"chmod\", \"755\", \"/usr/local/bin/crictl\"]",
        )?;
        std::fs::write(ctx.join("crictl"), "#!/bin/sh\necho '{\"images\": []}'\n")?;
        std::fs::write(
            dir.path().join("stock/kubetest.yaml"),
            format!("name: {env}-stock\nengine: {name}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {stock}, context: ctx }}\n"),
        )?;
        kt(&["-f", "stock/kubetest.yaml", "up"])?;
        environment(dir.path(), name, &env, &cluster, &stock, &fake_kind)?;
        let node = format!("{cluster}-control-plane");
        // `down` removes the nodes of the cluster it deletes: a new "node" for every round.
        let start_node = || {
            let _ = engine_cli(name, &url).args(["rm", "-f", &node]).output();
            engine_cli(name, &url)
                .args(["run", "-d", "--name", &node])
                .args(["--label", &format!("io.x-k8s.kind.cluster={cluster}")])
                .args(["--label", "io.x-k8s.kind.role=control-plane"])
                .args([&stock, "/bin/busybox", "sleep", "3600"])
                .output()
        };

        let mut walls = Vec::new();
        let mut criticals = Vec::new();
        let mut staged = Vec::new();
        for round in 0..ROUNDS {
            for img in ["fast", "slow"] {
                std::fs::write(
                    dir.path().join(img).join("marker.txt"),
                    format!("{run}-{round}"),
                )?;
            }
            start_node()?;
            let (wall, events) = kt(&["up"])?;
            let f = Figures::from(&events);
            println!(
                "{name} round {round}: up {wall} ms, critical path {} ms (x{:.2}); stage-by-stage order would take {} ms; phases: {}",
                f.critical,
                wall as f64 / f.critical as f64,
                f.staged,
                f.phases
            );
            walls.push(wall);
            criticals.push(f.critical);
            staged.push(f.staged);
            kt(&["down"])?;
        }
        let (w, c, s) = (
            median(&mut walls),
            median(&mut criticals),
            median(&mut staged),
        );
        println!(
            "{name}: median of {ROUNDS}: up {w} ms, critical path {c} ms, ratio x{:.2} (goal <= 1.1); stage-by-stage order {s} ms (x{:.2} of the critical path)",
            w as f64 / c as f64,
            s as f64 / c as f64
        );
        let _ = engine_cli(name, &url).args(["rm", "-f", &node]).output();
        let _ = kt(&["down", "--images"]);
        let _ = kt(&["-f", "stock/kubetest.yaml", "down", "--images"]);
    }
    Ok(())
}

/// Durations read from one `up`'s events.
struct Figures {
    critical: u128,
    staged: u128,
    phases: String,
}

impl Figures {
    fn from(events: &[Value]) -> Self {
        let phase = |p: &str| -> u128 {
            events
                .iter()
                .find(|e| e["event"] == "phase_finished" && e["phase"] == p)
                .and_then(|e| e["elapsed_ms"].as_u64())
                .unwrap_or(0) as u128
        };
        let at = |kind: &str, p: &str, task: Option<&str>| -> Option<u128> {
            events
                .iter()
                .filter(|e| e["event"] == kind && e["phase"] == p)
                .filter(|e| task.is_none_or(|t| e["task"] == t))
                .filter_map(|e| e["ts_ms"].as_u64())
                .max()
                .map(u128::from)
        };
        // The last load batch: from its tasks' start to their end.
        let load_end = at("task_finished", "load", None).unwrap_or(0);
        let last_load_start = events
            .iter()
            .filter(|e| e["event"] == "task_started" && e["phase"] == "load")
            .filter_map(|e| e["ts_ms"].as_u64())
            .max()
            .unwrap_or(0) as u128;
        let last_load = load_end.saturating_sub(last_load_start);
        let stock_dep = match (
            at("task_started", "deps", Some("stock")),
            at("task_finished", "deps", Some("stock")),
        ) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let (pre, build, cluster, deps) = (
            phase("preflight"),
            phase("build"),
            phase("cluster"),
            phase("deps"),
        );
        let tail = phase("connect") + phase("deploy") + phase("ready") + phase("setup");
        let critical = pre + (cluster.max(build) + last_load).max(stock_dep) + tail;
        // Before: build ‖ cluster, then load (all images in one archive; taken as long as the
        // last batch) ‖ deps (the stock dependency, no earlier than the builds).
        let staged = pre + cluster.max(build) + last_load.max(deps.max(stock_dep)) + tail;
        let phases = [
            "preflight",
            "build",
            "cluster",
            "load",
            "deps",
            "connect",
            "deploy",
            "ready",
            "setup",
        ]
        .iter()
        .map(|p| format!("{p} {}", phase(p)))
        .collect::<Vec<_>>()
        .join(", ");
        Figures {
            critical,
            staged,
            phases,
        }
    }
}

fn median(v: &mut [u128]) -> u128 {
    v.sort();
    v[v.len() / 2]
}

fn engine_cli(engine: &str, url: &str) -> Command {
    if engine == "docker" {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", url);
        c
    } else {
        let mut c = Command::new("podman");
        c.args(["--remote", "--url", url]);
        c
    }
}

fn busybox_context(dir: &Path, marker: &str, run: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::copy("/bin/busybox", dir.join("busybox"))?;
    std::fs::write(dir.join("marker.txt"), marker)?;
    std::fs::write(
        dir.join("Containerfile"),
        format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY marker.txt /marker.txt\n{run}\nCMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\"]\n"),
    )
}

/// Two images (one slow), kind through the fake, one dependency on the stock image that needs
/// 3 s to answer its health check.
fn environment(
    dir: &Path,
    engine: &str,
    env: &str,
    cluster: &str,
    stock: &str,
    fake_kind: &Path,
) -> std::io::Result<()> {
    busybox_context(&dir.join("fast"), "fast", "")?;
    busybox_context(
        &dir.join("slow"),
        "slow",
        "RUN [\"/bin/busybox\", \"sleep\", \"4\"]",
    )?;
    std::fs::write(
        dir.join("kubetest.yaml"),
        format!(
            "name: {env}\nengine: {engine}\nimages:\n  - {{ name: localhost/kt-bench-graph-fast-{engine}:1, context: fast }}\n  - {{ name: localhost/kt-bench-graph-slow-{engine}:1, context: slow }}\ncluster: {{ provider: kind, name: {cluster}, kind_binary: {} }}\ndeploy: {{ namespace: demo }}\ndependencies:\n  stock:\n    image: {stock}\n    command: [/bin/busybox, sh, -c, \"sleep 3 && mkdir -p /www && echo ok > /www/healthz && exec /bin/busybox httpd -f -p 8080 -h /www\"]\n    ports: [\"0:8080\"]\n    health: {{ http: {{ port: 8080, path: /healthz }}, interval: 100ms, timeout: 30s }}\n",
            fake_kind.display()
        ),
    )
}

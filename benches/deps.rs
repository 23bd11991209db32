//! Dependency startup benchmark against the real engines (`cargo bench --bench deps`).
//!
//! 1. Latency from a dependency becoming healthy to its dependant being started: a chain of
//!    21 busybox HTTP services, each needing the one before; 20 gaps read from the JSON events
//!    (`task_finished` of the need → `task_started` of the dependant), median and max.
//! 2. Total time of a 3-step chain (HTTP service → one-shot job → TCP service; each service
//!    needs 0.5 s to initialise, like a small real server) by `kubetest up` (default 500 ms
//!    health interval) versus the same chain by a shell script that polls with `sleep 1`.
//!
//! An engine that does not answer is skipped with a message.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 3;

struct Engine {
    name: &'static str,
    url: String,
}

fn engines() -> Vec<Engine> {
    let mut out = Vec::new();
    for (name, var, default) in [
        (
            "podman",
            "KUBETEST_TEST_PODMAN",
            "unix:///run/podman/podman.sock",
        ),
        (
            "docker",
            "KUBETEST_TEST_DOCKER",
            "unix:///run/dockerd-test.sock",
        ),
    ] {
        let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        let path = url.strip_prefix("unix://").unwrap_or(&url).to_owned();
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            out.push(Engine { name, url });
        } else {
            eprintln!("skipping {name}: nothing answers at {url}");
        }
    }
    out
}

fn kubetest(engine: &Engine, dir: &Path, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubetest"));
    c.current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("KUBETEST_OUTPUT")
        .env("NO_COLOR", "1")
        .args(args)
        .args(["--output", "json"]);
    match engine.name {
        "podman" => c.env("CONTAINER_HOST", &engine.url),
        _ => c.env("DOCKER_HOST", &engine.url),
    };
    let out = c.output().expect("run kubetest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        events,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ts(events: &[serde_json::Value], kind: &str, task: &str) -> u64 {
    events
        .iter()
        .find(|e| e["event"] == kind && e["phase"] == "deps" && e["task"] == task)
        .and_then(|e| e["ts_ms"].as_u64())
        .unwrap_or_else(|| panic!("no {kind} event for {task}"))
}

fn busybox_image(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox-static installed");
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
}

fn write_config(dir: &Path, env: &str, engine: &Engine, image: &str, deps: &str) {
    std::fs::write(
        dir.join("kubetest.yaml"),
        format!(
            "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\ndependencies:\n{deps}",
            engine.name
        ),
    )
    .unwrap();
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn handoff_latency(engine: &Engine, dir: &Path, image: &str) {
    let env = format!("i4-bench-gap-{}", engine.name);
    let mut deps = String::new();
    for i in 0..=20 {
        deps.push_str(&format!(
            "  s{i}:\n    image: {image}\n    command: [sh, -c, \"mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n    ports: [\"8080\"]\n    health: {{ http: {{ port: 8080 }}, interval: 100ms }}\n"
        ));
        if i > 0 {
            deps.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
    }
    write_config(dir, &env, engine, image, &deps);
    kubetest(engine, dir, &["down"]);
    let (code, events, err) = kubetest(engine, dir, &["up"]);
    assert_eq!(code, 0, "{}: {err}", engine.name);
    let healthy = |i: usize| ts(&events, "task_finished", &format!("s{i}"));
    let gaps: Vec<u64> = (1..=20)
        .map(|i| ts(&events, "task_started", &format!("s{i}")) - healthy(i - 1))
        .collect();
    // Until the dependant's container exists and its start call goes out.
    let to_start: Vec<u64> = (1..=20)
        .map(|i| {
            let starting = events
                .iter()
                .find(|e| {
                    e["event"] == "task_progress"
                        && e["task"] == format!("s{i}")
                        && e["message"] == "starting"
                })
                .and_then(|e| e["ts_ms"].as_u64())
                .expect("starting progress");
            starting - healthy(i - 1)
        })
        .collect();
    println!(
        "{}: healthy → dependant's task started: median {} ms, max {} ms; → its container created and being started: median {} ms, max {} ms ({} hand-offs)",
        engine.name,
        median(gaps.clone()),
        gaps.iter().max().unwrap(),
        median(to_start.clone()),
        to_start.iter().max().unwrap(),
        gaps.len()
    );
    kubetest(engine, dir, &["down"]);
}

const CHAIN: &str = r#"  web:
    image: IMAGE
    command: [sh, -c, "sleep 0.5 && mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    ports: ["8080"]
    health: { http: { port: 8080, path: /healthz }, interval: INTERVAL }
  job:
    image: IMAGE
    needs: [web]
    once: true
    command: [sh, -c, "echo migrated"]
  echo:
    image: IMAGE
    needs: [job]
    ports: ["7000"]
    command: [sh, -c, "sleep 0.5 && exec nc -ll -p 7000 -e echo hi"]
    health: { tcp: 7000, interval: INTERVAL }
"#;

/// The same chain as a team's shell script: CLI calls and `sleep 1` polling.
const SCRIPT: &str = r#"set -eu
E=$1; N=$2; IMG=$3
$E network create "$N" >/dev/null
$E run -d --name "$N-web" --network "$N" -p 8080 "$IMG" sh -c 'sleep 0.5 && mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www' >/dev/null
p=$($E port "$N-web" 8080/tcp | head -1 | sed 's/.*://')
until curl -fsS "http://127.0.0.1:$p/healthz" >/dev/null 2>&1; do sleep 1; done
$E run --name "$N-job" --network "$N" "$IMG" sh -c 'echo migrated' >/dev/null
$E run -d --name "$N-echo" --network "$N" -p 7000 "$IMG" sh -c 'sleep 0.5 && exec nc -ll -p 7000 -e echo hi' >/dev/null
p=$($E port "$N-echo" 7000/tcp | head -1 | sed 's/.*://')
until [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p && cat <&3" 2>/dev/null)" = hi ]; do sleep 1; done
"#;

fn script_cleanup(cli: &str, engine: &Engine, net: &str) {
    let mut c = Command::new(cli);
    if engine.name == "docker" {
        c.env("DOCKER_HOST", &engine.url);
    }
    let _ = c
        .args(["rm", "-f"])
        .args(["web", "job", "echo"].map(|s| format!("{net}-{s}")))
        .output();
    let mut c = Command::new(cli);
    if engine.name == "docker" {
        c.env("DOCKER_HOST", &engine.url);
    }
    let _ = c.args(["network", "rm", net]).output();
}

fn chain_vs_script(engine: &Engine, dir: &Path, image: &str) {
    let env = format!("i4-bench-chain-{}", engine.name);
    let mut figures = Vec::new();
    for interval in ["500ms", "100ms"] {
        let deps = CHAIN.replace("IMAGE", image).replace("INTERVAL", interval);
        write_config(dir, &env, engine, image, &deps);
        let (up, phase) = chain_by_kubetest(engine, dir);
        figures.push(format!(
            "kubetest up {up} ms (deps phase {phase} ms) with a {interval} health interval"
        ));
    }
    let script = chain_by_script(engine, image);
    println!(
        "{}: 3-step chain: {}; shell script with sleep-1 polling {script} ms (medians of {RUNS})",
        engine.name,
        figures.join(", ")
    );
    match chain_by_compose(engine, image) {
        Ok(compose) => println!(
            "{}: 3-step chain by `docker-compose up -d` (healthchecks every 500 ms, like kubetest's default): {compose} ms (median of {RUNS}); kubetest/compose x{:.2}",
            engine.name,
            figures
                .first()
                .and_then(|f| f.strip_prefix("kubetest up "))
                .and_then(|f| f.split(' ').next())
                .and_then(|ms| ms.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / compose as f64
        ),
        Err(why) => println!("{}: docker-compose skipped: {why}", engine.name),
    }
}

/// The same chain as a compose file (compose spec, docker-compose 1.29 from Debian):
/// `service_healthy` / `service_completed_successfully` conditions, engine healthchecks every
/// 500 ms; a last one-shot service that needs `echo` healthy makes `up -d` return only then.
const COMPOSE: &str = r#"services:
  web:
    image: IMAGE
    command: [sh, -c, "sleep 0.5 && mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    ports: ["8080"]
    healthcheck: { test: [CMD, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/healthz"], interval: 500ms, timeout: 2s, retries: 60 }
  job:
    image: IMAGE
    command: [sh, -c, "echo migrated"]
    depends_on: { web: { condition: service_healthy } }
  echo:
    image: IMAGE
    ports: ["7000"]
    command: [sh, -c, "sleep 0.5 && exec nc -ll -p 7000 -e echo hi"]
    healthcheck: { test: [CMD-SHELL, "nc 127.0.0.1 7000 </dev/null | grep -q hi"], interval: 500ms, timeout: 2s, retries: 60 }
    depends_on: { job: { condition: service_completed_successfully } }
  ready:
    image: IMAGE
    command: ["true"]
    depends_on: { echo: { condition: service_healthy } }
"#;

/// Median wall time of `docker-compose up -d` of [`COMPOSE`]; Docker only (Podman 4.3 runs
/// healthchecks from systemd timers, which a container without systemd does not have).
fn chain_by_compose(engine: &Engine, image: &str) -> Result<u64, String> {
    if engine.name != "docker" {
        return Err("Podman's healthchecks need systemd timers".into());
    }
    let compose = which::which("docker-compose")
        .map_err(|_| "docker-compose is not installed (Debian: apt-get install docker-compose)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, COMPOSE.replace("IMAGE", image)).map_err(|e| e.to_string())?;
    let run = |args: &[&str]| {
        Command::new(&compose)
            .env("DOCKER_HOST", &engine.url)
            .args(["-p", "kt-i4-bench-compose", "-f"])
            .arg(&file)
            .args(args)
            .output()
    };
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let _ = run(&["down", "--remove-orphans"]);
        let t = Instant::now();
        let out = run(&["up", "-d"]).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_millis() as u64);
        if !out.status.success() {
            let _ = run(&["down"]);
            return Err(format!(
                "docker-compose up failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let _ = run(&["down", "--remove-orphans"]);
    Ok(median(times))
}

/// Medians of the wall time of `up` and of its deps phase.
fn chain_by_kubetest(engine: &Engine, dir: &Path) -> (u64, u64) {
    let mut ours = Vec::new();
    let mut deps_phase = Vec::new();
    for _ in 0..RUNS {
        kubetest(engine, dir, &["down"]);
        let t = Instant::now();
        let (code, events, err) = kubetest(engine, dir, &["up"]);
        ours.push(t.elapsed().as_millis() as u64);
        assert_eq!(code, 0, "{}: {err}", engine.name);
        deps_phase.push(
            events
                .iter()
                .find(|e| e["event"] == "phase_finished" && e["phase"] == "deps")
                .and_then(|e| e["elapsed_ms"].as_u64())
                .unwrap_or(0),
        );
    }
    kubetest(engine, dir, &["down"]);
    (median(ours), median(deps_phase))
}

fn chain_by_script(engine: &Engine, image: &str) -> u64 {
    let cli = engine.name;
    let net = format!("kt-i4-bench-sh-{}", engine.name);
    let mut script = Vec::new();
    for _ in 0..RUNS {
        script_cleanup(cli, engine, &net);
        let mut c = Command::new("bash");
        c.args(["-c", SCRIPT, "script", cli, &net, image]);
        if engine.name == "docker" {
            c.env("DOCKER_HOST", &engine.url);
        }
        let t = Instant::now();
        let out = c.output().expect("bash");
        script.push(t.elapsed().as_millis() as u64);
        assert!(
            out.status.success(),
            "{}: script: {}",
            engine.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    script_cleanup(cli, engine, &net);
    median(script)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    busybox_image(&tmp.path().join("bb"));
    for engine in engines() {
        let image = format!("localhost/kt-i4-bench-bb-{}:1", engine.name);
        handoff_latency(&engine, tmp.path(), &image);
        chain_vs_script(&engine, tmp.path(), &image);
    }
}

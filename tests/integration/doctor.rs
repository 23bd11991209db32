//! `kubetest doctor` against the real engines here, and against a hung `podman`.

use crate::engines::engines;
use crate::support::kubetest;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn doctor_json(cmd: &mut Command) -> (i32, Value) {
    let out = cmd.output().expect("run kubetest doctor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed one JSON object ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no `{id}` check in {doc:#}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn doctor_reports_both_real_engines_and_missing_kind() {
    let found = engines();
    if found.is_empty() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kubetest();
    cmd.current_dir(dir.path())
        .args(["doctor", "--json"])
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("KIND_EXPERIMENTAL_PROVIDER");
    for e in &found {
        match e.name {
            "podman" => cmd.env("CONTAINER_HOST", &e.url),
            _ => cmd.env("DOCKER_HOST", &e.url),
        };
    }
    let (code, doc) = doctor_json(&mut cmd);
    let ids: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "engine-endpoints",
            "podman-machine",
            "storage",
            "kind",
            "host-limits",
            "clock",
            "state"
        ]
    );
    let failed = doc["fail"].as_u64().unwrap();
    assert_eq!(code, if failed > 0 { 3 } else { 0 }, "{doc:#}");

    let endpoints = check(&doc, "engine-endpoints");
    assert_eq!(endpoints["status"], "pass", "{endpoints:#}");
    let evidence = strings(&endpoints["evidence"]);
    for e in &found {
        let var = if e.name == "podman" {
            "CONTAINER_HOST"
        } else {
            "DOCKER_HOST"
        };
        let prefix = format!("{var} {}: {} ", e.url, e.name);
        assert!(
            evidence
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains("(API 1.")),
            "`{prefix}…` in {evidence:#?}"
        );
    }
    let first = &found[0];
    assert!(
        endpoints["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("using {} ", first.name)),
        "{endpoints:#}"
    );
    // The engines here are real and local: storage measured the data root, clocks agree.
    let storage = check(&doc, "storage");
    assert!(
        strings(&storage["evidence"])
            .iter()
            .any(|l| l.starts_with("data root /") && l.contains(" free of ")),
        "{storage:#}"
    );
    let clock = check(&doc, "clock");
    assert_eq!(clock["status"], "pass", "{clock:#}");
    assert_eq!(strings(&clock["evidence"]).len(), found.len(), "{clock:#}");

    if which::which("kind").is_err() {
        let kind = check(&doc, "kind");
        assert_eq!(
            kind["status"], "warn",
            "no config: kind may be needed: {kind:#}"
        );
        assert!(
            kind["summary"]
                .as_str()
                .unwrap()
                .contains("kind is not installed"),
            "{kind:#}"
        );
        assert!(
            strings(&kind["fix"]).contains(&"go install sigs.k8s.io/kind@latest"),
            "{kind:#}"
        );
    }
}

#[test]
fn doctor_with_kind_environment_fails_without_kind_and_compares_state() {
    let Some(engine) = engines().into_iter().next() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubetest.yaml"),
        format!("name: kt-i8-doctor\nengine: {}\n", engine.name),
    )
    .unwrap();
    let (code, doc) = doctor_json(
        engine
            .kubetest(dir.path())
            .args(["doctor", "--output", "json"]),
    );
    let state = check(&doc, "state");
    assert_eq!(state["status"], "pass", "{state:#}");
    assert_eq!(
        state["summary"],
        "environment kt-i8-doctor is not up (no state file) and nothing of it exists"
    );
    if which::which("kind").is_err() {
        assert_eq!(
            code, 3,
            "`cluster.provider: kind` without kind fails: {doc:#}"
        );
        let kind = check(&doc, "kind");
        assert_eq!(kind["status"], "fail", "{kind:#}");
        assert!(
            strings(&kind["fix"])
                .iter()
                .any(|f| f.contains("releases/latest/download/kind-")),
            "{kind:#}"
        );
    }
}

/// A `podman` that accepts any arguments and never answers, like a wedged machine.
fn hung_podman(dir: &Path) {
    let bin = dir.join("podman");
    std::fs::write(&bin, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn hung_podman_becomes_a_failed_check_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    hung_podman(dir.path());
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let (code, doc) = doctor_json(kubetest().current_dir(dir.path()).env("PATH", path).args([
        "doctor",
        "--json",
        "--timeout",
        "4s",
    ]));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "doctor took {took:?} with a hung podman"
    );
    assert_eq!(code, 3, "{doc:#}");
    let machine = check(&doc, "podman-machine");
    assert_eq!(machine["status"], "fail", "{machine:#}");
    let summary = machine["summary"].as_str().unwrap();
    // The command's own limit (3/4 of the check's) names it; on a machine too loaded to
    // even start it in time, the check's limit cuts in and still says it hung.
    assert!(
        summary.contains("podman machine list --format json` hung: no answer within 3s")
            || summary.starts_with("the check hung: no answer within 4s"),
        "{summary}"
    );
    assert!(
        machine["elapsed_ms"].as_u64().unwrap() <= 4_100,
        "{machine:#}"
    );
    assert!(
        strings(&machine["fix"])
            .iter()
            .any(|f| f.starts_with("ps -ef")),
        "{machine:#}"
    );
}

/// `doctor --explain … --live` runs the check named by `decided_by` on this machine: here
/// the engine-endpoints check, which sees the DOCKER_HOST the test points at a socket
/// that does not exist.
#[test]
fn explain_live_runs_the_deciding_check() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let text = format!(
        "Cannot connect to the Docker daemon at unix://{}. Is the docker daemon running?",
        missing.display()
    );
    let mut cmd = kubetest();
    cmd.current_dir(dir.path())
        .args([
            "doctor",
            "--json",
            "--live",
            "--timeout",
            "10s",
            "--explain",
            &text,
        ])
        .env("DOCKER_HOST", format!("unix://{}", missing.display()))
        .env_remove("CONTAINER_HOST");
    let (code, doc) = doctor_json(&mut cmd);
    assert_eq!(code, 0, "{doc:#}");
    // The docker CLI's wording cannot tell a missing socket from a stopped daemon: the
    // text gives their family, and the live check decides — here the socket is missing.
    assert_eq!(doc["category"], "socket-missing", "{doc:#}");
    let decided = doc["decided_live"].as_str().unwrap_or_default();
    assert!(
        decided.contains(&missing.display().to_string()) && decided.contains("no such socket file"),
        "{doc:#}"
    );
    assert_eq!(
        doc["candidates"],
        serde_json::json!(["socket-missing", "daemon-not-running"]),
        "{doc:#}"
    );
    assert_eq!(doc["decided_by"], "engine-endpoints", "{doc:#}");
    let live = &doc["live"];
    assert_eq!(live["id"], "engine-endpoints", "{doc:#}");
    let evidence = strings(&live["evidence"]).join("\n");
    assert!(
        evidence.contains(&missing.display().to_string()),
        "the live check probed the DOCKER_HOST socket: {evidence}"
    );
}

/// Without `--live`, or for a text no check decides, `--explain` runs nothing live.
#[test]
fn explain_without_live_or_without_deciding_check_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    let mut cmd = kubetest();
    cmd.current_dir(dir.path())
        .args(["doctor", "--json", "--explain", text]);
    let (_, doc) = doctor_json(&mut cmd);
    assert!(doc.get("live").is_none(), "{doc:#}");

    let mut cmd = kubetest();
    cmd.current_dir(dir.path()).args([
        "doctor",
        "--json",
        "--live",
        "--explain",
        "everything is fine",
    ]);
    let (_, doc) = doctor_json(&mut cmd);
    assert_eq!(doc["category"], "unknown");
    assert!(doc.get("live").is_none(), "{doc:#}");

    let out = kubetest()
        .current_dir(dir.path())
        .args(["doctor", "--live"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--live needs --explain");
}

/// The human form names the deciding check and prints its live result under the verdict.
#[test]
fn explain_live_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let out = kubetest()
        .current_dir(dir.path())
        .args([
            "doctor",
            "--live",
            "--timeout",
            "10s",
            "--explain",
            &format!(
                "dial unix {}: connect: no such file or directory",
                missing.display()
            ),
        ])
        .env("DOCKER_HOST", format!("unix://{}", missing.display()))
        .env_remove("CONTAINER_HOST")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("category: socket-missing"), "{stdout}");
    assert!(stdout.contains("live check on this machine:"), "{stdout}");
    assert!(stdout.contains("engine-endpoints"), "{stdout}");
}

/// A family verdict in the human form names the categories it leaves open and the check
/// that decides between them.
#[test]
fn explain_family_verdict_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = kubetest()
        .current_dir(dir.path())
        .args([
            "doctor",
            "--explain",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("category: engine-unreachable"), "{stdout}");
    assert!(
        stdout.contains("one of: socket-missing, daemon-not-running"),
        "{stdout}"
    );
    assert!(
        stdout.contains("decided by: the `engine-endpoints` check"),
        "{stdout}"
    );
}

/// Fault injected: a socket file nobody listens on (bound, then the listener dropped).
/// The docker CLI's sentence alone gives the engine family; `--live` probes the socket,
/// is refused, and settles it as daemon-not-running.
#[test]
fn explain_live_settles_a_refused_socket_as_daemon_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(
        socket.exists(),
        "the socket file stays after its listener is gone"
    );
    let out = kubetest()
        .current_dir(dir.path())
        .args([
            "doctor",
            "--live",
            "--timeout",
            "10s",
            "--explain",
            &format!(
                "Cannot connect to the Docker daemon at unix://{}. Is the docker daemon running?",
                socket.display()
            ),
        ])
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env_remove("CONTAINER_HOST")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("category: daemon-not-running"), "{stdout}");
    assert!(
        stdout.contains("decided live: daemon-not-running (the text left socket-missing, daemon-not-running open"),
        "{stdout}"
    );
    assert!(stdout.contains("connection refused"), "{stdout}");
}

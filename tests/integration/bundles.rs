//! Failure bundles: what a failed `up` and a failed scenario leave on disk, and the index
//! that says what is where.

use crate::apidouble::{pods, workloads, ApiDouble};
use crate::support::{kubetest, kubetest_in, Run};
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
    double.put_namespace("demo");
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
        "failing entry: deploy.wait demo/deployment/web (kubetest.yaml:7)",
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

/// `bollard` on the test engine `url` (`unix://…`).
fn docker_at(url: &str) -> bollard::Docker {
    let path = url.strip_prefix("unix://").unwrap_or(url);
    bollard::Docker::connect_with_unix(path, 60, bollard::API_DEFAULT_VERSION).unwrap()
}

/// Against real Podman and Docker: a failing scenario leaves, in its bundle, the known line
/// a dependency logged (summary and full log, named by the index) and the health checks
/// kubetest made; `kubetest logs` prints that line with its source, also while following;
/// `kubetest status` is 0 while all is there, and 3 naming the container once it is removed
/// behind kubetest's back.
#[test]
fn a_real_dependency_in_the_bundle_in_logs_and_in_status() {
    for engine in crate::engines::engines() {
        let tmp = tempfile::tempdir().unwrap();
        let tag = crate::support::unique(&format!("kt-it-bundle-{}", engine.name));
        let image = format!("localhost/{tag}:1");
        let known = format!("KNOWN-LINE {tag}: listening on 8080");
        crate::engines::busybox_context(&tmp.path().join("app"), "bundle-marker", None);
        std::fs::create_dir(tmp.path().join("scenarios")).unwrap();
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: {tag}\nengine: {e}\ncluster: {{ provider: none }}\n\
                 images:\n  - {{ name: {image}, context: app }}\n\
                 dependencies:\n  talker:\n    image: {image}\n    env: {{ API_TOKEN: s3cr3t-t0ken-{e} }}\n    command: [/bin/busybox, sh, -c, 'echo \"{known}\"; echo \"token=$API_TOKEN\"; echo to-stderr >&2; exec /bin/busybox httpd -f -p 8080 -h /']\n    ports: [\"0:8080\"]\n    health: {{ http: {{ port: 8080, path: /marker.txt }} }}\n\
                 scenarios: scenarios/\n",
                e = engine.name
            ),
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("scenarios/talk.yaml"),
            "name: talk-fails\nsteps:\n  - name: reachable\n    http: { url: \"http://127.0.0.1:{{ deps.talker.port.8080 }}/marker.txt\", expect: { status: 200 } }\n  - name: says the wrong thing\n    http: { url: \"http://127.0.0.1:{{ deps.talker.port.8080 }}/marker.txt\", expect: { body_contains: nope } }\n",
        )
        .unwrap();
        let e = engine.name;
        let up = Run::new(engine.kubetest(tmp.path()).args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{e}: up: {}", up.stderr);

        // logs: the known line, prefixed with its source; stderr too.
        let logs = Run::new(engine.kubetest(tmp.path()).args(["logs", "talker"]));
        assert_eq!(logs.code, 0, "{e}: {}", logs.stderr);
        assert!(
            logs.stdout.contains(&format!("talker | {known}\n")),
            "{e}: {}",
            logs.stdout
        );
        assert!(
            logs.stdout.contains("talker | to-stderr\n"),
            "{e}: {}",
            logs.stdout
        );
        // The dependency prints its own secret env value; kubetest masks it (issue 15).
        assert!(
            logs.stdout.contains("talker | token=******\n") && !logs.stdout.contains("s3cr3t"),
            "{e}: {}",
            logs.stdout
        );
        let tail = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["logs", "talker", "--tail", "1"]),
        );
        assert_eq!(tail.stdout.lines().count(), 1, "{e}: {}", tail.stdout);
        let unknown = Run::new(engine.kubetest(tmp.path()).args(["logs", "nobody"]));
        assert_eq!(unknown.code, 2, "{e}: {}", unknown.stderr);
        assert!(
            unknown
                .stderr
                .contains("no dependency `nobody` is recorded (the dependencies are: talker)"),
            "{e}: {}",
            unknown.stderr
        );
        follow_until_interrupted(&engine, tmp.path(), &known);

        // A failing scenario: the bundle holds the dependency's state, checks and logs.
        let run = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["run", "--output", "json"]),
        );
        assert_eq!(run.code, 1, "{e}: {}", run.stderr);
        let files = files_under(&tmp.path().join(".kubetest/artifacts"));
        let index = read_one(&files, "talk-fails/README.txt");
        for want in [
            "scenario `talk-fails`",
            "failing step: says the wrong thing (",
            "scenarios/talk.yaml:5)",
            "dependencies/talker.txt",
            "dependencies/talker.log",
            "failure.txt",
            "timeline.txt",
        ] {
            assert!(
                index.contains(want),
                "{e}: missing `{want}` in the index:\n{index}"
            );
        }
        let summary = read_one(&files, "talk-fails/dependencies/talker.txt");
        for want in [
            "dependency talker — container ".to_owned(),
            "state: running".to_owned(),
            "kubetest health checks (last ".to_owned(),
            " ok   GET http://127.0.0.1:".to_owned(),
            format!("  | {known}"),
        ] {
            assert!(
                summary.contains(&want),
                "{e}: missing `{want}` in:\n{summary}"
            );
        }
        let full = read_one(&files, "talk-fails/dependencies/talker.log");
        assert!(full.contains(&known), "{e}: {full}");
        assert!(
            full.contains("token=******") && !full.contains("s3cr3t"),
            "{e}: the dependency's secret is masked in its saved log: {full}"
        );
        let failure = read_one(&files, "talk-fails/failure.txt");
        assert!(
            failure.contains("failing step: says the wrong thing at ")
                && failure.contains("talk.yaml:5"),
            "{e}: {failure}"
        );

        // status: all there, then the container removed from outside.
        let ok = Run::new(engine.kubetest(tmp.path()).args(["status"]));
        assert_eq!(ok.code, 0, "{e}: {}\n{}", ok.stdout, ok.stderr);
        assert!(
            ok.stdout.contains("everything recorded exists and works"),
            "{e}: {}",
            ok.stdout
        );
        assert!(ok.stdout.contains("running, healthy"), "{e}: {}", ok.stdout);
        let container = format!("kubetest-{tag}-talker");
        let docker = docker_at(&engine.url);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(docker.remove_container(
            &container,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        ))
        .unwrap();
        let gone = Run::new(engine.kubetest(tmp.path()).args(["status"]));
        assert_eq!(gone.code, 3, "{e}: {}\n{}", gone.stdout, gone.stderr);
        assert!(
            gone.stdout
                .contains(&format!("MISSING container {container} (talker)")),
            "{e}: {}",
            gone.stdout
        );
        assert!(
            gone.stdout
                .contains(&format!("1 problem(s): container {container} (talker)")),
            "{e}: {}",
            gone.stdout
        );
        let json = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["status", "--output", "json"]),
        );
        assert_eq!(json.code, 3);
        let v: serde_json::Value = serde_json::from_str(json.stdout.trim())
            .unwrap_or_else(|err| panic!("{e}: one JSON object: {err}\n{}", json.stdout));
        assert_eq!(v["ok"], false);
        assert_eq!(
            v["problems"],
            serde_json::json!([format!("container {container} (talker)")])
        );
        let item = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "container")
            .unwrap();
        assert_eq!(item["health"], "missing", "{e}: {v}");

        let down = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["down", "--images", "--output", "json"]),
        );
        assert_eq!(down.code, 0, "{e}: {}", down.stderr);
    }
}

/// `logs -F` prints the known line, keeps running, and ends with exit 0 on Ctrl-C (SIGINT).
fn follow_until_interrupted(engine: &crate::engines::TestEngine, dir: &Path, known: &str) {
    use std::io::{BufRead, BufReader};
    /// Kills the child if the test fails before it ends.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Guard(
        engine
            .kubetest(dir)
            .args(["logs", "talker", "-F"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Kept open to the end: a closed pipe would make the follower's next write fail.
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    // The dependency prints three lines (known, token, one on stderr); stdout and stderr are
    // two streams, so the engine may interleave them either way.
    let first: Vec<String> = lines.by_ref().take(3).map(|l| l.unwrap()).collect();
    assert!(
        first.contains(&format!("talker | {known}")),
        "{}: {first:?}",
        engine.name
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "{}: still following",
        engine.name
    );
    interrupt(child.0.id());
    let status = child.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}: Ctrl-C ends following",
        engine.name
    );
    drop(lines);
}

/// An environment whose state records the double as its cluster and `demo` as the deploy
/// namespace.
fn double_environment(double: &ApiDouble) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = double.write_kubeconfig(tmp.path());
    std::fs::create_dir(tmp.path().join("manifests")).unwrap();
    let config = tmp.path().join("kubetest.yaml");
    std::fs::write(
        &config,
        "name: kt-i6\ncluster: { provider: existing, kubeconfig: kubeconfig, context: kind-kt-i6 }\ndeploy:\n  namespace: demo\n  manifests: [manifests/]\n",
    )
    .unwrap();
    let plan = kubetest::plan::Plan::from_config(&kubetest::config::load(&config).unwrap());
    let mut state = kubetest::state::State::new(&plan.environment);
    state.cluster = Some(crate::k8s_support::double_cluster(kubeconfig));
    kubetest::state::StateStore::new(&plan.state_dir)
        .save(&state)
        .unwrap();
    tmp
}

/// `kubetest logs` for pods: by Deployment (its selector), by name and by label selector,
/// every container, each line prefixed with the pod (and container when there are several).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_pods_through_the_api() {
    let double = ApiDouble::start().await;
    double.put_namespace("demo");
    double.put(
        "apps",
        "deployments",
        workloads::stuck_deployment("demo", "web", IMAGE, 1),
    );
    let mut pod = pods::ready(pods::deployment_pod("demo", "web", "a1", IMAGE));
    // A second container (a sidecar): each gets its own prefix.
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "proxy", "image": IMAGE}));
    double.set_pod(pod);
    double.set_pod(pods::ready(pods::deployment_pod(
        "demo", "other", "b2", IMAGE,
    )));
    double.set_logs(
        "demo",
        "web-7d4b9c6f5-a1",
        "app",
        false,
        "started\nserving on :8080\n",
    );
    double.set_logs("demo", "web-7d4b9c6f5-a1", "proxy", false, "proxy up\n");
    double.set_logs("demo", "other-7d4b9c6f5-b2", "app", false, "other line\n");
    let tmp = double_environment(&double);

    let r = kubetest_in(tmp.path(), &["logs", "deployment/web"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "web-7d4b9c6f5-a1/app   | started\nweb-7d4b9c6f5-a1/app   | serving on :8080\nweb-7d4b9c6f5-a1/proxy | proxy up\n"
    );
    let r = kubetest_in(
        tmp.path(),
        &["logs", "pod/other-7d4b9c6f5-b2", "--tail", "1"],
    )
    .await;
    assert_eq!(
        r.stdout, "other-7d4b9c6f5-b2 | other line\n",
        "{}",
        r.stderr
    );
    let r = kubetest_in(
        tmp.path(),
        &["logs", "-l", "app=web", "--tail", "1", "--output", "json"],
    )
    .await;
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"source": "web-7d4b9c6f5-a1/app", "line": "serving on :8080"}),
            serde_json::json!({"source": "web-7d4b9c6f5-a1/proxy", "line": "proxy up"}),
        ]
    );
    // Following: the lines so far, then it waits for more until Ctrl-C.
    let dir = tmp.path().to_owned();
    let followed = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader};
        let mut child = kubetest()
            .current_dir(dir)
            .args(["logs", "pod/other-7d4b9c6f5-b2", "-F"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let running = child.try_wait().unwrap().is_none();
        interrupt(child.id());
        let code = child.wait().unwrap().code();
        (first, running, code)
    })
    .await
    .unwrap();
    assert_eq!(
        followed,
        ("other-7d4b9c6f5-b2 | other line".to_owned(), true, Some(0))
    );
    let none = kubetest_in(tmp.path(), &["logs", "deployment/nope"]).await;
    assert_eq!(none.code, 3);
    assert!(
        none.stderr.contains("Deployment demo/nope does not exist"),
        "{}",
        none.stderr
    );
    let asked: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log"))
        .collect();
    assert!(
        asked.iter().any(|r| r.contains("container=proxy")),
        "{asked:?}"
    );
}

/// `kubetest logs … | head -1`: once the reader has closed the pipe, `logs` stops reading and
/// exits 0 (the reader has what it wanted), with no error; it does not read the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stop_quietly_when_the_reader_closes_the_pipe() {
    let double = ApiDouble::start().await;
    double.put_namespace("demo");
    double.set_pod(pods::ready(pods::deployment_pod(
        "demo", "web", "a1", IMAGE,
    )));
    // 4 MiB of log: far more than a pipe holds (64 KiB on Linux), so writes must hit the
    // closed pipe.
    let log: String = (0..100_000).map(|i| format!("line {i:036}\n")).collect();
    double.set_logs("demo", "web-7d4b9c6f5-a1", "app", false, &log);
    let tmp = double_environment(&double);
    let dir = tmp.path().to_owned();
    let (first, code, stderr) = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader, Read};
        let mut child = kubetest()
            .current_dir(dir)
            .args(["logs", "pod/web-7d4b9c6f5-a1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader (stdout) is dropped here: the pipe is closed.
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (first, child.wait().unwrap().code(), stderr)
    })
    .await
    .unwrap();
    assert_eq!(
        first,
        format!("web-7d4b9c6f5-a1 | line {:036}\n", 0),
        "{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("cannot write"), "{stderr}");
}

/// `status` asks the cluster: the API server answers and the deploy namespace exists (0);
/// once the namespace is gone, it is named missing (3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_asks_the_cluster_about_its_namespace() {
    let double = ApiDouble::start().await;
    double.put(
        "",
        "namespaces",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}, "status": {"phase": "Active"}}),
    );
    let tmp = double_environment(&double);
    let ok = kubetest_in(tmp.path(), &["status"]).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("API server v1.33.1 answers") && ok.stdout.contains("namespace demo"),
        "{}",
        ok.stdout
    );
    double.remove("", "namespaces", None, "demo");
    let gone = kubetest_in(tmp.path(), &["status", "--output", "json"]).await;
    assert_eq!(gone.code, 3, "{}", gone.stdout);
    let v: serde_json::Value = serde_json::from_str(gone.stdout.trim()).unwrap();
    assert_eq!(v["problems"], serde_json::json!(["namespace demo"]));
}

/// Against real Podman and Docker: a dependency that never becomes healthy fails `up`, and
/// the `up` bundle names it with its config line, shows every failed health check kubetest
/// made and the line the container logged.
#[test]
fn an_unhealthy_dependency_leaves_its_checks_and_logs_in_the_up_bundle() {
    for engine in crate::engines::engines() {
        let tmp = tempfile::tempdir().unwrap();
        let tag = crate::support::unique(&format!("kt-it-mute-{}", engine.name));
        let image = format!("localhost/{tag}:1");
        crate::engines::busybox_context(&tmp.path().join("app"), "mute", None);
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: {tag}\nengine: {e}\ncluster: {{ provider: none }}\n\
                 images:\n  - {{ name: {image}, context: app }}\n\
                 dependencies:\n  mute:\n    image: {image}\n    command: [/bin/busybox, sh, -c, 'echo \"MUTE-LINE waiting for a config that never comes\"; exec /bin/busybox sleep 60']\n    ports: [\"0:8080\"]\n    health: {{ tcp: 8080, timeout: 2s, interval: 300ms }}\n",
                e = engine.name
            ),
        )
        .unwrap();
        let e = engine.name;
        let up = Run::new(engine.kubetest(tmp.path()).args(["up", "--output", "json"]));
        assert_eq!(up.code, 3, "{e}: {}", up.stderr);
        let files = files_under(&tmp.path().join(".kubetest/artifacts"));
        let index = read_one(&files, "README.txt");
        for want in [
            "failed in phase deps",
            "failing entry: dependency mute (kubetest.yaml:7)",
            "dependency mute: running; last health check failed: ",
            "dependencies/mute.txt",
            "dependencies/mute.log",
        ] {
            assert!(index.contains(want), "{e}: missing `{want}` in:\n{index}");
        }
        let mute = read_one(&files, "dependencies/mute.txt");
        assert!(mute.contains(" fail tcp 127.0.0.1:"), "{e}: {mute}");
        assert!(mute.contains("  | MUTE-LINE waiting"), "{e}: {mute}");
        let checks = mute.lines().filter(|l| l.contains(" fail tcp ")).count();
        assert!(checks >= 3, "{e}: every check is kept:\n{mute}");
        let down = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["down", "--images", "--output", "json"]),
        );
        assert_eq!(down.code, 0, "{e}: {}", down.stderr);
    }
}

/// Ctrl-C: SIGINT to the process `pid`.
fn interrupt(pid: u32) {
    // SAFETY: kill(2) on a child this test started and has not reaped yet.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill -INT {pid}");
}

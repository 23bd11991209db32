//! `kubetest run` with cluster steps against the Kubernetes API double, through the binary:
//! apply/assert/error in a fresh namespace, every mismatch, waits driven by the double,
//! `eventually`, delete with wait (finalizers), exec in pods over WebSocket, failure bundles.

use crate::apidouble::exec::ExecReply;
use crate::apidouble::{pods, ApiDouble};
use crate::k8s_support::double_cluster;
use crate::support::{kubetest, kubetest_in, Run};
use kubetest::plan::Plan;
use kubetest::state::{State, StateStore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An environment whose state records a cluster (the double), with `files` written under it.
pub fn environment(double: &ApiDouble, files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("scenarios")).unwrap();
    let config = tmp.path().join("kubetest.yaml");
    std::fs::write(
        &config,
        "name: kt-i7\ncluster: { provider: none }\nscenarios: scenarios/\n",
    )
    .unwrap();
    let kubeconfig = double.write_kubeconfig(tmp.path());
    let plan = Plan::from_config(&kubetest::config::load(&config).unwrap());
    let mut state = State::new(&plan.environment);
    state.cluster = Some(double_cluster(kubeconfig));
    StateStore::new(&plan.state_dir).save(&state).unwrap();
    tmp
}

/// `kubetest run --output json ARGS` in `dir`, off the runtime so the double keeps serving.
pub async fn run(dir: &Path, args: &[&str]) -> Run {
    kubetest_in(dir, &[&["run", "--output", "json"], args].concat()).await
}

pub fn steps(r: &Run) -> Vec<&Value> {
    r.events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .collect()
}

pub fn step<'a>(r: &'a Run, name: &str) -> &'a Value {
    steps(r)
        .into_iter()
        .find(|e| e["step"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {:#?}", steps(r)))
}

fn namespace(double: &ApiDouble, name: &str) -> Option<Value> {
    double.get("", "namespaces", None, name)
}

/// Applied namespaces named `kt-<scenario>-…`.
fn scenario_namespaces(double: &ApiDouble, scenario: &str) -> Vec<String> {
    let prefix = format!("Namespace kt-{scenario}-");
    double
        .applied()
        .iter()
        .filter_map(|a| a.strip_prefix("Namespace "))
        .filter(|n| format!("Namespace {n}").starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const APPLY: &str = r#"
name: apply-assert
vars: { mode: fast }
steps:
  - apply: { file: ../manifests/settings.yaml }
  - name: inline objects
    apply:
      objects:
        - apiVersion: v1
          kind: ConfigMap
          metadata: { name: flags, labels: { app: shop } }
          data: { mode: "{{ mode }}", where: "{{ namespace }}" }
        - apiVersion: v1
          kind: ConfigMap
          metadata: { name: limits, labels: { app: shop } }
          data: { mode: "{{ mode }}" }
  - name: file object
    assert:
      apiVersion: v1
      kind: ConfigMap
      name: settings
      expect: { data: { namespace: "{{ namespace }}", retries: "3" } }
    capture: { ns: .metadata.namespace }
  - name: every shop config
    assert:
      apiVersion: v1
      kind: ConfigMap
      selector: app=shop
      expect: { metadata: { namespace: "{{ ns }}" }, data: { mode: fast } }
  - name: no ghost
    error: { apiVersion: v1, kind: ConfigMap, name: ghost }
  - name: nothing broken
    error: { apiVersion: v1, kind: ConfigMap, selector: app=shop, expect: { data: { mode: broken } } }
"#;

const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  namespace: \"{{ namespace }}\"\n  retries: \"3\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_then_assert_in_a_fresh_namespace_that_is_deleted_afterwards() {
    let double = ApiDouble::start().await;
    let tmp = environment(
        &double,
        &[
            ("scenarios/apply.yaml", APPLY),
            ("manifests/settings.yaml", SETTINGS),
            (
                "scenarios/plain.yaml",
                "name: no-cluster\nsteps:\n  - run: { command: [\"true\"] }\n",
            ),
        ],
    );
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 0, "{}\n{:#?}", r.stderr, steps(&r));

    let created = scenario_namespaces(&double, "apply-assert");
    assert_eq!(
        created.len(),
        1,
        "one fresh namespace: {:?}",
        double.applied()
    );
    let ns = &created[0];
    let suffix = ns.strip_prefix("kt-apply-assert-").unwrap();
    assert!(
        suffix.len() == 5
            && suffix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{ns}"
    );
    assert!(
        scenario_namespaces(&double, "no-cluster").is_empty(),
        "a scenario without cluster steps gets no namespace"
    );
    for obj in ["settings", "flags", "limits"] {
        assert!(
            double.applied().contains(&format!("ConfigMap {ns}/{obj}")),
            "{obj} applied into {ns}: {:?}",
            double.applied()
        );
    }
    assert!(namespace(&double, ns).is_none(), "namespace {ns} deleted");
    let requests = double.requests();
    assert!(requests
        .iter()
        .any(|q| q.starts_with(&format!("DELETE /api/v1/namespaces/{ns}"))));
    assert_eq!(
        requests.iter().filter(|q| *q == "GET /api/v1").count(),
        1,
        "core/v1 discovered once for the whole run: {requests:#?}"
    );
    assert_eq!(step(&r, "every shop config")["outcome"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assert_reports_every_mismatch_and_the_bundle_has_the_namespace() {
    let double = ApiDouble::start().await;
    let scenario = r#"
name: mismatch
steps:
  - apply:
      objects:
        - { apiVersion: v1, kind: ConfigMap, metadata: { name: app }, data: { level: info, port: "8080" } }
        - apiVersion: v1
          kind: Pod
          metadata: { name: web, labels: { app: web } }
          spec: { containers: [ { name: app, image: localhost/kt-i7:dev } ] }
  - name: config
    assert:
      apiVersion: v1
      kind: ConfigMap
      name: app
      expect: { data: { level: debug, port: "9090", missing: x } }
  - run: { command: ["true"] }
cleanup:
  - name: tidy
    delete: { apiVersion: v1, kind: ConfigMap, name: app }
"#;
    let tmp = environment(&double, &[("scenarios/m.yaml", scenario)]);
    let junit = tmp.path().join("junit.xml");
    let r = run(tmp.path(), &["--junit", junit.to_str().unwrap()]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let failed = step(&r, "config");
    assert_eq!(failed["outcome"], "failed");
    let msg = failed["message"].as_str().unwrap();
    for want in [
        ".data.level: expected \"debug\", found \"info\"",
        ".data.port: expected \"9090\", found \"8080\"",
        ".data.missing: expected \"x\", found nothing (key absent)",
    ] {
        assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
    }
    assert!(msg.contains("3 mismatch(es)"), "{msg}");
    assert_eq!(step(&r, "cleanup: tidy")["outcome"], "ok");

    let ns = &scenario_namespaces(&double, "mismatch")[0];
    assert!(
        namespace(&double, ns).is_none(),
        "deleted after a failure too"
    );
    let files = files_under(&tmp.path().join(".kubetest/artifacts"));
    let report = files
        .iter()
        .find(|p| p.ends_with(format!("mismatch/namespaces/{ns}/pods.txt")))
        .unwrap_or_else(|| panic!("namespaces/{ns}/pods.txt in {files:?}"));
    let text = std::fs::read_to_string(report).unwrap();
    assert!(
        text.contains(&format!("namespace {ns}: 1 pod(s)"))
            && text.contains(&format!("pod {ns}/web")),
        "{text}"
    );
    let failure = files
        .iter()
        .find(|p| p.ends_with("mismatch/failure.txt"))
        .unwrap();
    let failure = std::fs::read_to_string(failure).unwrap();
    assert!(
        failure.contains("observed:") && failure.contains("level: info"),
        "the object as seen: {failure}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(".data.port: expected"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_follow_the_double_and_eventually_retries_an_assert() {
    let double = ApiDouble::start().await;
    let ns = "kt-i7-wait";
    double.put_namespace(ns);
    let scenario = format!(
        r#"
name: waits
namespace: {ns}
steps:
  - name: web ready
    wait: {{ apiVersion: v1, kind: Pod, selector: app=web, for: ready }}
    timeout: 20s
  - name: pod by name
    wait: {{ apiVersion: v1, kind: Pod, name: web-7d4b9c6f5-x2k8p, for: ready }}
  - name: job state reaches done
    assert: {{ apiVersion: v1, kind: ConfigMap, name: state, expect: {{ data: {{ phase: done }} }} }}
    eventually: 20s
    interval: 50ms
  - name: jsonpath
    wait: {{ apiVersion: v1, kind: ConfigMap, name: state, for: jsonpath, jsonpath: .data.count, value: 2 }}
  - name: condition
    wait: {{ apiVersion: v1, kind: Pod, name: web-7d4b9c6f5-x2k8p, for: Ready }}
"#
    );
    let tmp = environment(&double, &[("scenarios/w.yaml", &scenario)]);
    let running = tokio::spawn({
        let dir = tmp.path().to_owned();
        async move { run(&dir, &[]).await }
    });
    // The wait watches pods; drive one through its life.
    tokio::time::timeout(Duration::from_secs(20), double.until_watching(1))
        .await
        .expect("the wait step watches pods");
    let pod = double.set_pod(pods::deployment_pod(
        ns,
        "web",
        "x2k8p",
        "localhost/kt-i7:dev",
    ));
    let pod = double.set_pod(pods::running_not_ready(pod));
    assert!(!running.is_finished(), "not ready yet");
    double.set_pod(pods::ready(pod));
    // The assert polls the ConfigMap; it appears after a few attempts.
    let get = format!("GET /api/v1/namespaces/{ns}/configmaps/state");
    wait_for(|| double.requests().iter().filter(|q| **q == get).count() >= 2).await;
    double.put(
        "",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "state", "namespace": ns},
               "data": {"phase": "done", "count": "2"}}),
    );
    let r = running.await.unwrap();
    assert_eq!(r.code, 0, "{}\n{:#?}", r.stderr, steps(&r));
    let eventually = step(&r, "job state reaches done");
    assert!(
        eventually["attempts"].as_u64().unwrap() >= 2,
        "held after retries: {eventually}"
    );
    assert_eq!(step(&r, "web ready")["attempts"], 1);
    assert!(
        namespace(&double, ns).is_some(),
        "a namespace the scenario names is not deleted"
    );
}

/// Poll the double's state (its request log has no change feed) for at most 20 s.
pub(crate) async fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_wait_returns_when_the_finalizer_is_gone() {
    let double = ApiDouble::start().await;
    let ns = "kt-i7-del";
    double.put_namespace(ns);
    double.put(
        "",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "held", "namespace": ns, "labels": {"app": "held"}, "finalizers": ["kt-i7.example.com/hold"]}}),
    );
    let scenario = format!(
        r#"
name: deletes
namespace: {ns}
steps:
  - name: delete held
    delete: {{ apiVersion: v1, kind: ConfigMap, selector: app=held, wait: true }}
    timeout: 20s
  - name: gone
    error: {{ apiVersion: v1, kind: ConfigMap, name: held }}
  - name: deleting nothing is fine
    delete: {{ apiVersion: v1, kind: ConfigMap, name: never-there, wait: true }}
"#
    );
    let tmp = environment(&double, &[("scenarios/d.yaml", &scenario)]);
    let running = tokio::spawn({
        let dir = tmp.path().to_owned();
        async move { run(&dir, &[]).await }
    });
    wait_for(|| {
        double
            .get("", "configmaps", Some(ns), "held")
            .is_some_and(|o| o["metadata"].get("deletionTimestamp").is_some())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(20), double.until_watching(1))
        .await
        .unwrap();
    assert!(!running.is_finished(), "still waiting on the finalizer");
    let mut held = double.get("", "configmaps", Some(ns), "held").unwrap();
    held["metadata"]["finalizers"] = json!([]);
    double.put("", "configmaps", held);
    let r = running.await.unwrap();
    assert_eq!(r.code, 0, "{}\n{:#?}", r.stderr, steps(&r));
    assert!(double.get("", "configmaps", Some(ns), "held").is_none());

    // A delete that waits in vain says what is left.
    double.put(
        "",
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "held", "namespace": ns, "labels": {"app": "held"}, "finalizers": ["kt-i7.example.com/hold"]}}),
    );
    std::fs::write(
        tmp.path().join("scenarios/d.yaml"),
        scenario.replace("timeout: 20s", "timeout: 300ms"),
    )
    .unwrap();
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 1);
    let msg = step(&r, "delete held")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("not gone after 300ms")
            && msg.contains(&format!(
                "ConfigMap {ns}/held (finalizers: kt-i7.example.com/hold)"
            )),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_in_pods_over_the_websocket_protocol() {
    let double = ApiDouble::start().await;
    let ns = "kt-i7-exec";
    double.put_namespace(ns);
    let pod = pods::deployment_pod(ns, "web", "x2k8p", "localhost/kt-i7:dev");
    double.set_pod(pods::ready(pods::running_not_ready(pod)));
    double.on_exec(|call| match call.command.as_slice() {
        [c, f] if c == "cat" && f == "/etc/hostname" => ExecReply {
            stdout: "web-7d4b9c6f5-x2k8p\n".into(),
            ..ExecReply::default()
        },
        [e, text] if e == "echo" => ExecReply {
            stdout: format!("{text}\n"),
            ..ExecReply::default()
        },
        [sh, _, script] if sh == "sh" && script.contains("exit 3") => ExecReply {
            stdout: String::new(),
            stderr: "oops\n".into(),
            exit_code: 3,
            ..ExecReply::default()
        },
        other => ExecReply {
            stderr: format!("{}: not found\n", other[0]),
            exit_code: 127,
            ..ExecReply::default()
        },
    });
    let scenario = format!(
        r#"
- name: exec-ok
  namespace: {ns}
  steps:
    - name: hostname
      exec: {{ selector: app=web, command: [cat, /etc/hostname], expect: {{ stdout_regex: "^web-" }} }}
      capture: {{ host: .stdout }}
    - name: json
      exec: {{ pod: "{{{{ host }}}}", container: app, command: [echo, '{{"ready": true, "n": 2}}'], expect: {{ json: {{ ready: true }} }} }}
    - name: exit three
      exec: {{ pod: web-7d4b9c6f5-x2k8p, command: [sh, -c, "echo oops >&2; exit 3"], expect: {{ exit_code: 3, stderr_contains: oops }} }}
- name: exec-fails
  namespace: {ns}
  steps:
    - name: wrong code
      exec: {{ selector: app=web, command: [sh, -c, "exit 3"], expect: {{ stdout_contains: fine }} }}
    - name: not reached
      exec: {{ selector: app=web, command: [cat, /etc/hostname] }}
"#
    );
    let tmp = environment(&double, &[("scenarios/e.yaml", &scenario)]);
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    for s in ["hostname", "json", "exit three"] {
        assert_eq!(step(&r, s)["outcome"], "ok", "{:#?}", steps(&r));
    }
    let msg = step(&r, "wrong code")["message"].as_str().unwrap();
    assert!(
        msg.contains("exit code: expected 0, found 3")
            && msg.contains("stdout does not contain \"fine\""),
        "{msg}"
    );
    let calls = double.exec_calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert!(calls
        .iter()
        .all(|c| c.protocol == "v5.channel.k8s.io" && c.container == "app" && c.namespace == ns));
    assert_eq!(
        calls[1].pod, "web-7d4b9c6f5-x2k8p",
        "the captured name was used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_against_a_missing_pod_or_container_says_so() {
    let double = ApiDouble::start().await;
    let ns = "kt-i7-exec-missing";
    double.put_namespace(ns);
    double.set_pod(pods::ready(pods::running_not_ready(pods::deployment_pod(
        ns,
        "web",
        "x2k8p",
        "localhost/kt-i7:dev",
    ))));
    let scenario = format!(
        r#"
name: exec-missing
namespace: {ns}
steps:
  - name: no pod
    exec: {{ pod: nope, command: [date] }}
cleanup:
  - name: no container
    exec: {{ pod: web-7d4b9c6f5-x2k8p, container: sidecar, command: [date] }}
  - name: no pod for selector
    exec: {{ selector: app=none, command: [date] }}
"#
    );
    let tmp = environment(&double, &[("scenarios/x.yaml", &scenario)]);
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 1);
    let m = |s: &str| step(&r, s)["message"].as_str().unwrap().to_owned();
    assert!(
        m("no pod").contains("pods \"nope\" not found"),
        "{}",
        m("no pod")
    );
    assert!(
        m("cleanup: no container")
            .contains("container sidecar is not valid for pod web-7d4b9c6f5-x2k8p"),
        "{}",
        m("cleanup: no container")
    );
    assert!(
        m("cleanup: no pod for selector").contains("no running pod matches app=none"),
        "{}",
        m("cleanup: no pod for selector")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_that_times_out_still_runs_cleanup_and_deletes_its_namespace() {
    let double = ApiDouble::start().await;
    let scenario = r#"
name: slow
timeout: 500ms
steps:
  - apply: { objects: [ { apiVersion: v1, kind: ConfigMap, metadata: { name: never }, data: { phase: waiting } } ] }
  - name: forever
    wait: { apiVersion: v1, kind: ConfigMap, name: never, for: jsonpath, jsonpath: .data.phase, value: done }
cleanup:
  - apply: { objects: [ { apiVersion: v1, kind: ConfigMap, metadata: { name: cleaned-up, namespace: default }, data: { by: slow } } ] }
"#;
    let tmp = environment(&double, &[("scenarios/slow.yaml", scenario)]);
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let ns = &scenario_namespaces(&double, "slow")[0];
    assert!(
        namespace(&double, ns).is_none(),
        "{ns} deleted after the timeout"
    );
    let files = files_under(&tmp.path().join(".kubetest/artifacts"));
    let failure = files
        .iter()
        .find(|p| p.ends_with("slow/failure.txt"))
        .unwrap();
    assert!(std::fs::read_to_string(failure)
        .unwrap()
        .contains("did not finish within its timeout of 500ms"));
    assert!(files
        .iter()
        .any(|p| p.ends_with(format!("slow/namespaces/{ns}/pods.txt"))));
    assert!(
        double
            .get("", "configmaps", Some("default"), "cleaned-up")
            .is_some(),
        "cleanup ran after the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_deletes_the_namespace_of_a_killed_run_in_a_kept_cluster() {
    let double = ApiDouble::start().await;
    let scenario = r#"
name: killed
steps:
  - apply: { objects: [ { apiVersion: v1, kind: ConfigMap, metadata: { name: here } } ] }
  - { sleep: 60s, timeout: 90s }
"#;
    let tmp = environment(&double, &[("scenarios/killed.yaml", scenario)]);
    // A cluster `down` keeps: only the scenario namespaces may go.
    let store = StateStore::new(tmp.path().join(".kubetest"));
    let mut state = store.load().unwrap().unwrap();
    if let Some(c) = state.cluster.as_mut() {
        c.provider = "existing".into();
        c.created = false;
    }
    store.save(&state).unwrap();
    double.put(
        "",
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "someone-elses",
               "labels": {"kubetest.io/scenario": "x", "kubetest.io/environment": "other-env"}}}),
    );

    let mut child = kubetest()
        .current_dir(tmp.path())
        .args(["run", "--output", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| {
        double
            .applied()
            .iter()
            .any(|a| a.starts_with("ConfigMap kt-killed-") && a.ends_with("/here"))
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let ns = scenario_namespaces(&double, "killed").remove(0);
    assert!(
        namespace(&double, &ns).is_some(),
        "the killed run left {ns}"
    );

    let dir = tmp.path().to_owned();
    let down = tokio::task::spawn_blocking(move || {
        Run::new(
            kubetest()
                .current_dir(dir)
                .args(["down", "--output", "json"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(namespace(&double, &ns).is_none(), "down deleted {ns}");
    assert!(
        namespace(&double, "someone-elses").is_some(),
        "another environment's namespace stays"
    );
    assert!(
        down.stdout
            .contains(&format!("deleted 1 left by an interrupted run: {ns}")),
        "{}",
        down.stdout
    );
}

/// `http` with `forward:` reaches a pod through `pods/portforward`: a Service's port resolves
/// to a ready pod and its named container port, a selector to a ready pod, a pod by name; a
/// port with nothing listening fails with the kubelet's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_through_a_port_forward_to_services_and_pods() {
    let double = ApiDouble::start().await;
    let ns = "kt-i7-forward";
    double.put_namespace(ns);
    let named = |mut pod: Value| {
        pod["spec"]["containers"][0]["ports"][0]["name"] = json!("http");
        pod
    };
    // Running but not ready first by name: the ready one must be chosen.
    double.set_pod(pods::running_not_ready(named(pods::deployment_pod(
        ns,
        "web",
        "aaaaa",
        "localhost/kt-i7:dev",
    ))));
    let ready = double.set_pod(pods::ready(pods::running_not_ready(named(
        pods::deployment_pod(ns, "web", "bbbbb", "localhost/kt-i7:dev"),
    ))));
    let ready_name = ready["metadata"]["name"].as_str().unwrap().to_owned();
    double.put(
        "",
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": {"app": "web"}, "type": "ClusterIP", "clusterIP": "10.96.12.34",
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}}),
    );
    let port = crate::scenarios::http_server();
    double.on_portforward(
        ns,
        &ready_name,
        8080,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    );
    let scenario = format!(
        r#"
- name: forward-ok
  namespace: {ns}
  steps:
    - name: via service
      http: {{ url: /count/svc, forward: {{ service: web, port: 80 }}, expect: {{ json: {{ count: 1 }} }} }}
    - name: via selector
      http: {{ url: /hello, forward: {{ selector: app=web, port: 8080 }}, expect: {{ body_contains: hello }} }}
    - name: via pod, eventually
      http: {{ url: /count/pod, forward: {{ pod: {ready_name}, port: 8080 }}, expect: {{ json: {{ count: 3 }} }} }}
      eventually: 10s
- name: forward-fails
  namespace: {ns}
  steps:
    - name: nothing listening
      http: {{ url: /hello, forward: {{ pod: {ready_name}, port: 9999 }} }}
  cleanup:
    - name: no such service port
      http: {{ url: /hello, forward: {{ service: web, port: 443 }} }}
"#
    );
    let tmp = environment(&double, &[("scenarios/f.yaml", &scenario)]);
    let r = run(tmp.path(), &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    for s in ["via service", "via selector", "via pod, eventually"] {
        assert_eq!(step(&r, s)["outcome"], "ok", "{:#?}", steps(&r));
    }
    assert_eq!(step(&r, "via pod, eventually")["attempts"], 3);
    let m = |s: &str| step(&r, s)["message"].as_str().unwrap().to_owned();
    let refused = m("nothing listening");
    assert!(
        refused.contains(&format!("forwarded to pod {ns}/{ready_name}:9999"))
            && refused.contains("port-forward failed: error forwarding port 9999 to pod")
            && refused.contains("connect: connection refused"),
        "{refused}"
    );
    assert_eq!(
        m("cleanup: no such service port"),
        "service web has no port 443 (its ports: 80)"
    );
    // Scenarios run concurrently: compare the calls as a set. Service port 80 resolved to
    // the ready pod's port named `http`; the pod step took 3 attempts.
    let calls = double.forward_calls();
    let mut ports: Vec<u16> = calls.iter().flat_map(|c| c.ports.clone()).collect();
    ports.sort();
    assert_eq!(ports, [8080, 8080, 8080, 8080, 8080, 9999], "{calls:#?}");
    assert!(calls
        .iter()
        .all(|c| c.namespace == ns && c.pod == ready_name));
}

const KEPT_OK: &str = r#"
name: A config map is stored, and read back
steps:
  - apply: { objects: [{ apiVersion: v1, kind: ConfigMap, metadata: { name: c }, data: { k: v } }] }
  - assert: { apiVersion: v1, kind: ConfigMap, name: c, expect: { data: { k: v } } }
"#;

const KEPT_FAIL: &str = r#"
name: fails-on-purpose
steps:
  - apply: { objects: [{ apiVersion: v1, kind: ConfigMap, metadata: { name: c }, data: { k: v } }] }
  - error: { apiVersion: v1, kind: ConfigMap, name: c }
"#;

/// `--keep-namespaces[=on-failure]` leaves the namespaces for a person to look at; a sentence
/// name gets a slugged namespace and label while reports keep the name as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_namespaces_stay_and_sentence_names_get_slugged_namespaces() {
    let double = ApiDouble::start().await;
    let tmp = environment(
        &double,
        &[
            ("scenarios/ok.yaml", KEPT_OK),
            ("scenarios/fail.yaml", KEPT_FAIL),
        ],
    );
    let slug = kubetest::scenario::slug::slug("A config map is stored, and read back");
    assert!(slug.starts_with("a-config-map-is-stored-"), "{slug}");
    let junit = tmp.path().join("junit.xml");
    let r = run(
        tmp.path(),
        &[
            "--keep-namespaces=on-failure",
            "--junit",
            junit.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let ok_ns = scenario_namespaces(&double, &slug);
    let failed_ns = scenario_namespaces(&double, "fails-on-purpose");
    assert_eq!(
        (ok_ns.len(), failed_ns.len()),
        (1, 1),
        "{:?}",
        double.applied()
    );
    assert!(
        namespace(&double, &ok_ns[0]).is_none(),
        "a passing scenario's namespace goes"
    );
    let kept = namespace(&double, &failed_ns[0]).expect("the failed scenario's namespace stays");
    assert_eq!(
        kept["metadata"]["labels"]["kubetest.io/scenario"],
        "fails-on-purpose"
    );
    assert!(
        r.events.iter().any(|e| e["event"] == "note"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("kept namespace {}", failed_ns[0])))),
        "a note names the kept namespace"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("A config map is stored, and read back"),
        "{xml}"
    );
    assert!(r
        .task_outcomes("scenarios")
        .iter()
        .any(|(n, _)| n == "A config map is stored, and read back"));

    // `--keep-namespaces`: every namespace stays, the passing one too.
    let r = run(
        tmp.path(),
        &["--keep-namespaces", "A config map is stored, and read back"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ok_ns = scenario_namespaces(&double, &slug);
    assert_eq!(ok_ns.len(), 2, "{ok_ns:?}");
    let kept = namespace(&double, &ok_ns[1]).expect("kept with --keep-namespaces");
    assert_eq!(
        kept["metadata"]["labels"]["kubetest.io/scenario"],
        slug.as_str()
    );
}

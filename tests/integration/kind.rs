//! The cluster phase and `down` against the fake kind CLI (tests/fake-kind/kind): create,
//! reuse, recreate, adopt with --reuse, retries of transient failures, kind's error text,
//! the provider variable on Podman, and a missing kind failing before any build.

use crate::engines::{engines, TestEngine};
use crate::fake_kind::{binary, mode, FakeKind};
use crate::support::{kubetest, Run};
use std::sync::atomic::Ordering;

struct Env {
    engine: TestEngine,
    fake: FakeKind,
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    name: String,
}

impl Env {
    /// A cluster-only environment on the first engine that answers (`None` when none does).
    fn new(tag: &str, extra_cluster: &str) -> Option<Self> {
        let engine = engines().into_iter().next()?;
        let name = format!("kt-i5-{tag}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubetest.yaml"),
            format!(
                "name: {name}\nengine: {}\ncluster: {{ provider: kind, kind_binary: {}{extra_cluster} }}\n",
                engine.name,
                binary().display()
            ),
        )
        .unwrap();
        Some(Self {
            engine,
            fake: FakeKind::new(),
            dir,
            home: tempfile::tempdir().unwrap(),
            name,
        })
    }

    fn kubetest(&self, args: &[&str]) -> Run {
        self.kubetest_env(args, &[])
    }

    fn kubetest_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.engine.kubetest(self.dir.path());
        self.fake.apply(&mut c);
        c.envs(env.iter().copied());
        c.env("HOME", self.home.path())
            .args(args)
            .args(["--output", "json"]);
        Run::new(&mut c)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap()
    }

    fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.path().join(".kubetest/kubeconfig")
    }
}

fn detail(run: &Run, phase: &str) -> String {
    run.events
        .iter()
        .find(|e| e["event"] == "task_finished" && e["phase"] == phase)
        .and_then(|e| e["detail"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn warnings(run: &Run) -> Vec<String> {
    run.events
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn create_reuse_recreate_and_down() {
    let Some(env) = Env::new("life", "") else {
        return;
    };
    let n = &env.name;

    let first = env.kubetest(&["up"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.phase_outcome("cluster").as_deref(), Some("ok"));
    let kubeconfig = env.kubeconfig();
    assert_eq!(
        env.fake.argvs(),
        [
            "version".to_owned(),
            "get clusters".to_owned(),
            format!(
                "create cluster --name {n} --wait 60s --kubeconfig {}",
                kubeconfig.display()
            ),
        ]
    );
    assert_eq!(mode(&kubeconfig), 0o600, "the kubeconfig holds credentials");
    assert!(
        !env.home.path().join(".kube").exists(),
        "~/.kube/config is not touched without export_kubeconfig"
    );
    let cluster = &env.state()["cluster"];
    assert_eq!(
        (cluster["name"].as_str(), cluster["created"].as_bool()),
        (Some(n.as_str()), Some(true))
    );
    assert_eq!(cluster["context"], format!("kind-{n}"));
    assert!(
        env.fake.api.hits.load(Ordering::SeqCst) >= 1,
        "API asked after create"
    );

    // Second up: the cluster answers, so it is reused, not created.
    env.fake.forget_calls();
    let hits = env.fake.api.hits.load(Ordering::SeqCst);
    let second = env.kubetest(&["up"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.phase_outcome("cluster").as_deref(), Some("reused"));
    assert!(detail(&second, "cluster").contains("API server v1.30.0 answers"));
    assert!(env.fake.api.hits.load(Ordering::SeqCst) > hits);
    assert!(!env.fake.argvs().iter().any(|a| a.starts_with("create")));
    assert_eq!(mode(&kubeconfig), 0o600);

    // --recreate deletes, then creates.
    env.fake.forget_calls();
    let third = env.kubetest(&["up", "--recreate"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let calls: Vec<String> = env
        .fake
        .argvs()
        .into_iter()
        .filter(|a| a.starts_with("create") || a.starts_with("delete"))
        .collect();
    assert_eq!(
        calls,
        [
            format!(
                "delete cluster --name {n} --kubeconfig {}",
                kubeconfig.display()
            ),
            format!(
                "create cluster --name {n} --wait 60s --kubeconfig {}",
                kubeconfig.display()
            ),
        ]
    );

    // down deletes what up created, once; a second down has nothing to do.
    env.fake.forget_calls();
    let down = env.kubetest(&["down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(!env.fake.has_cluster(n));
    assert!(
        !kubeconfig.exists(),
        "kubetest's kubeconfig goes with the cluster"
    );
    assert!(env.state()["cluster"].is_null());
    let again = env.kubetest(&["down"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        env.fake
            .argvs()
            .iter()
            .filter(|a| a.starts_with("delete"))
            .count(),
        1
    );
}

#[test]
fn kinds_steps_stream_into_the_cluster_task_as_they_happen() {
    let Some(env) = Env::new("steps", "") else {
        return;
    };
    // Each step of the fake takes 0.3 s, as kind's take seconds.
    let run = env.kubetest_env(&["up"], &[("FAKE_KIND_STEP_DELAY", "0.3")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let steps: Vec<(String, u64)> = run
        .events
        .iter()
        .filter(|e| e["event"] == "task_progress" && e["phase"] == "cluster")
        .filter_map(|e| {
            let m = e["message"].as_str()?.strip_prefix("kind: ")?;
            Some((m.to_owned(), e["at_ms"].as_u64()?))
        })
        .collect();
    let names: Vec<&str> = steps.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        [
            "Ensuring node image (kindest/node:v1.30.0)",
            "Preparing nodes",
            "Writing configuration",
            "Starting control-plane",
            "Installing CNI",
            "Installing StorageClass",
        ]
    );
    for pair in steps.windows(2) {
        assert!(
            pair[1].1 >= pair[0].1 + 250,
            "each step shows when kind starts it, not when kind exits: {steps:?}"
        );
    }
    let finished = run.positions("task_finished", "cluster")[0];
    let last_step = run
        .events
        .iter()
        .rposition(|e| e["event"] == "task_progress" && e["phase"] == "cluster")
        .unwrap();
    assert!(last_step < finished);
    // kind's other lines are the task's log (shown with -v).
    assert!(run.events.iter().any(|e| e["event"] == "task_log"
        && e["phase"] == "cluster"
        && e["line"] == "done: Installing StorageClass"));
}

#[test]
fn foreign_cluster_needs_reuse_and_is_kept_by_down() {
    let Some(env) = Env::new("foreign", "") else {
        return;
    };
    let n = &env.name;
    assert!(env
        .fake
        .run(&["create", "cluster", "--name", n])
        .status
        .success());

    let refused = env.kubetest(&["up"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("kubetest up --reuse")
            && refused
                .stderr
                .contains(&format!("kind delete cluster --name {n}")),
        "{}",
        refused.stderr
    );

    let adopted = env.kubetest(&["up", "--reuse"]);
    assert_eq!(adopted.code, 0, "{}", adopted.stderr);
    assert_eq!(adopted.phase_outcome("cluster").as_deref(), Some("reused"));
    assert_eq!(env.state()["cluster"]["created"], false);
    assert_eq!(mode(&env.kubeconfig()), 0o600);

    let down = env.kubetest(&["down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(
        env.fake.has_cluster(n),
        "a reused cluster is not ours to delete"
    );

    env.kubetest(&["up", "--reuse"]);
    let forced = env.kubetest(&["down", "--cluster"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(!env.fake.has_cluster(n), "down --cluster deletes it");
}

const CRUN_RACE: &str = "ERROR: failed to create cluster: command \"podman run --name kt-control-plane --hostname kt-control-plane --label io.x-k8s.kind.role=control-plane --privileged kindest/node:v1.30.0\" failed with error: exit status 126\n\nCommand Output: Error: OCI runtime error: crun: unknown version specified\n";

#[test]
fn transient_failure_is_retried_after_deleting_the_half_made_cluster() {
    let Some(env) = Env::new("retry", ", retries: 2") else {
        return;
    };
    let n = &env.name;
    env.fake.fail_creates(2, CRUN_RACE, true);
    let run = env.kubetest(&["up"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lifecycle: Vec<String> = env
        .fake
        .argvs()
        .into_iter()
        .filter_map(|a| a.split(" --").next().map(str::to_owned))
        .filter(|a| a.starts_with("create") || a.starts_with("delete"))
        .collect();
    assert_eq!(
        lifecycle,
        [
            "create cluster",
            "delete cluster",
            "create cluster",
            "delete cluster",
            "create cluster"
        ]
    );
    let w = warnings(&run);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("attempt 1 of 3 failed with a known transient error"),
        "{w:?}"
    );
    // kind's steps of a later attempt say which attempt they belong to.
    let steps: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e["event"] == "task_progress" && e["phase"] == "cluster")
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.starts_with("kind") && m.contains(": "))
        .collect();
    assert!(
        steps.contains(&"kind: Ensuring node image (kindest/node:v1.30.0)"),
        "{steps:?}"
    );
    assert!(
        steps.contains(&"kind (attempt 3 of 3): Installing StorageClass"),
        "{steps:?}"
    );
    assert!(run
        .events
        .iter()
        .any(|e| e["event"] == "task_log" && e["line"] == "failed: Preparing nodes"));
    assert!(env.fake.has_cluster(n));
    env.kubetest(&["down"]);
}

#[test]
fn permanent_failure_shows_kinds_words_and_is_not_retried() {
    let Some(env) = Env::new("fail", "") else {
        return;
    };
    let stderr = "ERROR: failed to create cluster: failed to ensure docker network: command \"podman network create -d=bridge kind\" failed with error: exit status 125\n\nCommand Output: Error: could not find a free subnet\n";
    env.fake.fail_creates(1, stderr, false);
    let run = env.kubetest(&["up"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        env.fake
            .argvs()
            .iter()
            .filter(|a| a.starts_with("create"))
            .count(),
        1
    );
    let headline = format!("cannot create kind cluster {}", env.name);
    for want in [
        headline.as_str(),
        "create cluster --name",
        "failed (exit code 1)",
        "ERROR: failed to create cluster: failed to ensure docker network",
        "Command Output:",
        "| Error: could not find a free subnet",
    ] {
        assert!(
            run.stderr.contains(want),
            "missing {want:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("Ensuring node image"),
        "{}",
        run.stderr
    );
    // Recorded before kind ran, so `down` cleans up whatever kind may have left.
    assert_eq!(env.state()["cluster"]["created"], true);
    let down = env.kubetest(&["down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
}

#[test]
fn provider_variable_follows_the_engine() {
    for engine in engines() {
        let Some(mut env) = Env::new(&format!("prov-{}", engine.name), "") else {
            return;
        };
        let podman = engine.name == "podman";
        std::fs::write(
            env.dir.path().join("kubetest.yaml"),
            format!(
                "name: {}\nengine: {}\ncluster: {{ provider: kind, kind_binary: {}, export_kubeconfig: true }}\n",
                env.name,
                engine.name,
                binary().display()
            ),
        )
        .unwrap();
        env.engine = engine;
        // The user's contradicting value: warned about and overridden.
        let mut c = env.engine.kubetest(env.dir.path());
        env.fake.apply(&mut c);
        c.env("HOME", env.home.path())
            .env(
                "KIND_EXPERIMENTAL_PROVIDER",
                if podman { "docker" } else { "podman" },
            )
            .args(["up", "--output", "json"]);
        let run = Run::new(&mut c);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let want = if podman { "docker" } else { "podman" };
        assert!(
            warnings(&run)
                .iter()
                .any(|w| w.contains(&format!("KIND_EXPERIMENTAL_PROVIDER={want} is set"))),
            "{:?}",
            warnings(&run)
        );
        let expected = if podman { "podman" } else { "docker" };
        for call in env.fake.calls() {
            assert_eq!(call["provider"], expected, "{call}");
        }
        // export_kubeconfig: true writes the user's kubeconfig too.
        assert!(env
            .fake
            .argvs()
            .contains(&format!("export kubeconfig --name {}", env.name)));
        assert_eq!(mode(&env.home.path().join(".kube/config")), 0o600);

        // Without a user value: podman is set on Podman, nothing on Docker.
        env.fake.forget_calls();
        let run = env.kubetest(&["down"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        for call in env.fake.calls() {
            if podman {
                assert_eq!(call["provider"], "podman", "{call}");
            } else {
                assert!(call["provider"].is_null(), "{call}");
            }
        }
    }
}

#[test]
fn missing_kind_fails_before_any_build() {
    let tmp = tempfile::tempdir().unwrap();
    crate::engines::busybox_context(&tmp.path().join("app"), "kind-missing", None);
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: kt-i5-nokind\nimages:\n  - { name: localhost/kt-i5-nokind:1, context: app }\n",
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let run = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env("PATH", empty.path())
            .args(["up", "--output", "json"]),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("kind was not found"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("https://kind.sigs.k8s.io/docs/user/quick-start/#installation"),
        "{}",
        run.stderr
    );
    assert_eq!(run.phase_outcome("preflight").as_deref(), Some("failed"));
    assert!(run.positions("task_started", "build").is_empty());
    assert!(run.phase_outcome("build").is_none(), "no build started");
}

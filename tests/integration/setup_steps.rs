//! `setup:` steps of `kubetest up`, through the binary against the Kubernetes API double
//! (`provider: existing`): they run after `ready` and not before, once, again when asked or
//! when what they act on changed, and a failing step stops `up` with exit 3, its own message
//! and a failure bundle.

use crate::apidouble::{pods, ApiDouble};
use crate::support::{kubetest_in, Run};
use std::path::Path;
use std::time::Duration;

const IMAGE: &str = "localhost/kt-i13-app:dev";

/// A config in `dir` against the double: wait for `app=web` in `demo`, then `setup`.
fn write_config(double: &ApiDouble, dir: &Path, setup: &str) {
    double.write_kubeconfig(dir);
    let config = format!(
        "name: kt-i13\ncluster: {{ provider: existing, kubeconfig: kubeconfig, context: kind-kt-i6 }}\ndeploy:\n  namespace: demo\n  wait:\n    - {{ selector: app=web, timeout: 20s }}\nsetup:\n{setup}"
    );
    std::fs::write(dir.join("kubetest.yaml"), config).unwrap();
}

/// `kubetest up --output json ARGS` in `dir`, off the runtime so the double keeps serving.
async fn up(dir: &Path, args: &[&str]) -> Run {
    kubetest_in(dir, &[&["up", "--output", "json"], args].concat()).await
}

fn seeded_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("seeded.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A host command that appends to `seeded.log`, then an assert that needs the pod Ready: run
/// before `ready` (the pod turns Ready only after 1.5 s), the assert would fail.
fn seeding_steps(dir: &Path) -> String {
    let log = dir.join("seeded.log");
    format!(
        "  - name: seed the catalog\n    run: {{ command: [sh, -c, 'echo seeded >> \"$0\"', {}] }}\n  - name: the app is ready\n    assert:\n      apiVersion: v1\n      kind: Pod\n      selector: app=web\n      expect: {{ status: {{ conditions: [{{ type: Ready, status: \"True\" }}] }} }}\n",
        log.display()
    )
}

#[tokio::test]
async fn setup_runs_after_ready_once_and_again_when_asked_or_changed() {
    let double = ApiDouble::start().await;
    double.put_namespace("demo");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_config(&double, dir, &seeding_steps(dir));
    let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
        "demo", "web", "a1", IMAGE,
    )));
    let flip = {
        let double = double.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            double.set_pod(pods::ready(pod));
        })
    };

    let first = up(dir, &[]).await;
    flip.await.unwrap();
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let ready_done = first.positions("phase_finished", "ready");
    let setup_start = first.positions("phase_started", "setup");
    assert_eq!(
        (ready_done.len(), setup_start.len()),
        (1, 1),
        "{:#?}",
        first.events
    );
    assert!(
        ready_done[0] < setup_start[0],
        "setup starts after ready finished"
    );
    assert_eq!(first.phase_outcome("setup").as_deref(), Some("ok"));
    assert_eq!(
        first.task_outcomes("setup"),
        [("setup".to_owned(), "ok".to_owned())]
    );
    let steps: Vec<&str> = first.texts("step_finished", "step");
    assert_eq!(steps, ["seed the catalog", "the app is ready"]);
    assert_eq!(seeded_lines(dir), 1);

    // Nothing changed: the steps do not run again.
    let second = up(dir, &[]).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.phase_outcome("setup").as_deref(), Some("cached"));
    assert_eq!(seeded_lines(dir), 1);

    // Asked for: they run again.
    let forced = up(dir, &["--setup"]).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(forced.phase_outcome("setup").as_deref(), Some("ok"));
    assert_eq!(seeded_lines(dir), 2);

    // The steps changed: they run again.
    let more = format!("{}  - name: one more\n    sleep: 0s\n", seeding_steps(dir));
    write_config(&double, dir, &more);
    let changed = up(dir, &[]).await;
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(changed.phase_outcome("setup").as_deref(), Some("ok"));
    assert_eq!(seeded_lines(dir), 3);
}

#[tokio::test]
async fn a_failing_setup_step_stops_up_with_exit_3_its_diff_and_a_bundle() {
    let double = ApiDouble::start().await;
    double.put_namespace("demo");
    double.set_pod(pods::ready(pods::deployment_pod(
        "demo", "web", "b2", IMAGE,
    )));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_config(
        &double,
        dir,
        "  - name: the app finished\n    assert:\n      apiVersion: v1\n      kind: Pod\n      selector: app=web\n      expect: { status: { phase: Succeeded } }\n",
    );

    let r = up(dir, &[]).await;
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.phase_outcome("ready").as_deref(), Some("ok"));
    assert_eq!(r.phase_outcome("setup").as_deref(), Some("failed"));
    let failure = r
        .events
        .iter()
        .find(|e| e["event"] == "phase_finished" && e["phase"] == "setup")
        .and_then(|e| e["error"].as_str())
        .unwrap_or_default()
        .to_owned();
    for want in [
        "setup failed at the app finished",
        "kubetest.yaml:8",
        "status.phase",
        "Succeeded",
        "Running",
        "failure bundle: ",
    ] {
        assert!(failure.contains(want), "missing `{want}` in:\n{failure}");
    }
    let bundle = failure
        .rsplit("failure bundle: ")
        .next()
        .map(|p| Path::new(p.trim()).to_path_buf())
        .unwrap();
    assert!(
        bundle.starts_with(dir.join(".kubetest/artifacts")),
        "{bundle:?}"
    );
    let saved = std::fs::read_to_string(bundle.join("failure.txt")).expect("failure.txt");
    assert!(
        saved.contains("the app finished") && saved.contains("Succeeded"),
        "{saved}"
    );

    // A failed setup is not recorded as done: the next `up` runs it again.
    let again = up(dir, &[]).await;
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert_eq!(again.phase_outcome("setup").as_deref(), Some("failed"));
}

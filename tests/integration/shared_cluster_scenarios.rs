//! Scenario `apply:` steps on a shared cluster (the API double): the cluster-scoped objects they
//! apply carry the run's labels and field manager like the deploy phase's, are recorded in the
//! state file right after they are applied, and `down` releases them: a shared ClusterRole goes
//! with the last run that applied it, a run's own ClusterRoleBinding with its run, also when
//! `run` was killed after the step.

use crate::apidouble::ApiDouble;
use crate::scenarios_k8s::wait_for;
use crate::shared_cluster::{
    all, environment, kt, ns, objects_naming, run_labels, state_file, RBAC,
};
use crate::support::kubetest;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Applies a ClusterRole every run shares (same name) and a ClusterRoleBinding whose subject is
/// in the manifests' namespace `cache`, so it refers to the run and becomes the run's own.
const RBAC_SCENARIO: &str = r#"name: cluster rbac
steps:
  - apply:
      objects:
        - apiVersion: rbac.authorization.k8s.io/v1
          kind: ClusterRole
          metadata: { name: scenario-reader }
          rules: [ { apiGroups: [""], resources: [configmaps], verbs: [get] } ]
        - apiVersion: rbac.authorization.k8s.io/v1
          kind: ClusterRoleBinding
          metadata: { name: scenario-readers }
          roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scenario-reader }
          subjects: [ { kind: ServiceAccount, name: app, namespace: cache } ]
  # The run's own binding by the name it got: `{{ run_suffix }}` is `-<id>` on a shared cluster.
  - assert:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      name: "scenario-readers{{ run_suffix }}"
      expect: { metadata: { labels: { kubetest.io/run: "{{ run_id }}" } } }
"#;

/// Deletes the shared ClusterRole, as a scenario's `cleanup:` would.
const DELETE_SCENARIO: &str = "name: drop role\nsteps:\n  - delete: { apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, name: scenario-reader }\n";

/// The same, then a step long enough to kill `run` in.
fn killable_scenario() -> String {
    format!("{RBAC_SCENARIO}  - {{ sleep: 60s, timeout: 90s }}\n")
}

fn with_scenario(double: &ApiDouble, scenario: &str) -> tempfile::TempDir {
    let tmp = environment(double);
    std::fs::write(tmp.path().join("scenarios/rbac.yaml"), scenario).unwrap();
    tmp
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The `run_cluster_objects` of the state file in `dir`, as `Kind name shared=…`.
fn recorded(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(state_file(dir)).unwrap_or_default();
    let state: Value = serde_json::from_str(&text).unwrap_or_default();
    state["run_cluster_objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| format!("{} {} shared={}", o["kind"], o["name"], o["shared"]))
                .map(|s| s.replace('"', ""))
                .collect()
        })
        .unwrap_or_default()
}

fn role(double: &ApiDouble) -> Option<Value> {
    double.get(RBAC, "clusterroles", None, "scenario-reader")
}

fn binding(double: &ApiDouble, id: &str) -> Option<Value> {
    double.get(
        RBAC,
        "clusterrolebindings",
        None,
        &format!("scenario-readers-{id}"),
    )
}

/// The run's own binding: renamed, labelled with the run, its subject in the run's namespace.
fn check_binding(double: &ApiDouble, id: &str) {
    let b = binding(double, id).unwrap_or_else(|| panic!("scenario-readers-{id}"));
    assert_eq!(b["metadata"]["labels"]["kubetest.io/run"], id);
    assert_eq!(b["subjects"][0]["namespace"], format!("cache-{id}"));
    assert_eq!(b["roleRef"]["name"], "scenario-reader", "the shared role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenario_cluster_objects_are_counted_per_run_and_released_by_down() {
    let double = ApiDouble::start().await;
    let tmps = [
        with_scenario(&double, RBAC_SCENARIO),
        with_scenario(&double, RBAC_SCENARIO),
    ];
    let dirs: Vec<(PathBuf, String)> = tmps
        .iter()
        .zip(["scn-a", "scn-b"])
        .map(|(t, id)| (t.path().to_owned(), id.to_owned()))
        .collect();
    for u in all(&dirs, |_, id| (args(&["up", "--id", id]), None)).await {
        assert_eq!(u.code, 0, "{}\n{}", u.stdout, u.stderr);
    }
    // Both runs' scenarios apply the same ClusterRole at once.
    for (r, (_, id)) in all(&dirs, |_, _| (args(&["run", "cluster rbac"]), None))
        .await
        .iter()
        .zip(&dirs)
    {
        assert_eq!(r.code, 0, "{id}: {}\n{}", r.stdout, r.stderr);
    }
    let shared = role(&double).expect("the scenarios' ClusterRole");
    let mut labels = run_labels(&shared);
    labels.sort();
    assert_eq!(labels, ["run.kubetest.io/scn-a", "run.kubetest.io/scn-b"]);
    assert_eq!(shared["metadata"]["labels"]["kubetest.io/shared"], "true");
    assert!(
        double
            .get(RBAC, "clusterrolebindings", None, "scenario-readers")
            .is_none(),
        "no binding under the name as written"
    );
    let patches = double.requests();
    for (d, id) in &dirs {
        check_binding(&double, id);
        let mut rec = recorded(d);
        rec.sort();
        assert!(
            rec.contains(&"ClusterRole scenario-reader shared=true".to_owned())
                && rec.contains(&format!(
                    "ClusterRoleBinding scenario-readers-{id} shared=false"
                )),
            "{id}: {rec:?}"
        );
        // Applied with the run's own field manager, as the deploy phase does.
        assert!(
            patches.iter().any(|p| p.starts_with("PATCH ")
                && p.contains("/clusterroles/scenario-reader?")
                && p.contains(&format!("fieldManager=kubetest-{id}"))),
            "{id}: {patches:#?}"
        );
    }

    // Run a's scenario deletes the shared role: it only releases it, b keeps using it.
    std::fs::write(dirs[0].0.join("scenarios/drop.yaml"), DELETE_SCENARIO).unwrap();
    let r = kt(dirs[0].0.clone(), args(&["run", "drop role"]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let shared = role(&double).expect("run scn-b still uses it");
    assert_eq!(run_labels(&shared), ["run.kubetest.io/scn-b"]);
    assert!(
        !recorded(&dirs[0].0).contains(&"ClusterRole scenario-reader shared=true".to_owned()),
        "released, so no longer run scn-a's to release"
    );
    // A run whose label is not on it leaves it alone (a plain delete would take it from b).
    let r = kt(dirs[0].0.clone(), args(&["run", "drop role"]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        run_labels(&role(&double).unwrap()),
        ["run.kubetest.io/scn-b"]
    );

    // Run a's `down`: its binding goes, the role stays for run b with only b's label.
    let down = kt(dirs[0].0.clone(), args(&["down"]), None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(binding(&double, "scn-a").is_none());
    check_binding(&double, "scn-b");
    let shared = role(&double).expect("still used by run scn-b");
    assert_eq!(run_labels(&shared), ["run.kubetest.io/scn-b"]);
    assert_eq!(shared["metadata"]["labels"]["kubetest.io/shared"], "true");
    assert_eq!(recorded(&dirs[0].0), Vec::<String>::new());
    let left = objects_naming(&double, "scn-a");
    assert!(left.is_empty(), "objects of run scn-a left: {left:#?}");

    // Run b's `down`: the role goes with the last label, and nothing of either run is left.
    let down = kt(dirs[1].0.clone(), args(&["down"]), None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(role(&double).is_none(), "gone with the last run");
    assert!(binding(&double, "scn-b").is_none());
    let left = objects_naming(&double, "scn-");
    assert!(left.is_empty(), "objects of the runs left: {left:#?}");
    let left = objects_naming(&double, "scenario-reader");
    assert!(left.is_empty(), "scenario objects left: {left:#?}");
    for (_, id) in &dirs {
        assert!(ns(&double, &format!("cache-{id}")).is_none());
    }
}

/// `run` SIGKILLed right after the apply step (during the next one): what the step applied is in
/// the state file already, so `down` releases the shared role and deletes the run's binding,
/// while another run's label keeps the role.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_releases_what_a_killed_run_applied() {
    let double = ApiDouble::start().await;
    let killed = with_scenario(&double, &killable_scenario());
    let other = with_scenario(&double, RBAC_SCENARIO);
    let dirs = [
        (killed.path().to_owned(), "kill-a".to_owned()),
        (other.path().to_owned(), "keep-b".to_owned()),
    ];
    for u in all(&dirs, |_, id| (args(&["up", "--id", id]), None)).await {
        assert_eq!(u.code, 0, "{}\n{}", u.stdout, u.stderr);
    }
    let r = kt(dirs[1].0.clone(), args(&["run", "cluster rbac"]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    let mut child = kubetest()
        .current_dir(killed.path())
        .env_remove("KUBETEST_RUN_ID")
        .args(["run", "cluster rbac", "--output", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The apply step is done once both objects are recorded; `run` is in the sleep step then.
    let step_records = [
        "ClusterRole scenario-reader shared=true".to_owned(),
        "ClusterRoleBinding scenario-readers-kill-a shared=false".to_owned(),
    ];
    let up_records = recorded(killed.path());
    assert!(
        !up_records.iter().any(|r| step_records.contains(r)),
        "{up_records:?}"
    );
    wait_for(|| {
        let now = recorded(killed.path());
        step_records.iter().all(|r| now.contains(r))
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut labels = run_labels(&role(&double).unwrap());
    labels.sort();
    assert_eq!(labels, ["run.kubetest.io/keep-b", "run.kubetest.io/kill-a"]);
    check_binding(&double, "kill-a");

    let down = kt(dirs[0].0.clone(), args(&["down"]), None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(binding(&double, "kill-a").is_none(), "the killed run's own");
    assert_eq!(
        run_labels(&role(&double).expect("still used by keep-b")),
        ["run.kubetest.io/keep-b"]
    );
    let left = objects_naming(&double, "kill-a");
    assert!(left.is_empty(), "objects of the killed run left: {left:#?}");

    let down = kt(dirs[1].0.clone(), args(&["down"]), None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(role(&double).is_none());
    assert!(objects_naming(&double, "scenario-reader").is_empty());
}

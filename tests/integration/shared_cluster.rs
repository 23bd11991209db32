//! Many runs of one environment on one shared cluster (the API double): each `up --id` lands in
//! its own `<namespace>-<id>` namespaces, `run` and `down` find the id in the state file, a
//! `down` removes its own run's namespaces and nothing of the others, and cluster-scoped
//! objects are shared (one label per run) and left in place.

use crate::apidouble::ApiDouble;
use crate::support::{kubetest, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

const CONFIG: &str =
    "name: shop\ncluster: { provider: existing, kubeconfig: kubeconfig, context: kind-kt-i6 }\n\
deploy:\n  namespace: demo\n  manifests: [manifests/]\nscenarios: scenarios/\n";

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata: { name: cache }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: cache }
data: { size: "3" }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.shop.example.com }
spec:
  group: shop.example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
  - name: v1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: shop.example.com/v1
kind: Widget
metadata: { name: w1, namespace: cache }
spec: { size: 3 }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [ { name: app, image: "localhost/web:1" } ] }
"#;

/// A scenario in a fresh namespace of its own: apply, then assert what it applied.
const SCENARIO: &str = "name: marker\nsteps:\n  - apply:\n      objects:\n        - { apiVersion: v1, kind: ConfigMap, metadata: { name: marker }, data: { ok: \"yes\" } }\n  - assert: { apiVersion: v1, kind: ConfigMap, name: marker, expect: { data: { ok: \"yes\" } } }\n";

fn environment(double: &ApiDouble) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    double.write_kubeconfig(d);
    std::fs::write(d.join("kubetest.yaml"), CONFIG).unwrap();
    std::fs::create_dir(d.join("manifests")).unwrap();
    std::fs::write(d.join("manifests/app.yaml"), MANIFESTS).unwrap();
    std::fs::create_dir(d.join("scenarios")).unwrap();
    std::fs::write(d.join("scenarios/marker.yaml"), SCENARIO).unwrap();
    tmp
}

/// `kubetest ARGS` in `dir`; the id from `--id` for even runs and `KUBETEST_RUN_ID` for odd ones
/// on `up` (later commands find it in the state file).
async fn kt(dir: PathBuf, args: Vec<String>, env_id: Option<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut c = kubetest();
        c.current_dir(&dir).env_remove("KUBETEST_RUN_ID");
        if let Some(id) = env_id {
            c.env("KUBETEST_RUN_ID", id);
        }
        Run::new(c.args(&args).args(["--output", "json"]))
    })
    .await
    .unwrap()
}

async fn all(
    dirs: &[(PathBuf, String)],
    make: impl Fn(usize, &str) -> (Vec<String>, Option<String>),
) -> Vec<Run> {
    let runs = dirs.iter().enumerate().map(|(i, (d, id))| {
        let (args, env_id) = make(i, id);
        kt(d.clone(), args, env_id)
    });
    futures::future::join_all(runs).await
}

fn ns(double: &ApiDouble, name: &str) -> Option<Value> {
    double.get("", "namespaces", None, name)
}

fn check_up(double: &ApiDouble, id: &str) {
    let demo = ns(double, &format!("demo-{id}")).unwrap_or_else(|| panic!("demo-{id}"));
    assert_eq!(demo["metadata"]["labels"]["kubetest.io/run"], id);
    let cache = ns(double, &format!("cache-{id}")).unwrap();
    assert_eq!(cache["metadata"]["labels"]["kubetest.io/run"], id);
    assert!(double
        .get("apps", "deployments", Some(&format!("demo-{id}")), "web")
        .is_some());
    assert_eq!(
        double
            .get("", "configmaps", Some(&format!("cache-{id}")), "settings")
            .unwrap()["data"]["size"],
        "3"
    );
    assert!(double
        .get(
            "shop.example.com",
            "widgets",
            Some(&format!("cache-{id}")),
            "w1"
        )
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_runs_share_one_cluster_without_seeing_each_other() {
    let double = ApiDouble::start().await;
    let tmps: Vec<tempfile::TempDir> = (0..4).map(|_| environment(&double)).collect();
    let dirs: Vec<(PathBuf, String)> = tmps
        .iter()
        .enumerate()
        .map(|(i, t)| (t.path().to_owned(), format!("job-{}", i + 1)))
        .collect();

    // Four `up`s at once.
    let ups = all(&dirs, |i, id| {
        if i % 2 == 0 {
            (vec!["up".into(), "--id".into(), id.into()], None)
        } else {
            (vec!["up".into()], Some(id.into()))
        }
    })
    .await;
    for (u, (_, id)) in ups.iter().zip(&dirs) {
        assert_eq!(u.code, 0, "{id}: {}\n{}", u.stdout, u.stderr);
    }
    for (_, id) in &dirs {
        check_up(&double, id);
    }
    assert!(ns(&double, "demo").is_none() && ns(&double, "cache").is_none());
    let role = double
        .get(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "widgets.shop.example.com",
        )
        .unwrap();
    for (_, id) in &dirs {
        assert_eq!(
            role["metadata"]["labels"][format!("run.kubetest.io/{id}")],
            "true",
            "every run's label stays on the shared CRD: {role}"
        );
    }
    let state = std::fs::read_to_string(dirs[1].0.join(".kubetest/state.json")).unwrap();
    assert!(state.contains("\"run_id\": \"job-2\""), "{state}");

    // Four `run`s at once, each finding its id in its state file; scenario namespaces carry it.
    let runs = all(&dirs, |_, _| (vec!["run".into()], None)).await;
    for (r, (_, id)) in runs.iter().zip(&dirs) {
        assert_eq!(r.code, 0, "{id}: {}\n{}", r.stdout, r.stderr);
    }

    // Two `down`s while the other two environments are still up: only their own go.
    let first: Vec<(PathBuf, String)> = dirs[..2].to_vec();
    let downs = all(&first, |_, _| (vec!["down".into()], None)).await;
    for (d, (_, id)) in downs.iter().zip(&first) {
        assert_eq!(d.code, 0, "{id}: {}\n{}", d.stdout, d.stderr);
        assert!(ns(&double, &format!("demo-{id}")).is_none(), "{id}");
        assert!(ns(&double, &format!("cache-{id}")).is_none(), "{id}");
        assert!(double
            .get("apps", "deployments", Some(&format!("demo-{id}")), "web")
            .is_none());
    }
    for (_, id) in &dirs[2..] {
        check_up(&double, id);
    }
    let rest: Vec<(PathBuf, String)> = dirs[2..].to_vec();
    let downs = all(&rest, |_, _| (vec!["down".into()], None)).await;
    for d in &downs {
        assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    }

    // Every run's objects are gone; only the shared cluster-scoped object remains, by design.
    for (d, id) in &dirs {
        for n in [format!("demo-{id}"), format!("cache-{id}")] {
            assert!(ns(&double, &n).is_none(), "{n} left");
        }
        assert!(
            !state_file(d).exists()
                || !std::fs::read_to_string(state_file(d))
                    .unwrap()
                    .contains("run_id")
        );
    }
    assert_eq!(run_namespaces(&double), Vec::<String>::new());
    assert!(double
        .get(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "widgets.shop.example.com"
        )
        .is_some());
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join(".kubetest/state.json")
}

/// Namespaces in the double that carry any run or scenario label.
fn run_namespaces(double: &ApiDouble) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["demo", "cache"] {
        for i in 1..=4 {
            if ns(double, &format!("{d}-job-{i}")).is_some() {
                out.push(format!("{d}-job-{i}"));
            }
        }
    }
    out
}

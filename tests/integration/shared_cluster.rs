//! Many runs of one environment on one shared cluster (the API double): each `up --id` lands in
//! its own `<namespace>-<id>` namespaces, references to them inside objects (RBAC subjects,
//! webhook services, Service DNS names) and in scenarios follow, `run` and `down` find the id in
//! the state file, a `down` removes its own run's namespaces and cluster-scoped objects and
//! nothing of the others, and shared cluster-scoped objects carry one label per run and go with
//! the last run that kubetest made them for.

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
data: { size: "3", url: "redis://db.cache.svc.cluster.local:6379" }
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
apiVersion: v1
kind: ServiceAccount
metadata: { name: app, namespace: cache }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: cache }
spec: { selector: { app: db }, ports: [ { port: 6379 } ] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: widget-reader }
rules: [ { apiGroups: [shop.example.com], resources: [widgets], verbs: [get, list] } ]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: platform-viewer }
rules: [ { apiGroups: [""], resources: [pods], verbs: [get] } ]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: widget-readers }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-reader }
subjects: [ { kind: ServiceAccount, name: app, namespace: cache } ]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: read-widgets }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-reader }
subjects: [ { kind: ServiceAccount, name: app, namespace: cache } ]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: widgets.shop.example.com }
webhooks:
- name: widgets.shop.example.com
  clientConfig: { service: { name: db, namespace: cache, path: /validate } }
  namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: cache } }
  rules: [ { apiGroups: [shop.example.com], apiVersions: [v1], operations: [CREATE], resources: [widgets] } ]
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
      - name: app
        image: "localhost/web:1"
        args: ["--cache=db.cache:6379"]
        env: [ { name: DB, value: "db.cache.svc:6379" }, { name: SHOP, value: "www.example.shop" }, { name: CACHE, value: "cache.cache" } ]
"#;

/// A scenario in a fresh namespace of its own: apply, then assert what it applied.
const SCENARIO: &str = "name: marker\nsteps:\n  - apply:\n      objects:\n        - { apiVersion: v1, kind: ConfigMap, metadata: { name: marker }, data: { ok: \"yes\" } }\n  - assert: { apiVersion: v1, kind: ConfigMap, name: marker, expect: { data: { ok: \"yes\" } } }\n";

/// A scenario written for the manifests' namespace `cache`: on a shared cluster it talks to
/// the run's `cache-<id>`, by its own `namespace:` and by a step's.
const CACHE_SCENARIO: &str = "name: cache\nnamespace: cache\nsteps:\n  - assert: { apiVersion: v1, kind: ConfigMap, name: settings, expect: { data: { size: \"3\" } } }\n  - apply:\n      objects:\n        - { apiVersion: v1, kind: ConfigMap, metadata: { name: from-scenario, namespace: cache }, data: { db: \"db.cache.svc:6379\" } }\n  - assert: { apiVersion: v1, kind: ServiceAccount, name: app, namespace: cache }\n";

pub(crate) fn environment(double: &ApiDouble) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    double.write_kubeconfig(d);
    std::fs::write(d.join("kubetest.yaml"), CONFIG).unwrap();
    std::fs::create_dir(d.join("manifests")).unwrap();
    std::fs::write(d.join("manifests/app.yaml"), MANIFESTS).unwrap();
    std::fs::create_dir(d.join("scenarios")).unwrap();
    std::fs::write(d.join("scenarios/marker.yaml"), SCENARIO).unwrap();
    std::fs::write(d.join("scenarios/cache.yaml"), CACHE_SCENARIO).unwrap();
    tmp
}

/// `kubetest ARGS` in `dir`; the id from `--id` for even runs and `KUBETEST_RUN_ID` for odd ones
/// on `up` (later commands find it in the state file).
pub(crate) async fn kt(dir: PathBuf, args: Vec<String>, env_id: Option<String>) -> Run {
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

pub(crate) async fn all(
    dirs: &[(PathBuf, String)],
    make: impl Fn(usize, &str) -> (Vec<String>, Option<String>),
) -> Vec<Run> {
    let runs = dirs.iter().enumerate().map(|(i, (d, id))| {
        let (args, env_id) = make(i, id);
        kt(d.clone(), args, env_id)
    });
    futures::future::join_all(runs).await
}

pub(crate) fn ns(double: &ApiDouble, name: &str) -> Option<Value> {
    double.get("", "namespaces", None, name)
}

pub(crate) fn check_up(double: &ApiDouble, id: &str) {
    let (demo_ns, cache_ns) = (format!("demo-{id}"), format!("cache-{id}"));
    let demo = ns(double, &demo_ns).unwrap_or_else(|| panic!("{demo_ns}"));
    assert_eq!(demo["metadata"]["labels"]["kubetest.io/run"], id);
    let cache = ns(double, &cache_ns).unwrap();
    assert_eq!(cache["metadata"]["labels"]["kubetest.io/run"], id);
    let web = double
        .get("apps", "deployments", Some(&demo_ns), "web")
        .unwrap();
    let app = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(app["args"][0], format!("--cache=db.{cache_ns}:6379"));
    assert_eq!(app["env"][0]["value"], format!("db.{cache_ns}.svc:6379"));
    assert_eq!(
        app["env"][1]["value"], "www.example.shop",
        "not a Service name"
    );
    let settings = double
        .get("", "configmaps", Some(&cache_ns), "settings")
        .unwrap();
    assert_eq!(settings["data"]["size"], "3");
    assert_eq!(
        settings["data"]["url"],
        format!("redis://db.{cache_ns}.svc.cluster.local:6379")
    );
    assert!(double
        .get("shop.example.com", "widgets", Some(&cache_ns), "w1")
        .is_some());
    // Namespace references inside objects follow the run.
    let rb = double
        .get(RBAC, "rolebindings", Some(&demo_ns), "read-widgets")
        .unwrap();
    assert_eq!(rb["subjects"][0]["namespace"], cache_ns.as_str());
    // Cluster-scoped objects that refer to the run are its own: renamed, labelled.
    let crb = double
        .get(
            RBAC,
            "clusterrolebindings",
            None,
            &format!("widget-readers-{id}"),
        )
        .unwrap_or_else(|| panic!("widget-readers-{id}"));
    assert_eq!(crb["metadata"]["labels"]["kubetest.io/run"], id);
    assert_eq!(crb["subjects"][0]["namespace"], cache_ns.as_str());
    assert_eq!(crb["roleRef"]["name"], "widget-reader", "the shared role");
    let hook = double
        .get(
            ADMISSION,
            "validatingwebhookconfigurations",
            None,
            &format!("widgets.shop.example.com-{id}"),
        )
        .unwrap();
    let w = &hook["webhooks"][0];
    assert_eq!(w["clientConfig"]["service"]["namespace"], cache_ns.as_str());
    assert_eq!(
        w["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        cache_ns.as_str()
    );
}

pub(crate) const RBAC: &str = "rbac.authorization.k8s.io";
pub(crate) const ADMISSION: &str = "admissionregistration.k8s.io";
pub(crate) const CRDS: (&str, &str) = ("apiextensions.k8s.io", "customresourcedefinitions");

/// The `run.kubetest.io/<id>` labels on a shared cluster-scoped object.
pub(crate) fn run_labels(obj: &Value) -> Vec<String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|l| {
            l.keys()
                .filter(|k| k.starts_with("run.kubetest.io/"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_runs_share_one_cluster_without_seeing_each_other() {
    let double = ApiDouble::start().await;
    // Installed by someone else before any run: the manifests apply it too.
    double.put(
        RBAC,
        "clusterroles",
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "platform-viewer", "labels": {"team": "platform"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    );
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
        // A short name that names no Service of the manifests is reported, not rewritten.
        let warning = u
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["event"] == "warning")
            .unwrap_or_else(|| panic!("{id}: no warning\n{}", u.stdout));
        let message = warning["message"].as_str().unwrap();
        assert!(
            message.starts_with("left as written: Deployment web: spec.template.spec.containers[app].env[CACHE]: `cache.cache` may name Service cache in namespace cache (here cache-"),
            "{message}"
        );
    }
    for (_, id) in &dirs {
        check_up(&double, id);
    }
    assert!(ns(&double, "demo").is_none() && ns(&double, "cache").is_none());
    let crd = double
        .get(CRDS.0, CRDS.1, None, "widgets.shop.example.com")
        .unwrap();
    let role = double
        .get(RBAC, "clusterroles", None, "widget-reader")
        .unwrap();
    let foreign = double
        .get(RBAC, "clusterroles", None, "platform-viewer")
        .unwrap();
    for shared in [&crd, &role, &foreign] {
        let mut labels = run_labels(shared);
        labels.sort();
        assert_eq!(
            labels,
            [
                "run.kubetest.io/job-1",
                "run.kubetest.io/job-2",
                "run.kubetest.io/job-3",
                "run.kubetest.io/job-4"
            ],
            "every run's label is on the shared object: {shared}"
        );
    }
    assert_eq!(crd["metadata"]["labels"]["kubetest.io/shared"], "true");
    assert_eq!(role["metadata"]["labels"]["kubetest.io/shared"], "true");
    assert!(
        foreign["metadata"]["labels"]
            .get("kubetest.io/shared")
            .is_none(),
        "installed before any run: never marked for deletion"
    );
    let state = std::fs::read_to_string(dirs[1].0.join(".kubetest/state.json")).unwrap();
    assert!(state.contains("\"run_id\": \"job-2\""), "{state}");

    // Four `run`s at once, each finding its id in its state file; scenario namespaces carry it.
    let runs = all(&dirs, |_, _| (vec!["run".into()], None)).await;
    for (r, (_, id)) in runs.iter().zip(&dirs) {
        assert_eq!(r.code, 0, "{id}: {}\n{}", r.stdout, r.stderr);
        // The scenario written for `cache` applied into this run's cache-<id>, mapped inside.
        let cm = double
            .get(
                "",
                "configmaps",
                Some(&format!("cache-{id}")),
                "from-scenario",
            )
            .unwrap_or_else(|| panic!("{id}: from-scenario in cache-{id}"));
        assert_eq!(cm["data"]["db"], format!("db.cache-{id}.svc:6379"));
    }
    assert!(double
        .get("", "configmaps", Some("cache"), "from-scenario")
        .is_none());

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
        assert!(double
            .get(
                RBAC,
                "clusterrolebindings",
                None,
                &format!("widget-readers-{id}")
            )
            .is_none());
    }
    for (_, id) in &dirs[2..] {
        check_up(&double, id);
    }
    // The shared objects stay for the two runs still up, with only their labels.
    for (g, p, n) in [
        (CRDS.0, CRDS.1, "widgets.shop.example.com"),
        (RBAC, "clusterroles", "widget-reader"),
    ] {
        let obj = double
            .get(g, p, None, n)
            .unwrap_or_else(|| panic!("{n} gone too early"));
        let mut labels = run_labels(&obj);
        labels.sort();
        assert_eq!(
            labels,
            ["run.kubetest.io/job-3", "run.kubetest.io/job-4"],
            "{obj}"
        );
    }
    let rest: Vec<(PathBuf, String)> = dirs[2..].to_vec();
    let downs = all(&rest, |_, _| (vec!["down".into()], None)).await;
    for d in &downs {
        assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    }

    // Every run's objects are gone, shared ones with the last run that used them; the
    // ClusterRole that existed before any run stays, without run labels.
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
    let left = objects_naming(&double, "job-");
    assert!(left.is_empty(), "objects of the runs left: {left:#?}");
    assert!(double
        .get(CRDS.0, CRDS.1, None, "widgets.shop.example.com")
        .is_none());
    assert!(double
        .get(RBAC, "clusterroles", None, "widget-reader")
        .is_none());
    let foreign = double
        .get(RBAC, "clusterroles", None, "platform-viewer")
        .expect("what someone else installed stays");
    assert!(run_labels(&foreign).is_empty(), "{foreign}");
    assert_eq!(foreign["metadata"]["labels"]["team"], "platform");
}

/// The objects in the double whose text (but their managedFields) holds `needle`: field
/// managers stay on fields they co-own, as in the API server, and name no object.
pub(crate) fn objects_naming(double: &ApiDouble, needle: &str) -> Vec<String> {
    double
        .objects()
        .into_iter()
        .map(|mut o| {
            o["metadata"]
                .as_object_mut()
                .map(|m| m.remove("managedFields"));
            o.to_string()
        })
        .filter(|o| o.contains(needle))
        .collect()
}

pub(crate) fn state_file(dir: &Path) -> PathBuf {
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

// ---- Reference counting of shared cluster-scoped objects under concurrency ----

use kubetest::k8s::apply::Applier;
use kubetest::k8s::kinds::Kinds;
use kubetest::k8s::manifests::{to_object, Manifest};
use kubetest::k8s::run_cluster::{self, Released};
use kubetest::state::RunClusterObject;

fn role_record() -> RunClusterObject {
    RunClusterObject {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: "ClusterRole".into(),
        name: "shared-reader".into(),
        shared: true,
    }
}

/// ClusterRole `shared-reader` as runs `ids` left it after their `up`s.
fn put_shared_role(double: &ApiDouble, ids: &[String]) {
    let mut labels = serde_json::json!({"kubetest.io/shared": "true"});
    for id in ids {
        labels[format!("run.kubetest.io/{id}")] = "true".into();
    }
    double.put(
        RBAC,
        "clusterroles",
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "shared-reader", "labels": labels},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_resource_versions_are_conflicts_as_in_the_api_server() {
    use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = crate::k8s_support::client(&double, tmp.path()).await;
    put_shared_role(&double, &["a".to_owned()]);
    let (ar, _) = Kinds::new()
        .resolve(
            &client,
            &kubetest::k8s::kinds::gvk("rbac.authorization.k8s.io/v1", "ClusterRole"),
        )
        .await
        .unwrap();
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let rv = api
        .get("shared-reader")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stale =
        |rv: &str| serde_json::json!({"metadata": {"resourceVersion": rv, "labels": {"x": "1"}}});
    let err = api
        .patch(
            "shared-reader",
            &PatchParams::default(),
            &Patch::Merge(&stale("1")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    let precondition = |rv: &str| DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(rv.into()),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    let err = api
        .delete("shared-reader", &precondition("1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409),
        "{err:?}"
    );
    let patched = api
        .patch(
            "shared-reader",
            &PatchParams::default(),
            &Patch::Merge(&stale(&rv)),
        )
        .await
        .expect("the current resourceVersion passes");
    let rv2 = patched.metadata.resource_version.unwrap();
    assert_ne!(rv, rv2);
    assert!(
        api.delete("shared-reader", &precondition(&rv))
            .await
            .is_err(),
        "old version"
    );
    api.delete("shared-reader", &precondition(&rv2))
        .await
        .unwrap();
    assert!(double
        .get(RBAC, "clusterroles", None, "shared-reader")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_downs_delete_a_shared_object_exactly_once() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = crate::k8s_support::client(&double, tmp.path()).await;
    let ids: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    for round in 0..10 {
        put_shared_role(&double, &ids);
        let kinds = Kinds::new();
        let downs = ids.iter().map(|id| {
            let (client, kinds, id) = (client.clone(), kinds.clone(), id.clone());
            tokio::spawn(
                async move { run_cluster::remove(&client, &kinds, &id, &role_record()).await },
            )
        });
        let results: Vec<Released> = futures::future::join_all(downs)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        let deleted = results.iter().filter(|r| **r == Released::Deleted).count();
        assert_eq!(deleted, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Released::Deleted | Released::StillUsed(_))),
            "round {round}: {results:?}"
        );
        assert!(
            double
                .get(RBAC, "clusterroles", None, "shared-reader")
                .is_none(),
            "round {round}"
        );
    }
    let writes = double
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH") || r.starts_with("DELETE"))
        .count();
    // Each down makes one write that succeeds; more means they collided and read again after
    // a 409 (about 200 writes for 80 downs here).
    assert!(writes > 80, "the downs never collided: {writes} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_up_racing_the_last_down_keeps_the_shared_object() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = crate::k8s_support::client(&double, tmp.path()).await;
    let manifest = Manifest {
        file: "app.yaml".into(),
        doc: 1,
        object: to_object(
            serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole", "metadata": {"name": "shared-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        )
        .unwrap(),
    };
    for round in 0..10 {
        put_shared_role(&double, &["a".to_owned()]);
        let down = {
            let client = client.clone();
            tokio::spawn(async move {
                run_cluster::remove(&client, &Kinds::new(), "a", &role_record()).await
            })
        };
        let up = {
            let (client, manifest) = (client.clone(), manifest.clone());
            tokio::spawn(async move {
                Applier::new(client, "default")
                    .for_run(Some("c"))
                    .apply_one(&manifest)
                    .await
                    .map(|a| a.run_cluster_object)
            })
        };
        let released = down.await.unwrap().unwrap();
        let recorded = up.await.unwrap().unwrap();
        assert_eq!(recorded, Some(role_record()), "recorded as shared by run c");
        let role = double
            .get(RBAC, "clusterroles", None, "shared-reader")
            .unwrap_or_else(|| {
                panic!("round {round}: run c's role went with run a ({released:?})")
            });
        assert_eq!(
            run_labels(&role),
            ["run.kubetest.io/c"],
            "round {round}: {role}"
        );
        assert_eq!(role["metadata"]["labels"]["kubetest.io/shared"], "true");
        double.remove(RBAC, "clusterroles", None, "shared-reader");
    }
}

/// An `up` that fails half-way (the server rejects the last object) has recorded the
/// cluster-scoped objects it applied, so its `down` still removes its own and releases the
/// shared ones: nothing of the run is left, and another run's shared label keeps the CRD.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_after_a_failed_up_removes_what_it_applied() {
    let double = ApiDouble::start().await;
    let good = environment(&double);
    let bad = environment(&double);
    let broken = format!(
        "{MANIFESTS}---\napiVersion: v1\nkind: Service\nmetadata: {{ name: broken }}\nspec: {{ ports: [ {{ port: 1 }}, {{ port: 2 }} ] }}\n"
    );
    std::fs::write(bad.path().join("manifests/app.yaml"), broken).unwrap();
    let arg = |s: &str| s.to_owned();
    let up = kt(
        good.path().to_owned(),
        vec![arg("up"), arg("--id"), arg("ok-1")],
        None,
    )
    .await;
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    let up = kt(
        bad.path().to_owned(),
        vec![arg("up"), arg("--id"), arg("bad-1")],
        None,
    )
    .await;
    assert_ne!(up.code, 0, "{}", up.stdout);
    assert!(
        up.stdout.contains("spec.ports[0].name: Required value"),
        "{}",
        up.stdout
    );
    let state = std::fs::read_to_string(state_file(bad.path())).unwrap();
    assert!(
        state.contains("\"widget-readers-bad-1\"") && state.contains("\"shared\": true"),
        "{state}"
    );
    assert!(double
        .get(RBAC, "clusterrolebindings", None, "widget-readers-bad-1")
        .is_some());

    let down = kt(bad.path().to_owned(), vec![arg("down")], None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    let left = objects_naming(&double, "bad-1");
    assert!(left.is_empty(), "objects of the failed run left: {left:#?}");
    check_up(&double, "ok-1");
    let crd = double
        .get(CRDS.0, CRDS.1, None, "widgets.shop.example.com")
        .expect("still used by run ok-1");
    assert_eq!(run_labels(&crd), ["run.kubetest.io/ok-1"]);

    let down = kt(good.path().to_owned(), vec![arg("down")], None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(double
        .get(CRDS.0, CRDS.1, None, "widgets.shop.example.com")
        .is_none());
}

/// `down` meets an API server that is away: the error names the object; once the server is
/// back the same release goes through. A kind the cluster no longer serves has nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releasing_names_the_object_when_the_server_is_away() {
    let double = ApiDouble::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = crate::k8s_support::client(&double, tmp.path()).await;
    put_shared_role(&double, &["a".to_owned()]);
    double.go_away();
    let err = run_cluster::remove(&client, &Kinds::new(), "a", &role_record())
        .await
        .unwrap_err();
    assert!(
        err.starts_with("cannot remove ClusterRole shared-reader: "),
        "{err}"
    );
    double.come_back().await;
    let kinds = Kinds::new();
    let done = run_cluster::remove(&client, &kinds, "a", &role_record()).await;
    assert_eq!(done, Ok(Released::Deleted));
    let gadget = RunClusterObject {
        api_version: "shop.example.com/v1".into(),
        kind: "Gadget".into(),
        name: "g".into(),
        shared: false,
    };
    assert_eq!(
        run_cluster::remove(&client, &kinds, "a", &gadget).await,
        Ok(Released::Gone),
        "its CRD went: nothing of it is left"
    );
}

//! Named cluster targets end to end: ONE kubetest.yaml and ONE manifest, run on the default
//! target (`cluster:`, kind through the fake kind CLI, `load: archive`) and on a named one
//! (`--cluster shared`: `provider: existing` against the Kubernetes API double, pushing to a
//! real docker-registry), on both engines. The state file records the target `up` used, so
//! `down` without the flag removes what `up` made, and a `--cluster` naming another target is
//! refused with both names.

use crate::apidouble::ApiDouble;
use crate::engines::{engines, TestEngine};
use crate::fake_kind::{binary, FakeKind};
use crate::load::{node_image_context, Node};
use crate::registry_support::{available, Registry};
use crate::support::{unique, Run};
use serde_json::Value;
use std::path::Path;

/// The one config: kind by default, the shared cluster by name (the app's body and manifest
/// are those of local_registry.rs's one-config test).
fn write_environment(dir: &Path, env: &str, engine: &str, app: &str, cluster: &str, reg: &str) {
    crate::local_registry::app_environment(
        dir,
        env,
        engine,
        app,
        &format!(
            "cluster: {{ provider: kind, name: {cluster}, kind_binary: {}, load: archive }}\n\
             clusters:\n  shared:\n    provider: existing\n    kubeconfig: kubeconfig\n    context: kind-kt-i6\n    \
             registry: {{ url: {reg}/team, tls_verify: false }}\n    shared: true\n",
            binary().display()
        ),
    );
}

fn state(dir: &Path) -> Option<Value> {
    std::fs::read_to_string(dir.join(".kubetest/state.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
}

fn applied_image(double: &ApiDouble, namespace: &str) -> Option<String> {
    double
        .get("apps", "deployments", Some(namespace), "web")
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned()
        })
}

/// Build the node image (a busybox whose `crictl` prints what the node holds).
fn node_image(engine: &TestEngine, dir: &Path) -> String {
    let image = format!(
        "localhost/{}:1",
        unique(&format!("kt-ct-node-{}", engine.name))
    );
    node_image_context(&dir.join("node"));
    crate::load::build(
        engine,
        dir,
        &unique(&format!("kt-ct-support-{}", engine.name)),
        &[(&image, "node")],
    );
    image
}

#[test]
fn one_file_runs_on_kind_by_default_and_on_a_shared_cluster_by_name() {
    if !available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::plain();
    for engine in engines() {
        let e = engine.name;
        let support = tempfile::tempdir().unwrap();
        let node_image = node_image(&engine, support.path());
        let cluster = unique(&format!("kt-ct-{e}"));
        let node = Node::start(&engine, &cluster, &node_image);
        node.holds(&[]);
        let double = rt.block_on(ApiDouble::start());
        double.put_namespace("demo");

        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let app = format!("localhost/{}:1", unique(&format!("kt-ct-app-{e}")));
        let path = app
            .trim_start_matches("localhost/")
            .trim_end_matches(":1")
            .to_owned();
        write_environment(
            d,
            &unique(&format!("kt-ct-{e}")),
            e,
            &app,
            &cluster,
            &registry.host,
        );
        double.write_kubeconfig(d);
        let kind = FakeKind::new();
        let home = tempfile::tempdir().unwrap();
        let kt = |args: &[&str]| {
            let mut c = engine.kubetest(d);
            kind.apply(&mut c);
            c.env("FAKE_KIND_SERVER", double.url())
                .env("HOME", home.path())
                .env_remove("KUBETEST_CLUSTER")
                .args(args)
                .args(["--output", "json"]);
            Run::new(&mut c)
        };

        // The default target: kind, the image loaded by name.
        let up = kt(&["up"]);
        assert_eq!(up.code, 0, "{e} kind: {}\n{}", up.stderr, up.stdout);
        assert!(kind.has_cluster(&cluster), "{e}: {:?}", kind.argvs());
        let loads: Vec<String> = kind
            .argvs()
            .into_iter()
            .filter(|a| a.starts_with("load "))
            .collect();
        assert_eq!(loads.len(), 1, "{e}: {loads:?}");
        assert_eq!(
            applied_image(&double, "demo").as_deref(),
            Some(app.as_str()),
            "{e}: kind keeps the loaded name"
        );
        let s = state(d).unwrap();
        assert!(s.get("cluster_target").is_none(), "{e}: {s}");

        // A different target while this environment is up: refused, naming both.
        for cmd in [
            &["status", "--cluster", "shared"][..],
            &["down", "--target", "shared"],
        ] {
            let refused = kt(cmd);
            assert_eq!(refused.code, 2, "{e} {cmd:?}: {}", refused.stderr);
            assert!(
                refused.stderr.contains("--cluster shared")
                    && refused.stderr.contains("the default (`cluster:`)"),
                "{e} {cmd:?}: {}",
                refused.stderr
            );
        }
        assert!(
            kind.has_cluster(&cluster),
            "{e}: a refused down removed nothing"
        );

        let down = kt(&["down"]);
        assert_eq!(down.code, 0, "{e} kind down: {}", down.stderr);
        assert!(
            !kind.has_cluster(&cluster),
            "{e}: down deleted the kind cluster"
        );

        // The named target: the shared cluster, the pushed image pinned by digest.
        double.remove("apps", "deployments", Some("demo"), "web");
        kind.forget_calls();
        let up = kt(&["up", "--cluster", "shared", "--id", "ct1"]);
        assert_eq!(up.code, 0, "{e} shared: {}\n{}", up.stderr, up.stdout);
        let digest = rt
            .block_on(registry.manifest_digest(&format!("team/{path}"), "1"))
            .expect("pushed to the registry");
        assert_eq!(
            applied_image(&double, "demo-ct1"),
            Some(format!("{}/team/{path}@{digest}", registry.host)),
            "{e}: the same manifest, pinned to the pushed digest"
        );
        assert_eq!(applied_image(&double, "demo"), None, "{e}");
        let s = state(d).unwrap();
        assert_eq!(s["cluster_target"], "shared", "{e}: {s}");
        assert!(
            kind.calls().is_empty(),
            "{e}: kind untouched: {:?}",
            kind.argvs()
        );

        // A name the recorded target does not match is refused too.
        let refused = kt(&["status", "--cluster", "nope"]);
        assert_eq!(refused.code, 2, "{e}: {}", refused.stderr);

        // `down` without the flag: the recorded target, so the shared cluster's objects go.
        let down = kt(&["down", "--images"]);
        assert_eq!(down.code, 0, "{e} shared down: {}", down.stderr);
        assert_eq!(
            applied_image(&double, "demo-ct1"),
            None,
            "{e}: {:?}",
            double.applied()
        );
        assert!(
            kind.calls().is_empty(),
            "{e}: down used kind: {:?}",
            kind.argvs()
        );
        // Nothing on a cluster is recorded any more: a later `up` starts from `cluster:`.
        if let Some(s) = state(d) {
            assert!(s["cluster"].is_null() && s["run_id"].is_null(), "{e}: {s}");
        }
        let default_again = kt(&["status"]);
        assert_eq!(default_again.code, 0, "{e}: {}", default_again.stderr);

        drop(node);
        let engine_api = rt.block_on(crate::registry::connect(&engine));
        rt.block_on(crate::registry::untag(
            &engine_api,
            &[
                format!("{}/team/{path}:1", registry.host),
                app.clone(),
                node_image.clone(),
            ],
        ));
    }
}

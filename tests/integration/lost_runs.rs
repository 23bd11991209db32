//! Runs whose state file is lost (a cancelled CI job's workspace) on one shared cluster (the API
//! double): `down --id` releases exactly that run's objects, found by label; `gc --older-than`
//! releases only this environment's stale runs, never the locally recorded run, a run of
//! unknown age, or another project's run.

use crate::apidouble::ApiDouble;
use crate::shared_cluster::{
    check_up, environment, kt, ns, objects_naming, run_labels, state_file, ADMISSION, CRDS, RBAC,
};
use crate::support::Run;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

async fn up(dir: &Path, id: &str) {
    let r = kt(dir.to_owned(), args(&["up", "--id", id]), None).await;
    assert_eq!(r.code, 0, "up {id}: {}\n{}", r.stdout, r.stderr);
}

/// The sorted `run.kubetest.io/<id>` labels of a cluster-scoped object (it must exist).
fn holders(double: &ApiDouble, group: &str, plural: &str, name: &str) -> Vec<String> {
    let obj = double
        .get(group, plural, None, name)
        .unwrap_or_else(|| panic!("{plural} {name} is gone"));
    let mut l = run_labels(&obj);
    l.sort();
    l
}

fn task<'a>(run: &'a Run, starts_with: &str) -> Option<&'a Value> {
    run.events.iter().find(|e| {
        e["event"] == "task_finished" && e["task"].as_str().unwrap_or("").starts_with(starts_with)
    })
}

/// Namespaces, the ClusterRoleBinding and the webhook configuration of run `id` are all gone.
fn released(double: &ApiDouble, id: &str) {
    assert!(ns(double, &format!("demo-{id}")).is_none(), "demo-{id}");
    assert!(ns(double, &format!("cache-{id}")).is_none(), "cache-{id}");
    let crb = format!("widget-readers-{id}");
    assert!(double
        .get(RBAC, "clusterrolebindings", None, &crb)
        .is_none());
    let hook = format!("widgets.shop.example.com-{id}");
    assert!(double
        .get(ADMISSION, "validatingwebhookconfigurations", None, &hook)
        .is_none());
    let left = objects_naming(double, id);
    assert!(left.is_empty(), "objects of run {id} left: {left:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_id_releases_a_run_whose_state_file_is_lost() {
    let double = ApiDouble::start().await;
    let (a, b) = (environment(&double), environment(&double));
    up(a.path(), "job-a").await;
    up(b.path(), "job-b").await;
    let both = ["run.kubetest.io/job-a", "run.kubetest.io/job-b"];
    assert_eq!(
        holders(&double, RBAC, "clusterroles", "widget-reader"),
        both
    );

    // The CI job of run A is cancelled: its workspace, and the state file in it, are gone.
    std::fs::remove_file(state_file(a.path())).unwrap();
    // Without `--id` nothing names a run: nothing on the cluster changes (as before).
    let plain = kt(a.path().to_owned(), args(&["down"]), None).await;
    assert_eq!(plain.code, 0, "{}\n{}", plain.stdout, plain.stderr);
    check_up(&double, "job-a");
    assert_eq!(
        holders(&double, RBAC, "clusterroles", "widget-reader"),
        both
    );

    let down = kt(a.path().to_owned(), args(&["down", "--id", "job-a"]), None).await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    released(&double, "job-a");
    let b_only = ["run.kubetest.io/job-b"];
    for (g, p, n) in [
        (RBAC, "clusterroles", "widget-reader"),
        (RBAC, "clusterroles", "platform-viewer"),
        (CRDS.0, CRDS.1, "widgets.shop.example.com"),
    ] {
        assert_eq!(
            holders(&double, g, p, n),
            b_only,
            "{n}: only B's hold is left"
        );
    }
    check_up(&double, "job-b");
    let t = task(&down, "run job-a (found by label)").expect("a task for the run");
    assert_eq!(t["outcome"], "ok", "{t}");
    let detail = t["detail"].as_str().unwrap();
    assert!(
        detail.contains("demo-job-a") && detail.contains("cache-job-a"),
        "{detail}"
    );
    // Each released object is logged with what happened to it.
    let logs: Vec<&str> = down.texts("task_log", "line");
    assert!(
        logs.contains(&"ClusterRole widget-reader: label removed; 1 other run(s) still use it"),
        "{logs:#?}"
    );
    assert!(
        logs.contains(&"ClusterRoleBinding widget-readers-job-a: deleted"),
        "{logs:#?}"
    );

    // Twice is fine: nothing of run A is left.
    let again = kt(a.path().to_owned(), args(&["down", "--id", "job-a"]), None).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let t = task(&again, "run job-a").unwrap();
    assert_eq!(t["detail"], "nothing of run job-a left on the cluster");
    check_up(&double, "job-b");

    // B's own `down` (its state file is there) is the last hold: the shared objects go.
    let down_b = kt(b.path().to_owned(), args(&["down"]), None).await;
    assert_eq!(down_b.code, 0, "{}\n{}", down_b.stdout, down_b.stderr);
    released(&double, "job-b");
    assert!(double
        .get(RBAC, "clusterroles", None, "widget-reader")
        .is_none());
    assert!(double
        .get(CRDS.0, CRDS.1, None, "widgets.shop.example.com")
        .is_none());
    let left = objects_naming(&double, "job-");
    assert!(left.is_empty(), "{left:#?}");

    // The cluster away: an infrastructure failure naming the run and what to do.
    double.go_away();
    let away = kt(a.path().to_owned(), args(&["down", "--id", "job-c"]), None).await;
    assert_eq!(away.code, 3, "{}\n{}", away.stdout, away.stderr);
    assert!(
        away.stderr.contains("releasing run job-c")
            && away
                .stderr
                .contains("run `kubetest down --id job-c` again once the cluster answers"),
        "{}",
        away.stderr
    );
}

const HOURS_3: Duration = Duration::from_secs(3 * 3600);

fn age_run(double: &ApiDouble, id: &str) {
    for n in ["demo", "cache"] {
        double.age_object("", "namespaces", None, &format!("{n}-{id}"), HOURS_3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_releases_only_the_stale_runs_of_its_environment() {
    let double = ApiDouble::start().await;
    let here = environment(&double); // this machine: its run is recorded in its state file
    let lost = environment(&double); // a cancelled CI job: state file gone
    let fresh = environment(&double); // a job still running elsewhere
    let other = environment(&double); // another project on the same cluster
    let config = other.path().join("kubetest.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replacen("name: shop", "name: other", 1)).unwrap();
    for (dir, id) in [
        (&here, "job-mine"),
        (&lost, "job-old"),
        (&fresh, "job-new"),
        (&other, "job-other"),
    ] {
        up(dir.path(), id).await;
    }
    let demo = ns(&double, "demo-job-old").unwrap();
    assert_eq!(
        demo["metadata"]["labels"]["kubetest.io/environment"],
        "shop"
    );
    let demo = ns(&double, "demo-job-other").unwrap();
    assert_eq!(
        demo["metadata"]["labels"]["kubetest.io/environment"],
        "other"
    );
    std::fs::remove_file(state_file(lost.path())).unwrap();
    for id in ["job-mine", "job-old", "job-other"] {
        age_run(&double, id);
    }
    // One old namespace, one new: a run is as old as its newest namespace.
    double.age_object("", "namespaces", None, "demo-job-new", HOURS_3);
    // A run that holds a shared object but has no namespace: its age is unknown.
    double.put(
        RBAC,
        "clusterroles",
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "ghost-reader", "labels": {"kubetest.io/shared": "true", "run.kubetest.io/job-ghost": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    );
    let all_four = [
        "run.kubetest.io/job-mine",
        "run.kubetest.io/job-new",
        "run.kubetest.io/job-old",
        "run.kubetest.io/job-other",
    ];
    assert_eq!(
        holders(&double, RBAC, "clusterroles", "widget-reader"),
        all_four
    );

    // A dry run reports the stale run and changes nothing.
    let before = double.objects();
    let dry = kt(
        here.path().to_owned(),
        args(&["gc", "--older-than", "2h", "--dry-run"]),
        None,
    )
    .await;
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert_eq!(double.objects(), before, "a dry run changed the cluster");
    let t = task(&dry, "run job-old (age 3h").expect("the stale run is reported");
    assert_eq!(t["outcome"], "skipped");
    let detail = t["detail"].as_str().unwrap();
    for what in [
        "demo-job-old",
        "cache-job-old",
        "ClusterRoleBinding widget-readers-job-old (deleted)",
        "ClusterRole widget-reader (label removed",
        "CustomResourceDefinition widgets.shop.example.com (label removed",
    ] {
        assert!(detail.contains(what), "{what} not in {detail}");
    }
    for id in ["job-mine", "job-new", "job-other"] {
        assert!(
            task(&dry, &format!("run {id}")).is_none(),
            "{id} is not gc's"
        );
    }
    let warnings: Vec<&str> = dry.texts("warning", "message");
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "run(s) job-ghost hold labels on shared cluster-scoped objects but have no namespace"
        )),
        "{warnings:#?}"
    );

    // The run `--id` names is this machine's too (a CI job cleaning up before its own `up`).
    let own = kt(
        here.path().to_owned(),
        args(&["gc", "--older-than", "2h", "--dry-run", "--id", "job-old"]),
        None,
    )
    .await;
    assert_eq!(own.code, 0, "{}\n{}", own.stdout, own.stderr);
    assert!(task(&own, "run job-").is_none(), "{}", own.stdout);
    assert!(
        own.stdout.contains("run job-old is this machine's"),
        "{}",
        own.stdout
    );

    let gc = kt(
        here.path().to_owned(),
        args(&["gc", "--older-than", "2h"]),
        None,
    )
    .await;
    assert_eq!(gc.code, 0, "{}\n{}", gc.stdout, gc.stderr);
    assert_eq!(task(&gc, "run job-old").unwrap()["outcome"], "ok");
    released(&double, "job-old");
    // The local run (old, but this machine's), the fresh one and the other project's stay.
    for id in ["job-mine", "job-new", "job-other"] {
        check_up(&double, id);
    }
    assert_eq!(
        holders(&double, RBAC, "clusterroles", "widget-reader"),
        [
            "run.kubetest.io/job-mine",
            "run.kubetest.io/job-new",
            "run.kubetest.io/job-other"
        ]
    );
    assert_eq!(
        holders(&double, RBAC, "clusterroles", "ghost-reader"),
        ["run.kubetest.io/job-ghost"],
        "a run of unknown age is released only by `down --id`"
    );

    // Nothing stale left: a second gc releases nothing.
    let again = kt(
        here.path().to_owned(),
        args(&["gc", "--older-than", "2h"]),
        None,
    )
    .await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(task(&again, "run job-").is_none());
    for id in ["job-mine", "job-new", "job-other"] {
        check_up(&double, id);
    }

    // The cluster away: an infrastructure failure (exit 3) that says what it tried.
    double.go_away();
    let away = kt(
        here.path().to_owned(),
        args(&["gc", "--older-than", "2h"]),
        None,
    )
    .await;
    assert_eq!(away.code, 3, "{}\n{}", away.stdout, away.stderr);
    assert!(
        away.stderr.contains(
            "cannot list the namespaces of runs (kubetest.io/run,kubetest.io/environment=shop)"
        ) && away.stderr.contains("then rerun `kubetest gc`"),
        "{}",
        away.stderr
    );
}

#[tokio::test]
async fn gc_needs_a_duration() {
    let double = ApiDouble::start().await;
    let env = environment(&double);
    for a in [vec!["gc"], vec!["gc", "--older-than", "soon"]] {
        let r = kt(env.path().to_owned(), args(&a), None).await;
        assert_eq!(r.code, 2, "{a:?}: {}", r.stderr);
    }
}

/// On kind, a cluster that does not answer holds no run: `down --id` says so and succeeds.
#[tokio::test]
async fn down_id_on_a_kind_cluster_that_is_gone_releases_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: gone\ncluster: { provider: kind }\n",
    )
    .unwrap();
    let r = kt(
        tmp.path().to_owned(),
        args(&["down", "--id", "job-k"]),
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let t = task(&r, "run job-k (found by label)").expect("the run is looked for");
    assert_eq!(t["outcome"], "skipped", "{t}");
    assert!(
        t["detail"]
            .as_str()
            .unwrap()
            .starts_with("kind cluster gone does not answer"),
        "{t}"
    );
}

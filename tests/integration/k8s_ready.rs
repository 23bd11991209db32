//! Readiness against the Kubernetes API double: transitions, fail-fast reasons, diagnostics,
//! and watches that survive 410 Gone, dropped connections and 5xx answers.

use crate::apidouble::{pods, ApiDouble};
use crate::k8s_support::{client, phase_ctx};
use kubetest::events::Event;
use kubetest::k8s::image_ids::ImageIds;
use kubetest::k8s::ready::JudgeOptions;
use kubetest::k8s::wait::{wait_ready, Progress, Target, WaitError, WaitRequest, WorkloadKind};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const IMAGE: &str = "localhost/kt-i6-app:dev";

fn request(target: Target, timeout: Duration) -> WaitRequest {
    WaitRequest {
        namespace: "demo".into(),
        target,
        min: 1,
        timeout,
        judge: JudgeOptions {
            restarts_allowed: 2,
            job: false,
            loaded_images: vec![IMAGE.into()],
            ..JudgeOptions::default()
        },
    }
}

type Waiting = (
    tokio::task::JoinHandle<Result<Vec<k8s_openapi::api::core::v1::Pod>, WaitError>>,
    mpsc::UnboundedReceiver<Progress>,
);

fn start(client: kube::Client, req: WaitRequest) -> Waiting {
    let (tx, rx) = mpsc::unbounded_channel();
    let h = tokio::spawn(async move {
        wait_ready(&client, &req, |p| {
            let _ = tx.send(p);
        })
        .await
    });
    (h, rx)
}

/// The next pod status line that contains `status`, skipping others (5 s at most).
async fn saw(
    rx: &mut mpsc::UnboundedReceiver<Progress>,
    status: &str,
) -> kubetest::k8s::wait::PodChange {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let p = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no pod status containing `{status}` within 5 s"))
            .expect("wait still running");
        if let Progress::Pod(c) = p {
            if c.status.contains(status) {
                return c;
            }
        }
    }
}

async fn setup() -> (ApiDouble, tempfile::TempDir, kube::Client) {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&double, dir.path()).await;
    double.put_namespace("demo");
    (double, dir, c)
}

#[tokio::test]
async fn each_transition_is_reported_and_ready_ends_the_wait() {
    let (double, _dir, c) = setup().await;
    let pod = double.set_pod(pods::deployment_pod("demo", "web", "x2k8p", IMAGE));
    let (h, mut rx) = start(
        c,
        request(Target::Selector("app=web".into()), Duration::from_secs(30)),
    );
    let first = saw(&mut rx, "Pending (ContainerCreating)").await;
    assert_eq!(
        (first.pod.as_str(), first.ready),
        ("web-7d4b9c6f5-x2k8p", false)
    );
    let pod = double.set_pod(pods::running_not_ready(pod));
    saw(&mut rx, "Running, 0/1 ready").await;
    // Another app's pod does not count.
    double.set_pod(pods::crash_loop(
        pods::deployment_pod("demo", "other", "zz", IMAGE),
        9,
    ));
    double.set_pod(pods::ready(pod));
    let ready = saw(&mut rx, "Running, ready").await;
    assert!(ready.ready);
    let latency = ready
        .ready_latency_ms
        .expect("latency of the Ready transition");
    assert!(
        latency < 3_000,
        "second-precision lastTransitionTime → latency < 3 s, got {latency}"
    );
    let pods = h.await.unwrap().expect("ready");
    assert_eq!(pods.len(), 1);
}

/// Every pod change the watch delivers comes with the wait's count and time left: what the
/// live view shows as `0/2 ready, 29s left`.
#[tokio::test]
async fn counts_and_time_left_follow_each_pod_change() {
    let (double, _dir, c) = setup().await;
    let mut req = request(Target::Selector("app=web".into()), Duration::from_secs(30));
    req.min = 2;
    let a = double.set_pod(pods::deployment_pod("demo", "web", "a", IMAGE));
    let (h, mut rx) = start(c, req);
    let mut counts = Vec::new();
    let next_count = async |rx: &mut mpsc::UnboundedReceiver<Progress>| loop {
        let p = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a count within 5 s")
            .expect("wait still running");
        if let Progress::Count(c) = p {
            return c;
        }
    };
    // Before the first list: nothing seen, the full timeout left.
    let first = next_count(&mut rx).await;
    assert_eq!((first.ready, first.want, first.pods), (0, 2, 0));
    assert!(first.left > Duration::from_secs(29), "{first:?}");
    counts.push(next_count(&mut rx).await);
    double.set_pod(pods::ready(a));
    counts.push(next_count(&mut rx).await);
    let b = double.set_pod(pods::deployment_pod("demo", "web", "b", IMAGE));
    counts.push(next_count(&mut rx).await);
    double.set_pod(pods::ready(b));
    counts.push(next_count(&mut rx).await);
    let seen: Vec<(u32, u32, u32)> = counts.iter().map(|c| (c.ready, c.want, c.pods)).collect();
    assert_eq!(seen, [(0, 2, 1), (1, 2, 1), (1, 2, 2), (2, 2, 2)]);
    assert!(
        counts.windows(2).all(|w| w[1].left <= w[0].left),
        "time left only goes down: {counts:?}"
    );
    assert_eq!(h.await.unwrap().expect("ready").len(), 2);
}

#[tokio::test]
async fn waits_for_min_pods() {
    let (double, _dir, c) = setup().await;
    let mut req = request(Target::Selector("app=web".into()), Duration::from_secs(30));
    req.min = 2;
    double.set_pod(pods::ready(pods::deployment_pod("demo", "web", "a", IMAGE)));
    let (h, mut rx) = start(c, req);
    saw(&mut rx, "Running, ready").await;
    assert!(!h.is_finished(), "one ready pod of min 2 is not enough");
    double.set_pod(pods::ready(pods::deployment_pod("demo", "web", "b", IMAGE)));
    assert_eq!(h.await.unwrap().expect("ready").len(), 2);
}

/// After `up` rebuilt the image under the same tag, the Deployment's template carries the
/// new ID: pods of the old build (still Ready) do not end the wait, nor are they judged;
/// the wait ends when the new build's pod is ready and the old one is gone.
#[tokio::test]
async fn pods_of_an_older_build_hold_the_wait_until_replaced() {
    let (double, _dir, c) = setup().await;
    let new_id = "sha256:1111111111112222222222223333333333334444444444445555555555556666";
    let mut req = request(Target::Selector("app=web".into()), Duration::from_secs(30));
    req.judge.images = ImageIds::new([(IMAGE, new_id)]);
    let old = double.set_pod(pods::crash_loop(
        pods::stamped(
            pods::deployment_pod("demo", "web", "old1", IMAGE),
            "5f6d8c7b9",
            &format!("{IMAGE}=aaaaaaaaaaaa"),
        ),
        7,
    ));
    let (h, mut rx) = start(c, req);
    let first = saw(&mut rx, "older build, being replaced").await;
    assert_eq!(first.pod, "web-5f6d8c7b9-old1");
    assert!(!first.ready);
    let new = double.set_pod(pods::stamped(
        pods::deployment_pod("demo", "web", "new1", IMAGE),
        "84c9f7d6b",
        &format!("{IMAGE}=111111111111"),
    ));
    saw(&mut rx, "Pending (ContainerCreating)").await;
    double.set_pod(pods::ready(new));
    let ready = saw(&mut rx, "Running, ready").await;
    assert_eq!(ready.pod, "web-84c9f7d6b-new1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !h.is_finished(),
        "the old build's pod is still there (and its crash loop is not a failure)"
    );
    double.delete_pod("demo", old["metadata"]["name"].as_str().unwrap());
    let pods = h.await.unwrap().expect("ready once the rollout finished");
    assert_eq!(pods.len(), 1);
}

/// Each state that cannot heal ends the wait at once, with the reason.
#[tokio::test]
async fn fail_fast_reasons() {
    let base = || pods::deployment_pod("demo", "web", "x2k8p", IMAGE);
    let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
        (
            "crashloop",
            pods::crash_loop(base(), 3),
            vec!["pod web-7d4b9c6f5-x2k8p: container `app` is in CrashLoopBackOff after 3 restarts (last exit: code 1, Error)"],
        ),
        (
            "never pull",
            {
                let mut p = base();
                p["spec"]["containers"][0]["image"] = json!("localhost/kt-i6-missing:dev");
                p["status"]["containerStatuses"][0]["image"] = json!("localhost/kt-i6-missing:dev");
                pods::waiting(p, "ErrImageNeverPull", "Container image \"localhost/kt-i6-missing:dev\" is not present with pull policy of Never")
            },
            vec!["cannot get image `localhost/kt-i6-missing:dev`: ErrImageNeverPull", "the image was probably not loaded into the cluster: kubetest did not build or load `localhost/kt-i6-missing:dev`"],
        ),
        (
            "pull backoff of a loaded image",
            pods::waiting(base(), "ImagePullBackOff", "Back-off pulling image \"localhost/kt-i6-app:dev\""),
            vec!["ImagePullBackOff", "kubetest loaded `localhost/kt-i6-app:dev` into the cluster, yet the node does not have it"],
        ),
        (
            "err image pull",
            pods::waiting(base(), "ErrImagePull", "failed to pull and unpack image \"localhost/kt-i6-app:dev\": dial tcp: lookup localhost: no such host"),
            vec!["ErrImagePull"],
        ),
        (
            "config",
            pods::waiting(base(), "CreateContainerConfigError", "configmap \"app-config\" not found"),
            vec!["container `app` cannot be created: configmap \"app-config\" not found; ConfigMap demo/app-config is missing"],
        ),
        (
            "invalid image",
            pods::waiting(base(), "InvalidImageName", "Failed to apply default image tag \"Web:dev\": couldn't parse image reference \"Web:dev\": invalid reference format: repository name must be lowercase"),
            vec!["has an invalid image name", "repository name must be lowercase"],
        ),
        (
            "unschedulable",
            pods::unschedulable(base(), "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
            vec!["the pod cannot be scheduled: 0/1 nodes are available: 1 Insufficient memory."],
        ),
    ];
    for (name, broken, expected) in cases {
        let (double, _dir, c) = setup().await;
        let pod = double.set_pod(base());
        let (h, mut rx) = start(
            c,
            request(Target::Selector("app=web".into()), Duration::from_secs(60)),
        );
        saw(&mut rx, "ContainerCreating").await;
        let mut broken = broken;
        broken["metadata"]["uid"] = pod["metadata"]["uid"].clone();
        let t0 = Instant::now();
        double.set_pod(broken);
        let err = h.await.unwrap().expect_err(name);
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{name}: failed after {took:?}"
        );
        assert!(matches!(err, WaitError::Failed { .. }), "{name}: {err}");
        for e in expected {
            assert!(err.to_string().contains(e), "{name}: `{err}` lacks `{e}`");
        }
    }
}

#[tokio::test]
async fn crashloop_within_restarts_allowed_keeps_waiting() {
    let (double, _dir, c) = setup().await;
    let pod = double.set_pod(pods::crash_loop(
        pods::deployment_pod("demo", "web", "a", IMAGE),
        2,
    ));
    let (h, mut rx) = start(
        c,
        request(Target::Selector("app=web".into()), Duration::from_secs(30)),
    );
    saw(&mut rx, "CrashLoopBackOff, 2 restarts").await;
    double.set_pod(pods::ready(pod));
    h.await
        .unwrap()
        .expect("a pod that recovers within restarts_allowed is fine");
}

#[tokio::test]
async fn job_target_fails_on_a_container_error_and_succeeds_when_complete() {
    let (double, _dir, c) = setup().await;
    double.put("batch", "jobs", json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "demo"},
        "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "1f2e3d4c"}},
                 "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": IMAGE}]}}},
    }));
    let job_pod = |suffix: &str, exit: i32| {
        let mut p = pods::running_not_ready(pods::deployment_pod("demo", "migrate", suffix, IMAGE));
        p["metadata"]["labels"] =
            json!({"batch.kubernetes.io/controller-uid": "1f2e3d4c", "job-name": "migrate"});
        p["status"]["phase"] = json!(if exit == 0 { "Succeeded" } else { "Failed" });
        p["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": exit,
            "reason": if exit == 0 { "Completed" } else { "Error" }, "startedAt": "2026-03-02T10:15:06Z", "finishedAt": "2026-03-02T10:15:09Z"}});
        p
    };
    let mut req = request(
        Target::Workload {
            kind: WorkloadKind::Job,
            name: "migrate".into(),
        },
        Duration::from_secs(30),
    );
    req.judge.job = true;
    let (h, mut rx) = start(c.clone(), req.clone());
    match rx.recv().await.unwrap() {
        Progress::Watching { selector } => {
            assert_eq!(selector, "batch.kubernetes.io/controller-uid=1f2e3d4c")
        }
        other => panic!("{other:?}"),
    }
    double.set_pod(job_pod("ok", 0));
    h.await.unwrap().expect("Succeeded job pod");

    double.set_pod(job_pod("bad", 2));
    let (h, _rx) = start(c, req);
    let err = h.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("container `app` of the Job terminated with exit code 2 (Error)"),
        "{err}"
    );
}

#[tokio::test]
async fn watch_relists_after_410_gone() {
    let (double, _dir, c) = setup().await;
    let pod = double.set_pod(pods::deployment_pod("demo", "web", "a", IMAGE));
    let (h, mut rx) = start(
        c,
        request(Target::Selector("app=web".into()), Duration::from_secs(30)),
    );
    saw(&mut rx, "ContainerCreating").await;
    double.until_watching(1).await;
    double.expire_watches();
    double.set_pod(pods::ready(pod));
    let mut retried = false;
    while let Some(p) = rx.recv().await {
        match p {
            Progress::Retrying { error, .. } => {
                assert!(
                    error.contains("410") || error.contains("too old"),
                    "{error}"
                );
                retried = true;
            }
            Progress::Pod(c) if c.ready => break,
            _ => {}
        }
    }
    assert!(retried, "the 410 was seen and retried");
    h.await.unwrap().expect("ready after the re-list");
    let lists = double
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces/demo/pods?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2, "listed again after 410: {:#?}", double.requests());
}

#[tokio::test]
async fn watch_resumes_after_a_dropped_connection() {
    let (double, _dir, c) = setup().await;
    let pod = double.set_pod(pods::deployment_pod("demo", "web", "a", IMAGE));
    let (h, mut rx) = start(
        c,
        request(Target::Selector("app=web".into()), Duration::from_secs(30)),
    );
    saw(&mut rx, "ContainerCreating").await;
    double.until_watching(1).await;
    double.drop_watches();
    let pod = double.set_pod(pods::running_not_ready(pod));
    saw(&mut rx, "Running, 0/1 ready").await;
    double.set_pod(pods::ready(pod));
    h.await.unwrap().expect("ready after the watch was cut");
    let watches: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.contains("/pods?") && r.contains("watch=true"))
        .collect();
    assert!(watches.len() >= 2, "watched again: {watches:#?}");
    assert!(
        watches
            .iter()
            .all(|w| w.contains("resourceVersion=") && w.contains("allowWatchBookmarks=true")),
        "{watches:#?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_not_fatal() {
    let (double, _dir, c) = setup().await;
    double.fail_next_pod_requests(2);
    double.set_pod(pods::ready(pods::deployment_pod("demo", "web", "a", IMAGE)));
    let (h, mut rx) = start(
        c,
        request(Target::Selector("app=web".into()), Duration::from_secs(30)),
    );
    let mut retries = 0;
    while let Some(p) = rx.recv().await {
        match p {
            Progress::Retrying { error, .. } => {
                assert!(error.contains("leader changed"), "{error}");
                retries += 1;
            }
            Progress::Pod(c) if c.ready => break,
            _ => {}
        }
    }
    assert_eq!(retries, 2);
    h.await.unwrap().expect("ready after two 500s");
}

/// The `ready` phase: a timeout prints (and saves) per pod the phase, conditions, container
/// states, events and the last log lines, of the current and the previous instance.
#[tokio::test]
async fn timeout_diagnostics_printed_and_saved() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    double.put_namespace("demo");
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  wait:\n    - {selector: app=web, timeout: 1500ms}\n    - {selector: app=api, timeout: 30s}\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &[IMAGE]);
    let mut pod = pods::running_not_ready(pods::deployment_pod("demo", "web", "x2k8p", IMAGE));
    pod["status"]["containerStatuses"][0]["restartCount"] = json!(1);
    pod["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
        "startedAt": "2026-03-02T10:15:06Z", "finishedAt": "2026-03-02T10:15:30Z"}});
    let pod = double.set_pod(pod);
    double.add_pod_event(
        &pod,
        "Normal",
        "Scheduled",
        "Successfully assigned demo/web-7d4b9c6f5-x2k8p to kt-i6-control-plane",
        1,
    );
    double.add_pod_event(
        &pod,
        "Warning",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        12,
    );
    let log: String = (1..=30)
        .map(|i| format!("line {i}: waiting for database\n"))
        .collect();
    double.set_logs("demo", "web-7d4b9c6f5-x2k8p", "app", false, &log);
    double.set_logs(
        "demo",
        "web-7d4b9c6f5-x2k8p",
        "app",
        true,
        "fatal: out of memory\n",
    );
    double.set_pod(pods::ready(pods::deployment_pod(
        "demo", "api", "q9", IMAGE,
    )));

    let err = kubetest::phases::ready::run(&ctx).await.unwrap_err();
    let text = format!("{err:#}");
    for want in [
        "demo/app=web: not ready after 1s 500ms: web-7d4b9c6f5-x2k8p Running, 0/1 ready (1 restart)",
        "pod demo/web-7d4b9c6f5-x2k8p: phase Running",
        "Ready=False ContainersNotReady: containers with unready status: [app]",
        "app (localhost/kt-i6-app:dev): running since",
        "restarts 1; last terminated OOMKilled exit code 137",
        "Warning Unhealthy (x12): Readiness probe failed: HTTP probe failed with statuscode: 503",
        "Normal Scheduled: Successfully assigned",
        "logs of app (last 20 lines):",
        "| line 30: waiting for database",
        "logs of app, previous instance (last 20 lines):",
        "| fatal: out of memory",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert!(
        !text.contains("line 10: "),
        "only the last 20 lines:\n{text}"
    );
    assert!(
        !text.contains("pod demo/api-"),
        "ready pods are not diagnosed:\n{text}"
    );
    let artifact = kubetest::bundle::up_dir(&ctx.plan.artifacts_dir, ctx.events.start_unix_ms())
        .join("ready-1-demo-app-web.txt");
    let saved = std::fs::read_to_string(&artifact).expect("diagnostics saved");
    assert!(
        saved.contains("| fatal: out of memory") && saved.contains("Warning Unhealthy"),
        "{saved}"
    );
    assert!(text.contains(&artifact.display().to_string()), "{text}");

    let events = rec.events();
    // The bundle is a field of its own, and each wait's count was shown.
    assert!(
        events.iter().any(|e| matches!(e, Event::BundleSaved { task, path, outcome, .. }
            if task == "demo/app=web" && *path == artifact.display().to_string() && outcome.is_failure())),
        "bundle_saved names {}: {events:#?}",
        artifact.display()
    );
    let counts = |name: &str| -> Vec<(u32, u32)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::WaitStatus {
                    task, ready, want, ..
                } if task == name => Some((*ready, *want)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(counts("demo/app=api").last(), Some(&(1, 1)));
    assert_eq!(counts("demo/app=web").last(), Some(&(0, 1)));
    let ready_api = events.iter().find_map(|e| match e {
        Event::PodStatus {
            pod,
            ready: true,
            ready_latency_ms,
            ..
        } if pod.starts_with("demo/api-") => Some(*ready_latency_ms),
        _ => None,
    });
    assert!(
        matches!(ready_api, Some(Some(_))),
        "latency recorded: {events:#?}"
    );
    let finished: Vec<(String, String)> = rec
        .json()
        .iter()
        .filter(|e| e["event"] == "task_finished")
        .map(|e| {
            (
                e["task"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        finished.contains(&("demo/app=web".into(), "failed".into())),
        "{finished:?}"
    );
    assert!(
        finished.contains(&("demo/app=api".into(), "ok".into())),
        "{finished:?}"
    );
}

/// A fail-fast failure of one entry stops the others and says why.
#[tokio::test]
async fn failure_of_one_wait_stops_the_others() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    double.put_namespace("demo");
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  wait:\n    - {selector: app=web, timeout: 60s}\n    - {selector: app=slow, timeout: 60s}\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &[]);
    let pod = pods::waiting(
        pods::deployment_pod("demo", "web", "a", "localhost/kt-i6-app:dev"),
        "ErrImageNeverPull",
        "Container image \"localhost/kt-i6-app:dev\" is not present with pull policy of Never",
    );
    double.set_pod(pod);
    let t0 = Instant::now();
    let err = kubetest::phases::ready::run(&ctx).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let text = format!("{err:#}");
    assert!(text.starts_with("1 of 2 waits failed\ndemo/app=web: pod web-7d4b9c6f5-a: container `app` cannot get image `localhost/kt-i6-app:dev`: ErrImageNeverPull"), "{text}");
    assert!(
        text.contains("kubetest did not build or load `localhost/kt-i6-app:dev`"),
        "{text}"
    );
    assert!(text.contains("logs of app: none (container \"app\" in pod \"web-7d4b9c6f5-a\" is waiting to start: trying and failing to pull image (400 BadRequest))"), "{text}");
    let outcomes: Vec<String> = rec
        .json()
        .iter()
        .filter(|e| e["event"] == "task_finished" && e["task"] == "demo/app=slow")
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["cancelled"]);
}

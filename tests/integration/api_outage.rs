//! The API server goes away during `deploy.wait` and scenario waits: each retry is reported as
//! it happens, a short outage is survived, and a wait that times out during one says so.
//!
//! The double's outage is kube-apiserver stopping: its port refuses connections and open
//! watch connections are closed (see `ApiDouble::go_away`).

use crate::apidouble::{pods, ApiDouble};
use crate::k8s_support::{phase_ctx, Recording};
use kubetest::events::Event;
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/kt-i6-app:dev";

fn warnings(rec: &Recording) -> Vec<String> {
    rec.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

fn notes(rec: &Recording) -> Vec<String> {
    rec.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Note { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// Until a warning containing `text` was emitted (10 s at most); how long that took.
async fn until_warning(rec: &Recording, text: &str, from: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if warnings(rec).iter().any(|w| w.contains(text)) {
            return from.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no warning containing `{text}` within 10 s: {:?}",
            warnings(rec)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_short_outage_is_reported_and_the_wait_resumes() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    double.put_namespace("demo");
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  wait:\n    - {selector: app=web, timeout: 60s}\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &[IMAGE]);
    let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
        "demo", "web", "a1", IMAGE,
    )));
    let wait = tokio::spawn(async move { kubetest::phases::ready::run(&ctx).await });
    double.until_watching(1).await;

    let gone = Instant::now();
    double.go_away();
    let reported = until_warning(&rec, "API server unreachable since", gone).await;
    // The outage lasts a second and a half; the pod becomes ready meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    double.set_pod(pods::ready(pod));
    double.come_back().await;
    let back = Instant::now();
    wait.await
        .unwrap()
        .expect("the wait survives a 1.5 s outage");
    let resumed = back.elapsed();
    let warned = warnings(&rec);
    let outage: Vec<&String> = warned
        .iter()
        .filter(|w| w.contains("API server unreachable since"))
        .collect();
    assert_eq!(outage.len(), 1, "one warning per outage: {warned:#?}");
    assert!(
        outage[0].starts_with("demo/app=web: API server unreachable since ")
            && outage[0].contains(" UTC, retrying in "),
        "{}",
        outage[0]
    );
    let notes = notes(&rec);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("demo/app=web: API server answers again after ")),
        "{notes:#?}"
    );
    eprintln!(
        "API server lost mid-wait: warned after {reported:?} ({}); ready {resumed:?} after it came back",
        outage[0]
    );
}

#[tokio::test]
async fn a_wait_that_times_out_while_unreachable_says_so() {
    let double = ApiDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    double.put_namespace("demo");
    // As in the report: nothing matches yet when the server goes away.
    let config = "name: kt-i6\ncluster: {provider: kind}\ndeploy:\n  namespace: demo\n  wait:\n    - {selector: app=app, timeout: 3s}\n";
    let (ctx, rec) = phase_ctx(&double, dir.path(), config, &[IMAGE]);
    let started = Instant::now();
    let wait = tokio::spawn(async move { kubetest::phases::ready::run(&ctx).await });
    double.until_watching(1).await;
    double.go_away();
    let err = wait.await.unwrap().unwrap_err();
    let took = started.elapsed();
    let text = format!("{err:#}");
    assert!(
        text.contains(
            "demo/app=app: not ready after 3s: the API server has been unreachable since "
        ),
        "{text}"
    );
    assert!(text.contains("last error: "), "{text}");
    assert!(!text.contains("no pod matches"), "{text}");
    assert!(
        warnings(&rec)
            .iter()
            .any(|w| w.contains("API server unreachable since")),
        "{:?}",
        warnings(&rec)
    );
    eprintln!(
        "API server gone for good: failed after {took:?}: {}",
        text.lines().next().unwrap_or("")
    );
}

/// Scenario waits: a pod wait survives an outage (reported as a warning event by the real
/// binary), and a watch that times out during one says the server is unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_waits_report_the_outage() {
    use crate::scenarios_k8s::{environment, run, step, steps};
    let double = ApiDouble::start().await;
    let ns = "kt-i15-outage";
    double.put_namespace(ns);
    let scenario = format!(
        r#"
name: outage
namespace: {ns}
steps:
  - name: web ready
    wait: {{ apiVersion: v1, kind: Pod, selector: app=web, for: ready }}
    timeout: 30s
  - name: count reaches 2
    wait: {{ apiVersion: v1, kind: ConfigMap, name: state, for: jsonpath, jsonpath: .data.count, value: 2 }}
    timeout: 3s
"#
    );
    let tmp = environment(&double, &[("scenarios/o.yaml", &scenario)]);
    let running = tokio::spawn({
        let dir = tmp.path().to_owned();
        async move { run(&dir, &[]).await }
    });
    tokio::time::timeout(Duration::from_secs(20), double.until_watching(1))
        .await
        .expect("the wait step watches pods");
    let pod = double.set_pod(pods::running_not_ready(pods::deployment_pod(
        ns,
        "web",
        "x2k8p",
        "localhost/kt-i15:dev",
    )));
    double.go_away();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    double.set_pod(pods::ready(pod));
    double.come_back().await;
    // The second step watches the ConfigMap; the server goes away for good.
    let get = "GET /api/v1/namespaces/kt-i15-outage/configmaps?";
    let deadline = Instant::now() + Duration::from_secs(20);
    while !double.requests().iter().any(|q| q.starts_with(get)) {
        assert!(Instant::now() < deadline, "{:#?}", double.requests());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    double.go_away();
    let r = running.await.unwrap();
    assert_eq!(r.code, 1, "{}\n{:#?}", r.stderr, steps(&r));
    assert_eq!(step(&r, "web ready")["outcome"], "ok");
    let warned: Vec<&str> = r.texts("warning", "message");
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with(&format!(
                "pods app=web in namespace {ns}: API server unreachable since "
            )) || (w.contains("app=web") && w.contains("API server unreachable since"))),
        "{warned:#?}"
    );
    let failed = step(&r, "count reaches 2");
    let message = failed["message"].as_str().unwrap_or("");
    assert!(
        message.contains("after 3s: the API server has been unreachable since"),
        "{failed:#}"
    );
    eprintln!("scenario: warned {warned:?}; failed step: {message}");
}

//! `kubetest run`: scenario files, http/run steps against real local processes, retries,
//! flaky detection, sharding, JUnit, failure bundles.

use crate::support::{assert_golden, kubetest, root, Run};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A real HTTP server on 127.0.0.1: `/hello` → text, `/count/<key>` → `{"count": n}` (the
/// n-th call for that key), anything else → 404. Returns its port.
pub fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>> =
        Arc::default();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let counts = counts.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/hello" => ("200 OK", "text/plain", "hello from kubetest".to_owned()),
                    p if p.starts_with("/count/") => {
                        let counter = counts
                            .lock()
                            .unwrap()
                            .entry(p.to_owned())
                            .or_default()
                            .clone();
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        ("200 OK", "application/json", format!("{{\"count\": {n}, \"items\": [{{\"name\": \"a\"}}, {{\"name\": \"b\"}}]}}"))
                    }
                    _ => ("404 Not Found", "text/plain", "no such page".to_owned()),
                };
                let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            });
        }
    });
    port
}

/// An environment with no cluster and no engine needs, brought `up`, with scenario files.
pub fn environment(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("scenarios")).unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join("scenarios").join(name), text).unwrap();
    }
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: scen\ncluster: { provider: none }\nscenarios: scenarios/\n",
    )
    .unwrap();
    let up = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .args(["up", "--output", "json"]),
    );
    assert_eq!(up.code, 0, "{}", up.stderr);
    tmp
}

fn run(dir: &Path, extra: &[&str]) -> Run {
    Run::new(
        kubetest()
            .current_dir(dir)
            .args(["run", "--output", "json"])
            .args(extra),
    )
}

fn scenario_outcomes(r: &Run) -> Vec<(String, String)> {
    let mut v = r.task_outcomes("scenarios");
    v.sort();
    v
}

#[test]
fn invalid_scenario_files_give_located_errors() {
    let dir = Path::new("fixtures/scenarios/invalid");
    let known = kubetest::scenario::load::Known {
        dependencies: [("postgres".to_owned(), vec![5432])].into_iter().collect(),
    };
    let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut n = 0;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let rel = dir.join(path.file_name().unwrap());
        let err = kubetest::scenario::load::load_file(&rel, &known)
            .expect_err(&rel.display().to_string());
        assert!(
            err.problems.iter().all(|p| p.location.is_some()),
            "{}: located",
            rel.display()
        );
        assert_golden(&path.with_extension("err"), &(err.to_string() + "\n"));
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn invalid_scenarios_exit_2_before_running_anything() {
    let tmp = environment(&[("bad.yaml", "name: bad\nsteps:\n  - sleep: soon\n")]);
    let r = run(tmp.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("scenarios/bad.yaml:3:12: steps[0].sleep: invalid duration `soon`"),
        "{}",
        r.stderr
    );
    assert!(r.task_outcomes("scenarios").is_empty());
}

#[test]
fn http_and_run_steps_with_eventually_capture_and_reports() {
    let port = http_server();
    let ok = format!(
        "name: web-works\ntags: [smoke]\nvars: {{ port: \"{port}\" }}\nsteps:\n\
         - http:\n    url: http://127.0.0.1:{{{{ port }}}}/hello\n    expect: {{ status: 200, body_regex: \"^hello\", headers: {{ content-type: text/plain }} }}\n\
         - name: counter reaches 3\n  http:\n    url: http://127.0.0.1:{{{{ port }}}}/count/ok\n    expect: {{ json: {{ count: 3, items: [{{ name: b }}] }} }}\n  eventually: 20s\n  interval: 50ms\n  capture: {{ n: .body.count }}\n\
         - run: {{ command: [sh, -c, 'test \"$0\" = 3 && echo \"{{\\\"seen\\\": $0}}\"', \"{{{{ n }}}}\"], expect: {{ json: {{ seen: 3 }} }} }}\n"
    );
    let bad = format!(
        "name: web-fails\nsteps:\n\
         - http:\n    url: http://127.0.0.1:{port}/count/bad\n    expect: {{ status: 201, body_contains: nope, json: {{ count: -1, items: [{{ name: z }}] }} }}\n\
         - run: {{ command: [\"true\"] }}\n\
         cleanup:\n  - run: {{ command: [\"true\"] }}\n"
    );
    let tmp = environment(&[("ok.yaml", &ok), ("bad.yaml", &bad)]);
    let junit = tmp.path().join("junit.xml");
    let r = run(tmp.path(), &["--junit", junit.to_str().unwrap()]);
    assert_eq!(r.code, 1, "a failed scenario exits 1: {}", r.stderr);
    assert_eq!(
        scenario_outcomes(&r),
        vec![
            ("web-fails".into(), "failed".into()),
            ("web-works".into(), "ok".into())
        ]
    );

    let steps: Vec<&serde_json::Value> = r
        .events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .collect();
    let counter = steps
        .iter()
        .find(|e| e["step"] == "counter reaches 3")
        .unwrap();
    assert_eq!(
        counter["attempts"], 3,
        "eventually: held on the 3rd attempt: {counter}"
    );
    // While it retried, each failed attempt was an event (the live view's `attempt N, last: …`).
    let retries: Vec<(u64, String)> = r
        .events
        .iter()
        .filter(|e| e["event"] == "step_retrying" && e["step"] == "counter reaches 3")
        .map(|e| {
            assert_eq!(
                (e["scenario"].as_str(), e["next_in_ms"].as_u64()),
                (Some("web-works"), Some(50))
            );
            (
                e["attempt"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(retries.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    assert!(
        !retries[0].1.is_empty() && !retries[0].1.contains('\n'),
        "{retries:?}"
    );

    // The run ends with the counts and each failed scenario's bundle as fields.
    let last = r.events.last().unwrap();
    assert_eq!(last["event"], "command_finished");
    assert_eq!(
        last["scenarios"],
        serde_json::json!({"total": 2, "passed": 1, "failed": 1, "flaky": 0, "skipped": 0})
    );
    let bundles = last["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    assert_eq!(
        (
            bundles[0]["phase"].as_str(),
            bundles[0]["task"].as_str(),
            bundles[0]["outcome"].as_str()
        ),
        (Some("scenarios"), Some("web-fails"), Some("failed"))
    );
    let bundle = Path::new(bundles[0]["path"].as_str().unwrap());
    assert!(bundle.join("failure.txt").is_file(), "{}", bundle.display());
    assert!(
        r.events
            .iter()
            .any(|e| e["event"] == "bundle_saved" && e["path"] == bundles[0]["path"]),
        "the bundle was also announced when written"
    );
    let failed = steps
        .iter()
        .find(|e| e["scenario"] == "web-fails" && e["outcome"] == "failed")
        .unwrap();
    let msg = failed["message"].as_str().unwrap();
    for want in [
        "status: expected 201, found 200",
        "body does not contain \"nope\"",
        "body JSON .count: expected -1, found",
        "body JSON .items[name=z].name: expected \"z\", found \"a\"",
    ] {
        assert!(
            msg.contains(want),
            "every mismatch is listed; missing {want:?} in:\n{msg}"
        );
    }
    assert!(
        steps
            .iter()
            .any(|e| e["scenario"] == "web-fails"
                && e["step"].as_str().unwrap().starts_with("cleanup:")),
        "cleanup ran after the failure"
    );
    assert!(
        !steps
            .iter()
            .any(|e| e["scenario"] == "web-fails" && e["index"] == 1),
        "steps after the failure did not run"
    );

    // JUnit: the shape CI systems read.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root_el = doc.root_element();
    assert_eq!(root_el.tag_name().name(), "testsuites");
    assert_eq!(root_el.attribute("tests"), Some("2"));
    assert_eq!(root_el.attribute("failures"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    let failing = cases
        .iter()
        .find(|c| c.attribute("name") == Some("web-fails"))
        .unwrap();
    let failure = failing
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .starts_with("step 1: http GET"),
        "{:?}",
        failure.attribute("message")
    );
    assert!(failure
        .text()
        .unwrap_or("")
        .contains("status: expected 201, found 200"));
    let out = failing
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        out.contains("failed") && out.contains("cleanup:"),
        "steps in system-out: {out}"
    );
    assert!(cases
        .iter()
        .all(|c| c.attribute("classname").is_some() && c.attribute("time").is_some()));

    // The failure bundle.
    let bundles: Vec<_> = glob_dir(&tmp.path().join(".kubetest/artifacts"));
    let failure_txt = bundles
        .iter()
        .find(|p| p.ends_with("web-fails/failure.txt"))
        .expect("failure.txt");
    let text = std::fs::read_to_string(failure_txt).unwrap();
    assert!(
        text.contains("failing step: step 1: http GET") && text.contains("observed:\nHTTP 200"),
        "{text}"
    );
    assert!(bundles
        .iter()
        .any(|p| p.ends_with("web-fails/timeline.txt")));
}

fn glob_dir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(glob_dir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn pass_on_retry_is_flaky_not_passed() {
    let tmp = environment(&[(
        "flaky.yaml",
        "name: flaky\nsteps:\n  - run: { command: [sh, -c, 'if [ -e marker ]; then exit 0; else touch marker; exit 1; fi'] }\n",
    )]);
    let r = run(tmp.path(), &["--retries", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        scenario_outcomes(&r),
        vec![("flaky".into(), "flaky".into())]
    );
    let r2 = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env("GITHUB_ACTIONS", "true")
            .args(["run", "--output", "plain", "--retries", "1"]),
    );
    assert_eq!(r2.code, 0);
    std::fs::remove_file(tmp.path().join("marker")).unwrap();
    let r3 = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env("GITHUB_ACTIONS", "true")
            .args(["run", "--output", "plain", "--retries", "1"]),
    );
    assert!(
        r3.stdout.contains("::warning file=")
            && r3
                .stdout
                .contains("title=scenario flaky::flaky%3A passed on run 2")
            || r3.stdout.contains("::warning file="),
        "{}",
        r3.stdout
    );
}

#[test]
fn sharding_is_complete_and_deterministic_and_filters_work() {
    let files: Vec<(String, String)> = (0..7)
        .map(|i| {
            (
                format!("s{i}.yaml"),
                format!(
                    "name: s{i}\ntags: [{}]\nsteps:\n  - sleep: 1ms\n",
                    if i % 2 == 0 { "even" } else { "odd" }
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let tmp = environment(&refs);
    let mut all = Vec::new();
    for i in 1..=3 {
        let a = scenario_outcomes(&run(tmp.path(), &["--shard", &format!("{i}/3")]));
        let b = scenario_outcomes(&run(tmp.path(), &["--shard", &format!("{i}/3")]));
        assert_eq!(a, b, "same split every time");
        all.extend(a.into_iter().map(|(n, _)| n));
    }
    all.sort();
    assert_eq!(
        all,
        (0..7).map(|i| format!("s{i}")).collect::<Vec<_>>(),
        "every scenario in exactly one shard"
    );
    let odd = scenario_outcomes(&run(tmp.path(), &["--tag", "odd"]));
    assert_eq!(
        odd.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["s1", "s3", "s5"]
    );
    let named = scenario_outcomes(&run(tmp.path(), &["s2", "s4"]));
    assert_eq!(named.len(), 2);
    let unknown = run(tmp.path(), &["nope"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no scenario named `nope`"),
        "{}",
        unknown.stderr
    );
    assert_eq!(run(tmp.path(), &["--shard", "4/3"]).code, 2);
}

#[test]
fn fail_fast_skips_the_rest_and_cluster_steps_need_a_cluster() {
    let tmp = environment(&[
        (
            "a.yaml",
            "name: a-fails\nserial: true\nsteps:\n  - run: { command: [\"false\"] }\n",
        ),
        (
            "b.yaml",
            "name: b-later\nserial: true\nsteps:\n  - run: { command: [\"true\"] }\n",
        ),
    ]);
    let r = run(tmp.path(), &["--fail-fast"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        scenario_outcomes(&r),
        vec![
            ("a-fails".into(), "failed".into()),
            ("b-later".into(), "skipped".into())
        ]
    );

    let tmp = environment(&[(
        "k.yaml",
        "name: k\nsteps:\n  - assert: { apiVersion: v1, kind: Pod, name: x }\n",
    )]);
    let r = run(tmp.path(), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let failed = r
        .events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["scenario"] == "k")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("scenario `k` has cluster steps but this environment has no cluster"),
        "{failed}"
    );

    let tmp = environment(&[(
        "d.yaml",
        "name: d
steps:
  - exec: { dependency: postgres, command: [\"true\"] }
",
    )]);
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: scen
cluster: { provider: none }
scenarios: scenarios/
dependencies:
  postgres: { image: \"kt-i7-none:1\" }
",
    )
    .unwrap();
    let r = run(tmp.path(), &[]);
    assert_eq!(r.code, 3, "no engine recorded: {}", r.stderr);
    assert!(
        r.stderr.contains(
            "scenarios exec in dependency containers, but `kubetest up` recorded no engine"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn run_without_up_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("scenarios")).unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: never-up\ncluster: { provider: none }\nscenarios: scenarios/\n",
    )
    .unwrap();
    let r = run(tmp.path(), &[]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("no environment `never-up` is up"),
        "{}",
        r.stderr
    );
}

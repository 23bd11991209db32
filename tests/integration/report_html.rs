//! `kubetest report`: golden pages from recorded event fixtures, escaping, the recording made
//! by real `up`/`run` commands, and the page rendered by a real headless Chromium.

use crate::scenarios::environment;
use crate::support::{assert_golden, kubetest, root, Run};
use kubetest::report::read_recording;
use kubetest::timeline::{critical_path, render, Section, Timeline};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn timeline(name: &str) -> Timeline {
    let events = read_recording(&root().join("fixtures/events").join(name)).unwrap();
    Timeline::from_events(&events)
}

/// The page of the richer fixtures: an `up` with dependencies (compared with a faster previous
/// `up`) and a `run` with failed, flaky and hostile names.
fn demo_page() -> (String, Vec<Timeline>) {
    let up = timeline("up-deps.jsonl");
    let before = timeline("up-deps-previous.jsonl");
    let run = timeline("run-flaky.jsonl");
    let html = render(&[
        Section {
            now: &up,
            previous: Some(&before),
        },
        Section {
            now: &run,
            previous: None,
        },
    ]);
    (html, vec![up, run])
}

#[test]
fn golden_pages_from_recorded_events() {
    let (html, _) = demo_page();
    assert_golden(&root().join("fixtures/events/report-demo.html"), &html);
    let up = timeline("up-ready.jsonl");
    let run = timeline("run-eventually.jsonl");
    let html = render(&[
        Section {
            now: &up,
            previous: None,
        },
        Section {
            now: &run,
            previous: None,
        },
    ]);
    assert_golden(&root().join("fixtures/events/report-ready.html"), &html);
}

#[test]
fn the_page_names_the_critical_path_failures_and_changes() {
    let (html, timelines) = demo_page();
    // Every task is one SVG row; the critical tasks are marked in the chart and in words.
    for t in &timelines {
        let path = critical_path(t);
        assert!(!path.is_empty());
        for &i in &path {
            assert!(
                html.contains(&format!(
                    "crit\" data-phase=\"{}\"",
                    t.tasks[i].phase.as_str()
                )),
                "{} is not marked critical",
                t.tasks[i].name
            );
        }
    }
    let rows = timelines.iter().map(|t| t.tasks.len()).sum::<usize>();
    assert_eq!(html.matches("<g class=\"task ").count(), rows);
    assert!(html.contains("<strong>Critical path</strong>"));
    // The build that made up's end late is on its path; the cached one is not.
    let glance = html.split("<h3>Phases").next().unwrap();
    assert!(
        glance.contains("build <code>localhost/demo-app:dev</code>"),
        "{glance}"
    );
    assert!(!glance.contains("localhost/migrate:dev"));
    // Compared with the previous `up` (20 % faster): slower, per task and in total.
    assert!(html.contains("slower"), "no comparison on the page");
    assert!(html.contains("no previous run recorded to compare with"));
    // Failed and flaky scenarios are listed at the top with links to their rows and bundles.
    assert!(html.contains("\u{2717} Failed: </strong>"));
    assert!(html.contains("~ Flaky: </strong>"));
    assert!(html.contains(
        "href=\"file:///work/demo/.kubetest/artifacts/run-1795000200000/scenario-0003\""
    ));
    // Every SVG element is closed: in HTML, `<rect>` inside `<svg>` would swallow what follows.
    for tag in ["rect", "line", "circle", "path", "text", "g"] {
        assert_eq!(
            html.matches(&format!("<{tag} ")).count(),
            html.matches(&format!("</{tag}>")).count(),
            "unclosed <{tag}>"
        );
    }
    // Outcomes are words and patterns, not colour alone.
    assert!(html.contains("url(#hatch)") && html.contains("hatched = failed"));
    assert!(html.contains("@media print"));
    // Self-contained: nothing is fetched.
    for needle in ["http://", "https://", "<link", "src="] {
        assert!(!html.contains(needle), "the page refers to {needle}");
    }
}

#[test]
fn names_and_messages_with_markup_render_as_text() {
    let (html, _) = demo_page();
    // Only the page's own sorting script is a script.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<b>bold"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; friends"));
    assert!(html.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    // In attributes too (the row's data-task), and in the bundle link.
    assert!(html
        .contains("data-task=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; friends\""));
    assert!(html.contains("href=\"file:///work/demo/.kubetest/artifacts/run-1795000200000/%3Cscript%3Ealert%28%22x%22%29%3C/script%3E%20%26%20friends\""));
}

/// Environment with two scenarios (one fails), brought `up` and `run --report`.
fn recorded_environment() -> (tempfile::TempDir, Run) {
    let tmp = environment(&[
        ("ok.yaml", "name: ok\nsteps:\n  - run: { command: [true] }\n  - sleep: 20ms\n"),
        (
            "bad.yaml",
            "name: bad\nsteps:\n  - run: { command: [sh, -c, 'echo \"<script>x</script>\" >&2; exit 3'] }\n",
        ),
    ]);
    let run = Run::new(kubetest().current_dir(tmp.path()).args([
        "run",
        "--output",
        "json",
        "--report",
        "page.html",
    ]));
    (tmp, run)
}

#[test]
fn up_and_run_record_their_events_and_report_renders_them() {
    let (tmp, run) = recorded_environment();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let events = tmp.path().join(".kubetest/events");
    let names: Vec<String> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("-up.jsonl")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("-run.jsonl")), "{names:?}");
    // The recording is the JSON stream the command printed, event for event.
    let rec = names.iter().find(|n| n.ends_with("-run.jsonl")).unwrap();
    let recorded = std::fs::read_to_string(events.join(rec)).unwrap();
    let printed: Vec<&serde_json::Value> = run
        .events
        .iter()
        .filter(|e| e.get("event").is_some())
        .collect();
    assert_eq!(recorded.lines().count(), printed.len());

    // `run --report FILE` wrote the page (relative to where kubetest ran).
    let page = std::fs::read_to_string(tmp.path().join("page.html")).unwrap();
    assert!(page.contains("<section id=\"up\""));
    assert!(page.contains("<section id=\"run\""));
    assert!(page.contains("\u{2717} Failed: </strong>"));
    assert!(!page.contains("<script>x"));

    // `kubetest report` makes the same page from the recordings.
    let r = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .args(["report", "-o", "again.html"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("again.html"), "{}", r.stdout);
    let again = std::fs::read_to_string(tmp.path().join("again.html")).unwrap();
    assert_eq!(again, page);
    // A second run compares with the first.
    let r = Run::new(kubetest().current_dir(tmp.path()).args([
        "run",
        "--output",
        "json",
        "--report",
        "page.html",
    ]));
    assert_eq!(r.code, 1);
    let page = std::fs::read_to_string(tmp.path().join("page.html")).unwrap();
    assert!(
        page.contains("previous run "),
        "no comparison after a second run"
    );
}

#[test]
fn report_without_recordings_says_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: empty\ncluster: { provider: none }\n",
    )
    .unwrap();
    let r = Run::new(kubetest().current_dir(tmp.path()).arg("report"));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("no recorded `kubetest up` or `kubetest run`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(".kubetest/events"), "{}", r.stderr);
    assert!(
        !tmp.path().join(".kubetest").exists(),
        "report created files"
    );
}

/// Debian's `chromium`, or `None` (with a message) where it is absent; with
/// `KUBETEST_REQUIRE_ENGINES=1` (CI) a missing browser fails the test.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| which::which(n).ok());
    if found.is_none() {
        let require = std::env::var("KUBETEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1");
        assert!(
            !require,
            "KUBETEST_REQUIRE_ENGINES=1 but no chromium on PATH (install it with .ci/chromium.sh)"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium on `page` with `args`; stdout, or a panic with its stderr.
fn headless(bin: &Path, profile: &Path, page: &Path, args: &[&str]) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn chromium_renders_one_row_per_task_and_a_screenshot() {
    let Some(bin) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (html, timelines) = demo_page();
    let page = tmp.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let profile = tmp.path().join("profile");

    // The DOM after the browser parsed it and ran the page's script.
    let dom = headless(&bin, &profile, &page, &["--dump-dom"]);
    let rows = timelines.iter().map(|t| t.tasks.len()).sum::<usize>();
    assert_eq!(
        dom.matches("<g class=\"task ").count(),
        rows,
        "one SVG row per task"
    );
    let scenarios = timelines[1].tasks.len();
    assert_eq!(
        dom.matches("<tr id=\"s-run-").count(),
        scenarios,
        "one table row per scenario"
    );
    // The hostile scenario name stayed text: the browser made no element of it.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(dom.contains("&lt;script&gt;alert(\"x\")&lt;/script&gt; &amp; friends"));

    // A screenshot at the window size, with something drawn on it.
    let shot = tmp.path().join("shot.png");
    headless(
        &bin,
        &profile,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1800",
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(png_size(&png), (1400, 1800));
    // A blank page of that size compresses to a few kB; the chart and tables make far more.
    assert!(
        png.len() > 40_000,
        "screenshot looks empty ({} bytes)",
        png.len()
    );
    // Printing (the print stylesheet) gives a multi-page PDF.
    let pdf = tmp.path().join("page.pdf");
    headless(
        &bin,
        &profile,
        &page,
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let pages = pdf
        .windows(11)
        .filter(|w| w == b"/Type /Page" || w == b"/Type/Page\n")
        .count();
    assert!(
        pages >= 2,
        "{pages} page(s): the run section starts a page of its own"
    );
    if let Ok(keep) = std::env::var("KUBETEST_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn chromium_sorts_the_scenario_table_by_duration() {
    let Some(bin) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (html, timelines) = demo_page();
    // The page's own script, then a click on the scenario table's "duration" header, twice
    // (ascending, then descending), as a person would.
    let click = "<script>var th=document.querySelectorAll('table.scenarios th')[2];th.click();th.click();</script></body>";
    let page = tmp.path().join("sorted.html");
    std::fs::write(&page, html.replace("</body>", click)).unwrap();
    let dom = headless(&bin, &tmp.path().join("profile"), &page, &["--dump-dom"]);
    let table = dom
        .split("<table class=\"sortable scenarios\">")
        .nth(1)
        .unwrap();
    let durations: Vec<u64> = table
        .split("<tr id=\"s-run-")
        .skip(1)
        .map(|row| {
            let cell = row.split("<td data-v=\"").nth(1).unwrap();
            cell[..cell.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert_eq!(durations.len(), timelines[1].tasks.len());
    let mut want = durations.clone();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(durations, want, "not sorted by duration, longest first");
    assert!(table.contains("data-dir=\"desc\""));
}

/// A real `up` on each engine: a dependency with a health check and a one-shot job after it.
/// Its recording carries the dependency milestones in order, and the page draws them.
#[test]
fn a_real_up_records_dependency_milestones_for_the_page() {
    use crate::engines::{busybox_context, engines};
    for engine in engines() {
        let env = crate::support::unique(&format!("h21-report-{}", engine.name));
        let tmp = tempfile::tempdir().unwrap();
        let image = format!("localhost/kt-h21-bb-{}:1", engine.name);
        busybox_context(&tmp.path().join("bb"), "h21", None);
        let yaml = format!(
            "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\ndependencies:\n  web:\n    image: {image}\n    command: [/bin/busybox, sh, -c, \"mkdir -p /www && echo ok > /www/healthz && sleep 1 && exec /bin/busybox httpd -f -p 8080 -h /www\"]\n    ports: [\"0:8080\"]\n    health: {{ http: {{ port: 8080, path: /healthz }}, interval: 100ms, timeout: 30s }}\n  job:\n    image: {image}\n    needs: [web]\n    once: true\n    command: [/bin/busybox, \"true\"]\n",
            engine.name
        );
        std::fs::write(tmp.path().join("kubetest.yaml"), yaml).unwrap();
        let up = Run::new(engine.kubetest(tmp.path()).args([
            "up",
            "--output",
            "json",
            "--report",
            "page.html",
        ]));
        let down = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["down", "--output", "json"]),
        );
        assert_eq!(up.code, 0, "{}: {}", engine.name, up.stderr);
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);

        let marks = |task: &str| -> Vec<(String, u64)> {
            up.events
                .iter()
                .filter(|e| e["event"] == "task_milestone" && e["task"] == task)
                .map(|e| {
                    (
                        e["milestone"].as_str().unwrap().to_owned(),
                        e["at_ms"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let web = marks("web");
        let names: Vec<&str> = web.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            names,
            ["container_started", "health_wait", "healthy"],
            "{}",
            engine.name
        );
        assert!(web.windows(2).all(|w| w[0].1 <= w[1].1), "{web:?}");
        // The container sleeps 1 s before serving: healthy comes at least that long after it started
        // (the health wait may begin late on a busy engine: inspect after start can be slow).
        assert!(web[2].1 - web[0].1 >= 900, "{}: {web:?}", engine.name);
        let job: Vec<String> = marks("job").into_iter().map(|(m, _)| m).collect();
        assert_eq!(
            job,
            ["container_started"],
            "a one-shot job has no health wait"
        );

        let page = std::fs::read_to_string(tmp.path().join("page.html")).unwrap();
        for row in [
            "data-phase=\"build\"",
            "data-phase=\"deps\" data-task=\"web\"",
            "data-phase=\"deps\" data-task=\"job\"",
        ] {
            assert!(page.contains(row), "{}: no row {row}", engine.name);
        }
        assert_eq!(page.matches("class=\"mk m-healthy\"").count(), 1);
        assert_eq!(page.matches("class=\"mk m-container_started\"").count(), 2);
        // The job waited for web: both are on the critical path, web before job.
        let glance = page.split("<h3>Phases").next().unwrap();
        let (w, j) = (
            glance.find("deps <code>web</code>"),
            glance.find("deps <code>job</code>"),
        );
        assert!(
            matches!((w, j), (Some(w), Some(j)) if w < j),
            "{}: {glance}",
            engine.name
        );
    }
}

#[test]
fn report_open_hands_the_page_to_the_desktop_opener() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: demo\ncluster: { provider: none }\n",
    )
    .unwrap();
    let events = tmp.path().join(".kubetest/events");
    std::fs::create_dir_all(&events).unwrap();
    for (fixture, name) in [
        ("up-deps-previous.jsonl", "1794999000000-up.jsonl"),
        ("up-deps.jsonl", "1795000100000-up.jsonl"),
        ("run-flaky.jsonl", "1795000200000-run.jsonl"),
    ] {
        std::fs::copy(
            root().join("fixtures/events").join(fixture),
            events.join(name),
        )
        .unwrap();
    }
    // A stand-in for xdg-open (which hands the file to the browser and exits 0): it notes
    // what it was asked to open.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opener = bin.join(if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    });
    let note = bin.join("opened");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", note.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env("PATH", &bin)
            .args(["report", "--open"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = tmp.path().join(".kubetest/report.html");
    let opened = std::fs::read_to_string(&note).unwrap();
    assert_eq!(Path::new(opened.trim()), page);
    // The newest `up` is compared with the one before it, from the recordings.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("previous run 2026-11-18T10:50:00Z"),
        "no comparison"
    );

    // No opener: the page is still written, and the error says where it is.
    std::fs::remove_file(&opener).unwrap();
    std::fs::remove_file(&page).unwrap();
    let r = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env("PATH", &bin)
            .args(["report", "--open"]),
    );
    assert_ne!(r.code, 0);
    assert!(page.exists());
    assert!(r.stderr.contains("report.html"), "{}", r.stderr);
    assert!(r.stderr.contains("not found on PATH"), "{}", r.stderr);
}

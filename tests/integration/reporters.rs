//! Snapshot tests of the three reporters: a recorded event sequence in, text out.

use crate::support::{assert_golden, root};
use kubetest::events::{Reporter, Stamped};
use kubetest::report::{InteractiveReporter, JsonReporter, Palette, PlainReporter, Verbosity};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn recorded() -> Vec<Stamped> {
    let text =
        std::fs::read_to_string(root().join("fixtures/events/up-build-failure.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn feed(r: &mut dyn Reporter) {
    for ev in recorded() {
        r.handle(&ev);
    }
}

fn golden(name: &str) -> std::path::PathBuf {
    root().join("fixtures/events").join(name)
}

#[test]
fn plain_reporter_normal_and_verbose_and_quiet() {
    for (v, name) in [
        (Verbosity::Normal, "up-build-failure.plain"),
        (Verbosity::Verbose, "up-build-failure.plain-verbose"),
        (Verbosity::Quiet, "up-build-failure.plain-quiet"),
    ] {
        let buf = Buffer::default();
        feed(&mut PlainReporter::new(
            Box::new(buf.clone()),
            v,
            Palette::new(false),
        ));
        assert_golden(&golden(name), &buf.text());
    }
}

#[test]
fn plain_reporter_colours_only_when_asked() {
    let buf = Buffer::default();
    feed(&mut PlainReporter::new(
        Box::new(buf.clone()),
        Verbosity::Normal,
        Palette::new(true),
    ));
    assert!(
        buf.text().contains("\u{1b}["),
        "colour codes with colour on"
    );
    let buf = Buffer::default();
    feed(&mut PlainReporter::new(
        Box::new(buf.clone()),
        Verbosity::Normal,
        Palette::new(false),
    ));
    assert!(
        !buf.text().contains('\u{1b}'),
        "no escape codes with colour off"
    );
}

#[test]
fn json_reporter_writes_the_events_back_unchanged() {
    let buf = Buffer::default();
    feed(&mut JsonReporter::new(Box::new(buf.clone())));
    let input = std::fs::read_to_string(golden("up-build-failure.jsonl")).unwrap();
    let parse = |t: &str| -> Vec<serde_json::Value> {
        t.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(
        parse(&buf.text()),
        parse(&input),
        "stable field names: output = recorded input"
    );
}

#[test]
fn interactive_reporter_final_screen() {
    let term = indicatif::InMemoryTerm::new(40, 100);
    let target = indicatif::ProgressDrawTarget::term_like(Box::new(term.clone()));
    let mut r =
        InteractiveReporter::new(target, Verbosity::Normal, Palette::new(false)).without_ticks();
    let events = recorded();
    // Mid-run: one live line per running phase and task, with the build's current step.
    for ev in &events[..10] {
        r.handle(ev);
    }
    let mid = term.contents();
    assert!(mid.contains("build"), "{mid}");
    assert!(
        mid.contains("localhost/demo-app:dev STEP 2/3: RUN make"),
        "{mid}"
    );
    assert!(mid.contains("cluster"), "{mid}");
    for ev in &events[10..] {
        r.handle(ev);
    }
    assert_golden(
        &golden("up-build-failure.interactive"),
        &(term.contents() + "\n"),
    );
}

#[test]
fn pod_status_lines_and_json_latency() {
    let ev: Stamped = serde_json::from_str(
        r#"{"ts_ms":1772446512000,"at_ms":4200,"event":"pod_status","phase":"ready","task":"demo/app=web","pod":"demo/web-7d4b9c6f5-x2k8p","status":"Running, ready","ready":true,"ready_latency_ms":412}"#,
    )
    .unwrap();
    let plain = PlainReporter::new(
        Box::new(Buffer::default()),
        Verbosity::Normal,
        Palette::new(false),
    );
    assert_eq!(
        plain.line(&ev).unwrap(),
        "[   4.20s] ready: demo/app=web: pod demo/web-7d4b9c6f5-x2k8p Running, ready"
    );
    let buf = Buffer::default();
    JsonReporter::new(Box::new(buf.clone())).handle(&ev);
    let v: serde_json::Value = serde_json::from_str(buf.text().trim()).unwrap();
    assert_eq!(v["ready_latency_ms"], 412);
}

fn replay(name: &str, r: &mut dyn Reporter) {
    let text = std::fs::read_to_string(golden(name)).unwrap();
    for l in text.lines() {
        r.handle(&serde_json::from_str(l).unwrap());
    }
}

/// The plain log of a wait prints a count when it changes (not on every pod change), kind's
/// steps only with -v, and a run's bundles and counts as lines of their own.
#[test]
fn plain_reporter_wait_counts_retries_bundles_and_totals() {
    for (input, v, name) in [
        ("up-ready.jsonl", Verbosity::Normal, "up-ready.plain"),
        (
            "up-ready.jsonl",
            Verbosity::Verbose,
            "up-ready.plain-verbose",
        ),
        (
            "run-eventually.jsonl",
            Verbosity::Normal,
            "run-eventually.plain",
        ),
        (
            "run-eventually.jsonl",
            Verbosity::Verbose,
            "run-eventually.plain-verbose",
        ),
    ] {
        let buf = Buffer::default();
        replay(
            input,
            &mut PlainReporter::new(Box::new(buf.clone()), v, Palette::new(false)),
        );
        assert_golden(&golden(name), &buf.text());
    }
}

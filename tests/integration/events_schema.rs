//! `docs/events.schema.json` documents `--output json`: every event kind is in it, every
//! sample of every kind validates, the recorded fixtures validate, and so does every event a
//! real `up`/`run` printed in the other integration tests ([`assert_valid`] is called by
//! `support::Run::new`).

use crate::support::root;
use kubetest::events::{
    BundleRef, Event, Milestone, Outcome, Phase, PhaseSummary, ScenarioCounts, Stamped,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = root().join("docs/events.schema.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    })
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| jsonschema::validator_for(schema()).expect("the schema compiles"))
}

/// Panic with every violation when `event` (one JSON line's object) breaks the schema.
pub fn assert_valid(event: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "event does not match docs/events.schema.json:\n{event}\n{}",
        errors.join("\n")
    );
}

/// Every variant name serde knows, read from its own "unknown variant" error, which lists them
/// all: a new variant shows up here without anyone listing it.
fn serde_variants() -> BTreeSet<String> {
    let err = serde_json::from_str::<Event>(r#"{"event":"no_such_event"}"#).unwrap_err();
    let text = err.to_string();
    let list = text
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("serde's error no longer lists the variants: {text}"));
    list.split(", ")
        .map(|v| {
            v.trim_matches(|c: char| c == '`' || c.is_whitespace() || c == ',')
                .split('`')
                .next()
                .unwrap()
                .to_owned()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// The event kinds the schema's `oneOf` names.
fn schema_variants() -> BTreeSet<String> {
    schema()["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["$ref"].as_str().unwrap().trim_start_matches("#/$defs/");
            let def = &schema()["$defs"][name];
            assert_eq!(def["properties"]["event"]["const"], name, "{name}");
            name.to_owned()
        })
        .collect()
}

fn name(e: &Event) -> String {
    serde_json::to_value(e).unwrap()["event"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Each kind of event, with its optional fields set and (a second sample) unset.
fn samples() -> Vec<Event> {
    let t = |s: &str| s.to_owned();
    let counts = ScenarioCounts {
        total: 3,
        passed: 1,
        failed: 1,
        flaky: 1,
        skipped: 0,
    };
    vec![
        Event::CommandStarted {
            command: t("up"),
            environment: t("demo"),
            config: t("kubetest.yaml"),
        },
        Event::PhaseStarted {
            phase: Phase::Build,
        },
        Event::TaskStarted {
            phase: Phase::Cluster,
            task: t("kind cluster demo"),
        },
        Event::TaskProgress {
            phase: Phase::Cluster,
            task: t("kind cluster demo"),
            message: t("kind: Preparing nodes"),
        },
        Event::TaskMilestone {
            phase: Phase::Deps,
            task: t("postgres"),
            milestone: Milestone::HealthWait,
        },
        Event::TaskLog {
            phase: Phase::Build,
            task: t("localhost/app:dev"),
            line: t("STEP 1/2: FROM scratch"),
        },
        Event::TaskFinished {
            phase: Phase::Build,
            task: t("localhost/app:dev"),
            outcome: Outcome::Cached,
            elapsed_ms: 6,
            detail: Some(t("inputs unchanged")),
        },
        Event::TaskFinished {
            phase: Phase::Deps,
            task: t("postgres"),
            outcome: Outcome::Ok,
            elapsed_ms: 1200,
            detail: None,
        },
        Event::PodStatus {
            phase: Phase::Ready,
            task: t("demo/app=web"),
            pod: t("demo/web-1"),
            status: t("Running, ready"),
            ready: true,
            ready_latency_ms: Some(412),
        },
        Event::PodStatus {
            phase: Phase::Ready,
            task: t("demo/app=web"),
            pod: t("demo/web-1"),
            status: t("Pending (ContainerCreating)"),
            ready: false,
            ready_latency_ms: None,
        },
        Event::WaitStatus {
            phase: Phase::Ready,
            task: t("demo/app=web"),
            ready: 0,
            want: 1,
            pods: 1,
            left_ms: 133_000,
        },
        Event::Note {
            phase: Some(Phase::Preflight),
            message: t("engine: podman"),
        },
        Event::Note {
            phase: None,
            message: t("no phase"),
        },
        Event::Warning {
            phase: Some(Phase::Cluster),
            message: t("careful"),
        },
        Event::Warning {
            phase: None,
            message: t("careful"),
        },
        Event::StepRetrying {
            scenario: t("web"),
            index: 1,
            step: t("counter reaches 3"),
            attempt: 2,
            reason: t("body JSON .count: expected 3, found 2"),
            next_in_ms: 50,
        },
        Event::StepFinished {
            scenario: t("web"),
            index: 1,
            step: t("counter reaches 3"),
            outcome: Outcome::Failed,
            attempts: 4,
            elapsed_ms: 200,
            message: Some(t("still failing\n  - body")),
        },
        Event::StepFinished {
            scenario: t("web"),
            index: 0,
            step: t("step 1"),
            outcome: Outcome::Ok,
            attempts: 1,
            elapsed_ms: 2,
            message: None,
        },
        Event::BundleSaved {
            phase: Phase::Scenarios,
            task: t("web"),
            outcome: Outcome::Failed,
            path: t(".kubetest/artifacts/run-1/web"),
        },
        Event::Collected {
            source: t("dependency postgres"),
            path: t("/var/lib/dumps"),
            to: t(".kubetest/artifacts/collect-1/db/postgres"),
            outcome: Outcome::Ok,
            files: 3,
            bytes: 104_857_600,
            error: None,
        },
        Event::Collected {
            source: t("pod demo/app-1"),
            path: t("/tmp/cover"),
            to: t(".kubetest/artifacts/collect-1/coverage/app-1"),
            outcome: Outcome::Failed,
            files: 0,
            bytes: 0,
            error: Some(t("the image has no `tar`")),
        },
        Event::PhaseFinished {
            phase: Phase::Collect,
            outcome: Outcome::Ok,
            elapsed_ms: 3,
            error: None,
        },
        Event::ScenariosFinished {
            total: 3,
            passed: 1,
            failed: 1,
            flaky: 1,
            skipped: 0,
        },
        Event::PhaseFinished {
            phase: Phase::Ready,
            outcome: Outcome::Failed,
            elapsed_ms: 1500,
            error: Some(t("demo/app=web: not ready")),
        },
        Event::PhaseFinished {
            phase: Phase::Checks,
            outcome: Outcome::Ok,
            elapsed_ms: 1,
            error: None,
        },
        Event::CommandFinished {
            command: t("run"),
            outcome: Outcome::Failed,
            exit_code: 1,
            elapsed_ms: 900,
            phases: vec![PhaseSummary {
                phase: Phase::Scenarios,
                outcome: Outcome::Failed,
                elapsed_ms: 800,
            }],
            scenarios: Some(counts),
            bundles: vec![BundleRef {
                phase: Phase::Scenarios,
                task: t("web"),
                outcome: Outcome::Failed,
                path: t(".kubetest/artifacts/run-1/web"),
            }],
            error: Some(t("1 of 3 scenarios failed")),
        },
        Event::CommandFinished {
            command: t("down"),
            outcome: Outcome::Ok,
            exit_code: 0,
            elapsed_ms: 10,
            phases: Vec::new(),
            scenarios: None,
            bundles: Vec::new(),
            error: None,
        },
        Event::ConfigFound {
            path: t("../kubetest.yaml"),
            source: t("search"),
        },
        Event::Validated {
            config: t("kubetest.yaml"),
            scenario_files: 2,
            scenarios: 2,
            manifest_files: 2,
            objects: 3,
        },
    ]
}

fn stamped(event: Event) -> Value {
    serde_json::to_value(Stamped {
        ts_ms: 1_795_000_000_000,
        at_ms: 12,
        event,
    })
    .unwrap()
}

#[test]
fn every_event_kind_is_in_the_schema_and_no_other() {
    let known = serde_variants();
    assert!(known.len() >= 16, "parsed serde's list: {known:?}");
    assert_eq!(
        known,
        schema_variants(),
        "docs/events.schema.json must list exactly the variants of kubetest::events::Event"
    );
    let sampled: BTreeSet<String> = samples().iter().map(name).collect();
    assert_eq!(known, sampled, "samples() must hold every variant");
}

#[test]
fn every_sample_validates_and_round_trips() {
    for e in samples() {
        let v = stamped(e.clone());
        assert_valid(&v);
        let back: Stamped = serde_json::from_value(v).unwrap();
        assert_eq!(back.event, e);
    }
}

#[test]
fn the_schema_rejects_what_kubetest_never_prints() {
    let ok = stamped(samples().remove(0));
    assert!(validator().is_valid(&ok));
    let mut extra = ok.clone();
    extra["surprise"] = Value::from(1);
    let mut missing = ok.clone();
    missing.as_object_mut().unwrap().remove("environment");
    let mut wrong = stamped(Event::WaitStatus {
        phase: Phase::Ready,
        task: "t".into(),
        ready: 0,
        want: 1,
        pods: 0,
        left_ms: 1,
    });
    wrong["ready"] = Value::from("0");
    let mut null_optional = stamped(samples()[6].clone());
    null_optional["detail"] = Value::Null;
    let mut unknown = ok.clone();
    unknown["event"] = Value::from("no_such_event");
    for (what, v) in [
        ("an undocumented field", extra),
        ("a missing field", missing),
        ("a wrong type", wrong),
        ("null for an absent optional field", null_optional),
        ("an unknown kind", unknown),
    ] {
        assert!(!validator().is_valid(&v), "{what} must fail: {v}");
    }
}

#[test]
fn recorded_fixtures_validate() {
    let dir = root().join("fixtures/events");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                assert_valid(&serde_json::from_str(line).unwrap());
                n += 1;
            }
        }
    }
    assert!(n > 10, "{n} recorded events");
}

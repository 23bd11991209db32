//! `kubetest report` page for large runs: time to build the timeline and render the page, and
//! the page's size, for 200 and 1,000 scenarios of 4 steps each (8 at a time, every 7th fails,
//! every 11th is flaky), plus an `up` with 20 images and 10 dependencies.
//!
//! `cargo bench --bench report` (add `--profile dev` to skip the release build).

use kubetest::events::{Event, Milestone, Outcome, Phase, Stamped};
use kubetest::timeline::{render, Section, Timeline};
use std::time::Instant;

struct Rec(Vec<Stamped>);

impl Rec {
    fn at(&mut self, at_ms: u64, event: Event) {
        self.0.push(Stamped {
            ts_ms: 1_795_000_000_000 + at_ms,
            at_ms,
            event,
        });
    }
}

fn started(command: &str) -> Event {
    Event::CommandStarted {
        command: command.into(),
        environment: "bench".into(),
        config: "/work/bench/kubetest.yaml".into(),
    }
}

fn run_events(n: usize) -> Vec<Stamped> {
    let mut r = Rec(Vec::new());
    r.at(0, started("run"));
    r.at(
        1,
        Event::PhaseStarted {
            phase: Phase::Scenarios,
        },
    );
    let mut slots = [2u64; 8];
    for i in 0..n {
        let name = format!("scenario-{i:04}-checks-the-orders-api");
        let s = (0..slots.len()).min_by_key(|&k| slots[k]).unwrap_or(0);
        let start = slots[s];
        r.at(
            start,
            Event::TaskStarted {
                phase: Phase::Scenarios,
                task: name.clone(),
            },
        );
        let outcome = match (i % 7, i % 11) {
            (3, _) => Outcome::Failed,
            (_, 5) => Outcome::Flaky,
            _ => Outcome::Ok,
        };
        let mut t = start;
        for j in 0..4 {
            let d = 20 + ((i * 37 + j * 101) % 400) as u64;
            t += d;
            let failed = outcome == Outcome::Failed && j == 2;
            r.at(
                t,
                Event::StepFinished {
                    scenario: name.clone(),
                    index: j,
                    step: format!("step {}: http GET /orders/{j}", j + 1),
                    outcome: if failed { Outcome::Failed } else { Outcome::Ok },
                    attempts: if failed { 5 } else { 1 },
                    elapsed_ms: d,
                    message: failed.then(|| {
                        "status: expected 200, found 503\n  - body: upstream not ready".into()
                    }),
                },
            );
            if failed {
                break;
            }
        }
        r.at(
            t + 1,
            Event::TaskFinished {
                phase: Phase::Scenarios,
                task: name.clone(),
                outcome,
                elapsed_ms: t + 1 - start,
                detail: None,
            },
        );
        if outcome != Outcome::Ok {
            r.at(
                t + 2,
                Event::BundleSaved {
                    phase: Phase::Scenarios,
                    task: name,
                    outcome,
                    path: format!("/work/bench/.kubetest/artifacts/run-1/scenario-{i:04}"),
                },
            );
        }
        slots[s] = t + 3;
    }
    let end = slots.iter().copied().max().unwrap_or(0);
    r.at(
        end,
        Event::PhaseFinished {
            phase: Phase::Scenarios,
            outcome: Outcome::Failed,
            elapsed_ms: end - 1,
            error: None,
        },
    );
    r.0.sort_by_key(|e| e.at_ms);
    r.0
}

fn up_events() -> Vec<Stamped> {
    let mut r = Rec(Vec::new());
    r.at(0, started("up"));
    r.at(
        1,
        Event::PhaseStarted {
            phase: Phase::Build,
        },
    );
    for i in 0..20u64 {
        let task = format!("localhost/svc-{i}:dev");
        r.at(
            2 + i * 300,
            Event::TaskStarted {
                phase: Phase::Build,
                task: task.clone(),
            },
        );
        r.at(
            900 + i * 300,
            Event::TaskFinished {
                phase: Phase::Build,
                task,
                outcome: Outcome::Ok,
                elapsed_ms: 898,
                detail: None,
            },
        );
    }
    r.at(
        7000,
        Event::PhaseFinished {
            phase: Phase::Build,
            outcome: Outcome::Ok,
            elapsed_ms: 6999,
            error: None,
        },
    );
    r.at(7001, Event::PhaseStarted { phase: Phase::Deps });
    for i in 0..10u64 {
        let task = format!("dep-{i}");
        let s = 7002 + i * 500;
        r.at(
            s,
            Event::TaskStarted {
                phase: Phase::Deps,
                task: task.clone(),
            },
        );
        r.at(
            s + 50,
            Event::TaskMilestone {
                phase: Phase::Deps,
                task: task.clone(),
                milestone: Milestone::ContainerStarted,
            },
        );
        r.at(
            s + 60,
            Event::TaskMilestone {
                phase: Phase::Deps,
                task: task.clone(),
                milestone: Milestone::HealthWait,
            },
        );
        r.at(
            s + 480,
            Event::TaskMilestone {
                phase: Phase::Deps,
                task: task.clone(),
                milestone: Milestone::Healthy,
            },
        );
        r.at(
            s + 490,
            Event::TaskFinished {
                phase: Phase::Deps,
                task,
                outcome: Outcome::Ok,
                elapsed_ms: 490,
                detail: None,
            },
        );
    }
    r.at(
        12_000,
        Event::PhaseFinished {
            phase: Phase::Deps,
            outcome: Outcome::Ok,
            elapsed_ms: 4999,
            error: None,
        },
    );
    r.0
}

fn main() {
    let up = Timeline::from_events(&up_events());
    for n in [200, 1000] {
        let events = run_events(n);
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..5 {
            let t0 = Instant::now();
            let run = Timeline::from_events(&events);
            let html = render(&[
                Section {
                    now: &up,
                    previous: None,
                },
                Section {
                    now: &run,
                    previous: Some(&run),
                },
            ]);
            best = best.min(t0.elapsed().as_secs_f64() * 1000.0);
            size = html.len();
            if let Ok(dir) = std::env::var("KUBETEST_BENCH_PAGES") {
                let _ = std::fs::write(format!("{dir}/report-{n}.html"), &html);
            }
        }
        println!(
            "report: {n} scenarios ({} events): timeline + page in {best:.1} ms (best of 5), page {} KiB",
            events.len(),
            size / 1024
        );
    }
}

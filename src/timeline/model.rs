//! One recorded command as a timeline: its phases and tasks with start and end, from its events.

use crate::events::{Event, Milestone, Outcome, Phase, ScenarioCounts, Stamped};
use std::collections::HashMap;

/// A recorded command (`up`, `run`, `down`) laid out in time. Times are milliseconds from the
/// command's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub command: String,
    pub environment: String,
    pub config: String,
    /// When the command started (milliseconds since the Unix epoch).
    pub started_unix_ms: u64,
    pub total_ms: u64,
    /// `None` when the recording has no `command_finished` (killed, or still running).
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// In the order they started.
    pub phases: Vec<PhaseSpan>,
    /// Grouped by phase (in [`Timeline::phases`] order), then by start.
    pub tasks: Vec<Task>,
    pub scenarios: Option<ScenarioCounts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
}

impl PhaseSpan {
    pub fn elapsed_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// One row of the timeline: a task of a phase (a build, a dependency, a scenario…), or a
/// phase that ran without tasks (preflight).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub phase: Phase,
    pub name: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// `None`: it never finished (the command stopped first).
    pub outcome: Option<Outcome>,
    pub detail: Option<String>,
    /// Points inside the task (a dependency's health wait…), in time order.
    pub marks: Vec<(u64, Milestone)>,
    /// A scenario's (or setup's) steps, every run of them, in time order.
    pub steps: Vec<Step>,
    /// Its failure bundle, as recorded.
    pub bundle: Option<String>,
    /// A phase without tasks, shown as one.
    pub whole_phase: bool,
}

impl Task {
    pub fn elapsed_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }

    /// The step to show for a failed or flaky scenario: the last failed step of a failure, the
    /// first of a flake (why it did not pass at once).
    pub fn failing_step(&self) -> Option<&Step> {
        let mut failed = self.steps.iter().filter(|s| s.outcome == Outcome::Failed);
        match self.outcome {
            Some(Outcome::Flaky) => failed.next(),
            Some(Outcome::Failed) => failed.next_back(),
            _ => None,
        }
    }

    /// How many times its steps ran from the first (a retried scenario restarts at index 0).
    pub fn runs(&self) -> usize {
        let mut runs = 0;
        let mut last = None;
        for s in &self.steps {
            if last.is_none_or(|l| s.index <= l) {
                runs += 1;
            }
            last = Some(s.index);
        }
        runs.max(usize::from(!self.steps.is_empty()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub index: usize,
    pub title: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub outcome: Outcome,
    pub attempts: u32,
    pub message: Option<String>,
}

impl Timeline {
    /// The timeline of one command's events, in the order they were emitted.
    pub fn from_events(events: &[Stamped]) -> Timeline {
        let mut t = Timeline {
            command: String::new(),
            environment: String::new(),
            config: String::new(),
            started_unix_ms: events
                .first()
                .map(|e| e.ts_ms.saturating_sub(e.at_ms))
                .unwrap_or(0),
            total_ms: events.iter().map(|e| e.at_ms).max().unwrap_or(0),
            outcome: None,
            error: None,
            phases: Vec::new(),
            tasks: Vec::new(),
            scenarios: None,
        };
        // The open (or latest) task of each (phase, name), and of each scenario by name.
        let mut open: HashMap<(Phase, &str), usize> = HashMap::new();
        let mut by_scenario: HashMap<&str, usize> = HashMap::new();
        let mut phase_at: HashMap<Phase, usize> = HashMap::new();
        for ev in events {
            let at = ev.at_ms;
            match &ev.event {
                Event::CommandStarted {
                    command,
                    environment,
                    config,
                } => {
                    t.command.clone_from(command);
                    t.environment.clone_from(environment);
                    t.config.clone_from(config);
                }
                Event::PhaseStarted { phase } => {
                    phase_at.insert(*phase, t.phases.len());
                    t.phases.push(PhaseSpan {
                        phase: *phase,
                        start_ms: at,
                        end_ms: at,
                        outcome: None,
                        error: None,
                    });
                }
                Event::PhaseFinished {
                    phase,
                    outcome,
                    elapsed_ms,
                    error,
                } => {
                    let i = *phase_at.entry(*phase).or_insert_with(|| {
                        t.phases.push(PhaseSpan {
                            phase: *phase,
                            start_ms: at.saturating_sub(*elapsed_ms),
                            end_ms: at,
                            outcome: None,
                            error: None,
                        });
                        t.phases.len() - 1
                    });
                    let p = &mut t.phases[i];
                    p.end_ms = at;
                    p.outcome = Some(*outcome);
                    p.error.clone_from(error);
                }
                Event::TaskStarted { phase, task } => {
                    let i = t.tasks.len();
                    t.tasks.push(Task::new(*phase, task, at));
                    open.insert((*phase, task.as_str()), i);
                    if matches!(phase, Phase::Scenarios | Phase::Setup) {
                        by_scenario.insert(task.as_str(), i);
                    }
                }
                Event::TaskFinished {
                    phase,
                    task,
                    outcome,
                    detail,
                    ..
                } => {
                    // A scenario skipped by `--fail-fast` finishes without starting.
                    let i = match open.get(&(*phase, task.as_str())) {
                        Some(i) if t.tasks[*i].outcome.is_none() => *i,
                        _ => {
                            t.tasks.push(Task::new(*phase, task, at));
                            t.tasks.len() - 1
                        }
                    };
                    let task = &mut t.tasks[i];
                    task.end_ms = at;
                    task.outcome = Some(*outcome);
                    task.detail.clone_from(detail);
                }
                Event::TaskMilestone {
                    phase,
                    task,
                    milestone,
                } => {
                    if let Some(i) = open.get(&(*phase, task.as_str())) {
                        t.tasks[*i].marks.push((at, *milestone));
                    }
                }
                Event::StepFinished {
                    scenario,
                    index,
                    step,
                    outcome,
                    attempts,
                    elapsed_ms,
                    message,
                } => {
                    if let Some(i) = by_scenario.get(scenario.as_str()) {
                        t.tasks[*i].steps.push(Step {
                            index: *index,
                            title: step.clone(),
                            start_ms: at.saturating_sub(*elapsed_ms),
                            end_ms: at,
                            outcome: *outcome,
                            attempts: *attempts,
                            message: message.clone(),
                        });
                    }
                }
                Event::BundleSaved {
                    phase, task, path, ..
                } => {
                    if let Some(i) = open.get(&(*phase, task.as_str())) {
                        t.tasks[*i].bundle = Some(path.clone());
                    }
                }
                Event::ScenariosFinished {
                    total,
                    passed,
                    failed,
                    flaky,
                    skipped,
                } => {
                    t.scenarios = Some(ScenarioCounts {
                        total: *total,
                        passed: *passed,
                        failed: *failed,
                        flaky: *flaky,
                        skipped: *skipped,
                    });
                }
                Event::CommandFinished {
                    outcome,
                    elapsed_ms,
                    error,
                    ..
                } => {
                    t.outcome = Some(*outcome);
                    t.total_ms = t.total_ms.max(*elapsed_ms);
                    t.error.clone_from(error);
                }
                // Nothing on the timeline: what a task is doing, its log, pods and counts.
                Event::TaskProgress { .. }
                | Event::TaskLog { .. }
                | Event::PodStatus { .. }
                | Event::WaitStatus { .. }
                | Event::Note { .. }
                | Event::Warning { .. }
                | Event::StepRetrying { .. }
                | Event::ConfigFound { .. }
                | Event::Validated { .. }
                | Event::Collected { .. } => {}
            }
        }
        t.finish();
        t
    }

    /// Open ends close at the end of the command; phases without tasks become one; rows are
    /// grouped by phase.
    fn finish(&mut self) {
        let end = self.total_ms;
        for p in &mut self.phases {
            if p.outcome.is_none() {
                p.end_ms = end.max(p.start_ms);
            }
        }
        for task in &mut self.tasks {
            if task.outcome.is_none() {
                task.end_ms = end.max(task.start_ms);
            }
        }
        for p in &self.phases {
            if !self.tasks.iter().any(|t| t.phase == p.phase) {
                let mut whole = Task::new(p.phase, p.phase.as_str(), p.start_ms);
                whole.end_ms = p.end_ms;
                whole.outcome = p.outcome;
                whole.detail.clone_from(&p.error);
                whole.whole_phase = true;
                self.tasks.push(whole);
            }
        }
        let order: HashMap<Phase, usize> = self
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| (p.phase, i))
            .collect();
        // Stable: tasks that started together keep the order they were emitted in.
        self.tasks.sort_by_key(|t| {
            (
                order.get(&t.phase).copied().unwrap_or(usize::MAX),
                t.start_ms,
            )
        });
    }

    /// The phase's span, when it ran.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseSpan> {
        self.phases.iter().find(|p| p.phase == phase)
    }
}

impl Task {
    fn new(phase: Phase, name: &str, at: u64) -> Self {
        Task {
            phase,
            name: name.to_owned(),
            start_ms: at,
            end_ms: at,
            outcome: None,
            detail: None,
            marks: Vec::new(),
            steps: Vec::new(),
            bundle: None,
            whole_phase: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<Stamped> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/events")
            .join(name);
        crate::report::read_recording(&path).unwrap()
    }

    #[test]
    fn up_has_a_row_per_task_and_one_for_preflight() {
        let t = Timeline::from_events(&fixture("up-ready.jsonl"));
        assert_eq!(t.command, "up");
        assert_eq!(t.environment, "demo");
        assert_eq!(t.total_ms, 4703);
        let rows: Vec<(&str, &str, u64, u64)> = t
            .tasks
            .iter()
            .map(|t| (t.phase.as_str(), t.name.as_str(), t.start_ms, t.end_ms))
            .collect();
        assert_eq!(
            rows,
            [
                ("preflight", "preflight", 2, 60),
                ("build", "localhost/demo-app:dev", 62, 70),
                ("cluster", "kind cluster demo", 63, 2500),
                ("load", "localhost/demo-app:dev", 2503, 2700),
                ("deploy", "manifests", 2703, 2800),
                ("ready", "demo/app=web", 2803, 4701),
                ("ready", "demo/app=worker", 2803, 4001),
            ]
        );
        assert!(t.tasks[0].whole_phase);
    }

    #[test]
    fn run_attaches_steps_and_bundles_to_scenarios() {
        let t = Timeline::from_events(&fixture("run-eventually.jsonl"));
        let fails = t.tasks.iter().find(|t| t.name == "web-fails").unwrap();
        assert_eq!(fails.outcome, Some(Outcome::Failed));
        assert_eq!(fails.steps.len(), 2);
        assert_eq!(
            fails.bundle.as_deref(),
            Some(".kubetest/artifacts/run-1795000000000/web-fails")
        );
        let step = fails.failing_step().unwrap();
        assert_eq!(step.title, "step 1: http GET /count/bad");
        assert_eq!((step.start_ms, step.end_ms), (8, 60));
        assert_eq!(fails.runs(), 1);
        assert_eq!(t.scenarios.unwrap().failed, 1);
    }

    #[test]
    fn an_unfinished_command_closes_open_tasks_at_its_last_event() {
        let mut evs = fixture("up-ready.jsonl");
        evs.truncate(33);
        let t = Timeline::from_events(&evs);
        assert_eq!(t.outcome, None);
        let web = t.tasks.iter().find(|t| t.name == "demo/app=web").unwrap();
        assert_eq!(web.outcome, None);
        assert_eq!(web.end_ms, t.total_ms);
        assert!(web.end_ms > web.start_ms);
    }
}

//! Interactive terminal: one live spinner per running phase and task; finished ones become lines.
//!
//! A bar is drawn only once it belongs to the `MultiProgress`: created on a hidden target,
//! added, then ticked. (A bar made with `ProgressBar::new_spinner()` draws to stderr, and its
//! steady ticker draws at once, so a tick landing before `add` left a line the
//! `MultiProgress` never knew of and never cleared: the frozen `⠙ build 0s`.)

use super::style::{left, scenario_totals, secs, Palette, Verbosity};
use super::summary::{is_usage_error, render_summary, source_text, validated_text};
use crate::events::{Event, Outcome, Phase, Reporter, Stamped};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct InteractiveReporter {
    mp: MultiProgress,
    verbosity: Verbosity,
    p: Palette,
    phases: HashMap<Phase, ProgressBar>,
    tasks: HashMap<(Phase, String), Task>,
    tick: bool,
}

/// A task's live line and, for a `deploy.wait`, its count and deadline.
struct Task {
    bar: ProgressBar,
    wait: Arc<Mutex<Option<WaitView>>>,
}

#[derive(Debug, Clone, Copy)]
struct WaitView {
    ready: u32,
    want: u32,
    deadline: Instant,
}

/// The `{wait}` template key: `0/1 ready, 2m13s left · `, counting down on every tick.
fn wait_key(
    cell: Arc<Mutex<Option<WaitView>>>,
) -> impl Fn(&ProgressState, &mut dyn std::fmt::Write) + Send + Sync + Clone + 'static {
    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
        let view = *cell.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = view {
            let ms = v
                .deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64;
            let _ = write!(w, "{}/{} ready, {} left · ", v.ready, v.want, left(ms));
        }
    }
}

impl InteractiveReporter {
    pub fn new(target: ProgressDrawTarget, verbosity: Verbosity, p: Palette) -> Self {
        Self {
            mp: MultiProgress::with_draw_target(target),
            verbosity,
            p,
            phases: HashMap::new(),
            tasks: HashMap::new(),
            tick: true,
        }
    }

    /// No background ticking: for tests that compare the screen after a recorded sequence.
    pub fn without_ticks(mut self) -> Self {
        self.tick = false;
        self
    }

    /// A spinner that draws nowhere until [`Self::show`] puts it in the `MultiProgress`.
    /// Task lines (indented) get `wait`, the cell their `deploy.wait` count is read from;
    /// phase lines get `None`.
    fn spinner(&self, prefix: String, wait: Option<&Arc<Mutex<Option<WaitView>>>>) -> ProgressBar {
        let template = if wait.is_some() {
            "  {spinner} {prefix} {wait}{wide_msg} {elapsed:>4}"
        } else {
            "{spinner} {prefix} {wide_msg} {elapsed:>4}"
        };
        let mut style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        if let Some(cell) = wait {
            style = style.with_key("wait", wait_key(cell.clone()));
        }
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(prefix)
    }

    /// Draw a bar that is already in the `MultiProgress`, and keep it ticking.
    fn show(&self, bar: &ProgressBar) {
        if self.tick {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        bar.tick();
    }

    /// Stop a bar and take its line off the screen.
    fn clear(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.mp.remove(bar);
    }

    fn task(&self, phase: Phase, task: &str) -> Option<&Task> {
        self.tasks.get(&(phase, task.to_owned()))
    }

    fn mark(&self, o: Outcome) -> String {
        match o {
            Outcome::Ok | Outcome::Cached | Outcome::Reused => self.p.ok.apply_to("✔").to_string(),
            Outcome::Skipped => self.p.dim.apply_to("-").to_string(),
            Outcome::Flaky => self.p.warn.apply_to("~").to_string(),
            Outcome::Failed | Outcome::Cancelled => self.p.fail.apply_to("✘").to_string(),
        }
    }

    fn line(&self, s: String) {
        let _ = self.mp.println(s);
    }
}

impl Reporter for InteractiveReporter {
    fn handle(&mut self, ev: &Stamped) {
        let quiet = self.verbosity == Verbosity::Quiet;
        match &ev.event {
            Event::CommandStarted {
                command,
                environment,
                config,
            } => {
                if !quiet {
                    self.line(format!(
                        "{} {}",
                        self.p.bold.apply_to(format!("kubetest {command}")),
                        self.p
                            .dim
                            .apply_to(format!("environment `{environment}` ({config})"))
                    ));
                }
            }
            Event::PhaseStarted { phase } => {
                let bar = self.mp.add(self.spinner(phase.as_str().to_owned(), None));
                self.show(&bar);
                if let Some(old) = self.phases.insert(*phase, bar) {
                    self.clear(&old);
                }
            }
            Event::TaskStarted { phase, task } => {
                let wait = Arc::new(Mutex::new(None));
                let bar = self.spinner(task.clone(), Some(&wait));
                let bar = match self.phases.get(phase) {
                    Some(parent) => self.mp.insert_after(parent, bar),
                    None => self.mp.add(bar),
                };
                self.show(&bar);
                // A task of the same name started again replaces the old line.
                if let Some(old) = self
                    .tasks
                    .insert((*phase, task.clone()), Task { bar, wait })
                {
                    self.clear(&old.bar);
                }
            }
            Event::TaskProgress {
                phase,
                task,
                message,
            } => {
                if let Some(t) = self.task(*phase, task) {
                    t.bar.set_message(message.clone());
                }
            }
            Event::WaitStatus {
                phase,
                task,
                ready,
                want,
                left_ms,
                ..
            } => {
                if let Some(t) = self.task(*phase, task) {
                    *t.wait.lock().unwrap_or_else(PoisonError::into_inner) = Some(WaitView {
                        ready: *ready,
                        want: *want,
                        deadline: Instant::now() + Duration::from_millis(*left_ms),
                    });
                    // Redraw now (`tick()` does nothing while a steady ticker runs).
                    t.bar.set_message(t.bar.message());
                }
            }
            Event::StepRetrying {
                scenario,
                step,
                attempt,
                reason,
                ..
            } => {
                if let Some(t) = self.task(Phase::Scenarios, scenario) {
                    t.bar
                        .set_message(format!("{step}: attempt {attempt}, last: {reason}"));
                }
            }
            Event::BundleSaved {
                phase, task, path, ..
            } => {
                self.line(format!(
                    "  {} {task}: failure bundle in {path}",
                    self.p.dim.apply_to(phase.as_str())
                ));
            }
            Event::Collected {
                source,
                path,
                to,
                files,
                bytes,
                error,
                ..
            } => {
                self.line(match error {
                    None => format!(
                        "  {} {source}: {path} → {to} ({files} file(s), {})",
                        self.p.dim.apply_to("collect"),
                        crate::sizes::bytes(*bytes)
                    ),
                    Some(e) => {
                        format!("  {} {source}: {path}: {e}", self.p.dim.apply_to("collect"))
                    }
                });
            }
            Event::ScenariosFinished {
                total,
                passed,
                failed,
                flaky,
                skipped,
            } => {
                if !quiet {
                    self.line(format!(
                        "  {}{}",
                        self.p.dim.apply_to("scenarios: "),
                        scenario_totals(*total, *passed, *failed, *flaky, *skipped)
                    ));
                }
            }
            // Timeline marks for `kubetest report`; the task's progress line already says it.
            Event::TaskMilestone { .. } => {}
            Event::TaskLog { phase, task, line } => {
                if self.verbosity == Verbosity::Verbose {
                    self.line(format!(
                        "  {} {line}",
                        self.p.dim.apply_to(format!("{} {task} |", phase.as_str()))
                    ));
                }
            }
            Event::TaskFinished {
                phase,
                task,
                outcome,
                elapsed_ms,
                detail,
            } => {
                if let Some(t) = self.tasks.remove(&(*phase, task.clone())) {
                    self.clear(&t.bar);
                }
                if !quiet || outcome.is_failure() {
                    let detail = detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    self.line(format!(
                        "  {} {} {task} {} {}{detail}",
                        self.mark(*outcome),
                        phase.as_str(),
                        self.p.outcome(*outcome),
                        self.p.dim.apply_to(secs(*elapsed_ms))
                    ));
                }
            }
            Event::StepFinished {
                scenario,
                step,
                outcome,
                attempts,
                elapsed_ms,
                message,
                ..
            } => {
                if self.verbosity == Verbosity::Verbose || outcome.is_failure() {
                    let tries = if *attempts > 1 {
                        format!(" after {attempts} attempts")
                    } else {
                        String::new()
                    };
                    let mut line = format!(
                        "    {} {scenario}: {step} {}{tries} {}",
                        self.mark(*outcome),
                        self.p.outcome(*outcome),
                        self.p.dim.apply_to(secs(*elapsed_ms))
                    );
                    if let Some(m) = message {
                        for l in m.lines() {
                            line.push_str(&format!("\n      {l}"));
                        }
                    }
                    self.line(line);
                }
            }
            Event::PodStatus {
                phase,
                task,
                pod,
                status,
                ready,
                ..
            } => {
                // The task's live line shows the latest pod; each pod that becomes ready
                // gets a line of its own.
                if let Some(t) = self.task(*phase, task) {
                    t.bar.set_message(format!("{pod} {status}"));
                }
                if *ready && !quiet {
                    self.line(format!(
                        "    {} {}",
                        self.p.dim.apply_to(format!("{} {task}:", phase.as_str())),
                        format_args!("pod {pod} {status}")
                    ));
                }
            }
            Event::Note { phase, message } => {
                if !quiet {
                    let ph = phase
                        .map(|p| format!("{}: ", p.as_str()))
                        .unwrap_or_default();
                    self.line(format!("  {}{message}", self.p.dim.apply_to(ph)));
                }
            }
            Event::Warning { phase, message } => {
                let ph = phase
                    .map(|p| format!("{}: ", p.as_str()))
                    .unwrap_or_default();
                self.line(format!(
                    "{} {ph}{message}",
                    self.p.warn.apply_to("warning:")
                ));
            }
            Event::PhaseFinished {
                phase,
                outcome,
                elapsed_ms,
                error,
            } => {
                if let Some(bar) = self.phases.remove(phase) {
                    self.clear(&bar);
                }
                if !quiet || outcome.is_failure() {
                    let err = error
                        .as_ref()
                        .and_then(|e| e.lines().next())
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    self.line(format!(
                        "{} {} {} {}{err}",
                        self.mark(*outcome),
                        self.p.bold.apply_to(phase.as_str()),
                        self.p.outcome(*outcome),
                        self.p.dim.apply_to(secs(*elapsed_ms))
                    ));
                }
            }
            Event::ConfigFound { path, source } => {
                if !quiet {
                    self.line(format!(
                        "{}",
                        self.p
                            .dim
                            .apply_to(format!("config: {path} ({})", source_text(source)))
                    ));
                }
            }
            Event::Validated {
                config,
                scenario_files,
                scenarios,
                manifest_files,
                objects,
            } => {
                if !quiet {
                    self.line(validated_text(
                        config,
                        *scenario_files,
                        *scenarios,
                        *manifest_files,
                        *objects,
                    ));
                }
            }
            Event::CommandFinished {
                command,
                outcome,
                exit_code,
                elapsed_ms,
                phases,
                ..
            } => {
                let bars: Vec<ProgressBar> = self
                    .tasks
                    .drain()
                    .map(|(_, t)| t.bar)
                    .chain(self.phases.drain().map(|(_, b)| b))
                    .collect();
                for bar in &bars {
                    self.clear(bar);
                }
                if is_usage_error(*exit_code, phases) {
                    return;
                }
                self.line(render_summary(
                    command,
                    *outcome,
                    *elapsed_ms,
                    phases,
                    &self.p,
                ));
            }
        }
    }
}

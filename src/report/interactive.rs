//! Interactive terminal: one live spinner per running phase and task; finished ones become lines.

use super::style::{secs, Palette, Verbosity};
use super::summary::render_summary;
use crate::events::{Event, Outcome, Phase, Reporter, Stamped};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;

pub struct InteractiveReporter {
    mp: MultiProgress,
    verbosity: Verbosity,
    p: Palette,
    phases: HashMap<Phase, ProgressBar>,
    tasks: HashMap<(Phase, String), ProgressBar>,
    tick: bool,
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

    fn spinner(&self, prefix: String, indent: bool) -> ProgressBar {
        let template = if indent {
            "  {spinner} {prefix} {wide_msg} {elapsed:>4}"
        } else {
            "{spinner} {prefix} {wide_msg} {elapsed:>4}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        let bar = ProgressBar::new_spinner()
            .with_style(style)
            .with_prefix(prefix);
        if self.tick {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        bar
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
                let bar = self.mp.add(self.spinner(phase.as_str().to_owned(), false));
                bar.tick();
                self.phases.insert(*phase, bar);
            }
            Event::TaskStarted { phase, task } => {
                let bar = self.spinner(task.clone(), true);
                let bar = match self.phases.get(phase) {
                    Some(parent) => self.mp.insert_after(parent, bar),
                    None => self.mp.add(bar),
                };
                bar.tick();
                self.tasks.insert((*phase, task.clone()), bar);
            }
            Event::TaskProgress {
                phase,
                task,
                message,
            } => {
                if let Some(bar) = self.tasks.get(&(*phase, task.clone())) {
                    bar.set_message(message.clone());
                }
            }
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
                if let Some(bar) = self.tasks.remove(&(*phase, task.clone())) {
                    bar.finish_and_clear();
                    self.mp.remove(&bar);
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
                if let Some(bar) = self.tasks.get(&(*phase, task.clone())) {
                    bar.set_message(format!("{pod} {status}"));
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
                    bar.finish_and_clear();
                    self.mp.remove(&bar);
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
            Event::CommandFinished {
                command,
                outcome,
                elapsed_ms,
                phases,
                ..
            } => {
                for bar in self
                    .tasks
                    .drain()
                    .map(|(_, b)| b)
                    .chain(self.phases.drain().map(|(_, b)| b))
                {
                    bar.finish_and_clear();
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

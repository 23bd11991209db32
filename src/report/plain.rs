//! Plain lines for CI logs and pipes: one line per event, prefixed with the time since start.

use super::style::{secs, Palette, Verbosity};
use super::summary::render_summary;
use crate::events::{Event, Outcome, Reporter, Stamped};
use std::io::Write;

pub struct PlainReporter {
    out: Box<dyn Write + Send>,
    verbosity: Verbosity,
    p: Palette,
}

impl PlainReporter {
    pub fn new(out: Box<dyn Write + Send>, verbosity: Verbosity, p: Palette) -> Self {
        Self { out, verbosity, p }
    }

    /// The line for an event, or `None` when this verbosity hides it.
    pub fn line(&self, ev: &Stamped) -> Option<String> {
        let v = self.verbosity;
        let p = &self.p;
        let body =
            match &ev.event {
                Event::CommandStarted {
                    command,
                    environment,
                    config,
                } => (v > Verbosity::Quiet)
                    .then(|| format!("kubetest {command}: environment `{environment}` ({config})")),
                Event::PhaseStarted { phase } => {
                    (v > Verbosity::Quiet).then(|| format!("{}: started", phase.as_str()))
                }
                Event::TaskStarted { phase, task } => {
                    (v > Verbosity::Quiet).then(|| format!("{}: {task}: started", phase.as_str()))
                }
                Event::TaskProgress {
                    phase,
                    task,
                    message,
                } => (v >= Verbosity::Verbose)
                    .then(|| format!("{}: {task}: {message}", phase.as_str())),
                Event::TaskLog { phase, task, line } => (v >= Verbosity::Verbose)
                    .then(|| format!("{}: {task} | {line}", phase.as_str())),
                Event::TaskFinished {
                    phase,
                    task,
                    outcome,
                    elapsed_ms,
                    detail,
                } => (v > Verbosity::Quiet || outcome.is_failure()).then(|| {
                    let mut s = format!(
                        "{}: {task}: {} in {}",
                        phase.as_str(),
                        p.outcome(*outcome),
                        secs(*elapsed_ms)
                    );
                    if let Some(d) = detail {
                        s.push_str(&format!(" ({d})"));
                    }
                    s
                }),
                Event::StepFinished {
                    scenario,
                    index,
                    step,
                    outcome,
                    attempts,
                    elapsed_ms,
                    message,
                } => (v >= Verbosity::Verbose || outcome.is_failure()).then(|| {
                    let mut s = format!(
                        "scenarios: {scenario}: step {} `{step}`: {} in {}",
                        index + 1,
                        p.outcome(*outcome),
                        secs(*elapsed_ms)
                    );
                    if *attempts > 1 {
                        s.push_str(&format!(" ({attempts} attempts)"));
                    }
                    if let Some(m) = message {
                        for l in m.lines() {
                            s.push_str(&format!("\n    {l}"));
                        }
                    }
                    s
                }),
                Event::PodStatus {
                    phase,
                    task,
                    pod,
                    status,
                    ..
                } => (v > Verbosity::Quiet)
                    .then(|| format!("{}: {task}: pod {pod} {status}", phase.as_str())),
                Event::Note { phase, message } => (v > Verbosity::Quiet).then(|| match phase {
                    Some(ph) => format!("{}: {message}", ph.as_str()),
                    None => message.clone(),
                }),
                Event::Warning { phase, message } => Some(format!(
                    "{} {}{message}",
                    p.warn.apply_to("warning:"),
                    phase
                        .map(|ph| format!("{}: ", ph.as_str()))
                        .unwrap_or_default()
                )),
                Event::PhaseFinished {
                    phase,
                    outcome,
                    elapsed_ms,
                    error,
                } => (v > Verbosity::Quiet || *outcome == Outcome::Failed).then(|| {
                    let mut s = format!(
                        "{}: {} in {}",
                        phase.as_str(),
                        p.outcome(*outcome),
                        secs(*elapsed_ms)
                    );
                    if let Some(e) = error {
                        s.push_str(&format!(": {}", first_line(e)));
                    }
                    s
                }),
                Event::CommandFinished {
                    command,
                    outcome,
                    elapsed_ms,
                    phases,
                    ..
                } => {
                    return Some(render_summary(command, *outcome, *elapsed_ms, phases, p));
                }
            }?;
        Some(format!(
            "{} {body}",
            p.dim.apply_to(format!("[{:>8}]", secs(ev.at_ms)))
        ))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

impl Reporter for PlainReporter {
    fn handle(&mut self, ev: &Stamped) {
        if let Some(line) = self.line(ev) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

//! Plain lines for CI logs and pipes: one line per event, prefixed with the time since start.

use super::style::{scenario_totals, secs, wait_counts, Palette, Verbosity};
use super::summary::{is_usage_error, render_summary, source_text, validated_text};
use crate::events::{Event, Outcome, Reporter, Stamped};
use std::collections::HashMap;
use std::io::Write;

pub struct PlainReporter {
    out: Box<dyn Write + Send>,
    verbosity: Verbosity,
    p: Palette,
    /// The last (ready, want) printed per wait: a log gets a line when the count changes.
    counts: HashMap<String, (u32, u32)>,
    /// The last progress message per task: a log line saying the same (a build step is both
    /// the task's progress and a line of its log) is not printed twice.
    progress: HashMap<String, String>,
}

impl PlainReporter {
    pub fn new(out: Box<dyn Write + Send>, verbosity: Verbosity, p: Palette) -> Self {
        Self {
            out,
            verbosity,
            p,
            counts: HashMap::new(),
            progress: HashMap::new(),
        }
    }

    /// Whether the event repeats what the log already says (a wait count that did not change).
    fn repeats(&mut self, ev: &Stamped) -> bool {
        match &ev.event {
            Event::WaitStatus {
                task, ready, want, ..
            } => self.counts.insert(task.clone(), (*ready, *want)) == Some((*ready, *want)),
            Event::TaskProgress {
                phase,
                task,
                message,
            } => {
                let key = format!("{}/{task}", phase.as_str());
                self.progress.insert(key, message.clone());
                false
            }
            Event::TaskLog { phase, task, line } => {
                let key = format!("{}/{task}", phase.as_str());
                self.progress.remove(&key).is_some_and(|m| &m == line)
            }
            _ => false,
        }
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
                // Timeline marks for `kubetest report`; progress lines already say it.
                Event::TaskMilestone { .. } => None,
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
                Event::WaitStatus {
                    phase,
                    task,
                    ready,
                    want,
                    left_ms,
                    ..
                } => (v > Verbosity::Quiet).then(|| {
                    format!(
                        "{}: {task}: {}",
                        phase.as_str(),
                        wait_counts(*ready, *want, *left_ms)
                    )
                }),
                Event::StepRetrying {
                    scenario,
                    index,
                    step,
                    attempt,
                    reason,
                    next_in_ms,
                } => (v >= Verbosity::Verbose).then(|| {
                    format!(
                        "scenarios: {scenario}: step {} `{step}`: attempt {attempt} failed: {reason}; next in {}",
                        index + 1,
                        secs(*next_in_ms)
                    )
                }),
                Event::BundleSaved {
                    phase, task, path, ..
                } => Some(format!(
                    "{}: {task}: failure bundle in {path}",
                    phase.as_str()
                )),
                Event::Collected {
                    source,
                    path,
                    to,
                    files,
                    bytes,
                    error,
                    ..
                } => Some(match error {
                    None => format!(
                        "collect: {source}: {path} → {to} ({files} file(s), {})",
                        crate::sizes::bytes(*bytes)
                    ),
                    Some(e) => format!("collect: {source}: {path}: {e}"),
                }),
                Event::ScenariosFinished {
                    total,
                    passed,
                    failed,
                    flaky,
                    skipped,
                } => (v > Verbosity::Quiet).then(|| {
                    format!(
                        "scenarios: {}",
                        scenario_totals(*total, *passed, *failed, *flaky, *skipped)
                    )
                }),
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
                    exit_code,
                    elapsed_ms,
                    phases,
                    ..
                } => {
                    if is_usage_error(*exit_code, phases) {
                        return None;
                    }
                    return Some(render_summary(command, *outcome, *elapsed_ms, phases, p));
                }
                Event::ConfigFound { path, source } => {
                    (v > Verbosity::Quiet).then(|| format!("config: {path} ({})", source_text(source)))
                }
                Event::Validated {
                    config,
                    scenario_files,
                    scenarios,
                    manifest_files,
                    objects,
                } => (v > Verbosity::Quiet).then(|| {
                    validated_text(config, *scenario_files, *scenarios, *manifest_files, *objects)
                }),
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
        if self.repeats(ev) {
            return;
        }
        if let Some(line) = self.line(ev) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Phase;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn feed(v: Verbosity, events: Vec<Event>) -> String {
        let buf = Buf::default();
        let mut r = PlainReporter::new(Box::new(buf.clone()), v, Palette::new(false));
        for event in events {
            r.handle(&Stamped {
                ts_ms: 0,
                at_ms: 0,
                event,
            });
        }
        let out = buf.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_build_step_is_printed_once_with_verbose() {
        let (phase, task) = (Phase::Build, "localhost/app:dev".to_owned());
        let step = "STEP 1/2: FROM scratch".to_owned();
        let out = feed(
            Verbosity::Verbose,
            vec![
                Event::TaskProgress {
                    phase,
                    task: task.clone(),
                    message: step.clone(),
                },
                Event::TaskLog {
                    phase,
                    task: task.clone(),
                    line: step.clone(),
                },
                Event::TaskLog {
                    phase,
                    task: task.clone(),
                    line: "COMMIT".into(),
                },
                Event::TaskLog {
                    phase,
                    task,
                    line: step.clone(),
                },
            ],
        );
        // The progress line, COMMIT, and the step again when it is only a log line.
        assert_eq!(out.matches("STEP 1/2").count(), 2, "{out}");
        assert!(out.contains("COMMIT"), "{out}");
    }

    #[test]
    fn a_usage_error_prints_no_summary() {
        let finished = |exit_code| Event::CommandFinished {
            command: "run".into(),
            outcome: Outcome::Failed,
            exit_code,
            elapsed_ms: 0,
            phases: vec![],
            scenarios: None,
            bundles: vec![],
            error: Some("no scenario named `x`".into()),
        };
        assert_eq!(feed(Verbosity::Normal, vec![finished(2)]), "");
        assert!(feed(Verbosity::Normal, vec![finished(3)]).contains("total"));
    }

    #[test]
    fn the_config_file_is_named_unless_quiet() {
        let found = || Event::ConfigFound {
            path: "../kubetest.yaml".into(),
            source: "search".into(),
        };
        let out = feed(Verbosity::Normal, vec![found()]);
        assert!(
            out.contains("config: ../kubetest.yaml (found in this directory or a parent)"),
            "{out}"
        );
        assert_eq!(feed(Verbosity::Quiet, vec![found()]), "");
    }
}

//! The event enum: the only contract between phases and reporters.
//!
//! Phases never print. They call [`Events::emit`]; the reporter chosen by the command decides
//! how an event looks (progress bars, plain lines, JSON lines).

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A step of a command; `up` runs them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Preflight,
    Build,
    Cluster,
    Load,
    Deps,
    /// Dependencies made reachable from the cluster by name (kind nodes attached, Services).
    Connect,
    Deploy,
    Ready,
    Setup,
    Scenarios,
    Teardown,
    Checks,
    /// `collect:`: files copied out of dependencies, pods and nodes (after `run`, on `down`).
    Collect,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Build => "build",
            Phase::Cluster => "cluster",
            Phase::Load => "load",
            Phase::Deps => "deps",
            Phase::Connect => "connect",
            Phase::Deploy => "deploy",
            Phase::Ready => "ready",
            Phase::Setup => "setup",
            Phase::Scenarios => "scenarios",
            Phase::Teardown => "teardown",
            Phase::Checks => "checks",
            Phase::Collect => "collect",
        }
    }
}

/// How a phase, a task or a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Did its work.
    Ok,
    /// Nothing to do: its inputs did not change (an image build skipped).
    Cached,
    /// An existing thing was kept (a healthy cluster or dependency).
    Reused,
    /// Not needed by this config.
    Skipped,
    /// A scenario that failed and then passed on a retry.
    Flaky,
    Failed,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cached => "cached",
            Outcome::Reused => "reused",
            Outcome::Skipped => "skipped",
            Outcome::Flaky => "flaky",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Cancelled)
    }
}

/// A point inside a task worth a mark on a timeline (`kubetest report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// A dependency's container started (the engine answered the start call).
    ContainerStarted,
    /// A dependency's health checks began.
    HealthWait,
    /// A dependency's health check passed.
    Healthy,
}

impl Milestone {
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::ContainerStarted => "container_started",
            Milestone::HealthWait => "health_wait",
            Milestone::Healthy => "healthy",
        }
    }
}

/// One line of the end-of-command summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub phase: Phase,
    pub outcome: Outcome,
    pub elapsed_ms: u64,
}

/// How the scenarios of a `run` ended (the selected ones, after retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioCounts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    /// Failed, then passed on a retry.
    pub flaky: usize,
    /// Not run (`--fail-fast` stopped the run first).
    pub skipped: usize,
}

/// A failure bundle: what a failed (or flaky) scenario or wait left for a person to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    pub phase: Phase,
    /// The scenario, or the `deploy.wait` entry (`namespace/target`).
    pub task: String,
    pub outcome: Outcome,
    /// Where it was written (a directory or a file).
    pub path: String,
}

/// Something that happened. Field names are stable: they are the JSON output, documented
/// in `docs/events.schema.json` (a test checks every variant against it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    CommandStarted {
        command: String,
        environment: String,
        config: String,
    },
    PhaseStarted {
        phase: Phase,
    },
    /// A unit of concurrent work inside a phase: one image build, one dependency, one pod.
    TaskStarted {
        phase: Phase,
        task: String,
    },
    /// The task's current step (shown on its progress line).
    TaskProgress {
        phase: Phase,
        task: String,
        message: String,
    },
    /// A point inside a task (a dependency's container started, its health wait began, it
    /// became healthy): marks on the `kubetest report` timeline, not shown by the terminal.
    TaskMilestone {
        phase: Phase,
        task: String,
        milestone: Milestone,
    },
    /// A line of the task's log (shown with `-v`).
    TaskLog {
        phase: Phase,
        task: String,
        line: String,
    },
    TaskFinished {
        phase: Phase,
        task: String,
        outcome: Outcome,
        elapsed_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A watched pod's status changed (`ready` phase): one line per transition.
    PodStatus {
        phase: Phase,
        task: String,
        /// `namespace/name`.
        pod: String,
        status: String,
        ready: bool,
        /// When the pod just became ready: milliseconds from its Ready condition's
        /// `lastTransitionTime` (which the API server records to the second) to this event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ready_latency_ms: Option<u64>,
    },
    /// A `deploy.wait` entry's count, sent on every pod change the watch delivers.
    WaitStatus {
        phase: Phase,
        task: String,
        /// Matching pods that are ready (not terminating, not of an older build).
        ready: u32,
        /// Pods wanted: the matching live pods, at least the entry's `min`.
        want: u32,
        /// Matching pods, terminating ones included.
        pods: u32,
        /// Time left before the wait's timeout, when this was sent.
        left_ms: u64,
    },
    /// A fact worth a line of its own (which engine answered, where the kubeconfig is).
    Note {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        message: String,
    },
    Warning {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        message: String,
    },
    /// An attempt of an `eventually` step failed; another follows after `next_in_ms`.
    StepRetrying {
        scenario: String,
        /// 0-based position in the scenario, as in `step_finished`.
        index: usize,
        step: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Why it failed (the first line of the step's message).
        reason: String,
        next_in_ms: u64,
    },
    /// One step of a scenario ended (after all its `eventually` attempts).
    StepFinished {
        scenario: String,
        /// 0-based position in the scenario (cleanup steps continue the count).
        index: usize,
        step: String,
        outcome: Outcome,
        attempts: u32,
        elapsed_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A failure bundle was written (a failed scenario, a failed `deploy.wait`).
    BundleSaved {
        phase: Phase,
        task: String,
        outcome: Outcome,
        path: String,
    },
    /// `run`: how the selected scenarios ended.
    ScenariosFinished {
        total: usize,
        passed: usize,
        failed: usize,
        flaky: usize,
        skipped: usize,
    },
    PhaseFinished {
        phase: Phase,
        outcome: Outcome,
        elapsed_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    CommandFinished {
        command: String,
        outcome: Outcome,
        exit_code: i32,
        elapsed_ms: u64,
        phases: Vec<PhaseSummary>,
        /// `run`: the scenario counts (as in `scenarios_finished`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scenarios: Option<ScenarioCounts>,
        /// Every failure bundle this command wrote (as in `bundle_saved`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bundles: Vec<BundleRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Which config file this command reads, and how it was chosen.
    ConfigFound {
        path: String,
        /// `--file`, `KUBETEST_FILE`, `search` (this or a parent directory) or `default`.
        source: String,
    },
    /// `validate`: everything checked and found valid.
    Validated {
        config: String,
        scenario_files: usize,
        scenarios: usize,
        manifest_files: usize,
        objects: usize,
    },
    /// A `collect:` entry copied one source's path (or failed to: `error` says why).
    Collected {
        /// `dependency postgres`, `pod demo/app-5d9c-x2x`, `node demo-control-plane`.
        source: String,
        /// The file or directory inside the source.
        path: String,
        /// The directory it was unpacked into.
        to: String,
        outcome: Outcome,
        /// Regular files written.
        files: u64,
        /// Their total size.
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// An event with the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Milliseconds since the command started.
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// Renders events. Implementations match every event kind (no catch-all arm) so a new event
/// makes each output decide what to do with it.
pub trait Reporter: Send {
    fn handle(&mut self, ev: &Stamped);
}

/// Cheap to clone; every phase and task gets one.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    start_unix_ms: u64,
    reporter: Mutex<Box<dyn Reporter>>,
    phases: Mutex<Vec<PhaseSummary>>,
    results: Mutex<Results>,
}

/// What the end-of-command event repeats from earlier events.
#[derive(Default)]
struct Results {
    scenarios: Option<ScenarioCounts>,
    bundles: Vec<BundleRef>,
}

impl Events {
    pub fn new(reporter: Box<dyn Reporter>) -> Self {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            inner: Arc::new(Inner {
                start: Instant::now(),
                start_unix_ms,
                reporter: Mutex::new(reporter),
                phases: Mutex::new(Vec::new()),
                results: Mutex::new(Results::default()),
            }),
        }
    }

    /// When the command started, in milliseconds since the Unix epoch.
    pub fn start_unix_ms(&self) -> u64 {
        self.inner.start_unix_ms
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.inner.start.elapsed().as_millis() as u64
    }

    pub fn emit(&self, event: Event) {
        let event = crate::secrets::mask_event(event);
        if let Event::PhaseFinished {
            phase,
            outcome,
            elapsed_ms,
            ..
        } = &event
        {
            self.inner
                .phases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(PhaseSummary {
                    phase: *phase,
                    outcome: *outcome,
                    elapsed_ms: *elapsed_ms,
                });
        }
        match &event {
            Event::ScenariosFinished {
                total,
                passed,
                failed,
                flaky,
                skipped,
            } => {
                self.results().scenarios = Some(ScenarioCounts {
                    total: *total,
                    passed: *passed,
                    failed: *failed,
                    flaky: *flaky,
                    skipped: *skipped,
                });
            }
            Event::BundleSaved {
                phase,
                task,
                outcome,
                path,
            } => self.results().bundles.push(BundleRef {
                phase: *phase,
                task: task.clone(),
                outcome: *outcome,
                path: path.clone(),
            }),
            _ => {}
        }
        let at_ms = self.elapsed_ms();
        let stamped = Stamped {
            ts_ms: self.inner.start_unix_ms + at_ms,
            at_ms,
            event,
        };
        self.inner
            .reporter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .handle(&stamped);
    }

    pub fn note(&self, phase: Option<Phase>, message: impl Into<String>) {
        self.emit(Event::Note {
            phase,
            message: message.into(),
        });
    }

    pub fn warn(&self, phase: Option<Phase>, message: impl Into<String>) {
        self.emit(Event::Warning {
            phase,
            message: message.into(),
        });
    }

    fn results(&self) -> std::sync::MutexGuard<'_, Results> {
        self.inner
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The scenario counts a `scenarios_finished` event carried, for the end of the command.
    pub fn scenario_counts(&self) -> Option<ScenarioCounts> {
        self.results().scenarios
    }

    /// The bundles `bundle_saved` events named so far, for the end of the command.
    pub fn bundles(&self) -> Vec<BundleRef> {
        self.results().bundles.clone()
    }

    /// The phases finished so far, for the command summary.
    pub fn phase_summaries(&self) -> Vec<PhaseSummary> {
        self.inner
            .phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Scoped emitter for one task of a phase.
    pub fn task(&self, phase: Phase, task: impl Into<String>) -> TaskEvents {
        let task = task.into();
        self.emit(Event::TaskStarted {
            phase,
            task: task.clone(),
        });
        TaskEvents {
            events: self.clone(),
            phase,
            task,
            start: Instant::now(),
        }
    }
}

/// Emits the events of one task; created by [`Events::task`].
pub struct TaskEvents {
    events: Events,
    phase: Phase,
    task: String,
    start: Instant,
}

impl TaskEvents {
    pub fn progress(&self, message: impl Into<String>) {
        self.events.emit(Event::TaskProgress {
            phase: self.phase,
            task: self.task.clone(),
            message: message.into(),
        });
    }

    pub fn log(&self, line: impl Into<String>) {
        self.events.emit(Event::TaskLog {
            phase: self.phase,
            task: self.task.clone(),
            line: line.into(),
        });
    }

    /// A point inside this task was reached (see [`Milestone`]).
    pub fn milestone(&self, milestone: Milestone) {
        self.events.emit(Event::TaskMilestone {
            phase: self.phase,
            task: self.task.clone(),
            milestone,
        });
    }

    /// A watched pod of this task changed status.
    pub fn pod_status(
        &self,
        pod: impl Into<String>,
        status: impl Into<String>,
        ready: bool,
        ready_latency_ms: Option<u64>,
    ) {
        self.events.emit(Event::PodStatus {
            phase: self.phase,
            task: self.task.clone(),
            pod: pod.into(),
            status: status.into(),
            ready,
            ready_latency_ms,
        });
    }

    /// A `deploy.wait` entry's count changed (or a pod of it did).
    pub fn wait_status(&self, ready: u32, want: u32, pods: u32, left_ms: u64) {
        self.events.emit(Event::WaitStatus {
            phase: self.phase,
            task: self.task.clone(),
            ready,
            want,
            pods,
            left_ms,
        });
    }

    /// A failure bundle of this task was written.
    pub fn bundle_saved(&self, outcome: Outcome, path: &std::path::Path) {
        self.events.emit(Event::BundleSaved {
            phase: self.phase,
            task: self.task.clone(),
            outcome,
            path: path.display().to_string(),
        });
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.events.warn(
            Some(self.phase),
            format!("{}: {}", self.task, message.into()),
        );
    }

    pub fn finish(self, outcome: Outcome, detail: Option<String>) {
        self.events.emit(Event::TaskFinished {
            phase: self.phase,
            task: self.task,
            outcome,
            elapsed_ms: self.start.elapsed().as_millis() as u64,
            detail,
        });
    }
}

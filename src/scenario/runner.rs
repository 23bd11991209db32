//! Runs scenarios: steps in order with per-attempt timeouts and `eventually` retries,
//! captures into later steps, cleanup that always runs, retries with flaky detection,
//! bounded parallelism with `serial` scenarios alone, and `--fail-fast`.

use super::cluster::{self, Cluster};
use super::jsonpath;
use super::load::LoadedScenario;
use super::model::{Scenario, Step};
use super::results::{ScenarioResult, StepResult};
use super::steps::{self, StepFailure, StepOutput};
use super::template::{render, Vars};
use crate::events::{Event, Events, Outcome, Phase};
use futures::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Everything steps need from the environment.
#[derive(Clone)]
pub struct RunEnv {
    /// Variables every scenario sees (environment, kubeconfig, dependency ports).
    pub vars: Vars,
    /// Environment variables of host commands (KUBECONFIG, KUBETEST_DEP_…).
    pub env: Vec<(String, String)>,
    pub http: reqwest::Client,
    pub events: Events,
    /// The engine `up` used, when a scenario runs commands in dependency containers.
    pub engine: Option<bollard::Docker>,
    /// Dependency name → its container (from the state).
    pub dependency_containers: std::collections::BTreeMap<String, String>,
    /// The environment's cluster, when the state records one.
    pub cluster: Option<Cluster>,
}

/// Where a scenario's steps run: its file (manifests are relative to it) and namespace.
struct Scope<'a> {
    file: &'a Path,
    namespace: &'a str,
}

/// The namespace a run of a scenario used and, when the run failed, what was in it.
struct NamespaceRun {
    name: String,
    report: Option<crate::k8s::namespace_report::NamespaceReport>,
}

/// Extra time the runner gives steps that watch until their own timeout, so they can say what
/// they saw before the runner's limit cuts them off.
const SELF_TIMED_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub parallel: usize,
    pub fail_fast: bool,
    pub retries: u32,
    /// The phase the scenarios' tasks belong to (`scenarios`, or `setup` for `up`'s setup steps).
    pub phase: Phase,
    /// Which scenario namespaces outlive their scenario (`run --keep-namespaces`).
    pub keep_namespaces: KeepNamespaces,
}

/// Which namespaces kubetest made for scenarios stay after them (for debugging; `down`
/// deletes them with the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepNamespaces {
    #[default]
    Never,
    OnFailure,
    Always,
}

impl KeepNamespaces {
    /// Whether a namespace of a run that ended `ok` (or not) stays.
    pub fn keeps(self, ok: bool) -> bool {
        match self {
            KeepNamespaces::Never => false,
            KeepNamespaces::OnFailure => !ok,
            KeepNamespaces::Always => true,
        }
    }
}

/// Run every scenario; results come back in the order given.
pub async fn run_all(
    scenarios: Vec<LoadedScenario>,
    env: &RunEnv,
    opts: RunOptions,
    cancel: &CancellationToken,
) -> Vec<ScenarioResult> {
    let stop = cancel.child_token();
    let order: Vec<String> = scenarios.iter().map(|s| s.scenario.name.clone()).collect();
    let (serial, parallel): (Vec<_>, Vec<_>) =
        scenarios.into_iter().partition(|s| s.scenario.serial);
    let mut results: Vec<ScenarioResult> = futures::stream::iter(parallel)
        .map(|s| run_one(s, env, opts, &stop))
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    for s in serial {
        results.push(run_one(s, env, opts, &stop).await);
    }
    results.sort_by_key(|r| order.iter().position(|n| *n == r.name));
    results
}

async fn run_one(
    loaded: LoadedScenario,
    env: &RunEnv,
    opts: RunOptions,
    stop: &CancellationToken,
) -> ScenarioResult {
    let s = &loaded.scenario;
    let started = Instant::now();
    let skipped = |steps| ScenarioResult {
        name: s.name.clone(),
        file: loaded.file.clone(),
        line: loaded.line,
        step_lines: loaded.step_lines.clone(),
        tags: s.tags.clone(),
        outcome: Outcome::Skipped,
        runs: 0,
        elapsed_ms: 0,
        steps,
        artifacts: None,
        namespace: None,
        namespace_report: None,
    };
    if stop.is_cancelled() {
        env.events.emit(Event::TaskFinished {
            phase: opts.phase,
            task: s.name.clone(),
            outcome: Outcome::Skipped,
            elapsed_ms: 0,
            detail: Some("not run (--fail-fast)".into()),
        });
        return skipped(Vec::new());
    }
    let task = env.events.task(opts.phase, &s.name);
    let mut runs = 0;
    let mut steps_of_last = Vec::new();
    let mut namespace_of_last = None;
    let mut passed = false;
    while runs <= opts.retries && !stop.is_cancelled() {
        runs += 1;
        if runs > 1 {
            task.progress(format!("retry {} of {}", runs - 1, opts.retries));
        }
        let (ok, steps, ns) = run_steps(s, &loaded.file, env, &task, opts.keep_namespaces).await;
        steps_of_last = steps;
        namespace_of_last = ns;
        if ok {
            passed = true;
            break;
        }
    }
    let outcome = match (passed, runs) {
        (true, 1) => Outcome::Ok,
        (true, _) => Outcome::Flaky,
        (false, _) => Outcome::Failed,
    };
    let detail = match outcome {
        Outcome::Flaky => Some(format!("passed on run {runs} of {}", opts.retries + 1)),
        Outcome::Failed => steps_of_last
            .iter()
            .find(|st| st.outcome == Outcome::Failed)
            .map(|st| format!("failed at {}", st.title)),
        _ => None,
    };
    task.finish(outcome, detail);
    if outcome == Outcome::Failed && opts.fail_fast {
        stop.cancel();
    }
    ScenarioResult {
        name: s.name.clone(),
        file: loaded.file.clone(),
        line: loaded.line,
        step_lines: loaded.step_lines.clone(),
        tags: s.tags.clone(),
        outcome,
        runs,
        elapsed_ms: started.elapsed().as_millis() as u64,
        steps: steps_of_last,
        artifacts: None,
        namespace: namespace_of_last.as_ref().map(|n| n.name.clone()),
        namespace_report: namespace_of_last.and_then(|n| n.report),
    }
}

/// A failure before any step ran (no cluster, namespace not created), reported like a step.
fn setup_failure(s: &Scenario, env: &RunEnv, message: String) -> StepResult {
    env.events.emit(Event::StepFinished {
        scenario: s.name.clone(),
        index: 0,
        step: "set-up".into(),
        outcome: Outcome::Failed,
        attempts: 1,
        elapsed_ms: 0,
        message: Some(message.clone()),
    });
    StepResult {
        index: 0,
        title: "set-up".into(),
        cleanup: false,
        outcome: Outcome::Failed,
        attempts: 1,
        elapsed_ms: 0,
        started_ms: 0,
        message: Some(message),
        observed: None,
    }
}

fn timed_out_result(s: &Scenario) -> StepResult {
    StepResult {
        index: 0,
        title: "scenario timeout".into(),
        cleanup: false,
        outcome: Outcome::Failed,
        attempts: 1,
        elapsed_ms: s.timeout.get().as_millis() as u64,
        started_ms: 0,
        message: Some(format!(
            "the scenario did not finish within its timeout of {}",
            s.timeout
        )),
        observed: None,
    }
}

/// One run of a scenario's steps, then its cleanup, in its namespace (a fresh one when it has
/// cluster steps and names none, deleted afterwards). Returns whether every step held.
async fn run_steps(
    s: &Scenario,
    file: &Path,
    env: &RunEnv,
    task: &crate::events::TaskEvents,
    keep: KeepNamespaces,
) -> (bool, Vec<StepResult>, Option<NamespaceRun>) {
    let started = Instant::now();
    let mut vars = env.vars.clone();
    vars.extend(s.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let needs_cluster = cluster::needs_cluster(s);
    let given = match s.namespace.as_deref().map(|n| render(n, &vars)).transpose() {
        Ok(n) => n,
        Err(e) => {
            return (
                false,
                vec![setup_failure(s, env, format!("namespace: {e}"))],
                None,
            )
        }
    };
    let (namespace, created) = match (needs_cluster, &env.cluster, given) {
        (false, _, given) => (given.unwrap_or_else(|| "default".into()), false),
        (true, None, _) => {
            return (
                false,
                vec![setup_failure(
                    s,
                    env,
                    format!(
                    "scenario `{}` has cluster steps but this environment has no cluster \
                     (none recorded in the state file): set `cluster:` in kubetest.yaml and run `kubetest up`",
                    s.name
                ),
                )],
                None,
            )
        }
        (true, Some(c), Some(given)) => (c.run_namespace(&given), false),
        (true, Some(c), None) => {
            let slug = crate::scenario::slug::slug(&s.name);
            let name = cluster::namespace_name(&slug);
            task.progress(format!("creating namespace {name}"));
            if let Err(e) = cluster::create_namespace(c, &name, &slug).await {
                return (false, vec![setup_failure(s, env, e)], None);
            }
            (name, true)
        }
    };
    vars.insert("namespace".into(), namespace.clone());
    let scope = Scope {
        file,
        namespace: &namespace,
    };
    let mut results = Vec::new();
    let mut report = None;
    let limit = s.timeout.get().saturating_sub(started.elapsed());
    let steps = async {
        for (i, step) in s.steps.iter().enumerate() {
            let title = step.title(i);
            task.progress(title.clone());
            let r = run_step(s, i, &title, step, false, &mut vars, env, &scope, started).await;
            let failed = r.outcome == Outcome::Failed;
            results.push(r);
            if failed {
                return false;
            }
        }
        true
    };
    // The scenario's time limit covers its steps; cleanup runs after a failure and after a
    // timeout alike (each cleanup step within its own timeout), then the namespace goes.
    let ok = match tokio::time::timeout(limit, steps).await {
        Ok(ok) => ok,
        Err(_) => {
            results.push(timed_out_result(s));
            false
        }
    };
    // What the namespace held when the scenario failed, before cleanup changes it.
    if let (Some(c), false, true) = (&env.cluster, ok, needs_cluster) {
        report = Some(cluster::namespace_report(c, &namespace).await);
    }
    for (k, step) in s.cleanup.iter().enumerate() {
        let i = s.steps.len() + k;
        let title = format!("cleanup: {}", step.title(k));
        task.progress(title.clone());
        let r = run_step(s, i, &title, step, true, &mut vars, env, &scope, started).await;
        results.push(r);
    }
    if let (true, Some(c)) = (created, &env.cluster) {
        if keep.keeps(ok) {
            env.events.note(
                Some(Phase::Scenarios),
                format!(
                    "{}: kept namespace {namespace} (`kubetest down` deletes it)",
                    s.name
                ),
            );
        } else if let Err(e) = cluster::delete_namespace(c, &namespace).await {
            task.warn(e);
        }
    }
    let ns = needs_cluster.then(|| NamespaceRun {
        name: namespace.clone(),
        report,
    });
    (ok, results, ns)
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    s: &Scenario,
    index: usize,
    title: &str,
    step: &Step,
    cleanup: bool,
    vars: &mut Vars,
    env: &RunEnv,
    scope: &Scope<'_>,
    scenario_start: Instant,
) -> StepResult {
    let started_ms = scenario_start.elapsed().as_millis() as u64;
    let t = Instant::now();
    let deadline = step.eventually.map(|d| {
        t.checked_add(d.get())
            .unwrap_or_else(|| crate::deadline::std_after(d.get()))
    });
    let mut attempts = 0;
    let limit = if times_itself(step) {
        step.timeout.get().saturating_add(SELF_TIMED_GRACE)
    } else {
        step.timeout.get()
    };
    let result = loop {
        attempts += 1;
        let r = match tokio::time::timeout(limit, attempt(step, vars, env, scope)).await {
            Ok(r) => r,
            Err(_) => Err(StepFailure::new(format!(
                "did not finish within the step timeout of {}",
                step.timeout
            ))),
        };
        let r = r.and_then(|out| capture(step, &out).map(|c| (out, c)));
        match (r, deadline) {
            (Ok(ok), _) => break Ok(ok),
            (Err(f), Some(d)) if crate::deadline::std_after(step.interval.get()) < d => {
                env.events.emit(Event::StepRetrying {
                    scenario: s.name.clone(),
                    index,
                    step: title.to_owned(),
                    attempt: attempts,
                    reason: f.message.lines().next().unwrap_or_default().to_owned(),
                    next_in_ms: step.interval.get().as_millis() as u64,
                });
                tokio::time::sleep(step.interval.get()).await;
            }
            (Err(f), _) => break Err(f),
        }
    };
    let elapsed_ms = t.elapsed().as_millis() as u64;
    let (outcome, message, observed) = match result {
        Ok((_, captured)) => {
            vars.extend(captured);
            (Outcome::Ok, None, None)
        }
        Err(f) => {
            let mut m = f.render();
            if step.eventually.is_some() {
                m = format!(
                    "still failing after {attempts} attempts over {}: {m}",
                    crate::report::secs(elapsed_ms)
                );
            }
            (Outcome::Failed, Some(m), f.observed)
        }
    };
    env.events.emit(Event::StepFinished {
        scenario: s.name.clone(),
        index,
        step: title.to_owned(),
        outcome,
        attempts,
        elapsed_ms,
        message: message.clone(),
    });
    StepResult {
        index,
        title: title.to_owned(),
        cleanup,
        outcome,
        attempts,
        elapsed_ms,
        started_ms,
        message,
        observed,
    }
}

/// Steps that watch until their own timeout and then say what they saw.
fn times_itself(step: &Step) -> bool {
    step.wait.is_some() || step.delete.as_ref().is_some_and(|d| d.wait)
}

async fn attempt(
    step: &Step,
    vars: &Vars,
    env: &RunEnv,
    scope: &Scope<'_>,
) -> Result<StepOutput, StepFailure> {
    if let Some(h) = &step.http {
        let forward = match (&h.forward, &env.cluster) {
            (None, _) => None,
            (Some(_), Some(c)) => Some((c, scope.namespace)),
            (Some(_), None) => {
                return Err(StepFailure::new(
                    "http.forward needs the cluster, and this environment has none (none recorded in the state file)",
                ))
            }
        };
        return steps::run_http(&env.http, h, vars, step.timeout.get(), forward).await;
    }
    if let Some(r) = &step.run {
        return steps::run_host(r, vars, &env.env, step.timeout.get()).await;
    }
    if let Some(t) = &step.tcp {
        return steps::run_tcp(t, vars).await;
    }
    if let Some(e) = &step.exec {
        if let Some(dep) = &e.dependency {
            let container = env.dependency_containers.get(dep).ok_or_else(|| {
                StepFailure::new(format!(
                    "dependency `{dep}` has no container recorded by `kubetest up`"
                ))
            })?;
            let docker = env
                .engine
                .as_ref()
                .ok_or_else(|| StepFailure::new("no container engine is connected for this run"))?;
            return steps::run_exec_dependency(docker, container, e, vars).await;
        }
    }
    if let Some(d) = &step.sleep {
        // The timer wheel has millisecond ticks: a zero sleep would still wait for the next one.
        if d.get().is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(d.get()).await;
        }
        return Ok(StepOutput {
            summary: format!("slept {d}"),
            ..StepOutput::default()
        });
    }
    if cluster::is_cluster_step(step) {
        let Some(c) = &env.cluster else {
            return Err(StepFailure::new(
                "this environment has no cluster (none recorded in the state file)",
            ));
        };
        let (ns, t) = (scope.namespace, step.timeout.get());
        let events = env.events.clone();
        let report = move |m: String| events.warn(Some(Phase::Scenarios), m);
        if let Some(a) = &step.apply {
            return steps::run_apply(c, a, scope.file, ns, vars).await;
        }
        if let Some(d) = &step.delete {
            return steps::run_delete(c, d, ns, vars, t, &report).await;
        }
        if let Some(w) = &step.wait {
            return steps::run_wait(c, w, ns, vars, t, &report).await;
        }
        if let Some(a) = &step.assert {
            return steps::run_assert(c, a, ns, vars).await;
        }
        if let Some(e) = &step.error {
            return steps::run_error(c, e, ns, vars).await;
        }
        if let Some(e) = &step.exec {
            return steps::run_exec(c, e, ns, vars).await;
        }
    }
    Err(StepFailure::new(format!(
        "`{}` steps are not supported by this version of kubetest yet",
        step.actions().join(", ")
    )))
}

fn capture(step: &Step, out: &StepOutput) -> Result<Vars, StepFailure> {
    let mut vars = Vars::new();
    for (name, path) in &step.capture {
        match jsonpath::lookup(&out.value, path) {
            Ok(Some(v)) => {
                vars.insert(name.clone(), jsonpath::as_text(v));
            }
            Ok(None) => {
                return Err(StepFailure::new(format!(
                    "capture `{name}`: nothing at {path} in the step's result"
                )))
            }
            Err(e) => return Err(StepFailure::new(format!("capture `{name}`: {e}"))),
        }
    }
    Ok(vars)
}

//! `kubetest run`: run the scenarios against the environment recorded by `up`.

use crate::cli::RunArgs;
use crate::config::{ConfigError, LoadedConfig};
use crate::events::{Outcome, Phase};
use crate::exit::Stop;
use crate::k8s::client::{connect, ClusterAccess};
use crate::phases::{run_phase, PhaseOutput};
use crate::plan::Plan;
use crate::report::{render_annotations, render_junit};
use crate::scenario::cluster::{needs_cluster, Cluster};
use crate::scenario::load::{load_dir, Known, LoadedScenario};
use crate::scenario::results::{totals, ScenarioResult};
use crate::scenario::runner::{run_all, RunEnv, RunOptions};
use crate::scenario::shard::{select, Shard};
use crate::scenario::{artifacts, vars};
use crate::state::StateStore;
use crate::Session;
use anyhow::{bail, Context};
use std::fmt;
use std::io::Write;
use std::time::Instant;

/// Scenario files with problems; each names file, line and column (exit code 2).
#[derive(Debug, thiserror::Error)]
pub struct InvalidScenarios(pub Vec<ConfigError>);

impl fmt::Display for InvalidScenarios {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&texts.join("\n"))
    }
}

struct Ran(Vec<ScenarioResult>);

impl PhaseOutput for Ran {
    fn outcome(&self) -> Outcome {
        let t = totals(&self.0);
        if t.failed > 0 {
            Outcome::Failed
        } else {
            Outcome::Ok
        }
    }
}

pub async fn run(session: &Session, loaded: &LoadedConfig, args: &RunArgs) -> anyhow::Result<()> {
    let plan = Plan::from_config(loaded);
    let Some(state) = StateStore::new(&plan.state_dir).load()? else {
        bail!(
            "no environment `{}` is up (no state file in {}); run `kubetest up` first",
            plan.environment,
            plan.state_dir.display()
        );
    };
    let Some(dir) = &plan.scenarios_dir else {
        return Err(
            Stop::Usage("no `scenarios:` directory in the config; nothing to run".into()).into(),
        );
    };
    let known = Known {
        dependencies: plan
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    d.spec.ports.iter().map(|p| p.container).collect(),
                )
            })
            .collect(),
    };
    let all = load_dir(dir, &known).map_err(InvalidScenarios)?;
    let selected = choose(all, args)?;

    let (vars, env) = vars::from_state(&state);
    let cluster = if state.cluster.is_some() && selected.iter().any(|s| needs_cluster(&s.scenario))
    {
        let access = ClusterAccess::from_state_or_plan(&state, &plan.cluster);
        Some(Cluster::new(connect(&access).await?, &plan.environment))
    } else {
        None
    };
    let run_env = RunEnv {
        cluster,
        vars,
        env,
        http: reqwest::Client::builder()
            .build()
            .context("cannot set up the HTTP client")?,
        events: session.events.clone(),
        engine: dependency_engine(&selected, &state).await?,
        dependency_containers: state
            .containers
            .iter()
            .map(|c| (c.dependency.clone(), c.name.clone()))
            .collect(),
    };
    let opts = RunOptions {
        parallel: args.parallel.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        fail_fast: args.fail_fast,
        retries: args.retries,
    };
    let ctx = crate::phases::PhaseCtx {
        plan: std::sync::Arc::new(plan.clone()),
        events: session.events.clone(),
        state: crate::state::Recorder::new(StateStore::new(&plan.state_dir), state),
        cancel: session.cancel.clone(),
    };
    let started = Instant::now();
    let count = selected.len();
    let Ran(mut results) = run_phase(&ctx, Phase::Scenarios, async {
        Ok(Ran(run_all(selected, &run_env, opts, &session.cancel).await))
    })
    .await?;

    let run_dir = plan
        .artifacts_dir
        .join(format!("run-{}", session.events.start_unix_ms()));
    for r in results
        .iter_mut()
        .filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::Flaky))
    {
        r.artifacts =
            Some(artifacts::write_bundle(&run_dir, r, &plan, &ctx.state.snapshot()).await?);
    }
    if let Some(path) = &args.junit {
        let xml = render_junit(&plan.environment, &results, started.elapsed())?;
        std::fs::write(path, xml)
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let mut out = std::io::stdout().lock();
        out.write_all(render_annotations(&results).as_bytes())
            .context("cannot write annotations")?;
    }
    let t = totals(&results);
    session.events.note(
        Some(Phase::Scenarios),
        format!(
            "{count} scenarios: {} passed, {} failed, {} flaky, {} not run",
            t.passed, t.failed, t.flaky, t.skipped
        ),
    );
    for r in results.iter().filter(|r| r.artifacts.is_some()) {
        if let Some(a) = &r.artifacts {
            session.events.note(
                Some(Phase::Scenarios),
                format!("{}: failure bundle in {}", r.name, a.display()),
            );
        }
    }
    if t.failed > 0 || t.skipped > 0 {
        return Err(Stop::ScenariosFailed {
            failed: t.failed + t.skipped,
            total: count,
        }
        .into());
    }
    Ok(())
}

/// The engine `up` recorded, connected only when a selected scenario execs in a dependency.
async fn dependency_engine(
    selected: &[LoadedScenario],
    state: &crate::state::State,
) -> anyhow::Result<Option<bollard::Docker>> {
    let wanted = selected
        .iter()
        .flat_map(|s| s.scenario.steps.iter().chain(&s.scenario.cleanup))
        .any(|st| st.exec.as_ref().is_some_and(|e| e.dependency.is_some()));
    if !wanted {
        return Ok(None);
    }
    let Some(rec) = &state.engine else {
        bail!("scenarios exec in dependency containers, but `kubetest up` recorded no engine (no dependencies were started)");
    };
    let ep = crate::engine::Endpoint {
        url: rec.endpoint.clone(),
        source: "recorded by `kubetest up`".into(),
    };
    let engine = crate::engine::connect_endpoint(&ep, Some(rec))
        .await
        .map_err(|why| {
            anyhow::anyhow!(
                "the {} engine at {} that `up` used does not answer: {why}",
                rec.kind,
                rec.endpoint
            )
        })?;
    Ok(Some(engine.docker))
}

/// Names, tags, then the shard.
fn choose(all: Vec<LoadedScenario>, args: &RunArgs) -> anyhow::Result<Vec<LoadedScenario>> {
    for n in &args.names {
        if !all.iter().any(|s| &s.scenario.name == n) {
            let names: Vec<&str> = all.iter().map(|s| s.scenario.name.as_str()).collect();
            return Err(Stop::Usage(format!(
                "no scenario named `{n}`; the scenarios are: {}",
                names.join(", ")
            ))
            .into());
        }
    }
    let picked: Vec<LoadedScenario> = all
        .into_iter()
        .filter(|s| args.names.is_empty() || args.names.contains(&s.scenario.name))
        .filter(|s| args.tags.is_empty() || s.scenario.tags.iter().any(|t| args.tags.contains(t)))
        .collect();
    let picked = match &args.shard {
        Some(text) => {
            let shard: Shard = text.parse().map_err(Stop::Usage)?;
            select(picked, |s| s.scenario.name.as_str(), shard)
        }
        None => picked,
    };
    Ok(picked)
}

//! `kubetest run`: run the scenarios against the environment recorded by `up`.

use crate::cli::RunArgs;
use crate::config::{ConfigError, LoadedConfig};
use crate::events::{Event, Outcome, Phase};
use crate::exit::Stop;
use crate::phases::{run_phase, PhaseOutput};
use crate::plan::Plan;
use crate::report::{render_annotations, render_junit};
use crate::scenario::load::{load_dir, Known, LoadedScenario};
use crate::scenario::results::{totals, ScenarioResult};
use crate::scenario::runner::{run_all, RunOptions};
use crate::scenario::shard::{select, Shard};
use crate::scenario::{artifacts, env as scenario_env};
use crate::state::{EnvLock, StateStore};
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
    let store = StateStore::new(&plan.state_dir);
    // Shared with other runs, never beside an `up` or `down` that is changing the environment
    // (exit 4 naming it). Taken only where an environment exists, so `run` creates nothing.
    let _lock = if store.path().exists() {
        Some(EnvLock::acquire_shared(&plan.state_dir, "kubetest run")?)
    } else {
        None
    };
    let Some(state) = store.load()? else {
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
    let known =
        Known::of_dependencies(plan.dependencies.iter().map(|d| (d.name.as_str(), &d.spec)));
    let all = load_dir(dir, &known).map_err(InvalidScenarios)?;
    // Secret-looking vars and host-command env of the scenarios are masked like the config's.
    crate::secrets::register(all.iter().flat_map(|s| {
        let sc = &s.scenario;
        let env = sc
            .steps
            .iter()
            .chain(&sc.cleanup)
            .filter_map(|st| st.run.as_ref())
            .flat_map(|r| r.env.iter());
        sc.vars
            .iter()
            .chain(env)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }));
    let selected = choose(all, args)?;

    let run_env = scenario_env::for_scenarios(&session.events, &plan, &state, &selected).await?;
    let opts = RunOptions {
        parallel: args.parallel.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        fail_fast: args.fail_fast,
        retries: args.retries,
        phase: Phase::Scenarios,
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
        let path = artifacts::write_bundle(&run_dir, r, &plan, &ctx.state.snapshot()).await?;
        session.events.emit(Event::BundleSaved {
            phase: Phase::Scenarios,
            task: r.name.clone(),
            outcome: r.outcome,
            path: path.display().to_string(),
        });
        r.artifacts = Some(path);
    }
    if let Some(path) = &args.junit {
        let xml = render_junit(&plan.environment, &results, started.elapsed())?;
        std::fs::write(path, crate::secrets::mask(&xml).as_bytes())
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let mut out = std::io::stdout().lock();
        out.write_all(crate::secrets::mask(&render_annotations(&results)).as_bytes())
            .context("cannot write annotations")?;
    }
    let t = totals(&results);
    session.events.emit(Event::ScenariosFinished {
        total: count,
        passed: t.passed,
        failed: t.failed,
        flaky: t.flaky,
        skipped: t.skipped,
    });
    let failed = t.failed > 0 || t.skipped > 0;
    let collection = collect_after(&ctx, loaded, failed).await?;
    if failed {
        return Err(Stop::ScenariosFailed {
            failed: t.failed + t.skipped,
            total: count,
        }
        .into());
    }
    if let Some(e) = crate::collect::failure(&collection) {
        return Err(e.into());
    }
    Ok(())
}

/// `collect:` after the scenarios; the outcome is kept for `down`'s `when: on-failure`.
async fn collect_after(
    ctx: &crate::phases::PhaseCtx,
    loaded: &LoadedConfig,
    failed: bool,
) -> anyhow::Result<crate::collect::Collection> {
    let finished_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let last = crate::collect::last_run::LastRun {
        failed,
        finished_ms,
    };
    if let Err(e) = crate::collect::last_run::record(&ctx.plan.state_dir, last) {
        ctx.events.warn(
            Some(Phase::Collect),
            format!("cannot record how this run ended (for `down`'s `when: on-failure`): {e:#}"),
        );
    }
    crate::collect::run(
        ctx,
        &loaded.config.collect,
        crate::collect::Trigger::Run { failed },
    )
    .await
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

//! `kubetest run`: run the scenarios against the environment recorded by `up`.

use crate::cli::{KeepNamespaces, RunArgs};
use crate::commands::validate;
use crate::config::LoadedConfig;
use crate::events::{Event, Outcome, Phase};
use crate::exit::Stop;
use crate::phases::{run_phase, PhaseOutput};
use crate::plan::Plan;
use crate::report::{render_annotations, render_junit, OutputMode};
use crate::scenario::load::LoadedScenario;
use crate::scenario::results::{totals, ScenarioResult};
use crate::scenario::runner::{self, run_all, RunOptions};
use crate::scenario::shard::select;
use crate::scenario::{artifacts, env as scenario_env};
use crate::state::{EnvLock, StateStore};
use crate::Session;
use anyhow::{bail, Context};
use std::io::Write;
use std::time::Instant;

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
    // Every scenario file and manifest is checked first, as `kubetest validate` does: a broken
    // file is exit 2 whether or not an environment is up.
    let all = validate::check(loaded)?.scenarios;
    if plan.scenarios_dir.is_none() {
        return Err(
            Stop::Usage("no `scenarios:` directory in the config; nothing to run".into()).into(),
        );
    }
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
    // The arguments name scenarios that exist (exit 2) before the environment is looked for.
    let selected = choose(all, args)?;
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
        keep_namespaces: match args.keep_namespaces {
            None => runner::KeepNamespaces::Never,
            Some(KeepNamespaces::OnFailure) => runner::KeepNamespaces::OnFailure,
            Some(KeepNamespaces::Always) => runner::KeepNamespaces::Always,
        },
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

/// `run --list`: the scenarios `run` would run with these arguments (name, slug, tags, file),
/// printed as the whole result; nothing else is touched.
pub fn list(loaded: &LoadedConfig, args: &RunArgs, output: OutputMode) -> anyhow::Result<()> {
    let selected = choose(validate::check(loaded)?.scenarios, args)?;
    let listed: Vec<Listed> = selected
        .iter()
        .map(|s| Listed {
            name: &s.scenario.name,
            namespace_slug: crate::scenario::slug::slug(&s.scenario.name),
            tags: &s.scenario.tags,
            file: s.file.display().to_string(),
            line: s.line,
        })
        .collect();
    let text = match output {
        OutputMode::Json => {
            serde_json::to_string(&serde_json::json!({ "scenarios": listed }))? + "\n"
        }
        _ => render_list(&listed),
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error of the scenarios.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(())
}

/// One scenario in `run --list`.
#[derive(Debug, serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    namespace_slug: String,
    tags: &'a [String],
    file: String,
    line: usize,
}

fn render_list(listed: &[Listed]) -> String {
    let tags: Vec<String> = listed
        .iter()
        .map(|l| match l.tags {
            [] => String::new(),
            t => format!("[{}]", t.join(", ")),
        })
        .collect();
    let width = listed
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    let tag_width = tags.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (l, t) in listed.iter().zip(&tags) {
        out.push_str(&format!(
            "{:<width$}  {t:<tag_width$}  {}:{}\n",
            l.name, l.file, l.line
        ));
    }
    out.push_str(&format!(
        "{} scenario{}\n",
        listed.len(),
        if listed.len() == 1 { "" } else { "s" }
    ));
    out
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

/// Names (as written, or their slug), tags, skipped tags, then the shard.
fn choose(all: Vec<LoadedScenario>, args: &RunArgs) -> anyhow::Result<Vec<LoadedScenario>> {
    let named = |s: &LoadedScenario, n: &String| {
        &s.scenario.name == n || crate::scenario::slug::slug(&s.scenario.name) == *n
    };
    for n in &args.names {
        if !all.iter().any(|s| named(s, n)) {
            let names: Vec<&str> = all.iter().map(|s| s.scenario.name.as_str()).collect();
            return Err(Stop::Usage(format!(
                "no scenario named `{n}`; the scenarios are: {}",
                names.join(", ")
            ))
            .into());
        }
    }
    let has_tag =
        |s: &LoadedScenario, tags: &[String]| s.scenario.tags.iter().any(|t| tags.contains(t));
    let picked: Vec<LoadedScenario> = all
        .into_iter()
        .filter(|s| args.names.is_empty() || args.names.iter().any(|n| named(s, n)))
        .filter(|s| args.tags.is_empty() || has_tag(s, &args.tags))
        .filter(|s| !has_tag(s, &args.skip_tags))
        .collect();
    Ok(match args.shard {
        Some(shard) => select(picked, |s| s.scenario.name.as_str(), shard),
        None => picked,
    })
}

//! `kubetest up`: preflight → build ‖ cluster → load ‖ deps → connect → deploy → ready → setup.

use crate::bundle::{self, Bundle};
use crate::cli::UpArgs;
use crate::config::LoadedConfig;
use crate::events::{Outcome, Phase};
use crate::exit::Stop;
use crate::phases::{self, run_phase, PhaseCtx};
use crate::plan::Plan;
use crate::state::{EnvLock, Recorder, State, StateStore};
use crate::Session;
use std::sync::Arc;

pub async fn up(session: &Session, loaded: &LoadedConfig, args: &UpArgs) -> anyhow::Result<()> {
    let plan = Arc::new(Plan::new(loaded, args));
    let _lock = EnvLock::acquire(&plan.state_dir, "kubetest up")?;
    let store = StateStore::new(&plan.state_dir);
    let state = store
        .load()?
        .unwrap_or_else(|| State::new(&plan.environment));
    let ctx = PhaseCtx {
        plan: plan.clone(),
        events: session.events.clone(),
        state: Recorder::new(store, state),
        cancel: session.cancel.clone(),
    };

    // The state file exists from the first moment: `run` and `down` find the environment
    // even when `up` creates nothing else (or is interrupted at once).
    ctx.state.update(|_| {})?;
    let result = pipeline(&ctx).await;
    if let Err(e) = &result {
        let interrupted = e
            .chain()
            .any(|c| matches!(c.downcast_ref::<Stop>(), Some(Stop::Interrupted)));
        if !interrupted {
            match write_bundle(&ctx, e).await {
                Ok(dir) => session
                    .events
                    .note(None, format!("failure bundle in {}", dir.display())),
                Err(why) => session
                    .events
                    .warn(None, format!("cannot write the failure bundle: {why:#}")),
            }
        }
    }
    result
}

/// The phases in order; the first failure ends `up`.
async fn pipeline(ctx: &PhaseCtx) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let ctx = ctx.clone();
    let preflight = run_phase(&ctx, Phase::Preflight, phases::preflight::run(&ctx)).await?;
    let engine = preflight.engine.as_ref();
    let kind = preflight.kind.as_ref();

    // Builds and cluster creation are independent; both finish (and record what they made)
    // before a failure of either stops `up`.
    let (built, cluster) = if plan.build.overlap_cluster {
        tokio::join!(
            run_phase(&ctx, Phase::Build, phases::build::run(&ctx, engine)),
            run_phase(&ctx, Phase::Cluster, phases::cluster::run(&ctx, kind)),
        )
    } else {
        let b = run_phase(&ctx, Phase::Build, phases::build::run(&ctx, engine)).await;
        let c = if b.is_ok() {
            run_phase(&ctx, Phase::Cluster, phases::cluster::run(&ctx, kind)).await
        } else {
            Ok(Outcome::Skipped)
        };
        (b, c)
    };
    built?;
    cluster?;

    // Loading needs the cluster; dependencies need only the engine and the built images.
    let (loaded_images, deps) = tokio::join!(
        run_phase(&ctx, Phase::Load, phases::load::run(&ctx, engine, kind)),
        run_phase(&ctx, Phase::Deps, phases::deps::run(&ctx, engine)),
    );
    loaded_images?;
    deps?;

    // Pods reach the dependencies by name: needs both the cluster and the started containers.
    run_phase(&ctx, Phase::Connect, phases::connect::run(&ctx, engine)).await?;

    run_phase(&ctx, Phase::Deploy, phases::deploy::run(&ctx)).await?;
    run_phase(&ctx, Phase::Ready, phases::ready::run(&ctx)).await?;
    run_phase(&ctx, Phase::Setup, phases::setup::run(&ctx)).await?;
    Ok(())
}

/// The bundle of a failed `up`: the error, what the phases saved, the dependency containers
/// and the application's namespaces as they are now.
async fn write_bundle(ctx: &PhaseCtx, err: &anyhow::Error) -> anyhow::Result<std::path::PathBuf> {
    let dir = bundle::up_dir(&ctx.plan.artifacts_dir, ctx.events.start_unix_ms());
    let failed = ctx
        .events
        .phase_summaries()
        .into_iter()
        .filter(|p| p.outcome == Outcome::Failed)
        .map(|p| p.phase.as_str())
        .collect::<Vec<_>>();
    let phases = if failed.is_empty() {
        "before any phase".to_owned()
    } else {
        format!("in phase {}", failed.join(", "))
    };
    let mut b = Bundle::create(
        &dir,
        format!(
            "kubetest failure bundle: `kubetest up` of environment `{}` ({}) failed {phases}",
            ctx.plan.environment,
            ctx.plan.config_path.display()
        ),
    )?;
    let text = format!("{err:#}");
    if let Some(first) = text.lines().next() {
        b.glance(format!("error: {first}"));
    }
    for (what, at) in failing_entries(&ctx.plan.config_path, err) {
        b.glance(format!("failing entry: {what} ({at})"));
    }
    // What phases saved in the bundle directory while they failed (the ready diagnostics).
    let mut saved: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ready-"))
                .collect()
        })
        .unwrap_or_default();
    saved.sort();
    for name in saved {
        b.list(
            &name,
            "a failed `deploy.wait` entry: why, and its pods' status, events and logs",
        );
    }
    b.write(
        "failure.txt",
        "the error `up` ended with, as printed, with every cause",
        &format!(
            "kubetest up failed {phases}

{text}
"
        ),
    )?;
    let namespaces = bundle::deploy_namespaces(&ctx.plan);
    bundle::add_environment(&mut b, &ctx.plan, &ctx.state.snapshot(), &namespaces, &[]).await?;
    b.finish()
}

/// The config entries the error is about, with their `file:line`: each failed `deploy.wait`
/// entry, or the dependency that failed.
fn failing_entries(config: &std::path::Path, err: &anyhow::Error) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Vec::new();
    };
    let index = crate::config::LocationIndex::build(&text);
    let at = |line: usize| format!("{}:{line}", config.display());
    let mut out = Vec::new();
    for cause in err.chain() {
        if let Some(r) = cause.downcast_ref::<crate::phases::ready::ReadyFailed>() {
            for f in &r.failures {
                out.push((
                    format!("deploy.wait {}", f.task),
                    at(index.value(&format!("deploy.wait[{}]", f.index)).line),
                ));
            }
        }
        if let Some(d) = cause.downcast_ref::<crate::deps::failure::DepFailure>() {
            out.push((
                format!("dependency {}", d.dep()),
                at(index.key(&format!("dependencies.{}", d.dep())).line),
            ));
        }
    }
    out
}

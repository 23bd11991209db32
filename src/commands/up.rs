//! `kubetest up`: preflight → (build ‖ cluster → load-as-built ‖ deps-as-built) → connect →
//! deploy → ready → setup.

use crate::bundle::{self, Bundle};
use crate::cli::UpArgs;
use crate::config::LoadedConfig;
use crate::events::{Outcome, Phase};
use crate::exit::Stop;
use crate::phases::built::{BuiltImages, NotBuilt};
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
    let target = loaded.config.cluster_target.clone();
    ctx.state.update(|s| s.cluster_target = target)?;
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

/// The phases as a task graph; the first failure ends `up`.
///
/// After preflight, three branches run at once:
/// - build: each image, up to `--jobs` at a time;
/// - cluster, then load: each image is loaded as soon as it is built and the cluster exists;
/// - deps: a dependency on a stock image starts at once, one on a built image when that build
///   is done (and each when what it `needs` is healthy).
///
/// Then connect (needs the cluster and the dependencies), deploy, ready and setup.
/// A failure in one branch stops build, load and deps (they end as cancelled, having recorded
/// what they made); a cluster being created is left to finish and be recorded.
async fn pipeline(ctx: &PhaseCtx) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let ctx = ctx.clone();
    let preflight = run_phase(&ctx, Phase::Preflight, phases::preflight::run(&ctx)).await?;
    let engine = preflight.engine.as_ref();
    let kind = preflight.kind.as_ref();

    let built = BuiltImages::new(plan.images.iter().map(|i| i.name.clone()));
    // Build, load and deps stop when another branch fails: their tasks see `stoppable` and
    // end as cancelled, each recording what it made (the phase runner watches only Ctrl-C,
    // so it does not drop them half-way). The cluster being created is left to finish.
    let stoppable = PhaseCtx {
        cancel: ctx.cancel.child_token(),
        ..ctx.clone()
    };
    let stop_on_failure = |r: &anyhow::Result<Outcome>| {
        if r.is_err() {
            stoppable.cancel.cancel();
        }
    };
    let build = async {
        let r = run_phase(
            &ctx,
            Phase::Build,
            phases::build::run_signalling(&stoppable, engine, &built),
        )
        .await;
        stop_on_failure(&r);
        r
    };
    let cluster_then_load = async {
        // `build.overlap_cluster: false`: the cluster is made only after every build passed.
        if !plan.build.overlap_cluster && built.wait_all().await.is_err() {
            return (Ok(Outcome::Skipped), Ok(Outcome::Skipped));
        }
        let c = run_phase(&ctx, Phase::Cluster, phases::cluster::run(&ctx, kind)).await;
        stop_on_failure(&c);
        if c.is_err() || built.failed() || stoppable.cancel.is_cancelled() {
            return (c, Ok(Outcome::Skipped));
        }
        let l = run_phase(
            &ctx,
            Phase::Load,
            phases::load::run_as_built(&stoppable, engine, kind, &built),
        )
        .await;
        stop_on_failure(&l);
        (c, l)
    };
    let deps = async {
        let r = run_phase(
            &ctx,
            Phase::Deps,
            phases::deps::run_when_built(&stoppable, engine, &built),
        )
        .await;
        stop_on_failure(&r);
        r
    };
    let (b, (c, l), d) = tokio::join!(build, cluster_then_load, deps);
    first_cause([b, c, l, d])?;

    // Pods reach the dependencies by name: needs both the cluster and the started containers.
    run_phase(&ctx, Phase::Connect, phases::connect::run(&ctx, engine)).await?;

    run_phase(&ctx, Phase::Deploy, phases::deploy::run(&ctx)).await?;
    run_phase(&ctx, Phase::Ready, phases::ready::run(&ctx)).await?;
    run_phase(&ctx, Phase::Setup, phases::setup::run(&ctx)).await?;
    Ok(())
}

/// The error that stopped the graph: the first one that is not a consequence of another
/// (a phase stopped because another failed, or an image not built); else the first.
fn first_cause<const N: usize>(results: [anyhow::Result<Outcome>; N]) -> anyhow::Result<()> {
    let errors: Vec<anyhow::Error> = results.into_iter().filter_map(Result::err).collect();
    let consequence = |e: &anyhow::Error| {
        e.chain().any(|c| {
            matches!(c.downcast_ref::<Stop>(), Some(Stop::Interrupted))
                || c.downcast_ref::<NotBuilt>().is_some()
        })
    };
    let mut errors = errors.into_iter();
    let Some(first) = errors.next() else {
        return Ok(());
    };
    if !consequence(&first) {
        return Err(first);
    }
    match errors.find(|e| !consequence(e)) {
        Some(cause) => Err(cause),
        None => Err(first),
    }
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

//! `kubetest up`: preflight → build ‖ cluster → load ‖ deps → connect → deploy → ready → setup.

use crate::cli::UpArgs;
use crate::config::LoadedConfig;
use crate::events::{Outcome, Phase};
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

//! `kubetest down`: remove what the state file records; idempotent.

use crate::cli::DownArgs;
use crate::config::LoadedConfig;
use crate::events::Phase;
use crate::phases::teardown::{self, TeardownOptions};
use crate::phases::{run_phase, PhaseCtx};
use crate::plan::Plan;
use crate::state::{EnvLock, Recorder, State, StateStore};
use crate::Session;
use std::sync::Arc;

pub async fn down(session: &Session, loaded: &LoadedConfig, args: &DownArgs) -> anyhow::Result<()> {
    let plan = Arc::new(Plan::from_config(loaded));
    let _lock = EnvLock::acquire(&plan.state_dir, "kubetest down")?;
    let store = StateStore::new(&plan.state_dir);
    let state = store
        .load()?
        .unwrap_or_else(|| State::new(&plan.environment));
    let ctx = PhaseCtx {
        plan,
        events: session.events.clone(),
        state: Recorder::new(store, state),
        cancel: session.cancel.clone(),
    };
    let opts = TeardownOptions {
        images: args.images,
        cluster: args.cluster,
    };
    run_phase(&ctx, Phase::Teardown, teardown::run(&ctx, opts)).await?;
    Ok(())
}

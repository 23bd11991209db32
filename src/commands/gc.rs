//! `kubetest gc --older-than D`: on a shared cluster, release this environment's runs whose
//! state files are lost (cancelled CI jobs), never the run the local state file records nor
//! the one `--id` names.

use crate::cli::GcArgs;
use crate::config::LoadedConfig;
use crate::events::Phase;
use crate::phases::lost_runs::{self, GcRequest};
use crate::phases::{run_phase, PhaseCtx};
use crate::plan::Plan;
use crate::state::{Recorder, State, StateStore};
use crate::Session;
use anyhow::Context;
use std::sync::Arc;

pub async fn gc(session: &Session, loaded: &LoadedConfig, args: &GcArgs) -> anyhow::Result<()> {
    let plan = Arc::new(Plan::from_config(loaded));
    let store = StateStore::new(&plan.state_dir);
    // The local run must be known to be left alone: an unreadable state file stops gc.
    let state = store
        .load()
        .with_context(|| {
            format!(
                "cannot read the state file in {}, so gc cannot tell this machine's run from lost ones; fix or remove it (`kubetest down` moves an unusable one aside), then rerun",
                plan.state_dir.display()
            )
        })?
        .unwrap_or_else(|| State::new(&plan.environment));
    // This machine's runs: the one its state file records, and the one `--id` /
    // `KUBETEST_RUN_ID` names (a CI job cleaning up before its own `up`).
    let local: Vec<String> = state
        .run_id
        .iter()
        .cloned()
        .chain(
            loaded
                .config
                .cluster
                .run_id
                .as_deref()
                .and_then(crate::run_id::sanitize),
        )
        .collect();
    let ctx = PhaseCtx {
        plan,
        events: session.events.clone(),
        state: Recorder::new(store, state),
        cancel: session.cancel.clone(),
    };
    let req = GcRequest {
        older_than: args.older_than,
        dry_run: args.dry_run,
    };
    run_phase(&ctx, Phase::Teardown, lost_runs::gc(&ctx, req, &local)).await?;
    Ok(())
}

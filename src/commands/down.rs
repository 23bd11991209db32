//! `kubetest down`: remove what the state file records; idempotent.

use crate::cli::DownArgs;
use crate::config::LoadedConfig;
use crate::config::Provider;
use crate::events::Phase;
use crate::phases::teardown::{self, TeardownOptions};
use crate::phases::{run_phase, PhaseCtx};
use crate::plan::Plan;
use crate::state::{ClusterRecord, EnvLock, Recorder, State, StateStore, STATE_VERSION};
use crate::Session;
use std::sync::Arc;

pub async fn down(session: &Session, loaded: &LoadedConfig, args: &DownArgs) -> anyhow::Result<()> {
    let plan = Arc::new(Plan::from_config(loaded));
    let _lock = EnvLock::acquire(&plan.state_dir, "kubetest down")?;
    let store = StateStore::new(&plan.state_dir);
    // A state file `down` cannot use must not leave everything running: clean up by the
    // environment's labels instead, and keep the file for a person to read.
    let unusable = match store.load() {
        Ok(Some(s)) if s.version <= STATE_VERSION => Ok(s),
        Ok(Some(s)) => Err(format!(
            "it was written by a newer kubetest (state version {}, this one reads {STATE_VERSION})",
            s.version
        )),
        Ok(None) => Ok(State::new(&plan.environment)),
        Err(e) => Err(format!("{e:#}")),
    };
    let (state, by_labels) = match unusable {
        Ok(s) => (s, false),
        Err(why) => {
            let aside = store.move_aside()?;
            session.events.warn(
                Some(Phase::Teardown),
                format!(
                    "the state file cannot be used: {why}; moved it to {}. Cleaning up by the environment's labels instead; a kind cluster is deleted only with `kubetest down --cluster`",
                    aside.display()
                ),
            );
            let mut s = State::new(&plan.environment);
            if args.cluster && plan.cluster.provider == Provider::Kind {
                s.cluster = Some(ClusterRecord {
                    provider: "kind".into(),
                    name: plan.cluster.name.clone(),
                    created: false,
                    kubeconfig: None,
                    context: None,
                });
            }
            (s, true)
        }
    };
    let ctx = PhaseCtx {
        plan,
        events: session.events.clone(),
        state: Recorder::new(store, state),
        cancel: session.cancel.clone(),
    };
    // `down --id ID` where no state records a run (a CI job's lost workspace): the run's
    // objects are found by label through the API.
    let lost = match ctx.state.snapshot().run_id {
        Some(_) => None,
        // No cluster: no run on one.
        None if ctx.plan.cluster.provider == Provider::None => None,
        None => loaded
            .config
            .cluster
            .run_id
            .as_deref()
            .and_then(crate::run_id::sanitize),
    };
    let opts = TeardownOptions {
        images: args.images,
        cluster: args.cluster,
        by_labels,
        released_by_id: lost.is_some(),
    };
    // `collect:` before anything is removed; a failed copy does not keep the rest running.
    let collected = if by_labels || ctx.state.snapshot().is_empty() {
        None
    } else {
        let failed = crate::collect::last_run::read(&ctx.plan.state_dir).is_some_and(|r| r.failed);
        match crate::collect::run(
            &ctx,
            &loaded.config.collect,
            crate::collect::Trigger::Down { failed },
        )
        .await
        {
            Ok(c) => Some(c),
            Err(e) if session.cancel.is_cancelled() => return Err(e),
            Err(e) => {
                ctx.events.warn(
                    Some(Phase::Collect),
                    format!("collect: {e:#}; tearing down anyway"),
                );
                None
            }
        }
    };
    let teardown = async {
        if let Some(id) = &lost {
            crate::phases::lost_runs::release_by_id(&ctx, id).await?;
        }
        teardown::run(&ctx, opts).await
    };
    run_phase(&ctx, Phase::Teardown, teardown).await?;
    if let Some(e) = collected.as_ref().and_then(crate::collect::failure) {
        return Err(e.into());
    }
    Ok(())
}

//! Teardown (`down`): remove exactly what the state file names; a missing thing is success.

use super::PhaseCtx;
use crate::engine::{self, images, Endpoint, Engine};
use crate::events::{Outcome, Phase};
use crate::exit::Stop;
use anyhow::Context;

/// Options of `down` that change what is removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    pub images: bool,
    pub cluster: bool,
}

pub async fn run(ctx: &PhaseCtx, opts: TeardownOptions) -> anyhow::Result<Outcome> {
    let state = ctx.state.snapshot();
    if !state.containers.is_empty() || !state.networks.is_empty() {
        return Err(Stop::NotImplemented {
            what: "removing dependency containers",
            issue: 4,
        }
        .into());
    }
    if state
        .cluster
        .as_ref()
        .is_some_and(|c| c.created || opts.cluster)
    {
        return Err(Stop::NotImplemented {
            what: "deleting the kind cluster",
            issue: 5,
        }
        .into());
    }
    if state.is_empty() {
        ctx.events
            .note(Some(Phase::Teardown), "nothing recorded: nothing to remove");
        return Ok(Outcome::Skipped);
    }
    if opts.images && !state.images.is_empty() {
        let engine = recorded_engine(ctx).await?;
        for img in &state.images {
            let task = ctx
                .events
                .task(Phase::Teardown, format!("image {}", img.name));
            match images::remove(&engine.docker, &img.name).await {
                Ok(()) => {
                    ctx.state
                        .update(|s| s.images.retain(|i| i.name != img.name))?;
                    task.finish(Outcome::Ok, Some("removed".into()));
                }
                Err(e) => {
                    task.finish(Outcome::Failed, Some(format!("{e:#}")));
                    return Err(e);
                }
            }
        }
    } else if !state.images.is_empty() {
        ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "kept {} built image(s) as build cache (`kubetest down --images` removes them)",
                state.images.len()
            ),
        );
    }
    // A reused cluster is not ours to delete; forget it.
    ctx.state.update(|s| s.cluster = None)?;
    Ok(Outcome::Ok)
}

/// The engine `up` used (from the state file), else whatever answers now.
async fn recorded_engine(ctx: &PhaseCtx) -> anyhow::Result<Engine> {
    if let Some(rec) = ctx.state.snapshot().engine {
        let ep = Endpoint {
            url: rec.endpoint.clone(),
            source: "recorded by `kubetest up`".into(),
        };
        return engine::connect_endpoint(&ep).await.map_err(|why| {
            anyhow::anyhow!(
                "the {} engine that `up` used at {} does not answer: {why}; start it again, then rerun `kubetest down` (`kubetest doctor` checks it)",
                rec.kind,
                rec.endpoint
            )
        });
    }
    engine::connect(ctx.plan.engine)
        .await
        .context("removing the built images needs the engine")
}

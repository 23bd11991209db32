//! Teardown (`down`): remove exactly what the state file names; a missing thing is success.

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

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
    if opts.images && !state.images.is_empty() {
        return Err(Stop::NotImplemented {
            what: "removing built images",
            issue: 3,
        }
        .into());
    }
    if state.is_empty() {
        ctx.events.note(
            Some(crate::events::Phase::Teardown),
            "nothing recorded: nothing to remove",
        );
        return Ok(Outcome::Skipped);
    }
    // Only kept images (the build cache) and a reused cluster remain: they stay by design.
    ctx.state.update(|s| {
        s.cluster = None;
        s.containers.clear();
        s.networks.clear();
    })?;
    Ok(Outcome::Ok)
}

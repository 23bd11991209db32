//! Load: put built and preloaded images into the cluster nodes.

use super::PhaseCtx;
use crate::config::Provider;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.cluster.provider == Provider::None
        || (plan.images.is_empty() && plan.cluster.preload.is_empty())
    {
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "loading images into the cluster",
        issue: 5,
    }
    .into())
}

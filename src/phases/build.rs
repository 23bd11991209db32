//! Build: all images of the plan, concurrently (bounded), skipping unchanged ones.

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    if ctx.plan.images.is_empty() {
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "image builds",
        issue: 3,
    }
    .into())
}

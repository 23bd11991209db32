//! Preflight: find the engine and the tools the plan needs before any work starts.

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    let needs_engine = !plan.images.is_empty() || !plan.dependencies.is_empty();
    if !needs_engine {
        ctx.events.note(
            Some(crate::events::Phase::Preflight),
            "no images or dependencies: no container engine needed",
        );
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "container engine discovery (preflight)",
        issue: 3,
    }
    .into())
}

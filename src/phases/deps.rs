//! Deps: start dependency containers in `needs` order, each healthy before its dependants start.

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    if ctx.plan.dependencies.is_empty() {
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "dependency containers",
        issue: 4,
    }
    .into())
}

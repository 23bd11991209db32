//! Ready: watch the Pod API until every wait entry is Ready, failing fast with the reason.

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    if ctx.plan.deploy.wait.is_empty() {
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "readiness waiting",
        issue: 6,
    }
    .into())
}

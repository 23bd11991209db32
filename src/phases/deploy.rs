//! Deploy: server-side apply of the manifests (namespaces, then CRDs, then the rest).

use super::PhaseCtx;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    if ctx.plan.deploy.manifests.is_empty() {
        return Ok(Outcome::Skipped);
    }
    Err(Stop::NotImplemented {
        what: "deploying manifests",
        issue: 6,
    }
    .into())
}

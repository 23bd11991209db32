//! Cluster: create or reuse a kind cluster (or use an existing one) and export its kubeconfig.

use super::PhaseCtx;
use crate::config::Provider;
use crate::events::Outcome;
use crate::exit::Stop;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    match ctx.plan.cluster.provider {
        Provider::None => Ok(Outcome::Skipped),
        Provider::Kind => Err(Stop::NotImplemented {
            what: "kind cluster creation",
            issue: 5,
        }
        .into()),
        Provider::Existing => Err(Stop::NotImplemented {
            what: "`provider: existing` clusters",
            issue: 5,
        }
        .into()),
    }
}

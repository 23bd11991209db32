//! Preflight: find the engine and the tools the plan needs before any work starts.

use super::{PhaseCtx, PhaseOutput};
use crate::engine::{self, Engine};
use crate::events::{Outcome, Phase};
use crate::state::EngineRecord;

/// The engine, when the plan needs one.
pub struct Preflight {
    pub engine: Option<Engine>,
}

impl PhaseOutput for Preflight {
    fn outcome(&self) -> Outcome {
        if self.engine.is_some() {
            Outcome::Ok
        } else {
            Outcome::Skipped
        }
    }
}

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Preflight> {
    let plan = &ctx.plan;
    if plan.images.is_empty() && plan.dependencies.is_empty() {
        ctx.events.note(
            Some(Phase::Preflight),
            "no images or dependencies: no container engine needed",
        );
        return Ok(Preflight { engine: None });
    }
    let engine = engine::connect(plan.engine).await?;
    ctx.events.note(
        Some(Phase::Preflight),
        format!("engine: {}", engine.describe()),
    );
    let record = EngineRecord {
        kind: engine.kind.as_str().to_owned(),
        endpoint: engine.endpoint.url.clone(),
        version: engine.version.clone(),
    };
    ctx.state.update(|s| s.engine = Some(record))?;
    Ok(Preflight {
        engine: Some(engine),
    })
}

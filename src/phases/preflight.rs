//! Preflight: find the engine and the tools the plan needs before any work starts.

use super::{PhaseCtx, PhaseOutput};
use crate::cluster::kind::{self, Kind};
use crate::config::Provider;
use crate::engine::{self, Engine};
use crate::events::{Outcome, Phase};

/// The engine and the kind CLI, when the plan needs them.
pub struct Preflight {
    pub engine: Option<Engine>,
    pub kind: Option<Kind>,
}

impl PhaseOutput for Preflight {
    fn outcome(&self) -> Outcome {
        if self.engine.is_some() || self.kind.is_some() {
            Outcome::Ok
        } else {
            Outcome::Skipped
        }
    }
}

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Preflight> {
    let plan = &ctx.plan;
    let uses_kind = plan.cluster.provider == Provider::Kind;
    // kind is checked before the engine and long before any build: a missing binary is the
    // cheapest failure to report.
    let kind_binary = if uses_kind {
        Some(kind::locate(plan.cluster.kind_binary.as_deref())?)
    } else {
        None
    };
    let engine = if plan.images.is_empty() && plan.dependencies.is_empty() && !uses_kind {
        ctx.events.note(
            Some(Phase::Preflight),
            "no images or dependencies: no container engine needed",
        );
        None
    } else {
        let known = ctx.state.snapshot().engine;
        let host = plan.engine_endpoint();
        let on_busy = super::busy_reporter(&ctx.events, Phase::Preflight);
        let wanted = engine::Wanted {
            choice: plan.engine,
            host: host.as_ref(),
            patience: engine::Patience {
                limit: plan.engine_timeout,
                on_busy: &on_busy,
            },
        };
        let engine = engine::connect(wanted, known.as_ref())
            .await
            .map_err(engine::ConnectError::into_anyhow)?;
        ctx.events.note(
            Some(Phase::Preflight),
            format!("engine: {}", engine.describe()),
        );
        let record = engine.record();
        if known.as_ref() != Some(&record) {
            ctx.state.update(|s| s.engine = Some(record))?;
        }
        Some(engine)
    };
    let kind = match kind_binary {
        Some(binary) => {
            let user = std::env::var(kind::PROVIDER_ENV).ok();
            let choice = kind::provider_for(engine.as_ref().map(|e| e.kind), user.as_deref());
            if let Some(w) = choice.warning {
                ctx.events.warn(Some(Phase::Preflight), w);
            }
            let kind = Kind::new(binary, choice.value);
            let version = kind.version().await?;
            ctx.events.note(
                Some(Phase::Preflight),
                format!(
                    "kind {version} at {}{}",
                    kind.binary.display(),
                    kind.provider
                        .as_deref()
                        .map(|p| format!(" ({}={p})", kind::PROVIDER_ENV))
                        .unwrap_or_default()
                ),
            );
            Some(kind)
        }
        None => None,
    };
    Ok(Preflight { engine, kind })
}

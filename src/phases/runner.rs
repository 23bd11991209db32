//! Runs one phase: started/finished events with wall time, cancellation, outcome from the result.

use crate::events::{Event, Events, Outcome, Phase};
use crate::exit::Stop;
use crate::plan::Plan;
use crate::state::Recorder;
use std::future::Future;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What every phase gets: the plan, the event sink, the state recorder, the cancel signal.
#[derive(Clone)]
pub struct PhaseCtx {
    pub plan: std::sync::Arc<Plan>,
    pub events: Events,
    pub state: Recorder,
    pub cancel: CancellationToken,
}

/// What a phase returns: its outcome, and possibly something later phases need.
pub trait PhaseOutput {
    fn outcome(&self) -> Outcome;
}

impl PhaseOutput for Outcome {
    fn outcome(&self) -> Outcome {
        *self
    }
}

/// Run `work` as `phase`. A first Ctrl-C cancels it (outcome `cancelled`); an error is
/// reported in the phase's finished event and returned.
pub async fn run_phase<F, T>(ctx: &PhaseCtx, phase: Phase, work: F) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>>,
    T: PhaseOutput,
{
    let started = Instant::now();
    ctx.events.emit(Event::PhaseStarted { phase });
    let result = tokio::select! {
        r = work => r,
        () = ctx.cancel.cancelled() => Err(Stop::Interrupted.into()),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let (outcome, error) = match &result {
        Ok(o) => (o.outcome(), None),
        Err(e) => {
            // Interrupted, or stopped because an image it needs was not built (the build
            // phase reports that failure).
            let cancelled = e.chain().any(|c| {
                matches!(c.downcast_ref::<Stop>(), Some(Stop::Interrupted))
                    || c.downcast_ref::<super::built::NotBuilt>().is_some()
            });
            (
                if cancelled {
                    Outcome::Cancelled
                } else {
                    Outcome::Failed
                },
                Some(format!("{e:#}")),
            )
        }
    };
    ctx.events.emit(Event::PhaseFinished {
        phase,
        outcome,
        elapsed_ms,
        error,
    });
    result
}

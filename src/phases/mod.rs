//! The phases of `up` and `down`, in pipeline order. Each phase is one module with one entry
//! function that reads the plan, records what it makes, and emits events.

pub mod build;
pub mod built;
pub mod cluster;
pub mod connect;
pub mod deploy;
pub mod deps;
pub mod load;
pub mod load_registry;
pub mod lost_runs;
pub mod preflight;
pub mod ready;
pub mod setup;
pub mod teardown;

mod runner;

pub use runner::{run_phase, PhaseCtx, PhaseOutput};

use crate::engine::BusyProgress;
use crate::events::{Events, Phase};

/// Reports a lagging engine call as a warning of `phase` ("engine busy: GET /info 12 s so far").
pub fn busy_reporter(events: &Events, phase: Phase) -> impl Fn(&BusyProgress) + Send + Sync {
    let events = events.clone();
    move |p: &BusyProgress| events.warn(Some(phase), p.to_string())
}

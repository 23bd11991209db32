//! Exit codes, one per kind of failure, and how an error maps to one. Documented in README.md.

use crate::config::ConfigError;
use crate::state::LockBusy;

/// Everything asked for was done.
pub const OK: i32 = 0;
/// `run`: at least one scenario failed.
pub const SCENARIOS_FAILED: i32 = 1;
/// The config (or a scenario file, or the command line) is invalid; nothing was touched.
pub const CONFIG: i32 = 2;
/// The infrastructure failed: engine, build, cluster, dependencies, deploy, readiness.
pub const INFRA: i32 = 3;
/// Another kubetest holds this environment's lock.
pub const BUSY: i32 = 4;
/// Stopped by Ctrl-C (or SIGTERM); what was made so far is in the state file.
pub const INTERRUPTED: i32 = 130;

/// Ends of a command that are not infrastructure failures.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("{failed} of {total} scenarios failed")]
    ScenariosFailed { failed: usize, total: usize },
    #[error("interrupted; what was made so far is recorded, `kubetest down` removes it")]
    Interrupted,
    #[error("{0}")]
    Usage(String),
}

/// The exit code for an error: the first cause in the chain that has a specific one, else INFRA.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() || cause.is::<crate::commands::validate::Invalid>() {
            return CONFIG;
        }
        if let Some(e) = cause.downcast_ref::<crate::init::InitError>() {
            return e.exit_code();
        }
        if cause.is::<LockBusy>() {
            return BUSY;
        }
        if let Some(stop) = cause.downcast_ref::<Stop>() {
            return match stop {
                Stop::ScenariosFailed { .. } => SCENARIOS_FAILED,
                Stop::Interrupted => INTERRUPTED,
                Stop::Usage(_) => CONFIG,
            };
        }
    }
    INFRA
}

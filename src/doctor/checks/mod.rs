//! The live checks of `kubetest doctor`: each one probes, then judges with pure functions.

mod clock;
mod context;
mod endpoints;
mod kind;
mod limits;
mod machine;
mod result;
mod state;
mod storage;

pub use context::{Context, Settings};
pub use result::{CheckResult, Status};

use futures::future::join_all;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// Check id of the environment check (state file vs reality); the others are in `rules`.
pub const CHECK_STATE: &str = "state";

type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// Every check, in report order, not yet started.
fn all_checks(ctx: &Context) -> Vec<(&'static str, CheckFuture<'_>)> {
    use crate::doctor::rules::*;
    vec![
        (CHECK_ENGINE_ENDPOINTS, Box::pin(endpoints::check(ctx))),
        (CHECK_PODMAN_MACHINE, Box::pin(machine::check(ctx))),
        (CHECK_STORAGE, Box::pin(storage::check(ctx))),
        (CHECK_KIND, Box::pin(kind::check(ctx))),
        (CHECK_HOST_LIMITS, Box::pin(limits::check(ctx))),
        (CHECK_CLOCK, Box::pin(clock::check(ctx))),
        (CHECK_STATE, Box::pin(state::check(ctx))),
    ]
}

/// Runs one check under the time limit, timing it.
async fn timed(id: &'static str, fut: CheckFuture<'_>, limit: std::time::Duration) -> CheckResult {
    let started = Instant::now();
    let mut result = match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => CheckResult::hung(id, limit),
    };
    result.elapsed_ms = started.elapsed().as_millis() as u64;
    result
}

/// Run every check concurrently, each under its own time limit; results in a fixed order.
pub async fn run_all(ctx: &Context) -> Vec<CheckResult> {
    let limit = ctx.settings.check_timeout;
    join_all(
        all_checks(ctx)
            .into_iter()
            .map(|(id, fut)| timed(id, fut, limit)),
    )
    .await
}

/// Run the one check named `id` (`doctor --explain --live`); `None` for an unknown id.
pub async fn run_one(ctx: &Context, id: &str) -> Option<CheckResult> {
    let limit = ctx.settings.check_timeout;
    let (id, fut) = all_checks(ctx).into_iter().find(|(c, _)| *c == id)?;
    Some(timed(id, fut, limit).await)
}

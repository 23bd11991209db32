//! Setup: the config's `setup:` steps (scenario step syntax), run by `up` once after `ready`.
//!
//! When a later `up` runs them again: when their fingerprint changed — the steps themselves,
//! the IDs of the images `up` built, the dependency containers (a recreated one has a new ID),
//! the cluster, or the manifests — or when asked with `up --setup`. Everything else that `up`
//! keeps (a healthy dependency, a reused cluster, unchanged pods) keeps what setup made too.
//! A failed or interrupted run records nothing, so the next `up` runs the steps again.

use super::PhaseCtx;
use crate::config::Duration;
use crate::events::{Outcome, Phase};
use crate::k8s::manifests;
use crate::plan::Plan;
use crate::scenario::load::LoadedScenario;
use crate::scenario::model::Scenario;
use crate::scenario::runner::{run_all, RunOptions};
use crate::scenario::{artifacts, env as scenario_env};
use crate::state::{SetupRecord, State};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The name the setup steps run under: their task, their bundle directory.
pub const SETUP_NAME: &str = "setup";

/// Time limit of all setup steps together (each step also has its own `timeout`).
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);

/// A setup step failed; `up` stops with exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("setup failed at {step} ({file}:{line}): {message}\n  failure bundle: {}", bundle.display())]
pub struct SetupFailed {
    pub step: String,
    pub file: String,
    pub line: usize,
    /// The step's own message: its diff, the response it got, the command's output.
    pub message: String,
    pub bundle: PathBuf,
}

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.setup.steps.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let state = ctx.state.snapshot();
    let fingerprint = fingerprint(plan, &state).await?;
    if !plan.setup.force
        && state
            .setup
            .as_ref()
            .is_some_and(|s| s.fingerprint == fingerprint)
    {
        ctx.events.note(
            Some(Phase::Setup),
            "setup steps already ran against this environment and nothing they depend on changed; `up --setup` runs them again",
        );
        return Ok(Outcome::Cached);
    }
    // Forget the last run first: a failed or interrupted run must not look done.
    ctx.state.update(|s| s.setup = None)?;

    let loaded = LoadedScenario {
        scenario: Scenario {
            name: SETUP_NAME.to_owned(),
            tags: Vec::new(),
            timeout: SETUP_TIMEOUT,
            // Cluster steps act on the system under test, in the deploy namespace.
            namespace: Some(plan.deploy.namespace.clone()),
            serial: true,
            vars: Default::default(),
            steps: plan.setup.steps.clone(),
            cleanup: Vec::new(),
        },
        file: plan.config_path.clone(),
        line: plan.setup.line,
        step_lines: plan.setup.step_lines.clone(),
    };
    let env = scenario_env::for_scenarios(&ctx.events, plan, &state, std::slice::from_ref(&loaded))
        .await?;
    let opts = RunOptions {
        parallel: 1,
        fail_fast: true,
        retries: 0,
        phase: Phase::Setup,
        keep_namespaces: Default::default(),
    };
    let mut results = run_all(vec![loaded], &env, opts, &ctx.cancel).await;
    let Some(mut result) = results.pop() else {
        anyhow::bail!("the setup steps produced no result");
    };
    match result.outcome {
        Outcome::Ok | Outcome::Flaky => {
            let finished_ms = ctx.events.start_unix_ms() + ctx.events.elapsed_ms();
            ctx.state.update(|s| {
                s.setup = Some(SetupRecord {
                    fingerprint,
                    finished_ms,
                })
            })?;
            Ok(Outcome::Ok)
        }
        Outcome::Cancelled | Outcome::Skipped if ctx.cancel.is_cancelled() => {
            Err(crate::exit::Stop::Interrupted.into())
        }
        _ => {
            let run_dir = plan
                .artifacts_dir
                .join(format!("up-{}", ctx.events.start_unix_ms()));
            let bundle =
                artifacts::write_bundle(&run_dir, &result, plan, &ctx.state.snapshot()).await?;
            result.artifacts = Some(bundle.clone());
            let failed = result.first_failure();
            Err(SetupFailed {
                step: failed.map_or_else(|| "a setup step".to_owned(), |f| f.title.clone()),
                file: plan.config_path.display().to_string(),
                // The failing step's own line, else the `setup:` key's.
                line: failed
                    .and_then(|f| result.step_lines.get(f.index).copied())
                    .unwrap_or(plan.setup.line),
                message: failed
                    .and_then(|f| f.message.clone())
                    .unwrap_or_else(|| "the setup steps did not pass".to_owned()),
                bundle,
            }
            .into())
        }
    }
}

/// sha256 over what the setup steps act on: the steps, the built images, the dependency
/// containers, the cluster and the manifests as parsed (comments and layout do not count).
async fn fingerprint(plan: &Plan, state: &State) -> anyhow::Result<String> {
    let paths = plan.deploy.manifests.clone();
    let objects = if paths.is_empty() {
        Vec::new()
    } else {
        tokio::task::spawn_blocking(move || manifests::load(&paths))
            .await
            .context("reading the manifests stopped")??
    };
    let inputs = serde_json::json!({
        "steps": plan.setup.steps,
        "images": state.images.iter().map(|i| (&i.name, &i.id)).collect::<Vec<_>>(),
        "containers": state.containers.iter().map(|c| (&c.name, &c.id)).collect::<Vec<_>>(),
        "cluster": state.cluster.as_ref().map(|c| (&c.provider, &c.name, &c.context)),
        "manifests": objects.iter().map(|m| &m.object).collect::<Vec<_>>(),
    });
    let mut h = Sha256::new();
    h.update(b"kubetest-setup-v1\0");
    h.update(serde_json::to_vec(&inputs).context("cannot serialise the setup inputs")?);
    Ok(hex::encode(h.finalize()))
}

//! The environment steps run in, built from the state `up` left: variables, the environment
//! of host commands, and the cluster and engine clients, connected only when a step needs them.

use super::cluster::{needs_cluster, Cluster};
use super::load::LoadedScenario;
use super::runner::RunEnv;
use super::vars;
use crate::events::Events;
use crate::k8s::client::{connect, ClusterAccess};
use crate::plan::Plan;
use crate::state::State;
use anyhow::{bail, Context};

/// The [`RunEnv`] of `scenarios` in the environment `state` records.
pub async fn for_scenarios(
    events: &Events,
    plan: &Plan,
    state: &State,
    scenarios: &[LoadedScenario],
) -> anyhow::Result<RunEnv> {
    let (vars, env) = vars::from_state(state);
    let cluster = if state.cluster.is_some() && scenarios.iter().any(|s| needs_cluster(&s.scenario))
    {
        let access = ClusterAccess::from_state_or_plan(state, &plan.cluster);
        Some(
            Cluster::new(connect(&access).await?, &plan.environment)
                .for_run(plan.cluster.run_id.as_deref())
                .with_run_namespaces(&state.run_namespaces)
                .recording_to(crate::state::StateStore::new(&plan.state_dir)),
        )
    } else {
        None
    };
    Ok(RunEnv {
        cluster,
        vars,
        env,
        http: reqwest::Client::builder()
            .build()
            .context("cannot set up the HTTP client")?,
        events: events.clone(),
        engine: dependency_engine(scenarios, state).await?,
        dependency_containers: state
            .containers
            .iter()
            .map(|c| (c.dependency.clone(), c.name.clone()))
            .collect(),
    })
}

/// The engine `up` recorded, connected only when a scenario execs in a dependency.
async fn dependency_engine(
    scenarios: &[LoadedScenario],
    state: &State,
) -> anyhow::Result<Option<bollard::Docker>> {
    let wanted = scenarios
        .iter()
        .flat_map(|s| s.scenario.steps.iter().chain(&s.scenario.cleanup))
        .any(|st| st.exec.as_ref().is_some_and(|e| e.dependency.is_some()));
    if !wanted {
        return Ok(None);
    }
    let Some(rec) = &state.engine else {
        bail!("scenarios exec in dependency containers, but `kubetest up` recorded no engine (no dependencies were started)");
    };
    Ok(Some(crate::engine::reconnect(rec).await?.docker))
}

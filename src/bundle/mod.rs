//! Failure bundles: a directory per failed scenario or failed `up` holding what a person needs
//! to find the cause without re-running anything, with an index saying what is where.

pub mod deps;
pub mod namespaces;
pub mod writer;

pub use writer::{Bundle, INDEX};

use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::namespace_report::{self, NamespaceReport};
use crate::plan::Plan;
use crate::state::State;
use std::time::Duration;

/// The bundle directory of the `up` that started at `start_unix_ms`.
pub fn up_dir(artifacts_dir: &std::path::Path, start_unix_ms: u64) -> std::path::PathBuf {
    artifacts_dir.join(format!("up-{start_unix_ms}"))
}

/// Longest time spent asking the cluster about one namespace.
const NAMESPACE_LIMIT: Duration = Duration::from_secs(60);

/// The namespaces the application runs in: `deploy.namespace` and each `deploy.wait` one
/// (none when the config deploys nothing).
pub fn deploy_namespaces(plan: &Plan) -> Vec<String> {
    if plan.deploy.manifests.is_empty() && plan.deploy.wait.is_empty() {
        return Vec::new();
    }
    let mut out = vec![plan.deploy.namespace.clone()];
    for w in &plan.deploy.wait {
        if let Some(n) = &w.namespace {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    out
}

/// Add the environment's evidence: every dependency container the state records, and each
/// of `namespaces` (skipping those in `done`, already gathered) when a cluster is recorded.
pub async fn add_environment(
    b: &mut Bundle,
    plan: &Plan,
    state: &State,
    namespaces: &[String],
    done: &[NamespaceReport],
) -> anyhow::Result<()> {
    if !state.containers.is_empty() {
        let engine = match &state.engine {
            Some(rec) => crate::engine::connect_recorded(rec).await,
            None => Err("no engine is recorded in the state file".to_owned()),
        };
        let docker = engine.as_ref().map(|e| &e.docker).map_err(String::as_str);
        deps::add(b, docker, &state.containers).await?;
    }
    for r in done {
        namespaces::add(b, r)?;
        b.glance(format!("namespace {}: {}", r.namespace, r.summary));
    }
    let wanted: Vec<&String> = namespaces
        .iter()
        .filter(|n| !done.iter().any(|r| &r.namespace == *n))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    if state.cluster.is_none() {
        b.glance("cluster: none recorded; no namespace was gathered");
        return Ok(());
    }
    let access = ClusterAccess::from_state_or_plan(state, &plan.cluster);
    let client = match connect(&access).await {
        Ok(c) => c,
        Err(e) => {
            b.write(
                "cluster.txt",
                "why the cluster could not be asked about its namespaces",
                &format!(
                    "cannot connect to the cluster ({}): {e:#}\n",
                    access.describe()
                ),
            )?;
            b.glance(format!("cluster: cannot connect ({})", access.describe()));
            return Ok(());
        }
    };
    for ns in wanted {
        match tokio::time::timeout(NAMESPACE_LIMIT, namespace_report::collect(&client, ns)).await {
            Ok(r) => {
                namespaces::add(b, &r)?;
                b.glance(format!("namespace {ns}: {}", r.summary));
            }
            Err(_) => b.glance(format!(
                "namespace {ns}: the cluster did not answer within {}",
                humantime::format_duration(NAMESPACE_LIMIT)
            )),
        }
    }
    Ok(())
}

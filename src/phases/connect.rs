//! Connect: make the dependency containers reachable from pods by name. kind's node containers
//! join the environment's network; per dependency a selectorless Service `<dep>` and an
//! EndpointSlice with the container's address on that network; the `kubetest-deps` ConfigMap
//! holds the `KUBETEST_DEP_*` values as a pod sees them.
//!
//! Why it routes: kind's nodes are containers on the engine network `kind`; joined to
//! `kubetest-<env>` as well, a node reaches every dependency container by its address there
//! (a directly connected subnet), and kindnet masquerades pod traffic leaving the pod CIDR
//! through the node. kube-proxy on the node turns the Service's ClusterIP into that address.
//! The node keeps its node IP: kind pins kubelet's `node-ip` to its address on `kind`
//! (`pkg/cluster/internal/kubeadm/config.go`).
//!
//! What a second network does to kind (kind at 2026-08): `node.IP()` of its docker and podman
//! providers inspects every network and fails with `container addresses should have 2 values`
//! for a node on two; kind calls it only while `kind create cluster` writes the kubeadm
//! config, before this phase runs, so attaching afterwards is safe for create/get/load/delete.
//! A node *restarted* while attached re-detects its address with `getent ahostsv4 $(hostname)`
//! (the node image's entrypoint) and may pick the one on `kubetest-<env>`: `down` detaches
//! the nodes, and `up --recreate` makes a clean cluster.

use super::PhaseCtx;
use crate::config::Provider;
use crate::deps::outputs::{self, InCluster};
use crate::engine::attach::{self, Attached};
use crate::engine::{containers, Engine};
use crate::events::{Outcome, Phase};
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::dep_services::{self, VALUES_CONFIGMAP};
use crate::state::{AttachmentRecord, ClusterObjectRecord};
use anyhow::Context;

/// What `up` says with `provider: existing` and dependencies (also in the README).
pub const EXISTING_CLUSTER_NOTE: &str = "dependencies are not reachable by name from a `provider: existing` cluster: kubetest cannot join another cluster's nodes to this engine's network, so it makes no Services and no `kubetest-deps` ConfigMap. Pods can reach a dependency only through its published host port (`ports: [\"15432:5432\"]`) at an address of this machine that the nodes route to (Docker Desktop and Podman machine: `host.docker.internal` / `host.containers.internal`; a remote cluster: this machine's LAN address, if its firewall allows)";

pub async fn run(ctx: &PhaseCtx, engine: Option<&Engine>) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.dependencies.iter().all(|d| d.spec.once) {
        return Ok(Outcome::Skipped);
    }
    match plan.cluster.provider {
        Provider::None => return Ok(Outcome::Skipped),
        Provider::Existing => {
            ctx.events.warn(Some(Phase::Connect), EXISTING_CLUSTER_NOTE);
            return Ok(Outcome::Skipped);
        }
        Provider::Kind => {}
    }
    let engine =
        engine.context("internal: dependencies to connect but no engine from preflight")?;
    let network = crate::phases::deps::network_name(&plan.environment);
    let attached_before = attach_nodes(ctx, engine, &network).await?;
    let reachable = reachable(ctx, engine, &network).await?;
    publish(ctx, &reachable).await?;
    Ok(if attached_before {
        Outcome::Reused
    } else {
        Outcome::Ok
    })
}

/// Join every node of the kind cluster to `network`, recording each; true when all of them
/// already were.
async fn attach_nodes(ctx: &PhaseCtx, engine: &Engine, network: &str) -> anyhow::Result<bool> {
    let cluster = &ctx.plan.cluster.name;
    let nodes = attach::kind_nodes(&engine.endpoint.url, cluster).await?;
    if nodes.is_empty() {
        anyhow::bail!(
            "kind cluster {cluster} has no node containers on the {} engine (label {}={cluster}): pods could not reach the dependencies. Was the cluster made with another engine? `kind get nodes --name {cluster}` lists its nodes; `kubetest up --recreate` makes it again",
            engine.kind.as_str(),
            attach::KIND_CLUSTER_LABEL
        );
    }
    let mut all_before = true;
    for (_, node) in nodes {
        let task = ctx.events.task(Phase::Connect, format!("node {node}"));
        let result = attach::connect(&engine.docker, network, &node).await;
        let attached = match result {
            Ok(a) => a,
            Err(e) => {
                task.finish(Outcome::Failed, Some(format!("{e:#}")));
                return Err(e.context(
                    "joining kind's nodes to the dependencies' network (`kubetest doctor` checks the engine)",
                ));
            }
        };
        ctx.state.update(|s| {
            let rec = AttachmentRecord {
                network: network.to_owned(),
                container: node.clone(),
            };
            if !s.attachments.contains(&rec) {
                s.attachments.push(rec);
            }
        })?;
        match attached {
            Attached::Now => {
                all_before = false;
                task.finish(Outcome::Ok, Some(format!("attached to {network}")));
            }
            Attached::Already => {
                task.finish(Outcome::Reused, Some(format!("already on {network}")))
            }
        }
    }
    Ok(all_before)
}

/// Each long-running dependency with ports, at its current address on `network`.
async fn reachable(
    ctx: &PhaseCtx,
    engine: &Engine,
    network: &str,
) -> anyhow::Result<Vec<InCluster>> {
    let mut out = Vec::new();
    for dep in ctx.plan.dependencies.iter().filter(|d| !d.spec.once) {
        let ports = outputs::cluster_ports(&dep.spec);
        if ports.is_empty() {
            ctx.events.warn(
                Some(Phase::Connect),
                format!(
                    "dependency `{}` has no `ports:` and no tcp/http health port: pods cannot reach it by name (add e.g. `ports: [\"5432\"]`)",
                    dep.name
                ),
            );
            continue;
        }
        // Asked now, not taken from the state: a recreated container has a new address.
        let address = containers::inspect(&engine.docker, &dep.container_name, network)
            .await?
            .and_then(|c| c.address)
            .with_context(|| {
                format!(
                    "dependency container {} has no address on network {network}; `kubetest up` again recreates it",
                    dep.container_name
                )
            })?;
        out.push(InCluster {
            dependency: dep.name.clone(),
            address,
            ports,
        });
    }
    Ok(out)
}

/// Apply the namespace (when missing), Services, EndpointSlices and the values ConfigMap;
/// delete those recorded by an earlier `up` that this config no longer has.
async fn publish(ctx: &PhaseCtx, reachable: &[InCluster]) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let env = &plan.environment;
    let ns = &plan.deploy.namespace;
    let access = ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &plan.cluster);
    let client = connect(&access).await?;
    let remember = |rec: ClusterObjectRecord| {
        ctx.state.update(|s| {
            if !s.cluster_objects.contains(&rec) {
                s.cluster_objects.push(rec);
            }
        })
    };
    if let Some(rec) = dep_services::ensure_namespace(&client, ns, env).await? {
        ctx.events.note(
            Some(Phase::Connect),
            format!("created namespace {ns} for the dependencies' Services (`kubetest down` deletes it)"),
        );
        remember(rec)?;
    }
    let mut current: Vec<ClusterObjectRecord> = Vec::new();
    for dep in reachable {
        let task = ctx.events.task(Phase::Connect, &dep.dependency);
        let applied = async {
            let svc =
                dep_services::apply(&client, ns, &dep_services::service(dep, ns, env)).await?;
            remember(svc.clone())?;
            let slice =
                dep_services::apply(&client, ns, &dep_services::endpoint_slice(dep, ns, env))
                    .await?;
            remember(slice.clone())?;
            anyhow::Ok([svc, slice])
        }
        .await;
        match applied {
            Ok(recs) => {
                current.extend(recs);
                let ports: Vec<String> = dep.ports.iter().map(|(p, _)| p.to_string()).collect();
                task.finish(
                    Outcome::Ok,
                    Some(format!(
                        "{}.{ns}.svc:{} → {}",
                        dep.dependency,
                        ports.join(","),
                        dep.address
                    )),
                );
            }
            Err(e) => {
                task.finish(Outcome::Failed, Some(format!("{e:#}")));
                return Err(e);
            }
        }
    }
    let values = outputs::cluster_env_vars(reachable, ns);
    let task = ctx
        .events
        .task(Phase::Connect, format!("configmap {VALUES_CONFIGMAP}"));
    match dep_services::apply(
        &client,
        ns,
        &dep_services::values_config_map(&values, ns, env),
    )
    .await
    {
        Ok(rec) => {
            remember(rec.clone())?;
            current.push(rec);
            task.finish(
                Outcome::Ok,
                Some(format!(
                    "{} values for `envFrom: [{{configMapRef: {{name: {VALUES_CONFIGMAP}}}}}]` in {ns}",
                    values.len()
                )),
            );
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(e.to_string()));
            return Err(e.into());
        }
    }
    // Objects of dependencies removed from the config (or of an earlier deploy namespace).
    let stale: Vec<ClusterObjectRecord> = ctx
        .state
        .snapshot()
        .cluster_objects
        .into_iter()
        .filter(|r| r.kind != "Namespace" && !current.contains(r))
        .collect();
    for rec in stale {
        dep_services::delete(&client, &rec).await?;
        ctx.state
            .update(|s| s.cluster_objects.retain(|r| *r != rec))?;
        ctx.events.note(
            Some(Phase::Connect),
            format!("deleted {}: no longer in the config", rec.describe()),
        );
    }
    Ok(())
}

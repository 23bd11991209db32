//! Load through kind's local registry (`cluster.load: registry`, or `auto` above
//! [`AUTO_REGISTRY_BYTES`]): the registry container is recorded, created, started and attached
//! to kind's node network; every node gets its hosts.toml; the KEP-1755 ConfigMap is applied;
//! then each built image is pushed as `localhost:<port>/<path>:<tag>` through the engine API
//! (only layers the registry lacks move) and recorded as `localhost:<port>/<path>@sha256:…`,
//! which deploy writes into the manifests (src/k8s/image_rewrite.rs): a new digest changes the
//! pod template, so the pods roll by themselves.

use super::load::registry_ref;
use super::PhaseCtx;
use crate::cluster::local_registry::{self as reg, Ensured};
use crate::config::{LoadMode, AUTO_REGISTRY_BYTES};
use crate::engine::{attach, push, Engine};
use crate::events::{Outcome, Phase};
use crate::state::LocalRegistryRecord;
use anyhow::Context;

/// `archive` or `registry` for this `up`: `auto` weighs the built images.
pub async fn choose(ctx: &PhaseCtx, engine: &Engine, built: &[&str]) -> anyhow::Result<LoadMode> {
    match ctx.plan.cluster.load {
        LoadMode::Auto => {}
        other => return Ok(other),
    }
    let mut total = 0u64;
    for name in built {
        let size = engine
            .docker
            .inspect_image(name)
            .await
            .with_context(|| {
                format!("cannot inspect image {name} to weigh it (cluster.load: auto)")
            })?
            .size
            .unwrap_or(0);
        total += u64::try_from(size).unwrap_or(0);
    }
    let mode = auto_mode(total);
    ctx.events.note(
        Some(Phase::Load),
        format!(
            "cluster.load: auto: the built images weigh {:.1} MB, {} the {:.0} MB threshold: {}",
            total as f64 / 1e6,
            if mode == LoadMode::Registry {
                "above"
            } else {
                "within"
            },
            AUTO_REGISTRY_BYTES as f64 / 1e6,
            mode.as_str()
        ),
    );
    Ok(mode)
}

/// `auto`'s rule (the figures are at [`AUTO_REGISTRY_BYTES`]).
pub fn auto_mode(total_bytes: u64) -> LoadMode {
    if total_bytes > AUTO_REGISTRY_BYTES {
        LoadMode::Registry
    } else {
        LoadMode::Archive
    }
}

/// The record of the registry container: the configured port, else the one recorded by an
/// earlier `up` (references in running pods keep working), else a free one.
fn planned_record(ctx: &PhaseCtx) -> anyhow::Result<LocalRegistryRecord> {
    let plan = &ctx.plan;
    let spec = &plan.cluster.local_registry;
    let recorded = ctx.state.snapshot().local_registry;
    let port = match (spec.port, &recorded) {
        (Some(p), _) => p,
        (None, Some(r)) if r.port != 0 => r.port,
        _ => reg::free_port()?,
    };
    let name = reg::container_name(&plan.environment);
    let id = recorded
        .filter(|r| r.name == name)
        .map(|r| r.id)
        .unwrap_or_default();
    Ok(LocalRegistryRecord {
        name,
        id,
        port,
        image: spec.image.clone(),
    })
}

/// Make the registry ready for the cluster's nodes; returns its record.
pub async fn prepare(ctx: &PhaseCtx, engine: &Engine) -> anyhow::Result<LocalRegistryRecord> {
    let plan = &ctx.plan;
    let mut rec = planned_record(ctx)?;
    let task = ctx
        .events
        .task(Phase::Load, format!("local registry {}", rec.name));
    let result = async {
        // Recorded before the create: a crash between the two leaves nothing `down` misses.
        let before = rec.clone();
        ctx.state.update(|s| s.local_registry = Some(before))?;
        task.progress(format!("{} on 127.0.0.1:{}", rec.image, rec.port));
        let (id, what) = reg::ensure(&engine.docker, &rec, &plan.environment).await?;
        rec.id = id;
        let done = rec.clone();
        ctx.state.update(|s| s.local_registry = Some(done))?;
        let network = reg::kind_network(engine.kind, |v| std::env::var(v).ok());
        task.progress(format!("attaching to kind's network {network}"));
        reg::attach_to(&engine.docker, &network, &rec.name).await?;
        let address = crate::engine::containers::inspect(&engine.docker, &rec.name, &network)
            .await?
            .and_then(|i| i.address);
        let cluster = &plan.cluster.name;
        let nodes = attach::kind_nodes(&engine.endpoint.url, cluster).await?;
        if nodes.is_empty() {
            anyhow::bail!(
                "kind cluster {cluster} has no node containers on the {} engine to point at the local registry",
                engine.kind.as_str()
            );
        }
        for (_, node) in &nodes {
            // A cluster made before `cluster.load: registry` (reused) may run a containerd
            // that never reads certs.d: its pulls of localhost:<port> would fail in the pods.
            if let Some(config) = reg::containerd_config(&engine.docker, node).await {
                if !reg::reads_certs_dir(&config) {
                    task.warn(format!(
                        "containerd in {node} does not read {} ({} has no `config_path` there): \
                         the cluster was created without kind's registry patch, so pods cannot pull \
                         from the local registry; `kubetest up --recreate` creates it with the patch",
                        crate::cluster::kind_config::CERTS_DIR,
                        reg::CONTAINERD_CONFIG
                    ));
                }
            }
            task.progress(format!("{} in {node}", reg::hosts_path(rec.port)));
            reg::write_hosts(&engine.docker, node, rec.port, &rec.name, address.as_deref())
                .await?;
        }
        advertise(ctx, rec.port).await?;
        Ok::<_, anyhow::Error>(format!(
            "{} on 127.0.0.1:{} and network {network}; {} node(s) pull {} from http://{}:{}",
            match what {
                Ensured::Created => "created",
                Ensured::Started => "started",
                Ensured::Running => "running",
            },
            rec.port,
            nodes.len(),
            reg::registry_host(rec.port),
            rec.name,
            reg::CONTAINER_PORT
        ))
    }
    .await;
    match result {
        Ok(detail) => {
            task.finish(Outcome::Ok, Some(detail));
            Ok(rec)
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            Err(e)
        }
    }
}

/// The KEP-1755 ConfigMap `kube-public/local-registry-hosting` (server-side apply). It lives
/// in the kind cluster and goes with it.
async fn advertise(ctx: &PhaseCtx, port: u16) -> anyhow::Result<()> {
    let access = crate::k8s::client::ClusterAccess::from_state_or_plan(
        &ctx.state.snapshot(),
        &ctx.plan.cluster,
    );
    let client = crate::k8s::client::connect(&access).await?;
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(reg::hosting_configmap(port))
            .context("internal: the local-registry-hosting ConfigMap")?;
    crate::k8s::dep_services::apply(&client, reg::HOSTING_NAMESPACE, &cm).await?;
    Ok(())
}

/// Push `built` to the local registry and record each pinned reference.
pub async fn load(ctx: &PhaseCtx, engine: &Engine, built: &[&str]) -> anyhow::Result<Outcome> {
    let old_port = ctx.state.snapshot().local_registry.map(|r| r.port);
    let rec = prepare(ctx, engine).await?;
    let host = reg::registry_host(rec.port);
    for name in built {
        let target = registry_ref(&host, name);
        let task = ctx.events.task(Phase::Load, *name);
        task.progress(format!("pushing to {target}"));
        // Plain HTTP on localhost: Docker allows it (127.0.0.0/8 is insecure by default), Podman
        // is told `tlsVerify=false` (docs/engine-facts.md).
        match push::push(&engine.docker, engine.kind, name, &target, None, false).await {
            Ok(p) => {
                let pinned = p.pinned();
                // The port changed: the tag of the push to the old one is kubetest's, and
                // `down --images` would know only the new one.
                if let Some(old) = old_port.filter(|p| *p != rec.port) {
                    let old_tag = registry_ref(&reg::registry_host(old), name);
                    if let Err(e) = crate::engine::images::remove(&engine.docker, &old_tag).await {
                        task.warn(format!("could not untag the earlier push {old_tag}: {e:#}"));
                    }
                }
                ctx.state.update(|s| {
                    if let Some(i) = s.images.iter_mut().find(|i| i.name == *name) {
                        i.pushed = Some(pinned.clone());
                    }
                })?;
                task.finish(Outcome::Ok, Some(format!("pushed {pinned}")));
            }
            Err(e) => {
                task.finish(Outcome::Failed, Some(e.to_string()));
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot push {name} to the local registry {} (container {})",
                    host, rec.name
                )));
            }
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_switches_above_the_threshold() {
        assert_eq!(auto_mode(0), LoadMode::Archive);
        assert_eq!(auto_mode(AUTO_REGISTRY_BYTES), LoadMode::Archive);
        assert_eq!(auto_mode(301_000_000), LoadMode::Registry);
    }
}

//! Teardown (`down`): remove exactly what the state file names; a missing thing is success.

use super::PhaseCtx;
use crate::cluster::kind::{self, Kind};
use crate::engine::claim;
use crate::engine::patience::within_limit;
use crate::engine::{
    self, attach, containers, images, Endpoint, Engine, EngineBusy, EngineKind, NoEngine, Patience,
};
use crate::events::{Outcome, Phase};
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::dep_services;
use crate::scenario::cluster::delete_leftover_namespaces;
use crate::state::ClusterRecord;
use anyhow::Context;

/// Options of `down` that change what is removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    pub images: bool,
    pub cluster: bool,
    /// The state file could not be used: look for the environment's containers and networks
    /// by label even when the config names no dependencies.
    pub by_labels: bool,
    /// `down --id ID` released a run no state file records (src/phases/lost_runs.rs).
    pub released_by_id: bool,
}

pub async fn run(ctx: &PhaseCtx, opts: TeardownOptions) -> anyhow::Result<Outcome> {
    let state = ctx.state.snapshot();
    // Containers and networks the state names, plus any the environment's labels find
    // (leftovers of a run that crashed before recording them).
    let recorded =
        !state.containers.is_empty() || !state.creating.is_empty() || !state.networks.is_empty();
    let mut removed = 0;
    if recorded {
        let engine = recorded_engine(ctx).await?;
        removed = remove_dependencies(ctx, &engine).await?;
    } else if !ctx.plan.dependencies.is_empty() || opts.by_labels {
        match recorded_engine(ctx).await {
            Ok(engine) => removed = remove_dependencies(ctx, &engine).await?,
            // A busy engine is running and may hold this environment's containers: saying
            // "nothing to remove" would be a guess. It is waited for, then an error.
            Err(e) if e.downcast_ref::<EngineBusy>().is_some() => return Err(e),
            // Nothing recorded and no engine: nothing known to remove. A named endpoint
            // that does not answer is still worth a warning (another engine is not tried).
            Err(e) if e.downcast_ref::<NoEngine>().is_none() => ctx.events.warn(
                Some(Phase::Teardown),
                format!("no dependency containers recorded, and none looked for by label: {e:#}"),
            ),
            Err(e) => ctx.events.note(
                Some(Phase::Teardown),
                format!("no dependency containers recorded, and none looked for by label: {e:#}"),
            ),
        }
    }
    if let Some(reg) = ctx.state.snapshot().local_registry {
        remove_local_registry(ctx, &reg).await?;
        removed += 1;
    }
    let state = ctx.state.snapshot();
    if let Some(rec) = &state.cluster {
        delete_cluster(ctx, rec, opts).await?;
    }
    if state.is_empty() && removed == 0 && !opts.released_by_id {
        ctx.events
            .note(Some(Phase::Teardown), "nothing recorded: nothing to remove");
        return Ok(Outcome::Skipped);
    }
    if opts.images && !state.images.is_empty() {
        let engine = recorded_engine(ctx).await?;
        let on_busy = super::busy_reporter(&ctx.events, Phase::Teardown);
        for img in &state.images {
            let task = ctx
                .events
                .task(Phase::Teardown, format!("image {}", img.name));
            // The tag a push to a registry left in the engine goes too (its image is ours).
            let mut tags: Vec<String> = img
                .pushed
                .as_deref()
                .and_then(|p| p.split_once('@'))
                .map(|(repo, _)| format!("{repo}:{}", engine::push::split_tag(&img.name).1))
                .into_iter()
                .collect();
            tags.push(img.name.clone());
            let removal = within_limit(
                &engine.endpoint,
                &format!("DELETE /images/{}", img.name),
                patience(ctx, &on_busy),
                || async {
                    for t in &tags {
                        images::remove(&engine.docker, t).await?;
                    }
                    Ok(())
                },
            )
            .await;
            match removal {
                Ok(()) => {
                    ctx.state
                        .update(|s| s.images.retain(|i| i.name != img.name))?;
                    task.finish(Outcome::Ok, Some("removed".into()));
                }
                Err(e) => {
                    task.finish(Outcome::Failed, Some(format!("{e:#}")));
                    return Err(e);
                }
            }
        }
    } else if !state.images.is_empty() {
        ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "kept {} built image(s) as build cache (`kubetest down --images` removes them)",
                state.images.len()
            ),
        );
    }
    // A reused cluster is not ours to delete; forget it.
    ctx.state.update(|s| s.cluster = None)?;
    Ok(Outcome::Ok)
}

/// Each engine call of `down` waits at most `engine.timeout`, reporting a lagging one.
fn patience<'a>(
    ctx: &PhaseCtx,
    on_busy: &'a (dyn Fn(&engine::BusyProgress) + Send + Sync),
) -> Patience<'a> {
    Patience {
        limit: ctx.plan.engine_timeout,
        on_busy,
    }
}

/// The engine `up` used (from the state file), else the one `up` would choose now. A busy
/// engine is waited for within `engine.timeout`, then is an [`engine::EngineBusy`] error.
async fn recorded_engine(ctx: &PhaseCtx) -> anyhow::Result<Engine> {
    let on_busy = super::busy_reporter(&ctx.events, Phase::Teardown);
    if let Some(rec) = ctx.state.snapshot().engine {
        let ep = Endpoint {
            url: rec.endpoint.clone(),
            source: "recorded by `kubetest up`".into(),
        };
        let connected = engine::connect_endpoint_for(
            &ep,
            Some(&rec),
            crate::config::EngineChoice::Auto,
            patience(ctx, &on_busy),
        )
        .await;
        return match connected {
            Ok(engine) => Ok(engine),
            Err(engine::EndpointError::Busy(b)) => Err(b.into()),
            Err(why) => Err(anyhow::anyhow!(
                "the {} engine that `up` used at {} does not answer: {why}; start it again, then rerun `kubetest down` (`kubetest doctor` checks it)",
                rec.kind,
                rec.endpoint
            )),
        };
    }
    let host = ctx.plan.engine_endpoint();
    let wanted = engine::Wanted {
        choice: ctx.plan.engine,
        host: host.as_ref(),
        patience: patience(ctx, &on_busy),
    };
    engine::connect(wanted, None)
        .await
        .map_err(engine::ConnectError::into_anyhow)
        .context("removing images and dependency containers needs the engine")
}

/// Remove the registry container of `cluster.load: registry` (by id, or by name when `up`
/// stopped between recording and creating it); gone already is success.
async fn remove_local_registry(
    ctx: &PhaseCtx,
    reg: &crate::state::LocalRegistryRecord,
) -> anyhow::Result<()> {
    let engine = recorded_engine(ctx).await?;
    let on_busy = super::busy_reporter(&ctx.events, Phase::Teardown);
    let task = ctx
        .events
        .task(Phase::Teardown, format!("local registry {}", reg.name));
    let target = if reg.id.is_empty() {
        &reg.name
    } else {
        &reg.id
    };
    let removal = if reg.id.is_empty() {
        // Recorded, never answered: its create may still be running (src/engine/claim.rs).
        within_limit(
            &engine.endpoint,
            &format!("POST /containers/create?name={target} (claim)"),
            patience(ctx, &on_busy),
            || {
                let limit = ctx.plan.engine_timeout;
                let env = &ctx.plan.environment;
                claim::settle_name(&engine.docker, target, &reg.image, env, limit)
            },
        )
        .await
        .map(|_| ())
    } else {
        within_limit(
            &engine.endpoint,
            &format!("DELETE /containers/{target}"),
            patience(ctx, &on_busy),
            || containers::remove(&engine.docker, target),
        )
        .await
    };
    match removal {
        Ok(()) => {
            ctx.state.update(|s| s.local_registry = None)?;
            task.finish(Outcome::Ok, Some("removed".into()));
            Ok(())
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            Err(e)
        }
    }
}

/// Remove the dependency containers, then their networks; each removal is recorded at once.
/// Returns how many objects it removed (or found already gone).
async fn remove_dependencies(ctx: &PhaseCtx, engine: &Engine) -> anyhow::Result<usize> {
    let mut removed = 0;
    let docker = &engine.docker;
    let env = &ctx.plan.environment;
    let on_busy = super::busy_reporter(&ctx.events, Phase::Teardown);
    let limit = || patience(ctx, &on_busy);
    let ep = &engine.endpoint;
    let mut targets: Vec<(String, String)> = ctx
        .state
        .snapshot()
        .containers
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let list = || {
        within_limit(ep, "GET /containers/json", limit(), || {
            containers::labelled_containers(&ep.url, env)
        })
    };
    for (id, name) in list().await? {
        if !targets.iter().any(|(i, n)| *i == id || *n == name) {
            targets.push((id, name));
        }
    }
    // A create a killed `up` sent may still be running: settle each such name first (it is
    // in no list until the engine finished it).
    for intent in ctx.state.snapshot().creating {
        let task = ctx
            .events
            .task(Phase::Teardown, format!("container {}", intent.name));
        let call = format!("POST /containers/create?name={} (claim)", intent.name);
        let settled = within_limit(ep, &call, limit(), || {
            claim::settle_name(docker, &intent.name, &intent.image, env, limit().limit)
        })
        .await;
        let settled = match settled {
            Ok(s) => s,
            Err(e) => {
                task.finish(Outcome::Failed, Some(format!("{e:#}")));
                return Err(e);
            }
        };
        ctx.state.update(|s| {
            s.creating.retain(|i| i.name != intent.name);
            s.containers.retain(|c| c.name != intent.name);
        })?;
        targets.retain(|(_, n)| *n != intent.name);
        removed += 1;
        let detail = if !settled.removed.is_empty() {
            "removed (created while down ran)"
        } else if settled.image_missing {
            "nothing to remove (its image is gone, so no create of it can finish)"
        } else {
            "nothing to remove (no create of it was still running)"
        };
        task.finish(Outcome::Ok, Some(detail.into()));
    }
    // Settle: a killed `up` can leave a create in flight that the engine finishes after the
    // first listing (seen: 1 of 22 kills left a `Created` container). Each round removes what
    // it found, then lists again; a listing that finds nothing ends it.
    for round in 0..SETTLE_ROUNDS {
        if round > 0 {
            targets = list().await?;
            if targets.is_empty() {
                break;
            }
        }
        for (id, name) in std::mem::take(&mut targets) {
            let task = ctx
                .events
                .task(Phase::Teardown, format!("container {name}"));
            // By name when the state has no id yet (created, not answered), else by id.
            let target = if id.is_empty() { &name } else { &id };
            let call = format!("DELETE /containers/{target}");
            let removal =
                within_limit(ep, &call, limit(), || containers::remove(docker, target)).await;
            if let Err(e) = removal {
                task.finish(Outcome::Failed, Some(format!("{e:#}")));
                return Err(e);
            }
            ctx.state
                .update(|s| s.containers.retain(|c| c.name != name))?;
            removed += 1;
            task.finish(
                Outcome::Ok,
                Some(if round == 0 {
                    "removed".into()
                } else {
                    "removed (created while down ran)".into()
                }),
            );
        }
    }
    let mut nets: Vec<(String, String)> = ctx
        .state
        .snapshot()
        .networks
        .iter()
        .map(|n| (n.id.clone(), n.name.clone()))
        .collect();
    let labelled = within_limit(ep, "GET /networks", limit(), || {
        containers::labelled_networks(docker, env)
    })
    .await?;
    for (id, name) in labelled {
        if !nets.iter().any(|(i, _)| *i == id) {
            nets.push((id, name));
        }
    }
    for (id, name) in nets {
        // Attached kind nodes keep a network busy: removal fails with "active endpoints".
        detach_nodes(ctx, engine, &name).await?;
        let task = ctx.events.task(Phase::Teardown, format!("network {name}"));
        // By id: Docker 20.10 may hold two networks of one name, and then refuses the name.
        let call = format!("DELETE /networks/{id}");
        let removal = within_limit(ep, &call, limit(), || {
            containers::remove_network(docker, &id)
        })
        .await;
        if let Err(e) = removal {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            return Err(e);
        }
        ctx.state.update(|s| s.networks.retain(|n| n.id != id))?;
        removed += 1;
        task.finish(Outcome::Ok, Some("removed".into()));
    }
    Ok(removed)
}

/// Rounds of remove-then-list-again in [`remove_dependencies`].
const SETTLE_ROUNDS: usize = 5;

/// Detach from `network` the containers `up` attached (kind's nodes), and any node of the
/// plan's kind cluster still on it (attached by an `up` killed before it recorded that).
/// Not attached, or gone, is success.
async fn detach_nodes(ctx: &PhaseCtx, engine: &Engine, network: &str) -> anyhow::Result<()> {
    let mut nodes: Vec<String> = ctx
        .state
        .snapshot()
        .attachments
        .iter()
        .filter(|a| a.network == network)
        .map(|a| a.container.clone())
        .collect();
    if ctx.plan.cluster.provider == crate::config::Provider::Kind {
        let found = attach::kind_nodes(&engine.endpoint.url, &ctx.plan.cluster.name)
            .await
            .unwrap_or_default();
        for (_, name) in found {
            if !nodes.contains(&name) {
                nodes.push(name);
            }
        }
    }
    for node in nodes {
        let task = ctx.events.task(Phase::Teardown, format!("node {node}"));
        if let Err(e) = attach::disconnect(&engine.docker, network, &node).await {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            return Err(e);
        }
        ctx.state.update(|s| {
            s.attachments
                .retain(|a| !(a.network == network && a.container == node))
        })?;
        task.finish(Outcome::Ok, Some(format!("detached from {network}")));
    }
    Ok(())
}

/// In a cluster `down` keeps, delete the objects the connect phase made (Services,
/// EndpointSlices, the values ConfigMap, last the namespace it created), newest first; each
/// deletion is recorded at once, a missing object is success.
async fn remove_cluster_objects(ctx: &PhaseCtx) -> anyhow::Result<()> {
    let mut recorded = ctx.state.snapshot().cluster_objects;
    if recorded.is_empty() {
        return Ok(());
    }
    recorded.reverse();
    let access = ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &ctx.plan.cluster);
    let client = connect(&access).await?;
    for rec in recorded {
        let task = ctx.events.task(Phase::Teardown, rec.describe());
        if let Err(e) = dep_services::delete(&client, &rec).await {
            task.finish(Outcome::Failed, Some(e.to_string()));
            return Err(e.into());
        }
        ctx.state
            .update(|s| s.cluster_objects.retain(|r| *r != rec))?;
        task.finish(Outcome::Ok, Some("deleted".into()));
    }
    Ok(())
}

/// On a shared cluster, delete the namespaces of this run (label `kubetest.io/run=<id>`) —
/// and with them everything deployed into them — and nothing of other runs; then the
/// cluster-scoped objects it applied: its own are deleted, shared ones released (deleted with
/// the last run's label, src/k8s/run_cluster.rs).
async fn remove_run_namespaces(ctx: &PhaseCtx) -> anyhow::Result<()> {
    let Some(id) = ctx.state.snapshot().run_id else {
        return Ok(());
    };
    let task = ctx
        .events
        .task(Phase::Teardown, format!("namespaces of run {id}"));
    let access = ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &ctx.plan.cluster);
    let result = async {
        let client = connect(&access).await.map_err(|e| format!("{e:#}"))?;
        crate::k8s::run_scope::delete_namespaces(&client, &id).await
    }
    .await;
    let result = match result {
        Ok(names) => remove_run_cluster_objects(ctx, &access, &id, &task)
            .await
            .map(|()| names),
        Err(e) => Err(e),
    };
    match result {
        Ok(names) => {
            ctx.state.update(|s| {
                s.run_id = None;
                s.run_namespaces.clear();
            })?;
            let detail = if names.is_empty() {
                "none left".to_owned()
            } else {
                format!("deleted {}", names.join(", "))
            };
            task.finish(Outcome::Ok, Some(detail));
            Ok(())
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(e.clone()));
            anyhow::bail!("{e}; run `kubetest down` again once the cluster answers")
        }
    }
}

/// The cluster-scoped objects of run `id`, newest first; each one is dropped from the state
/// file once removed or released.
async fn remove_run_cluster_objects(
    ctx: &PhaseCtx,
    access: &ClusterAccess,
    id: &str,
    task: &crate::events::TaskEvents,
) -> Result<(), String> {
    let mut recorded = ctx.state.snapshot().run_cluster_objects;
    if recorded.is_empty() {
        return Ok(());
    }
    recorded.reverse();
    let client = connect(access).await.map_err(|e| format!("{e:#}"))?;
    let kinds = crate::k8s::kinds::Kinds::new();
    for o in recorded {
        let done = crate::k8s::run_cluster::remove(&client, &kinds, id, &o).await?;
        task.log(format!("{} {}: {}", o.kind, o.name, done.describe()));
        ctx.state
            .update(|s| s.run_cluster_objects.retain(|r| *r != o))
            .map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

const NAMESPACE_LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// In a cluster `down` keeps, delete the scenario namespaces a killed `kubetest run` left
/// (found by the environment's label). The cluster being unreachable is a note, not a failure:
/// `down` still removes everything else.
async fn remove_scenario_namespaces(ctx: &PhaseCtx, rec: &ClusterRecord) {
    let access = ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &ctx.plan.cluster);
    let look = async {
        match connect(&access).await {
            Ok(client) => {
                let id = ctx.state.snapshot().run_id;
                delete_leftover_namespaces(&client, &ctx.plan.environment, id.as_deref()).await
            }
            Err(e) => Err(format!("{e:#}")),
        }
    };
    // An unreachable cluster must not hold up `down`.
    let result = tokio::time::timeout(NAMESPACE_LOOKUP_LIMIT, look)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the API server did not answer within {}s",
                NAMESPACE_LOOKUP_LIMIT.as_secs()
            ))
        });
    match result {
        Ok(names) if names.is_empty() => {}
        Ok(names) => {
            let task = ctx.events.task(
                Phase::Teardown,
                format!("scenario namespaces in {}", rec.name),
            );
            task.finish(
                Outcome::Ok,
                Some(format!(
                    "deleted {} left by an interrupted run: {}",
                    names.len(),
                    names.join(", ")
                )),
            );
        }
        Err(e) => ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "did not look for scenario namespaces left in cluster {}: {e}",
                rec.name
            ),
        ),
    }
}

/// Remove the node containers of kind cluster `name` (label `io.x-k8s.kind.cluster`), on the
/// engine `up` used; returns how many it removed.
async fn remove_kind_nodes(ctx: &PhaseCtx, name: &str) -> anyhow::Result<usize> {
    let engine = recorded_engine(ctx).await?;
    let nodes = attach::kind_nodes(&engine.endpoint.url, name).await?;
    for (id, node) in &nodes {
        containers::remove(&engine.docker, id)
            .await
            .with_context(|| format!("cannot remove kind node {node}"))?;
    }
    if !nodes.is_empty() {
        let names: Vec<&str> = nodes.iter().map(|(_, n)| n.as_str()).collect();
        ctx.events.note(
            Some(Phase::Teardown),
            format!("removed node container(s) kind left: {}", names.join(", ")),
        );
    }
    Ok(nodes.len())
}

/// Delete the recorded kind cluster when `up` created it (or `--cluster` asks); a cluster
/// that is already gone is success. An existing (`provider: existing`) cluster is never deleted.
async fn delete_cluster(
    ctx: &PhaseCtx,
    rec: &ClusterRecord,
    opts: TeardownOptions,
) -> anyhow::Result<()> {
    if rec.provider != "kind" {
        remove_cluster_objects(ctx).await?;
        remove_scenario_namespaces(ctx, rec).await;
        remove_run_namespaces(ctx).await?;
        if opts.cluster {
            ctx.events.note(
                Some(Phase::Teardown),
                format!(
                    "cluster {} is `provider: existing`: kubetest never deletes it",
                    rec.name
                ),
            );
        }
        return Ok(());
    }
    if !(rec.created || opts.cluster) {
        remove_cluster_objects(ctx).await?;
        remove_scenario_namespaces(ctx, rec).await;
        remove_run_namespaces(ctx).await?;
        ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "kept kind cluster {}: `up` reused it (`kubetest down --cluster` deletes it)",
                rec.name
            ),
        );
        return Ok(());
    }
    let task = ctx
        .events
        .task(Phase::Teardown, format!("kind cluster {}", rec.name));
    let result = async {
        let binary = kind::locate(ctx.plan.cluster.kind_binary.as_deref())?;
        let engine_kind = ctx
            .state
            .snapshot()
            .engine
            .and_then(|e| match e.kind.as_str() {
                "podman" => Some(EngineKind::Podman),
                "docker" => Some(EngineKind::Docker),
                _ => None,
            });
        let user = std::env::var(kind::PROVIDER_ENV).ok();
        let provider = kind::provider_for(engine_kind, user.as_deref()).value;
        let deleted = Kind::new(binary, provider)
            .delete(&rec.name, rec.kubeconfig.as_deref())
            .await;
        // kind deletes the nodes it finds through its provider; nodes of a killed create, or on
        // the other engine than kind's provider probe picked, are found by kind's own label.
        let swept = remove_kind_nodes(ctx, &rec.name).await;
        match (deleted, swept) {
            (Ok(()), Ok(_)) => {}
            (Ok(()), Err(e)) => ctx.events.warn(
                Some(Phase::Teardown),
                format!("kind deleted cluster {}, but looking for its leftover node containers failed: {e:#}", rec.name),
            ),
            // kind failed (missing binary, provider trouble), but its nodes are gone: what
            // is left is at most a kubeconfig entry.
            (Err(e), Ok(n)) => ctx.events.warn(
                Some(Phase::Teardown),
                format!(
                    "`kind delete cluster` failed ({}); removed {n} node container(s) of {} by kind's label instead",
                    format!("{e:#}").lines().next().unwrap_or(""),
                    rec.name
                ),
            ),
            (Err(e), Err(_)) => return Err(e),
        }
        // kubetest's own kubeconfig goes with the cluster; any other file kind edited itself.
        if let Some(k) = &rec.kubeconfig {
            if k.starts_with(&ctx.plan.state_dir) {
                match std::fs::remove_file(k) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot remove {}", k.display()))
                    }
                }
            }
        }
        // What was made inside it went with it.
        ctx.state.update(|s| {
            s.cluster = None;
            s.cluster_objects.clear();
        })
    }
    .await;
    match result {
        Ok(()) => {
            task.finish(Outcome::Ok, Some("deleted".into()));
            Ok(())
        }
        Err(e) => {
            task.finish(
                Outcome::Failed,
                Some(format!("{e:#}").lines().next().unwrap_or("").to_owned()),
            );
            Err(e.context(format!("cannot delete kind cluster {}", rec.name)))
        }
    }
}

//! Teardown (`down`): remove exactly what the state file names; a missing thing is success.

use super::PhaseCtx;
use crate::cluster::kind::{self, Kind};
use crate::engine::patience::within_limit;
use crate::engine::{
    self, containers, images, Endpoint, Engine, EngineBusy, EngineKind, NoEngine, Patience,
};
use crate::events::{Outcome, Phase};
use crate::k8s::client::{connect, ClusterAccess};
use crate::scenario::cluster::delete_leftover_namespaces;
use crate::state::ClusterRecord;
use anyhow::Context;

/// Options of `down` that change what is removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownOptions {
    pub images: bool,
    pub cluster: bool,
}

pub async fn run(ctx: &PhaseCtx, opts: TeardownOptions) -> anyhow::Result<Outcome> {
    let state = ctx.state.snapshot();
    // Containers and networks the state names, plus any the environment's labels find
    // (leftovers of a run that crashed before recording them).
    let recorded = !state.containers.is_empty() || !state.networks.is_empty();
    let mut removed = 0;
    if recorded {
        let engine = recorded_engine(ctx).await?;
        removed = remove_dependencies(ctx, &engine).await?;
    } else if !ctx.plan.dependencies.is_empty() {
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
    let state = ctx.state.snapshot();
    if let Some(rec) = &state.cluster {
        delete_cluster(ctx, rec, opts).await?;
    }
    if state.is_empty() && removed == 0 {
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
            let removal = within_limit(
                &engine.endpoint,
                &format!("DELETE /images/{}", img.name),
                patience(ctx, &on_busy),
                || images::remove(&engine.docker, &img.name),
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
    let labelled = within_limit(ep, "GET /containers/json", limit(), || {
        containers::labelled_containers(docker, env)
    })
    .await?;
    for (id, name) in labelled {
        if !targets.iter().any(|(i, n)| *i == id || *n == name) {
            targets.push((id, name));
        }
    }
    for (id, name) in targets {
        let task = ctx
            .events
            .task(Phase::Teardown, format!("container {name}"));
        // By name when the state has no id yet (created, not answered), else by id.
        let target = if id.is_empty() { &name } else { &id };
        let call = format!("DELETE /containers/{target}");
        let removal = within_limit(ep, &call, limit(), || containers::remove(docker, target)).await;
        if let Err(e) = removal {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            return Err(e);
        }
        ctx.state
            .update(|s| s.containers.retain(|c| c.name != name))?;
        removed += 1;
        task.finish(Outcome::Ok, Some("removed".into()));
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

const NAMESPACE_LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// In a cluster `down` keeps, delete the scenario namespaces a killed `kubetest run` left
/// (found by the environment's label). The cluster being unreachable is a note, not a failure:
/// `down` still removes everything else.
async fn remove_scenario_namespaces(ctx: &PhaseCtx, rec: &ClusterRecord) {
    let access = ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &ctx.plan.cluster);
    let look = async {
        match connect(&access).await {
            Ok(client) => delete_leftover_namespaces(&client, &ctx.plan.environment).await,
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

/// Delete the recorded kind cluster when `up` created it (or `--cluster` asks); a cluster
/// that is already gone is success. An existing (`provider: existing`) cluster is never deleted.
async fn delete_cluster(
    ctx: &PhaseCtx,
    rec: &ClusterRecord,
    opts: TeardownOptions,
) -> anyhow::Result<()> {
    if rec.provider != "kind" {
        remove_scenario_namespaces(ctx, rec).await;
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
        remove_scenario_namespaces(ctx, rec).await;
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
        Kind::new(binary, provider)
            .delete(&rec.name, rec.kubeconfig.as_deref())
            .await?;
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
        ctx.state.update(|s| s.cluster = None)
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

//! Teardown (`down`): remove exactly what the state file names; a missing thing is success.

use super::PhaseCtx;
use crate::engine::{self, containers, images, Endpoint, Engine};
use crate::events::{Outcome, Phase};
use crate::exit::Stop;
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
            Err(e) => ctx.events.note(
                Some(Phase::Teardown),
                format!("no dependency containers recorded, and none looked for by label: {e:#}"),
            ),
        }
    }
    let state = ctx.state.snapshot();
    if state
        .cluster
        .as_ref()
        .is_some_and(|c| c.created || opts.cluster)
    {
        return Err(Stop::NotImplemented {
            what: "deleting the kind cluster",
            issue: 5,
        }
        .into());
    }
    if state.is_empty() && removed == 0 {
        ctx.events
            .note(Some(Phase::Teardown), "nothing recorded: nothing to remove");
        return Ok(Outcome::Skipped);
    }
    if opts.images && !state.images.is_empty() {
        let engine = recorded_engine(ctx).await?;
        for img in &state.images {
            let task = ctx
                .events
                .task(Phase::Teardown, format!("image {}", img.name));
            match images::remove(&engine.docker, &img.name).await {
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

/// The engine `up` used (from the state file), else whatever answers now.
async fn recorded_engine(ctx: &PhaseCtx) -> anyhow::Result<Engine> {
    if let Some(rec) = ctx.state.snapshot().engine {
        let ep = Endpoint {
            url: rec.endpoint.clone(),
            source: "recorded by `kubetest up`".into(),
        };
        return engine::connect_endpoint(&ep).await.map_err(|why| {
            anyhow::anyhow!(
                "the {} engine that `up` used at {} does not answer: {why}; start it again, then rerun `kubetest down` (`kubetest doctor` checks it)",
                rec.kind,
                rec.endpoint
            )
        });
    }
    engine::connect(ctx.plan.engine)
        .await
        .context("removing images and dependency containers needs the engine")
}

/// Remove the dependency containers, then their networks; each removal is recorded at once.
/// Returns how many objects it removed (or found already gone).
async fn remove_dependencies(ctx: &PhaseCtx, engine: &Engine) -> anyhow::Result<usize> {
    let mut removed = 0;
    let docker = &engine.docker;
    let env = &ctx.plan.environment;
    let mut targets: Vec<(String, String)> = ctx
        .state
        .snapshot()
        .containers
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    for (id, name) in containers::labelled_containers(docker, env).await? {
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
        if let Err(e) = containers::remove(docker, target).await {
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
    for (id, name) in containers::labelled_networks(docker, env).await? {
        if !nets.iter().any(|(i, _)| *i == id) {
            nets.push((id, name));
        }
    }
    for (id, name) in nets {
        let task = ctx.events.task(Phase::Teardown, format!("network {name}"));
        // By id: Docker 20.10 may hold two networks of one name, and then refuses the name.
        if let Err(e) = containers::remove_network(docker, &id).await {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            return Err(e);
        }
        ctx.state.update(|s| s.networks.retain(|n| n.id != id))?;
        removed += 1;
        task.finish(Outcome::Ok, Some("removed".into()));
    }
    Ok(removed)
}

//! Load: put built and preloaded images into the cluster. kind: one archive of the images
//! the nodes lack, exported through the engine API, then one `kind load image-archive`.
//! `provider: existing`: push to `cluster.registry`, or say which images the cluster cannot see.

use super::built::BuiltImages;
use super::load_registry;
use super::PhaseCtx;
use crate::cluster::archive;
use crate::cluster::image_ref::ImageRef;
use crate::cluster::kind::Kind;
use crate::cluster::nodes::{present_everywhere, EngineNodes, NodeImageSource};
use crate::cluster::pull_policy;
use crate::config::{LoadMode, Provider};
use crate::engine::{images, push, registry_auth, Engine};
use crate::events::{Outcome, Phase, TaskEvents};
use anyhow::Context;
use std::time::Instant;

/// Every image the cluster needs: the built ones, then `cluster.preload`, without repeats.
pub fn wanted_images(plan: &crate::plan::Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in plan
        .images
        .iter()
        .map(|i| &i.name)
        .chain(plan.cluster.preload.iter())
    {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

pub async fn run(
    ctx: &PhaseCtx,
    engine: Option<&Engine>,
    kind: Option<&Kind>,
) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    let wanted = wanted_images(plan);
    if plan.cluster.provider == Provider::None || wanted.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let engine = engine.context("internal: images to load but no engine from preflight")?;
    match plan.cluster.provider {
        Provider::Kind => {
            let kind = kind.context("internal: `provider: kind` but preflight found no kind")?;
            // Built images may go through the local registry (`cluster.load`); images of
            // `cluster.preload` are not rebuilt, so the archive (skipped once the nodes hold
            // them) stays their way in.
            let (built, preload): (Vec<&String>, Vec<&String>) = wanted
                .iter()
                .partition(|w| plan.images.iter().any(|i| &i.name == *w));
            let built: Vec<&str> = built.into_iter().map(String::as_str).collect();
            let via_registry = !built.is_empty()
                && load_registry::choose(ctx, engine, &built).await? == LoadMode::Registry;
            let archived: Vec<String> = if via_registry {
                preload.into_iter().cloned().collect()
            } else {
                wanted.clone()
            };
            let mut outcome = Outcome::Skipped;
            if via_registry {
                outcome = load_registry::load(ctx, engine, &built).await?;
            }
            if !archived.is_empty() {
                let o = load_into_kind(ctx, engine, kind, &archived).await?;
                if !via_registry || o == Outcome::Ok {
                    outcome = o;
                }
            }
            for w in pull_policy::check(&plan.deploy.manifests, &archived) {
                ctx.events.warn(Some(Phase::Load), w.to_string());
            }
            Ok(outcome)
        }
        Provider::Existing => push_for_existing(ctx, engine, &wanted).await,
        Provider::None => Ok(Outcome::Skipped),
    }
}

/// [`run`] as part of `up`'s task graph: images that exist already (`cluster.preload`) are
/// loaded at once, each built image as soon as its build ends (several that end together go
/// in one archive). When the build phase fails, what was built is loaded and the phase ends
/// with [`NotBuilt`] (reported as cancelled).
pub async fn run_as_built(
    ctx: &PhaseCtx,
    engine: Option<&Engine>,
    kind: Option<&Kind>,
    built: &BuiltImages,
) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    let wanted = wanted_images(plan);
    let pushing = plan.cluster.provider == Provider::Existing
        || (plan.cluster.provider == Provider::Kind && plan.cluster.load != LoadMode::Archive);
    if pushing && !wanted.is_empty() {
        // Pushes go to a registry one by one after every build.
        built.wait_all().await?;
    }
    if plan.cluster.provider != Provider::Kind || pushing || wanted.is_empty() {
        return run(ctx, engine, kind).await;
    }
    let engine = engine.context("internal: images to load but no engine from preflight")?;
    let kind = kind.context("internal: `provider: kind` but preflight found no kind")?;
    let mut batch: Vec<String> = wanted
        .iter()
        .filter(|w| !built.is_planned(w))
        .cloned()
        .collect();
    let mut seen: Vec<String> = Vec::new();
    let mut outcome: Option<Outcome> = None;
    loop {
        if !batch.is_empty() {
            let o = load_into_kind(ctx, engine, kind, &batch).await?;
            outcome = Some(match outcome {
                Some(Outcome::Cached) | None => o,
                Some(other) => other,
            });
            batch.clear();
        }
        let (fresh, over) = built.next_batch(&seen).await;
        seen.extend(fresh.iter().cloned());
        batch.extend(fresh.into_iter().filter(|f| wanted.contains(f)));
        if over && batch.is_empty() {
            break;
        }
    }
    built.wait_all().await?;
    for w in pull_policy::check(&plan.deploy.manifests, &wanted) {
        ctx.events.warn(Some(Phase::Load), w.to_string());
    }
    Ok(outcome.unwrap_or(Outcome::Skipped))
}

async fn load_into_kind(
    ctx: &PhaseCtx,
    engine: &Engine,
    kind: &Kind,
    wanted: &[String],
) -> anyhow::Result<Outcome> {
    let cluster = &ctx.plan.cluster.name;
    let built: Vec<&str> = ctx.plan.images.iter().map(|i| i.name.as_str()).collect();
    // Run by their loaded names from now on, also when the nodes hold them already: no pinned
    // push of an earlier `cluster.load: registry` is left for deploy to write.
    ctx.state.update(|s| {
        for i in s.images.iter_mut().filter(|i| wanted.contains(&i.name)) {
            i.pushed = None;
        }
    })?;
    let mut local = Vec::new();
    for name in wanted {
        let image = images::inspect(&engine.docker, name).await?.ok_or_else(|| {
            if built.contains(&name.as_str()) {
                anyhow::anyhow!("image {name} was built but the {} engine no longer has it; run `kubetest up --rebuild`", engine.kind.as_str())
            } else {
                anyhow::anyhow!(
                    "image {name} (cluster.preload) is not in the {} engine; pull it first (`{} pull {name}`) or remove it from cluster.preload",
                    engine.kind.as_str(),
                    engine.kind.as_str()
                )
            }
        })?;
        local.push((name.as_str(), image.id));
    }

    let nodes = EngineNodes {
        docker: &engine.docker,
    }
    .node_images(cluster)
    .await?;
    let (present, missing): (Vec<_>, Vec<_>) = local
        .iter()
        .partition(|(name, id)| present_everywhere(&nodes, name, id));
    for (name, _) in &present {
        ctx.events
            .task(Phase::Load, *name)
            .finish(Outcome::Cached, Some("already present".into()));
    }
    if missing.is_empty() {
        return Ok(Outcome::Cached);
    }

    let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
    let tasks: Vec<TaskEvents> = names
        .iter()
        .map(|n| {
            let t = ctx.events.task(Phase::Load, *n);
            t.progress("exporting from the engine");
            t
        })
        .collect();
    let result = export_and_load(ctx, engine, kind, &names, nodes.len()).await;
    match result {
        Ok(detail) => {
            for t in tasks {
                t.finish(Outcome::Ok, Some("loaded".into()));
            }
            ctx.events.note(Some(Phase::Load), detail);
            Ok(Outcome::Ok)
        }
        Err(e) => {
            for t in tasks {
                t.finish(Outcome::Failed, None);
            }
            Err(e)
        }
    }
}

async fn export_and_load(
    ctx: &PhaseCtx,
    engine: &Engine,
    kind: &Kind,
    names: &[&str],
    node_count: usize,
) -> anyhow::Result<String> {
    let cluster = &ctx.plan.cluster.name;
    let started = Instant::now();
    let (file, size) = archive::export(&engine.docker, names, &std::env::temp_dir()).await?;
    let exported = started.elapsed();
    let lost = archive::missing_from(&archive::manifest(file.path())?, names);
    if !lost.is_empty() {
        anyhow::bail!(
            "the {} engine's archive of {} lacks {} (its manifest.json names other tags)",
            engine.kind.as_str(),
            names.join(", "),
            lost.join(", ")
        );
    }
    for n in names {
        ctx.events.emit(crate::events::Event::TaskProgress {
            phase: Phase::Load,
            task: (*n).to_owned(),
            message: format!("kind load image-archive into {node_count} node(s)"),
        });
    }
    let loading = Instant::now();
    kind.load_archive(file.path(), cluster)
        .await
        .with_context(|| {
            format!(
                "cannot load {} into kind cluster {cluster}",
                names.join(", ")
            )
        })?;
    Ok(format!(
        "{} image(s), {:.1} MB archive: exported in {:.1}s, loaded into {node_count} node(s) in {:.1}s",
        names.len(),
        size as f64 / 1e6,
        exported.as_secs_f64(),
        loading.elapsed().as_secs_f64()
    ))
}

/// `<registry>/<path>:<tag>` for an image, dropping its own registry.
pub fn registry_ref(registry: &str, name: &str) -> String {
    let r = ImageRef::parse(name);
    let path = r.path.strip_prefix("library/").unwrap_or(&r.path);
    format!(
        "{}/{path}:{}",
        registry.trim_end_matches('/'),
        r.tag.as_deref().unwrap_or("latest")
    )
}

async fn push_for_existing(
    ctx: &PhaseCtx,
    engine: &Engine,
    wanted: &[String],
) -> anyhow::Result<Outcome> {
    let Some(registry) = &ctx.plan.cluster.registry else {
        ctx.events.warn(
            Some(Phase::Load),
            format!(
                "the cluster of `provider: existing` cannot see images that exist only in the local engine: {}; \
                 set `cluster.registry` to push them there (the manifests then name the pushed images by digest)",
                wanted.join(", ")
            ),
        );
        return Ok(Outcome::Skipped);
    };
    let credentials = registry_auth::lookup(
        &registry.url,
        engine.kind,
        registry.auth.as_ref(),
        &registry_auth::ProcessEnv,
    )
    .await?;
    ctx.events.note(
        Some(Phase::Load),
        match &credentials {
            Some(c) => format!(
                "pushing to {} with credentials from {}",
                registry.url, c.source
            ),
            None => format!(
                "pushing to {} without credentials (none configured or stored for it)",
                registry.url
            ),
        },
    );
    for name in wanted {
        let target = registry_ref(&registry.url, name);
        let task = ctx.events.task(Phase::Load, name);
        task.progress(format!("pushing to {target}"));
        let pushed = push::push(
            &engine.docker,
            engine.kind,
            name,
            &target,
            credentials.as_ref(),
            registry.tls_verify,
        )
        .await;
        match pushed {
            Ok(p) => {
                let pinned = p.pinned();
                ctx.state.update(|s| {
                    if let Some(rec) = s.images.iter_mut().find(|i| &i.name == name) {
                        rec.pushed = Some(pinned.clone());
                    }
                })?;
                task.finish(Outcome::Ok, Some(format!("pushed {pinned}")));
            }
            Err(e) => {
                task.finish(Outcome::Failed, Some(e.to_string()));
                return Err(e.into());
            }
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_names_keep_path_and_tag() {
        assert_eq!(
            registry_ref("registry.example:5000/", "localhost/app:dev"),
            "registry.example:5000/app:dev"
        );
        assert_eq!(
            registry_ref("ghcr.io/team", "redis"),
            "ghcr.io/team/redis:latest"
        );
        assert_eq!(
            registry_ref("ghcr.io/team", "quay.io/org/x:1"),
            "ghcr.io/team/org/x:1"
        );
    }
}

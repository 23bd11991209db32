//! Cluster: create (or reuse, or recreate) a kind cluster, or check an existing one, and
//! record it in the state the moment it may exist.

use super::PhaseCtx;
use crate::cluster::kind::{CreateRequest, Kind, KindError, KindLine};
use crate::cluster::kubeconfig::{self, api_answers, kind_context};
use crate::config::Provider;
use crate::events::{Outcome, Phase, TaskEvents};
use crate::state::ClusterRecord;
use anyhow::Context;
use std::time::Instant;

/// A kind cluster of this name exists that the state does not name as ours.
#[derive(Debug, thiserror::Error)]
#[error(
    "a kind cluster named \"{name}\" already exists, but this environment did not create it \
     (it is not recorded in {state}). Adopt it with `kubetest up --reuse` (`down` then leaves \
     it alone), or delete it with `kind delete cluster --name {name}` and run `kubetest up` again"
)]
pub struct ForeignCluster {
    pub name: String,
    pub state: String,
}

pub async fn run(ctx: &PhaseCtx, kind: Option<&Kind>) -> anyhow::Result<Outcome> {
    match ctx.plan.cluster.provider {
        Provider::None => Ok(Outcome::Skipped),
        Provider::Kind => {
            let kind = kind.context("internal: `provider: kind` but preflight found no kind")?;
            let task = ctx.events.task(
                Phase::Cluster,
                format!("kind cluster {}", ctx.plan.cluster.name),
            );
            let result = kind_cluster(ctx, kind, &task).await;
            finish(task, result)
        }
        Provider::Existing => {
            let task = ctx.events.task(Phase::Cluster, "existing cluster");
            finish(task, existing(ctx).await)
        }
    }
}

fn finish(task: TaskEvents, result: anyhow::Result<(Outcome, String)>) -> anyhow::Result<Outcome> {
    match result {
        Ok((outcome, detail)) => {
            task.finish(outcome, Some(detail));
            Ok(outcome)
        }
        Err(e) => {
            let first = format!("{e}");
            task.finish(Outcome::Failed, first.lines().next().map(str::to_owned));
            Err(e)
        }
    }
}

async fn kind_cluster(
    ctx: &PhaseCtx,
    kind: &Kind,
    task: &TaskEvents,
) -> anyhow::Result<(Outcome, String)> {
    let c = &ctx.plan.cluster;
    let path = kubeconfig::state_path(&ctx.plan.state_dir);
    let context = kind_context(&c.name);
    let ours = ctx
        .state
        .snapshot()
        .cluster
        .is_some_and(|r| r.provider == "kind" && r.name == c.name && r.created);

    task.progress("kind get clusters");
    let exists = kind.clusters().await?.iter().any(|n| n == &c.name);
    if exists && !ours && !c.reuse_foreign && !c.recreate {
        return Err(ForeignCluster {
            name: c.name.clone(),
            state: ctx.state.store().path().display().to_string(),
        }
        .into());
    }
    if exists && !c.recreate {
        task.progress("asking its API server");
        let text = kind.kubeconfig(&c.name).await?;
        kubeconfig::write_private(&path, &text)?;
        match api_answers(Some(&path), Some(&context)).await {
            Ok(version) => {
                record(ctx, ours)?;
                export_if_asked(ctx, kind).await?;
                note_kubeconfig(ctx);
                let whose = if ours { "" } else { ", adopted with --reuse" };
                return Ok((
                    Outcome::Reused,
                    format!("API server {version} answers{whose}"),
                ));
            }
            Err(e) if ours => task.warn(format!(
                "exists but does not answer ({e:#}); deleting and creating it again"
            )),
            Err(e) => {
                return Err(e.context(format!(
                    "kind cluster {name} exists but its API server does not answer; \
                     `kubetest up --recreate` replaces it, `kind delete cluster --name {name}` deletes it",
                    name = c.name
                )))
            }
        }
    }
    if exists {
        task.progress("deleting the old cluster");
        kind.delete(&c.name, Some(&path)).await?;
    }

    // Recorded before kind starts: Ctrl-C or a crash during creation leaves nodes that
    // `down` must delete (deleting a cluster that never appeared is success).
    record(ctx, true)?;
    let started = Instant::now();
    let attempts = c.retries + 1;
    let merged_config = registry_kind_config(ctx)?;
    let req = CreateRequest {
        name: &c.name,
        config: merged_config.as_deref().or(c.kind_config.as_deref()),
        image: c.node_image.as_deref(),
        wait: c.wait.get(),
        kubeconfig: &path,
    };
    for attempt in 1..=attempts {
        task.progress(if attempt == 1 {
            "kind create cluster".to_owned()
        } else {
            format!("kind create cluster (attempt {attempt} of {attempts})")
        });
        let which = if attempt == 1 {
            String::new()
        } else {
            format!(" (attempt {attempt} of {attempts})")
        };
        let created = kind.create(&req, |line| match line {
            KindLine::Started(step) => task.progress(format!("kind{which}: {step}")),
            KindLine::Failed(step) => task.log(format!("failed: {step}")),
            KindLine::Done(step) => task.log(format!("done: {step}")),
            KindLine::Other(text) if !text.trim().is_empty() => task.log(text),
            KindLine::Other(_) => {}
        });
        let Err(e) = created.await else {
            break;
        };
        let transient = e
            .downcast_ref::<KindError>()
            .is_some_and(KindError::is_transient);
        if !transient || attempt == attempts {
            let what = if attempt > 1 {
                format!("cannot create kind cluster {} ({attempt} attempts)", c.name)
            } else {
                format!("cannot create kind cluster {}", c.name)
            };
            return Err(e.context(what));
        }
        let first = e
            .downcast_ref::<KindError>()
            .and_then(|k| k.errors().first().map(|l| (*l).to_owned()))
            .unwrap_or_default();
        task.warn(format!(
            "attempt {attempt} of {attempts} failed with a known transient error ({first}); \
             deleting the half-made cluster and trying again"
        ));
        kind.delete(&c.name, Some(&path))
            .await
            .context("cannot delete the half-made cluster before retrying")?;
    }
    kubeconfig::make_private(&path)?;
    task.progress("asking its API server");
    let version = api_answers(Some(&path), Some(&context))
        .await
        .with_context(|| {
            format!(
                "kind created cluster {} but its API server does not answer",
                c.name
            )
        })?;
    export_if_asked(ctx, kind).await?;
    note_kubeconfig(ctx);
    Ok((
        Outcome::Ok,
        format!(
            "created in {:.1}s, API server {version}",
            started.elapsed().as_secs_f64()
        ),
    ))
}

/// `cluster.load: registry | auto`: the kind config with containerd's `config_path` patch
/// (src/cluster/kind_config.rs), written beside the state; `None` for `archive`.
fn registry_kind_config(ctx: &PhaseCtx) -> anyhow::Result<Option<std::path::PathBuf>> {
    let c = &ctx.plan.cluster;
    if c.load == crate::config::LoadMode::Archive {
        return Ok(None);
    }
    let out = ctx.plan.state_dir.join("kind-config.yaml");
    let merged = crate::cluster::kind_config::write_merged(c.kind_config.as_deref(), &out)?;
    ctx.events.note(
        Some(Phase::Cluster),
        format!(
            "cluster.load: {}: kind gets {} ({}, containerd reads registry hosts from {})",
            c.load.as_str(),
            out.display(),
            match (&c.kind_config, merged.patched) {
                (Some(f), true) => format!("{} with the config_path patch appended", f.display()),
                (Some(f), false) => format!("{} as is: it sets config_path already", f.display()),
                (None, _) => "kind's minimal config with the config_path patch".to_owned(),
            },
            crate::cluster::kind_config::CERTS_DIR
        ),
    );
    Ok(Some(out))
}

fn record(ctx: &PhaseCtx, created: bool) -> anyhow::Result<()> {
    let c = &ctx.plan.cluster;
    let rec = ClusterRecord {
        provider: "kind".to_owned(),
        name: c.name.clone(),
        created,
        kubeconfig: Some(kubeconfig::state_path(&ctx.plan.state_dir)),
        context: Some(kind_context(&c.name)),
    };
    ctx.state.update(|s| s.cluster = Some(rec))
}

fn note_kubeconfig(ctx: &PhaseCtx) {
    let path = kubeconfig::state_path(&ctx.plan.state_dir);
    ctx.events.note(
        Some(Phase::Cluster),
        format!(
            "kubeconfig {} (context {}): export KUBECONFIG={}",
            path.display(),
            kind_context(&ctx.plan.cluster.name),
            path.display()
        ),
    );
}

/// `cluster.export_kubeconfig: true` also merges the context into `$KUBECONFIG`/`~/.kube/config`.
async fn export_if_asked(ctx: &PhaseCtx, kind: &Kind) -> anyhow::Result<()> {
    if !ctx.plan.cluster.export_kubeconfig {
        return Ok(());
    }
    kind.export_kubeconfig(&ctx.plan.cluster.name).await?;
    ctx.events.note(
        Some(Phase::Cluster),
        format!(
            "context {} exported to $KUBECONFIG or ~/.kube/config (cluster.export_kubeconfig)",
            kind_context(&ctx.plan.cluster.name)
        ),
    );
    Ok(())
}

/// `provider: existing`: the kubeconfig's API server must answer; nothing is created.
async fn existing(ctx: &PhaseCtx) -> anyhow::Result<(Outcome, String)> {
    let c = &ctx.plan.cluster;
    let version = api_answers(c.kubeconfig.as_deref(), c.context.as_deref())
        .await
        .context("the cluster of `provider: existing` does not answer")?;
    let rec = ClusterRecord {
        provider: "existing".to_owned(),
        name: c.context.clone().unwrap_or_else(|| c.name.clone()),
        created: false,
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
    };
    ctx.state.update(|s| s.cluster = Some(rec))?;
    Ok((Outcome::Reused, format!("API server {version} answers")))
}

//! Build: all images of the plan, concurrently up to `jobs`, skipping those whose inputs
//! (context files that survive .dockerignore, Containerfile, args, target, labels) did not
//! change since the tagged image was built.
//!
//! The cache key lives in the state file (image name → input hash and image ID), not in the
//! image: a `LABEL` added to every build makes Docker's legacy builder commit one more layer
//! (+~1 s per image). A build is skipped when the recorded hash matches and the tag still
//! points at the recorded ID; images labelled by earlier versions are still recognised.

use super::built::{BuiltImages, OverOnDrop};
use super::PhaseCtx;
use crate::engine::build::{self as engine_build, BuildFailure, BuildLine, BuildRequest};
use crate::engine::context::{find_dockerfile, input_hash, scan};
use crate::engine::images::{self, LocalImage};
use crate::engine::Engine;
use crate::events::{Outcome, Phase};
use crate::plan::ImagePlan;
use crate::state::ImageRecord;
use anyhow::Context;
use futures::StreamExt;
use std::fmt;
use tokio_util::sync::CancellationToken;

/// Some builds failed; each failure names its image, step and last lines.
#[derive(Debug, thiserror::Error)]
pub struct BuildsFailed {
    pub total: usize,
    pub failures: Vec<BuildFailure>,
    pub cancelled: usize,
}

impl fmt::Display for BuildsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.failures.iter().map(|b| b.image.as_str()).collect();
        write!(
            f,
            "{} of {} images failed to build: {}",
            self.failures.len(),
            self.total,
            names.join(", ")
        )?;
        if self.cancelled > 0 {
            write!(f, " ({} cancelled by --fail-fast)", self.cancelled)?;
        }
        for b in &self.failures {
            write!(f, "\n{b}")?;
        }
        Ok(())
    }
}

enum One {
    Done(Outcome),
    Failed(BuildFailure),
    Cancelled,
}

pub async fn run(ctx: &PhaseCtx, engine: Option<&Engine>) -> anyhow::Result<Outcome> {
    run_signalling(ctx, engine, &BuiltImages::none()).await
}

/// [`run`], telling `built` about each image the moment it is built (or found cached) and
/// recorded, so that what needs only that image can start.
pub async fn run_signalling(
    ctx: &PhaseCtx,
    engine: Option<&Engine>,
    built: &BuiltImages,
) -> anyhow::Result<Outcome> {
    let _over = OverOnDrop(built.clone());
    let plan = &ctx.plan;
    if plan.images.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let engine = engine.context("internal: images to build but no engine from preflight")?;
    let stop = ctx.cancel.child_token();
    let results: Vec<One> = futures::stream::iter(plan.images.iter())
        .map(|img| build_one(ctx, engine, img, &stop, built))
        .buffer_unordered(plan.build.jobs)
        .collect()
        .await;
    let mut failures = Vec::new();
    let mut cancelled = 0;
    let all_cached = results
        .iter()
        .all(|r| matches!(r, One::Done(Outcome::Cached)));
    for r in results {
        match r {
            One::Done(_) => {}
            One::Failed(f) => failures.push(f),
            One::Cancelled => cancelled += 1,
        }
    }
    if failures.is_empty() && cancelled == 0 {
        return Ok(if all_cached {
            Outcome::Cached
        } else {
            Outcome::Ok
        });
    }
    if failures.is_empty() {
        return Err(crate::exit::Stop::Interrupted.into());
    }
    Err(BuildsFailed {
        total: plan.images.len(),
        failures,
        cancelled,
    }
    .into())
}

async fn build_one(
    ctx: &PhaseCtx,
    engine: &Engine,
    img: &ImagePlan,
    stop: &CancellationToken,
    built: &BuiltImages,
) -> One {
    let task = ctx.events.task(Phase::Build, &img.name);
    if stop.is_cancelled() {
        task.finish(Outcome::Cancelled, None);
        return One::Cancelled;
    }
    let fail_fast = ctx.plan.build.fail_fast;
    let work = async {
        task.progress("hashing the context");
        let (context, hash) = prepare(img).await?;
        if !ctx.plan.build.rebuild {
            let recorded = ctx
                .state
                .snapshot()
                .images
                .into_iter()
                .find(|r| r.name == img.name);
            if let Some(local) = images::inspect(&engine.docker, &img.name)
                .await
                .map_err(failure(img))?
            {
                if is_cached(recorded.as_ref(), &local, &hash) {
                    record(ctx, img, &local.id, &hash).map_err(failure(img))?;
                    return Ok((
                        Outcome::Cached,
                        format!("inputs unchanged ({})", &hash[..12]),
                    ));
                }
            }
        }
        let mut retried = false;
        task.progress("sending the context");
        let labels = img.labels.clone();
        let mut context = Some(context);
        let id = loop {
            // The context is a stream that one build consumes; a retry scans it again.
            let ctx_now = match context.take() {
                Some(c) => c,
                None => prepare(img).await?.0,
            };
            let req = BuildRequest {
                tag: img.name.clone(),
                context: ctx_now,
                args: img.args.clone(),
                target: img.target.clone(),
                labels: labels.clone(),
            };
            let attempt = engine_build::build(&engine.docker, req, |line| match line {
                BuildLine::Step(s) => task.progress(s),
                BuildLine::Log(l) => task.log(l),
            })
            .await;
            match attempt {
                Ok(id) => break id,
                Err(f) if engine_build::lost_cache_layer(&f) && !retried => {
                    retried = true;
                    task.warn(format!(
                        "the engine lost a cached layer while building ({}); building once more",
                        f.message.lines().next().unwrap_or("")
                    ));
                }
                Err(f) => return Err(f),
            }
        };
        record(ctx, img, &id, &hash).map_err(failure(img))?;
        Ok((Outcome::Ok, images::short_id(&id).to_owned()))
    };
    let result: Result<(Outcome, String), BuildFailure> = tokio::select! {
        r = work => r,
        () = stop.cancelled() => {
            task.finish(Outcome::Cancelled, None);
            return One::Cancelled;
        }
    };
    match result {
        Ok((outcome, detail)) => {
            task.finish(outcome, Some(detail));
            built.built(&img.name);
            One::Done(outcome)
        }
        Err(f) => {
            let detail = match &f.step {
                Some(s) => format!("{s}: {}", f.message.lines().next().unwrap_or("")),
                None => f.message.lines().next().unwrap_or("").to_owned(),
            };
            task.finish(Outcome::Failed, Some(detail));
            if fail_fast {
                stop.cancel();
            }
            One::Failed(f)
        }
    }
}

/// The tagged image `local` was built from inputs hashing to `hash`: the state records that
/// hash for it and the tag still points at the recorded image (nobody rebuilt or retagged it),
/// or the image carries the input-hash label of kubetest versions before the state record.
fn is_cached(recorded: Option<&ImageRecord>, local: &LocalImage, hash: &str) -> bool {
    let by_state = recorded.is_some_and(|r| r.input_hash == hash && r.id == local.id);
    by_state || local.input_hash.as_deref() == Some(hash)
}

/// Scan the context and hash the inputs off the async threads (it reads every file).
async fn prepare(
    img: &ImagePlan,
) -> Result<(crate::engine::context::BuildContext, String), BuildFailure> {
    let img2 = img.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let dockerfile = find_dockerfile(&img2.context, img2.file.as_deref())?;
        let rel = dockerfile
            .strip_prefix(&img2.context)
            .unwrap_or(&dockerfile)
            .to_string_lossy()
            .into_owned();
        let ctx = scan(&img2.context, &rel)?;
        let hash = input_hash(&ctx, &img2.args, img2.target.as_deref(), &img2.labels)?;
        Ok((ctx, hash))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the context scan stopped: {e}"))
    .and_then(|r| r)
    .map_err(failure(img))
}

fn failure(img: &ImagePlan) -> impl Fn(anyhow::Error) -> BuildFailure + '_ {
    move |e| BuildFailure {
        image: img.name.clone(),
        step: None,
        message: format!("{e:#}"),
        last_lines: Vec::new(),
    }
}

fn record(ctx: &PhaseCtx, img: &ImagePlan, id: &str, hash: &str) -> anyhow::Result<()> {
    let rec = ImageRecord {
        name: img.name.clone(),
        id: id.to_owned(),
        input_hash: hash.to_owned(),
        pushed: None,
    };
    ctx.state
        .update(|s| match s.images.iter_mut().find(|i| i.name == rec.name) {
            Some(existing) => *existing = rec,
            None => s.images.push(rec),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, hash: &str) -> ImageRecord {
        ImageRecord {
            name: "localhost/a:1".into(),
            id: id.into(),
            input_hash: hash.into(),
            pushed: None,
        }
    }

    fn local(id: &str, label: Option<&str>) -> LocalImage {
        LocalImage {
            id: id.into(),
            input_hash: label.map(str::to_owned),
        }
    }

    #[test]
    fn cached_only_when_the_recorded_hash_and_the_tagged_id_both_match() {
        let img = local("sha256:1", None);
        assert!(is_cached(Some(&rec("sha256:1", "h")), &img, "h"));
        assert!(!is_cached(
            Some(&rec("sha256:1", "h")),
            &img,
            "other inputs"
        ));
        // The tag was moved to another image (rebuilt by hand, or by another tool).
        assert!(!is_cached(Some(&rec("sha256:0", "h")), &img, "h"));
        // The state was lost: build again.
        assert!(!is_cached(None, &img, "h"));
    }

    #[test]
    fn images_labelled_by_earlier_versions_still_count() {
        assert!(is_cached(None, &local("sha256:1", Some("h")), "h"));
        assert!(!is_cached(None, &local("sha256:1", Some("old")), "h"));
    }
}

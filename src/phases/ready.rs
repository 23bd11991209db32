//! Ready: watch the Pod API until every wait entry is Ready, failing fast with the reason.

use super::PhaseCtx;
use crate::config::WaitSpec;
use crate::events::{Outcome, Phase};
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::diagnose;
use crate::k8s::image_ids::ImageIds;
use crate::k8s::outage::clock;
use crate::k8s::ready::{judge, JudgeOptions};
use crate::k8s::wait::{wait_ready, Progress, Target, WaitError, WaitRequest, WorkloadKind};
use std::fmt;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Some waits failed or timed out; each failure carries its diagnostics.
#[derive(Debug, thiserror::Error)]
pub struct ReadyFailed {
    pub total: usize,
    pub failures: Vec<WaitFailure>,
}

#[derive(Debug)]
pub struct WaitFailure {
    /// Position of the entry in `deploy.wait`.
    pub index: usize,
    /// `namespace/target`.
    pub task: String,
    pub error: String,
    pub diagnostics: String,
    pub artifact: Option<PathBuf>,
}

impl fmt::Display for ReadyFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [one] if self.total == 1 => write!(f, "{}: {}", one.task, one.error)?,
            all => {
                write!(f, "{} of {} waits failed", all.len(), self.total)?;
                for w in all {
                    write!(f, "\n{}: {}", w.task, w.error)?;
                }
            }
        }
        for w in &self.failures {
            if !w.diagnostics.is_empty() {
                write!(f, "\n\n{}", w.diagnostics.trim_end())?;
            }
            if let Some(a) = &w.artifact {
                write!(f, "\n(saved in {})", a.display())?;
            }
        }
        Ok(())
    }
}

enum One {
    Ready,
    Failed(WaitFailure),
    Cancelled,
}

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.deploy.wait.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let state = ctx.state.snapshot();
    let client = connect(&ClusterAccess::from_state_or_plan(&state, &plan.cluster)).await?;
    let mut loaded: Vec<String> = state.images.iter().map(|i| i.name.clone()).collect();
    loaded.extend(plan.cluster.preload.iter().cloned());
    let images = ImageIds::built(&state);
    let stop = ctx.cancel.child_token();
    let results = futures::future::join_all(plan.deploy.wait.iter().enumerate().map(|(i, w)| {
        wait_one(
            ctx,
            &client,
            i,
            request(w, &plan.deploy.namespace, &loaded, &images),
            &stop,
        )
    }))
    .await;
    let mut failures = Vec::new();
    let mut cancelled = 0;
    for r in results {
        match r {
            One::Ready => {}
            One::Failed(f) => failures.push(f),
            One::Cancelled => cancelled += 1,
        }
    }
    if failures.is_empty() && cancelled > 0 {
        return Err(crate::exit::Stop::Interrupted.into());
    }
    if failures.is_empty() {
        return Ok(Outcome::Ok);
    }
    Err(ReadyFailed {
        total: plan.deploy.wait.len(),
        failures,
    }
    .into())
}

/// The library request for a `deploy.wait` entry.
pub fn request(
    w: &WaitSpec,
    default_namespace: &str,
    loaded: &[String],
    images: &ImageIds,
) -> WaitRequest {
    let workload = |kind, name: &String| Target::Workload {
        kind,
        name: name.clone(),
    };
    let target = if let Some(n) = &w.deployment {
        workload(WorkloadKind::Deployment, n)
    } else if let Some(n) = &w.statefulset {
        workload(WorkloadKind::StatefulSet, n)
    } else if let Some(n) = &w.daemonset {
        workload(WorkloadKind::DaemonSet, n)
    } else if let Some(n) = &w.job {
        workload(WorkloadKind::Job, n)
    } else {
        Target::Selector(w.selector.clone().unwrap_or_default())
    };
    WaitRequest {
        namespace: w
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_owned()),
        target,
        min: w.min,
        timeout: w.timeout.get(),
        judge: JudgeOptions {
            restarts_allowed: w.restarts_allowed,
            job: w.job.is_some(),
            loaded_images: loaded.to_vec(),
            images: images.clone(),
        },
    }
}

async fn wait_one(
    ctx: &PhaseCtx,
    client: &kube::Client,
    index: usize,
    req: WaitRequest,
    stop: &CancellationToken,
) -> One {
    let name = format!("{}/{}", req.namespace, req.target);
    let task = ctx.events.task(Phase::Ready, &name);
    let wait = wait_ready(client, &req, |p| match p {
        Progress::Watching { selector } => task.progress(format!("watching pods {selector}")),
        Progress::Pod(c) => task.pod_status(
            format!("{}/{}", req.namespace, c.pod),
            c.status,
            c.ready,
            c.ready_latency_ms,
        ),
        Progress::Retrying { error, after } => task.progress(format!(
            "watch interrupted ({error}); retrying in {} ms",
            after.as_millis()
        )),
        Progress::Count(c) => {
            task.wait_status(c.ready, c.want, c.pods, c.left.as_millis() as u64);
        }
        Progress::Unreachable {
            since,
            error,
            after,
            first,
        } => {
            let line = format!(
                "API server unreachable since {}, retrying in {} ms ({error})",
                clock(since),
                after.as_millis()
            );
            // The outage's start is a warning; each further retry is progress.
            if first {
                task.warn(line);
            } else {
                task.progress(line);
            }
        }
        Progress::Reachable { after } => ctx.events.note(
            Some(Phase::Ready),
            format!(
                "{name}: API server answers again after {:.1} s; watching resumed",
                after.as_secs_f64()
            ),
        ),
    });
    let result = tokio::select! {
        r = wait => r,
        () = stop.cancelled() => {
            task.finish(Outcome::Cancelled, None);
            return One::Cancelled;
        }
    };
    let err = match result {
        Ok(pods) => {
            task.finish(Outcome::Ok, Some(format!("{} ready", count(pods.len()))));
            return One::Ready;
        }
        Err(e) => e,
    };
    // Fail fast: the other waits stop too.
    stop.cancel();
    task.progress("collecting diagnostics");
    let not_ready: Vec<_> = err
        .pods()
        .iter()
        .filter(|p| !judge(p, &req.judge).ready)
        .cloned()
        .collect();
    let diagnostics = diagnose::pods_report(client, &not_ready).await;
    let artifact = save(ctx, index, &name, &err, &diagnostics);
    if let Some(path) = &artifact {
        task.bundle_saved(Outcome::Failed, path);
    }
    let short = match &err {
        WaitError::Failed { pod, .. } => format!("pod {pod} cannot become ready"),
        WaitError::TimedOut { after, .. } => {
            format!("timed out after {}", humantime::format_duration(*after))
        }
        WaitError::Unreachable { .. } => "the API server is unreachable".into(),
        WaitError::Api(_) => "the watch failed".into(),
    };
    task.finish(Outcome::Failed, Some(short));
    One::Failed(WaitFailure {
        index,
        task: name,
        error: err.to_string(),
        diagnostics,
        artifact,
    })
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 pod".into()
    } else {
        format!("{n} pods")
    }
}

/// Write the diagnostics under the artifacts directory; a failure to write is a warning.
fn save(
    ctx: &PhaseCtx,
    index: usize,
    name: &str,
    err: &WaitError,
    diagnostics: &str,
) -> Option<PathBuf> {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // Inside the bundle `up` writes when it fails.
    let dir = crate::bundle::up_dir(&ctx.plan.artifacts_dir, ctx.events.start_unix_ms());
    let path = dir.join(format!("ready-{}-{slug}.txt", index + 1));
    let text = format!("wait {name}: {err}\n\n{diagnostics}");
    let (text, _) = crate::bundle::writer::bounded(&text, crate::bundle::writer::MAX_FILE_BYTES);
    let written = crate::state::private::write_artifact(&path, &text);
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            ctx.events.warn(
                Some(Phase::Ready),
                format!("cannot save the diagnostics to {}: {e}", path.display()),
            );
            None
        }
    }
}

//! `collect:`: copy files out of dependencies, pods and kind's nodes after `run` and on
//! `down`, into `collect-<time>/` under the artifacts, with an index of what came from where.

pub mod engine;
pub mod last_run;
pub mod pods;
pub mod unpack;

use crate::config::{CollectSpec, CollectWhen, NodeChoice};
use crate::events::{Event, Outcome, Phase};
use crate::phases::{run_phase, PhaseCtx, PhaseOutput};
use crate::sizes::bytes as size;
use crate::state::State;
use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use unpack::Unpacked;

/// Which command collects, and whether what it follows failed (`when: on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// After `run`'s scenarios.
    Run { failed: bool },
    /// On `down`, before anything is removed; `failed` is the last `run`'s outcome.
    Down { failed: bool },
}

impl Trigger {
    fn failed(self) -> bool {
        match self {
            Trigger::Run { failed } | Trigger::Down { failed } => failed,
        }
    }
    fn command(self) -> &'static str {
        match self {
            Trigger::Run { .. } => "run",
            Trigger::Down { .. } => "down",
        }
    }
}

/// One source's result.
#[derive(Debug, Clone)]
pub struct Collected {
    pub source: String,
    pub path: String,
    pub to: PathBuf,
    pub outcome: Outcome,
    pub unpacked: Unpacked,
    pub error: Option<String>,
}

/// What a collection did.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    /// `collect-<time>/` under the artifacts (absent when no entry applied).
    pub dir: Option<PathBuf>,
    pub results: Vec<Collected>,
}

impl Collection {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count()
    }
}

impl PhaseOutput for Collection {
    fn outcome(&self) -> Outcome {
        if self.failed() > 0 {
            Outcome::Failed
        } else {
            Outcome::Ok
        }
    }
}

/// A copy that failed: the source and the path named, and the rest still collected.
#[derive(Debug, thiserror::Error)]
#[error("collect: {failed} of {total} source(s) could not be copied (see the `collect` lines above and {index})")]
pub struct CollectFailed {
    pub failed: usize,
    pub total: usize,
    pub index: String,
}

/// The entries that apply to this trigger.
pub fn applicable(specs: &[CollectSpec], trigger: Trigger) -> Vec<&CollectSpec> {
    specs
        .iter()
        .filter(|s| s.when == CollectWhen::Always || trigger.failed())
        .collect()
}

/// Run the `collect` phase for `specs` (nothing, not even the phase, when none applies).
/// A source that fails is reported and the others are still collected; the phase fails
/// when any did.
pub async fn run(
    ctx: &PhaseCtx,
    specs: &[CollectSpec],
    trigger: Trigger,
) -> anyhow::Result<Collection> {
    let entries = applicable(specs, trigger);
    if entries.is_empty() {
        return Ok(Collection::default());
    }
    let dir = ctx.plan.artifacts_dir.join(format!(
        "collect-{}-{}",
        trigger.command(),
        ctx.events.start_unix_ms()
    ));
    let collection = run_phase(ctx, Phase::Collect, async {
        collect_all(ctx, &entries, &dir, trigger).await
    })
    .await?;
    Ok(collection)
}

/// The error `run`/`down` end with when a source failed.
pub fn failure(c: &Collection) -> Option<CollectFailed> {
    (c.failed() > 0).then(|| CollectFailed {
        failed: c.failed(),
        total: c.results.len(),
        index: c
            .dir
            .as_ref()
            .map(|d| d.join(crate::bundle::INDEX).display().to_string())
            .unwrap_or_default(),
    })
}

/// Connections made on first use.
struct Reach<'a> {
    state: &'a State,
    ctx: &'a PhaseCtx,
    engine: Option<Result<crate::engine::Engine, String>>,
    cluster: Option<Result<kube::Client, String>>,
}

impl Reach<'_> {
    async fn docker(&mut self) -> anyhow::Result<bollard::Docker> {
        if self.engine.is_none() {
            self.engine = Some(match &self.state.engine {
                Some(rec) => crate::engine::connect_recorded(rec).await.map_err(|why| {
                    format!(
                        "the {} engine at {} that `up` used does not answer: {why}",
                        rec.kind, rec.endpoint
                    )
                }),
                None => Err("no engine is recorded in the state file; run `kubetest up`".into()),
            });
        }
        match self.engine.as_ref() {
            Some(Ok(e)) => Ok(e.docker.clone()),
            Some(Err(why)) => Err(anyhow!("{why}")),
            None => Err(anyhow!("no engine")),
        }
    }

    async fn kube(&mut self) -> anyhow::Result<kube::Client> {
        if self.cluster.is_none() {
            let access = crate::k8s::client::ClusterAccess::from_state_or_plan(
                self.state,
                &self.ctx.plan.cluster,
            );
            self.cluster = Some(crate::k8s::client::connect(&access).await.map_err(|e| {
                format!(
                    "cannot connect to the cluster ({}): {e:#}",
                    access.describe()
                )
            }));
        }
        match self.cluster.as_ref() {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(why)) => Err(anyhow!("{why}")),
            None => Err(anyhow!("no cluster")),
        }
    }
}

/// A source of one entry, resolved.
enum Source {
    Container {
        label: String,
        dir: String,
        container: String,
        stop: bool,
    },
    Pod {
        target: pods::PodTarget,
    },
    /// A pod after `stop_first`: its files read from its node.
    PodOnNode {
        target: pods::PodTarget,
    },
    /// A source that could not be resolved: reported as failed.
    Broken {
        label: String,
        dir: String,
        why: String,
    },
    /// A source that is not there to copy from (a dependency `up` did not start, or one
    /// already removed): reported as skipped, with why.
    Absent {
        label: String,
        dir: String,
        why: String,
    },
}

async fn collect_all(
    ctx: &PhaseCtx,
    entries: &[&CollectSpec],
    dir: &Path,
    trigger: Trigger,
) -> anyhow::Result<Collection> {
    let state = ctx.state.snapshot();
    let mut reach = Reach {
        state: &state,
        ctx,
        engine: None,
        cluster: None,
    };
    let title = match trigger {
        Trigger::Run { failed } => format!(
            "Files collected after `kubetest run` ({})",
            if failed {
                "scenarios failed"
            } else {
                "scenarios passed"
            }
        ),
        Trigger::Down { .. } => "Files collected by `kubetest down` before teardown".to_owned(),
    };
    let mut bundle = crate::bundle::Bundle::create(dir, title)?;
    // Collected files are copied whole; only kubetest's own texts are ever cut.
    bundle.without_size_note();
    let mut results = Vec::new();
    for spec in entries {
        let timeout = spec.timeout.get();
        // Finding the sources includes `stop_first` for pods, which has `timeout` of its own
        // and says what it waited for; this outer bound only catches a silent cluster.
        let bound = timeout + std::time::Duration::from_secs(30);
        let sources = match tokio::time::timeout(bound, resolve(&mut reach, ctx, spec)).await {
            Ok(s) => s,
            Err(_) => vec![Source::Broken {
                label: describe_from(spec),
                dir: "unresolved".into(),
                why: format!(
                    "finding the sources took longer than {}",
                    humantime::format_duration(bound)
                ),
            }],
        };
        if sources.is_empty() {
            ctx.events.note(
                Some(Phase::Collect),
                format!(
                    "{}: nothing to copy {} from (no running pods match)",
                    describe_from(spec),
                    spec.path
                ),
            );
        }
        for source in sources {
            let r = one(&mut reach, ctx, spec, source, dir).await;
            ctx.events.emit(Event::Collected {
                source: r.source.clone(),
                path: r.path.clone(),
                to: r.to.display().to_string(),
                outcome: r.outcome,
                files: r.unpacked.files.len() as u64,
                bytes: r.unpacked.bytes,
                error: r.error.clone(),
            });
            results.push(r);
        }
    }
    write_index(&mut bundle, dir, &results)?;
    bundle.finish()?;
    Ok(Collection {
        dir: Some(dir.to_path_buf()),
        results,
    })
}

fn describe_from(spec: &CollectSpec) -> String {
    let f = &spec.from;
    if let Some(d) = &f.dependency {
        format!("dependency {d}")
    } else if let Some(p) = &f.pods {
        let what = p
            .selector
            .as_ref()
            .map(|s| format!("pods {s}"))
            .or_else(|| p.deployment.as_ref().map(|d| format!("deployment {d}")))
            .or_else(|| p.statefulset.as_ref().map(|s| format!("statefulset {s}")))
            .unwrap_or_else(|| "pods".into());
        what
    } else {
        "nodes".into()
    }
}

/// The sources of one entry.
async fn resolve(reach: &mut Reach<'_>, ctx: &PhaseCtx, spec: &CollectSpec) -> Vec<Source> {
    let f = &spec.from;
    if let Some(dep) = &f.dependency {
        let label = format!("dependency {dep}");
        return match reach.state.containers.iter().find(|c| &c.dependency == dep) {
            Some(c) => vec![Source::Container {
                label,
                dir: dep.clone(),
                container: if c.id.is_empty() {
                    c.name.clone()
                } else {
                    c.id.clone()
                },
                stop: spec.stop_first,
            }],
            None => vec![Source::Absent {
                label,
                dir: dep.clone(),
                why: format!("no container of dependency `{dep}` is recorded (not up, or already removed); nothing copied"),
            }],
        };
    }
    if let Some(choice) = f.nodes {
        let cluster = reach
            .state
            .cluster
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| ctx.plan.cluster.name.clone());
        let found = match reach.docker().await {
            Ok(d) => engine::kind_nodes(&d, &cluster, choice == NodeChoice::ControlPlane).await,
            Err(e) => Err(e),
        };
        return match found {
            Ok(names) if names.is_empty() => vec![Source::Broken {
                label: format!("nodes of kind cluster {cluster}"),
                dir: "nodes".into(),
                why: format!(
                    "no container is labelled {}={cluster}: the kind cluster does not exist",
                    engine::KIND_CLUSTER_LABEL
                ),
            }],
            Ok(names) => names
                .into_iter()
                .map(|n| Source::Container {
                    label: format!("node {n}"),
                    dir: n.clone(),
                    container: n,
                    stop: false,
                })
                .collect(),
            Err(e) => vec![Source::Broken {
                label: format!("nodes of kind cluster {cluster}"),
                dir: "nodes".into(),
                why: format!("{e:#}"),
            }],
        };
    }
    let Some(src) = &f.pods else {
        return Vec::new();
    };
    let ns = src
        .namespace
        .clone()
        .unwrap_or_else(|| ctx.plan.deploy.namespace.clone());
    let label = describe_from(spec);
    let client = match reach.kube().await {
        Ok(c) => c,
        Err(e) => {
            return vec![Source::Broken {
                label,
                dir: "pods".into(),
                why: format!("{e:#}"),
            }]
        }
    };
    let targets = match pods::targets(&client, &ns, src, &spec.path).await {
        Ok(t) => t,
        Err(e) => {
            return vec![Source::Broken {
                label,
                dir: "pods".into(),
                why: format!("{e:#}"),
            }]
        }
    };
    if !spec.stop_first || targets.is_empty() {
        return targets
            .into_iter()
            .map(|t| Source::Pod { target: t })
            .collect();
    }
    // stop_first: the files must outlive the containers, so they must be on the node.
    if let Some(t) = targets
        .iter()
        .find(|t| t.node_path.is_none() || t.node.is_none())
    {
        return vec![Source::Broken {
            label: format!("pod {}", t.describe()),
            dir: t.name.clone(),
            why: format!(
                "stop_first: {} is not on an emptyDir or hostPath volume of container `{}`, so it is gone once the pod stops; mount a volume there (kind keeps it on the node)",
                spec.path,
                t.container.as_deref().unwrap_or("?")
            ),
        }];
    }
    let task = ctx.events.task(Phase::Collect, format!("stop {label}"));
    task.progress(format!("stopping {} pod(s)", targets.len()));
    match pods::stop(&client, &ns, src, &targets, spec.timeout.get()).await {
        Ok(did) => {
            task.finish(Outcome::Ok, Some(format!("{did}; the pods are gone")));
            targets
                .into_iter()
                .map(|t| Source::PodOnNode { target: t })
                .collect()
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(format!("{e:#}")));
            vec![Source::Broken {
                label,
                dir: "pods".into(),
                why: format!("stop_first: {e:#}"),
            }]
        }
    }
}

/// Copy one source (stopping it first where asked).
async fn one(
    reach: &mut Reach<'_>,
    ctx: &PhaseCtx,
    spec: &CollectSpec,
    source: Source,
    dir: &Path,
) -> Collected {
    let to_base = dir.join(&spec.to);
    let (label, sub) = match &source {
        Source::Container { label, dir, .. }
        | Source::Broken { label, dir, .. }
        | Source::Absent { label, dir, .. } => (label.clone(), dir.clone()),
        Source::Pod { target } | Source::PodOnNode { target } => {
            (format!("pod {}", target.describe()), target.name.clone())
        }
    };
    let dest = to_base.join(&sub);
    let task = ctx.events.task(Phase::Collect, label.clone());
    if let Source::Absent { why, .. } = &source {
        task.finish(Outcome::Skipped, Some(why.clone()));
        return Collected {
            source: label,
            path: spec.path.clone(),
            to: dest,
            outcome: Outcome::Skipped,
            unpacked: Unpacked::default(),
            error: Some(why.clone()),
        };
    }
    let limit = spec.timeout.get();
    let work = async {
        match source {
            Source::Broken { why, .. } | Source::Absent { why, .. } => Err(anyhow!("{why}")),
            Source::Container {
                container, stop, ..
            } => {
                let docker = reach.docker().await?;
                if stop {
                    task.progress("stopping (its stop timeout, then SIGKILL)");
                    let s = engine::stop(&docker, &container, limit).await?;
                    task.progress(format!(
                        "stopped (exit code {}); copying {}",
                        s.exit_code.map_or("unknown".into(), |c| c.to_string()),
                        spec.path
                    ));
                } else {
                    task.progress(format!("copying {}", spec.path));
                }
                Ok(engine::copy(&docker, &container, &spec.path, &dest).await?)
            }
            Source::Pod { target } => {
                let client = reach.kube().await?;
                task.progress(format!("copying {} (tar in the pod)", spec.path));
                Ok(pods::copy(&client, &target, &spec.path, &dest).await?)
            }
            Source::PodOnNode { target } => {
                let docker = reach.docker().await?;
                let (Some(node), Some(node_path)) = (&target.node, &target.node_path) else {
                    return Err(anyhow!("the pod's node path is unknown"));
                };
                task.progress(format!("copying {node_path} from node {node}"));
                engine::copy(&docker, node, node_path, &dest)
                    .await
                    .with_context(|| {
                        format!(
                            "pod {} is gone; its {} was read from node {node} at {node_path} (an emptyDir is removed by the kubelet soon after its pod; a hostPath volume stays)",
                            target.describe(),
                            spec.path
                        )
                    })
            }
        }
    };
    let result = match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(anyhow!(
            "did not finish within {} (`timeout:` of the entry)",
            humantime::format_duration(limit)
        )),
    };
    match result {
        Ok(u) => {
            task.finish(
                Outcome::Ok,
                Some(format!("{} file(s), {}", u.files.len(), size(u.bytes))),
            );
            Collected {
                source: label,
                path: spec.path.clone(),
                to: dest,
                outcome: Outcome::Ok,
                unpacked: u,
                error: None,
            }
        }
        Err(e) => {
            let why = format!("{label}: cannot collect {}: {e:#}", spec.path);
            task.finish(Outcome::Failed, Some(why.clone()));
            Collected {
                source: label,
                path: spec.path.clone(),
                to: dest,
                outcome: Outcome::Failed,
                unpacked: Unpacked::default(),
                error: Some(why),
            }
        }
    }
}

/// Most files listed one by one in `files.txt`.
const LISTED_FILES: usize = 10_000;

fn write_index(
    bundle: &mut crate::bundle::Bundle,
    dir: &Path,
    results: &[Collected],
) -> anyhow::Result<()> {
    let mut listing = String::new();
    for r in results {
        let rel =
            r.to.strip_prefix(dir)
                .unwrap_or(&r.to)
                .display()
                .to_string();
        match &r.error {
            None => {
                bundle.glance(format!(
                    "{}: {} → {rel}/ ({} file(s), {})",
                    r.source,
                    r.path,
                    r.unpacked.files.len(),
                    size(r.unpacked.bytes)
                ));
                bundle.list(&rel, &format!("{} of {}", r.path, r.source));
                for (f, n) in r.unpacked.files.iter().take(LISTED_FILES) {
                    listing.push_str(&format!("{n:>14}  {rel}/{}\n", f.display()));
                }
                for s in &r.unpacked.skipped {
                    listing.push_str(&format!("{:>14}  {rel}/{s}: not copied\n", "-"));
                }
            }
            Some(e) if r.outcome == Outcome::Skipped => {
                bundle.glance(format!("skipped {}: {}: {e}", r.source, r.path))
            }
            Some(e) => bundle.glance(format!("FAILED {e}")),
        }
    }
    bundle.write(
        "files.txt",
        "every file collected, with its size in bytes",
        &listing,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(5), "5 B");
        assert_eq!(size(100 * 1024 * 1024), "100.0 MiB");
    }

    #[test]
    fn on_failure_entries_wait_for_a_failure() {
        let yaml = "name: demo\ndependencies:\n  db: {image: x}\ncollect:\n  - {from: {dependency: db}, path: /a, to: a}\n  - {from: {dependency: db}, path: /b, to: b, when: on-failure}\n";
        let c = crate::config::load_str(yaml, Path::new("k.yaml"), Path::new("/tmp")).unwrap();
        assert_eq!(
            applicable(&c.collect, Trigger::Run { failed: false }).len(),
            1
        );
        assert_eq!(
            applicable(&c.collect, Trigger::Run { failed: true }).len(),
            2
        );
        assert_eq!(
            applicable(&c.collect, Trigger::Down { failed: true }).len(),
            2
        );
    }
}

//! CLI flags + config → the resolved, immutable plan that every phase reads.
//!
//! Phases never see the command line or the raw config: relative paths are resolved here,
//! defaults applied, dependencies put in start order.

use crate::cli::UpArgs;
use crate::config::{DependencySpec, Duration, EngineChoice, LoadedConfig, Provider, WaitSpec};
use crate::scenario::model::Step;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Plan {
    pub environment: String,
    pub config_path: PathBuf,
    pub config_dir: PathBuf,
    /// `.kubetest/` beside the config.
    pub state_dir: PathBuf,
    pub artifacts_dir: PathBuf,
    pub engine: EngineChoice,
    /// `engine.host` or `--engine`: an endpoint the user names (used alone; never replaced).
    pub engine_host: Option<String>,
    /// Where `engine_host` came from, as messages name it.
    pub engine_host_source: String,
    /// `engine.timeout`: how long one engine call may take on a busy engine.
    pub engine_timeout: std::time::Duration,
    pub images: Vec<ImagePlan>,
    pub build: BuildPlan,
    pub cluster: ClusterPlan,
    /// In start order: every dependency after everything it needs.
    pub dependencies: Vec<DependencyPlan>,
    pub deploy: DeployPlan,
    pub setup: SetupPlan,
    pub scenarios_dir: Option<PathBuf>,
}

/// The `setup:` steps `up` runs after `ready`.
#[derive(Debug, Clone)]
pub struct SetupPlan {
    pub steps: Vec<Step>,
    /// Line of `setup:` in the config file.
    pub line: usize,
    /// Line of each step in the config file.
    pub step_lines: Vec<usize>,
    /// `up --setup`: run them even when nothing they depend on changed.
    pub force: bool,
}

impl Plan {
    /// The endpoint the config names (`engine.host`), with its source for messages.
    pub fn engine_endpoint(&self) -> Option<crate::engine::Endpoint> {
        self.engine_host
            .as_ref()
            .map(|url| crate::engine::Endpoint {
                url: url.clone(),
                source: self.engine_host_source.clone(),
            })
    }
}

#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub name: String,
    pub context: PathBuf,
    /// Relative to the context; `None` = autodetect Containerfile, then Dockerfile.
    pub file: Option<PathBuf>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub jobs: usize,
    pub overlap_cluster: bool,
    pub rebuild: bool,
    pub fail_fast: bool,
}

#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub provider: Provider,
    pub name: String,
    pub kind_config: Option<PathBuf>,
    pub node_image: Option<String>,
    pub wait: Duration,
    pub retries: u32,
    pub export_kubeconfig: bool,
    pub kind_binary: Option<PathBuf>,
    pub preload: Vec<String>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub registry: Option<crate::config::RegistrySpec>,
    /// kind: how images get into the nodes (`cluster.load`).
    pub load: crate::config::LoadMode,
    pub local_registry: crate::config::LocalRegistrySpec,
    /// This run's identity on a shared cluster (src/run_id.rs); `None`: not isolated.
    pub run_id: Option<String>,
    pub recreate: bool,
    pub reuse_foreign: bool,
}

#[derive(Debug, Clone)]
pub struct DependencyPlan {
    pub name: String,
    /// `kubetest-<env>-<dep>`.
    pub container_name: String,
    pub spec: DependencySpec,
}

#[derive(Debug, Clone)]
pub struct DeployPlan {
    pub namespace: String,
    pub manifests: Vec<PathBuf>,
    pub wait: Vec<WaitSpec>,
}

impl Plan {
    /// The plan of `up` (other commands use [`Plan::from_config`] with default flags).
    pub fn new(loaded: &LoadedConfig, up: &UpArgs) -> Self {
        let c = &loaded.config;
        let dir = &loaded.dir;
        let abs = |p: &PathBuf| dir.join(p);
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let state_dir = dir.join(".kubetest");
        // The id `up` recorded, so `run` and `down` of the same environment find their run.
        let recorded = crate::state::StateStore::new(&state_dir)
            .load()
            .ok()
            .flatten()
            .and_then(|s| s.run_id);
        let run_id = crate::run_id::resolve(
            c.cluster.run_id.as_deref(),
            recorded.as_deref(),
            c.cluster.shared,
            |k| std::env::var(k).ok().filter(|v| !v.is_empty()),
        );
        Plan {
            environment: c.name.clone(),
            config_path: loaded.path.clone(),
            config_dir: dir.clone(),
            artifacts_dir: c
                .artifacts
                .as_ref()
                .map(abs)
                .unwrap_or_else(|| state_dir.join("artifacts")),
            state_dir,
            engine: c.engine.kind,
            engine_host: c.engine.host.clone(),
            engine_host_source: c
                .engine
                .host_source
                .clone()
                .unwrap_or_else(|| crate::engine::discover::CONFIG_HOST_SOURCE.to_owned()),
            engine_timeout: c.engine.timeout.get(),
            images: c
                .images
                .iter()
                .map(|i| ImagePlan {
                    name: i.name.clone(),
                    context: abs(&i.context),
                    file: i.file.clone(),
                    args: i.args.clone(),
                    target: i.target.clone(),
                    labels: i.labels.clone(),
                })
                .collect(),
            build: BuildPlan {
                jobs: up
                    .jobs
                    .or(c.build.jobs)
                    .unwrap_or(default_jobs(cpus))
                    .max(1),
                overlap_cluster: c.build.overlap_cluster,
                rebuild: up.rebuild,
                fail_fast: up.fail_fast,
            },
            cluster: ClusterPlan {
                provider: c.cluster.provider,
                name: c.cluster.name.clone().unwrap_or_else(|| c.name.clone()),
                kind_config: c.cluster.config.as_ref().map(abs),
                node_image: c.cluster.image.clone(),
                wait: c.cluster.wait,
                retries: c.cluster.retries,
                export_kubeconfig: c.cluster.export_kubeconfig,
                kind_binary: c.cluster.kind_binary.as_ref().map(abs),
                preload: c.cluster.preload.clone(),
                kubeconfig: c.cluster.kubeconfig.as_ref().map(abs),
                context: c.cluster.context.clone(),
                registry: c.cluster.registry.clone(),
                load: c.cluster.load,
                local_registry: c.cluster.local_registry.clone(),
                run_id: run_id.clone(),
                recreate: up.recreate,
                reuse_foreign: up.reuse,
            },
            dependencies: start_order(c)
                .into_iter()
                .map(|(name, spec)| DependencyPlan {
                    container_name: format!("kubetest-{}-{name}", c.name),
                    name,
                    spec,
                })
                .collect(),
            deploy: DeployPlan {
                namespace: crate::run_id::namespace(&c.deploy.namespace, run_id.as_deref()),
                manifests: c.deploy.manifests.iter().map(abs).collect(),
                wait: c
                    .deploy
                    .wait
                    .iter()
                    .cloned()
                    .map(|mut w| {
                        w.namespace = w
                            .namespace
                            .map(|n| crate::run_id::namespace(&n, run_id.as_deref()));
                        w
                    })
                    .collect(),
            },
            setup: SetupPlan {
                steps: c.setup.clone(),
                line: c.setup_line,
                step_lines: c.setup_step_lines.clone(),
                force: up.setup,
            },
            scenarios_dir: c.scenarios.as_ref().map(abs),
        }
    }

    pub fn from_config(loaded: &LoadedConfig) -> Self {
        Self::new(loaded, &UpArgs::default())
    }
}

/// Dependencies so that each comes after all it needs, keeping config order among equals.
/// The config is validated to be acyclic; anything left over (impossible) is appended.
fn start_order(c: &crate::config::Config) -> Vec<(String, DependencySpec)> {
    let mut placed: Vec<(String, DependencySpec)> = Vec::new();
    let mut left: Vec<(&String, &DependencySpec)> = c.dependencies.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|(name, spec)| {
            let ready = spec
                .needs
                .iter()
                .all(|n| placed.iter().any(|(p, _)| p == n));
            if ready {
                placed.push(((*name).clone(), (*spec).clone()));
            }
            !ready
        });
        if left.len() == before {
            placed.extend(left.drain(..).map(|(n, s)| (n.clone(), s.clone())));
        }
    }
    placed
}

/// Concurrent builds when neither `--jobs` nor `build.jobs` says: the CPU count, but at least
/// [`MIN_DEFAULT_JOBS`]. An engine's builds wait on I/O (context upload, layer commits) as
/// much as on CPU. On 2 CPUs, 4 uncached small images (benches/builds.rs, release, medians,
/// interleaved with 4 parallel CLIs): Docker 2.91 s with 2 jobs, 2.93 s with 4 (CLIs 2.71 s);
/// Podman 4.23 s with 2, 2.75 s with 4 (CLIs 4.27 s); under heavier load (dev profile) 4 jobs
/// beat 2 on both engines (Docker 5.5 s vs 7.8 s, Podman 8.8 s vs 13.4 s).
pub fn default_jobs(cpus: usize) -> usize {
    cpus.max(MIN_DEFAULT_JOBS)
}

/// See [`default_jobs`].
pub const MIN_DEFAULT_JOBS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    #[test]
    fn dependencies_in_start_order_and_paths_resolved() {
        let yaml = "name: demo\ndependencies:\n  redis: {image: r, needs: [migrate]}\n  migrate: {image: m, needs: [postgres], once: true}\n  postgres: {image: p}\n  cache: {image: c}\n";
        let dir = Path::new("/nonexistent-but-unused");
        let config = load_str(yaml, Path::new("kubetest.yaml"), dir).unwrap();
        let loaded = LoadedConfig {
            path: "kubetest.yaml".into(),
            dir: dir.into(),
            config,
        };
        let plan = Plan::from_config(&loaded);
        let order: Vec<&str> = plan.dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(order, ["postgres", "cache", "migrate", "redis"]);
        assert_eq!(
            plan.dependencies[0].container_name,
            "kubetest-demo-postgres"
        );
        assert_eq!(plan.cluster.name, "demo");
        assert_eq!(plan.state_dir, dir.join(".kubetest"));
        assert!(plan.build.jobs >= 1);
    }
}

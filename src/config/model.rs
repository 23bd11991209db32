//! The `kubetest.yaml` model as written by the user: every key, its type and its default.

use super::values::{Duration, PortMapping, VolumeMount};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole file. Unknown keys are errors at every level.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Environment name: names the kind cluster, the network and the containers.
    pub name: String,
    /// `engine: podman`, or `engine: {kind: podman, host: unix:///…, timeout: 5m}`.
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub images: Vec<ImageSpec>,
    #[serde(default)]
    pub build: BuildSettings,
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Named cluster targets besides `cluster:`, chosen with `--cluster NAME`
    /// (src/config/targets.rs). Left out of the serialised form while empty.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub clusters: IndexMap<String, ClusterSpec>,
    /// The `clusters:` name chosen (`--cluster`); `None` is the `cluster:` block. Not a key.
    #[serde(skip)]
    pub cluster_target: Option<String>,
    #[serde(default)]
    pub dependencies: IndexMap<String, DependencySpec>,
    #[serde(default)]
    pub deploy: DeploySpec,
    /// Steps in scenario step syntax that `up` runs once after `ready` (seed data, register
    /// fixtures). See `phases::setup` for when a later `up` runs them again.
    #[serde(default)]
    pub setup: Vec<crate::scenario::model::Step>,
    /// Line of the `setup:` key (set by the loader; 0 when there is none).
    #[serde(skip)]
    pub setup_line: usize,
    /// Line of each `setup:` step (set by the loader).
    #[serde(skip)]
    pub setup_step_lines: Vec<usize>,
    /// Directory of scenario files.
    #[serde(default)]
    pub scenarios: Option<PathBuf>,
    /// Where failure bundles go; default `.kubetest/artifacts` beside the config.
    #[serde(default)]
    pub artifacts: Option<PathBuf>,
    /// Files copied out of dependencies, pods and nodes after `run` and on `down`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collect: Vec<CollectSpec>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    #[default]
    Auto,
    Docker,
    Podman,
}

/// The engine to use and how long to wait for it. Written either as the kind alone
/// (`engine: podman`, as before) or as a mapping.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineSettings {
    pub kind: EngineChoice,
    /// An explicit endpoint (`unix:///…`, `tcp://…`): used alone, never replaced by another.
    pub host: Option<String>,
    /// Where `host` came from when not from the file (`--engine`); not a config key.
    #[serde(skip)]
    pub host_source: Option<String>,
    /// How long a busy engine (one that answers `/_ping` but lags on other calls) is waited
    /// for, per call, before kubetest gives up saying it is busy.
    pub timeout: Duration,
}

/// Default of `engine.timeout`: a loaded Podman took 13 s, once over 3 min, to answer `/info`.
pub const DEFAULT_ENGINE_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            kind: EngineChoice::Auto,
            host: None,
            host_source: None,
            timeout: DEFAULT_ENGINE_TIMEOUT,
        }
    }
}

/// The mapping form of `engine:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineMapping {
    #[serde(default)]
    kind: EngineChoice,
    #[serde(default)]
    host: Option<String>,
    #[serde(default = "default_engine_timeout")]
    timeout: Duration,
}

fn default_engine_timeout() -> Duration {
    DEFAULT_ENGINE_TIMEOUT
}

impl<'de> Deserialize<'de> for EngineSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EngineSettings;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`auto`, `docker`, `podman`, or a mapping with `kind`, `host`, `timeout`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EngineSettings, E> {
                let kind =
                    EngineChoice::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(EngineSettings {
                    kind,
                    ..EngineSettings::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<EngineSettings, A::Error> {
                let m =
                    EngineMapping::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                if m.timeout.get().is_zero() {
                    return Err(serde::de::Error::custom(
                        "timeout must be longer than 0s (it is how long a busy engine is waited for)",
                    ));
                }
                if let Some(h) = &m.host {
                    if !["unix://", "tcp://", "http://"]
                        .iter()
                        .any(|p| h.starts_with(p))
                    {
                        return Err(serde::de::Error::custom(format!(
                            "host `{h}` is not an endpoint kubetest can use; expected unix:///path/to.sock or tcp://host:port"
                        )));
                    }
                }
                Ok(EngineSettings {
                    kind: m.kind,
                    host: m.host,
                    host_source: None,
                    timeout: m.timeout,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Full tag, e.g. `localhost/demo-app:dev`.
    pub name: String,
    /// Build context directory, relative to the config file.
    pub context: PathBuf,
    /// Containerfile/Dockerfile relative to the context; default: `Containerfile`, then `Dockerfile`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// Concurrent builds; default: the number of CPUs, at least 4 (see `plan::default_jobs`).
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Build images while the cluster is created (default true); small podman machines may prefer false.
    #[serde(default = "yes")]
    pub overlap_cluster: bool,
}

impl Default for BuildSettings {
    fn default() -> Self {
        Self {
            jobs: None,
            overlap_cluster: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Kind,
    Existing,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default)]
    pub provider: Provider,
    /// Cluster name; default: the environment name.
    #[serde(default)]
    pub name: Option<String>,
    /// kind config file, passed to kind as is.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// kind node image.
    #[serde(default)]
    pub image: Option<String>,
    /// How long `kind create cluster --wait` waits for the control plane.
    #[serde(default = "default_cluster_wait")]
    pub wait: Duration,
    /// Retries of a transient `kind create cluster` failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Also write the kubeconfig into `~/.kube/config`.
    #[serde(default)]
    pub export_kubeconfig: bool,
    /// Path of the kind binary; default: `kind` on PATH.
    #[serde(default)]
    pub kind_binary: Option<PathBuf>,
    /// Images loaded into the cluster besides the built ones.
    #[serde(default)]
    pub preload: Vec<String>,
    /// `provider: existing`: kubeconfig file (default: `$KUBECONFIG` or `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// `provider: existing`: kubeconfig context (default: the current context).
    #[serde(default)]
    pub context: Option<String>,
    /// `provider: existing`: registry that built images are pushed to.
    #[serde(default)]
    pub registry: Option<super::RegistrySpec>,
    /// The cluster is shared with other runs: isolate this run's namespaces (src/run_id.rs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// `--id` / `KUBETEST_RUN_ID`; not a config key.
    #[serde(skip)]
    pub run_id: Option<String>,
    /// kind: `archive` (default), `registry` or `auto` (src/config/local_registry.rs).
    #[serde(default)]
    pub load: super::LoadMode,
    /// kind with `load: registry | auto`: the registry container.
    #[serde(default)]
    pub local_registry: super::LocalRegistrySpec,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            provider: Provider::Kind,
            name: None,
            config: None,
            image: None,
            wait: default_cluster_wait(),
            retries: default_retries(),
            export_kubeconfig: false,
            kind_binary: None,
            preload: Vec::new(),
            kubeconfig: None,
            context: None,
            registry: None,
            shared: false,
            run_id: None,
            load: super::LoadMode::Archive,
            local_registry: super::LocalRegistrySpec::default(),
        }
    }
}

fn default_cluster_wait() -> Duration {
    Duration::from_secs(60)
}
fn default_retries() -> u32 {
    2
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DependencySpec {
    pub image: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// Allow bind mounts of sensitive host paths, and read-write mounts outside the config's
    /// directory (see `config::mounts`). Left out of the serialised form while false, so the
    /// config hash of existing dependencies does not change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsafe_mounts: bool,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Dependencies that must be healthy (or, for `once` jobs, exited 0) before this one starts.
    #[serde(default)]
    pub needs: Vec<String>,
    /// One-shot job: runs to completion and must exit 0.
    #[serde(default)]
    pub once: bool,
    #[serde(default)]
    pub health: Option<HealthSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    #[serde(default)]
    pub tcp: Option<u16>,
    #[serde(default)]
    pub http: Option<HttpCheck>,
    /// Regex on the container's output.
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default = "default_health_timeout")]
    pub timeout: Duration,
    #[serde(default = "zero")]
    pub start_period: Duration,
}

fn default_interval() -> Duration {
    Duration::from_millis(500)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(60)
}
fn zero() -> Duration {
    Duration::from_millis(0)
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "root_path")]
    pub path: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub body_contains: Option<String>,
}

fn root_path() -> String {
    "/".to_owned()
}
fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    /// Namespace of namespaced objects that name none.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Files and directories (lexical order), applied in the order given.
    #[serde(default)]
    pub manifests: Vec<PathBuf>,
    #[serde(default)]
    pub wait: Vec<WaitSpec>,
}

impl Default for DeploySpec {
    fn default() -> Self {
        Self {
            namespace: default_namespace(),
            manifests: Vec::new(),
            wait: Vec::new(),
        }
    }
}

fn default_namespace() -> String {
    "default".to_owned()
}

/// What to wait for: pods by label selector, or a workload by name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub statefulset: Option<String>,
    #[serde(default)]
    pub daemonset: Option<String>,
    #[serde(default)]
    pub job: Option<String>,
    /// Minimum number of matching pods.
    #[serde(default = "one")]
    pub min: u32,
    #[serde(default = "default_wait_timeout")]
    pub timeout: Duration,
    /// Restarts tolerated before a CrashLoopBackOff fails the wait.
    #[serde(default = "default_retries")]
    pub restarts_allowed: u32,
}

fn one() -> u32 {
    1
}
fn default_wait_timeout() -> Duration {
    Duration::from_secs(180)
}

/// One `collect:` entry: a file or directory copied out of one kind of source.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectSpec {
    pub from: CollectFrom,
    /// Absolute path of a file or directory inside the source.
    pub path: String,
    /// Directory under the collection's directory (itself under the artifacts); each source
    /// gets its own subdirectory of it.
    pub to: PathBuf,
    #[serde(default)]
    pub when: CollectWhen,
    /// Stop the source first so its processes flush on exit (Go coverage): dependencies are
    /// stopped with their stop timeout, pods deleted with their grace period (workloads
    /// scaled to zero), and their files then read from the node.
    #[serde(default)]
    pub stop_first: bool,
    /// How long stopping and copying one source may take.
    #[serde(default = "default_collect_timeout")]
    pub timeout: Duration,
}

fn default_collect_timeout() -> Duration {
    Duration::from_secs(300)
}

/// Where a `collect:` entry copies from: exactly one key.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectFrom {
    /// A dependency by its name under `dependencies:`.
    #[serde(default)]
    pub dependency: Option<String>,
    #[serde(default)]
    pub pods: Option<PodSource>,
    /// The kind cluster's node containers.
    #[serde(default)]
    pub nodes: Option<NodeChoice>,
}

/// The pods of a `collect:` entry: a selector or a workload by name.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodSource {
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub statefulset: Option<String>,
    /// Default: `deploy.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Default: the pod's only container (the API server asks for one when there are several).
    #[serde(default)]
    pub container: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NodeChoice {
    All,
    ControlPlane,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CollectWhen {
    #[default]
    Always,
    OnFailure,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn engine(yaml: &str) -> Result<EngineSettings, String> {
        super::super::load_str(
            &format!("name: demo\n{yaml}\n"),
            Path::new("kubetest.yaml"),
            Path::new("/tmp"),
        )
        .map(|c| c.engine)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn engine_is_a_kind_or_a_mapping() {
        assert_eq!(engine("").unwrap(), EngineSettings::default());
        let podman = engine("engine: podman").unwrap();
        assert_eq!(
            (podman.kind, podman.host, podman.timeout),
            (EngineChoice::Podman, None, DEFAULT_ENGINE_TIMEOUT)
        );
        let full =
            engine("engine: {kind: docker, host: \"unix:///run/dockerd-test.sock\", timeout: 45s}")
                .unwrap();
        assert_eq!(full.kind, EngineChoice::Docker);
        assert_eq!(full.host.as_deref(), Some("unix:///run/dockerd-test.sock"));
        assert_eq!(full.timeout, Duration::from_secs(45));
        assert_eq!(
            engine("engine: {timeout: 2m}").unwrap().kind,
            EngineChoice::Auto
        );
        let bad = engine("engine: {kind: podman, timout: 2m}").unwrap_err();
        assert!(bad.contains("kubetest.yaml:2:"), "located: {bad}");
        assert!(bad.contains("timout"), "{bad}");
        let bad = engine("engine: dockr").unwrap_err();
        assert!(bad.contains("dockr"), "{bad}");
        let bad = engine("engine: {timeout: 30}").unwrap_err();
        assert!(bad.contains("unit"), "{bad}");
        let bad = engine("engine: {timeout: 0s}").unwrap_err();
        assert!(bad.contains("must be longer than 0s"), "{bad}");
        let bad = engine("engine: {host: /run/podman/podman.sock}").unwrap_err();
        assert!(bad.contains("expected: unix:///"), "{bad}");
    }
}

//! What the state file holds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const STATE_VERSION: u32 = 1;

/// Everything `up` created or found, so `down` can remove exactly that.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub version: u32,
    pub environment: String,
    /// Milliseconds since the Unix epoch of the last write.
    pub updated_ms: u64,
    pub engine: Option<EngineRecord>,
    pub images: Vec<ImageRecord>,
    pub cluster: Option<ClusterRecord>,
    pub containers: Vec<ContainerRecord>,
    /// Container creates `up` sent and has no answer to yet (src/engine/claim.rs): the
    /// engine may finish one after `up` died, so `down` settles each name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub creating: Vec<CreateIntent>,
    pub networks: Vec<NetworkRecord>,
    /// The last `setup:` run that passed; absent when it never ran or failed.
    pub setup: Option<SetupRecord>,
    /// Containers kubetest does not own (kind's nodes) that it attached to an environment
    /// network; `down` detaches them before it removes the network.
    pub attachments: Vec<AttachmentRecord>,
    /// Objects the connect phase made in the cluster (Services, EndpointSlices, the values
    /// ConfigMap, and the deploy namespace when it did not exist), in the order made.
    pub cluster_objects: Vec<ClusterObjectRecord>,
    /// The run identity of `up` on a shared cluster (src/run_id.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The namespaces of that run as the manifests write them (scenarios' `namespace:`
    /// fields naming one of them are mapped to `<namespace>-<id>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_namespaces: Vec<String>,
    /// Cluster-scoped objects that run applied: its own (deleted by `down`) and shared ones
    /// (its label removed by `down`, deleted with the last run's label), in apply order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_cluster_objects: Vec<RunClusterObject>,
    /// The registry container of `cluster.load: registry` (src/cluster/local_registry.rs),
    /// recorded before it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_registry: Option<LocalRegistryRecord>,
    /// The `clusters:` target `up` used (`--cluster NAME`); absent for the `cluster:` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_target: Option<String>,
}

/// A container create sent to the engine, recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateIntent {
    pub name: String,
    /// The image it is created from (local: the create would fail otherwise).
    pub image: String,
}

/// A cluster-scoped object a run on a shared cluster applied (src/k8s/run_cluster.rs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunClusterObject {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Shared with other runs (reference-counted by labels) rather than this run's own.
    pub shared: bool,
}

impl State {
    pub fn new(environment: &str) -> Self {
        Self {
            version: STATE_VERSION,
            environment: environment.to_owned(),
            ..Self::default()
        }
    }

    /// Nothing recorded that `down` would have to remove.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
            && self.cluster.is_none()
            && self.containers.is_empty()
            && self.creating.is_empty()
            && self.networks.is_empty()
            && self.attachments.is_empty()
            && self.cluster_objects.is_empty()
            && self.run_id.is_none()
            && self.run_cluster_objects.is_empty()
            && self.local_registry.is_none()
    }
}

/// The engine `up` used. `server` to `rootless` let the next run skip the engine's slow
/// `/version` and `/info` (Podman: ~350 ms) when `/_ping` shows the same engine at the same
/// endpoint; states written before they existed read as empty, which means "ask again".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineRecord {
    /// `docker` or `podman`.
    pub kind: String,
    pub endpoint: String,
    pub version: String,
    /// The `Server` header of `/_ping`, e.g. `Libpod/4.3.1 (linux)`.
    pub server: String,
    pub api_version: String,
    pub os: String,
    /// Go's names (`amd64`, `arm64`), as `/version` reports them.
    pub arch: String,
    pub rootless: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub name: String,
    pub id: String,
    pub input_hash: String,
    /// `repo@sha256:…` of the last push of this build to `cluster.registry` (no credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
}

/// The local registry container kind's nodes pull from (`cluster.load: registry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRegistryRecord {
    pub name: String,
    /// Empty until the engine answered the create.
    #[serde(default)]
    pub id: String,
    /// Host port on 127.0.0.1; images are pushed as and pulled by `localhost:<port>/…`.
    pub port: u16,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// `kind` or `existing`.
    pub provider: String,
    pub name: String,
    /// True when `up` created it (then `down` deletes it).
    pub created: bool,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub name: String,
    pub id: String,
    pub dependency: String,
    /// Hash of the dependency's config, to decide reuse.
    pub config_hash: String,
    /// `5432/tcp` → host port.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    #[serde(default)]
    pub address: Option<String>,
    /// What kubetest's own health checks saw while `up` waited for this container (oldest
    /// first, at most [`HEALTH_HISTORY`]); failure bundles show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<HealthCheckRecord>,
}

/// Health checks kept per container.
pub const HEALTH_HISTORY: usize = 30;

/// One health check of a dependency container by kubetest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckRecord {
    /// Milliseconds since the Unix epoch when the check finished.
    pub at_ms: u64,
    pub ok: bool,
    /// The probe, e.g. `tcp 127.0.0.1:15432`.
    pub probe: String,
    /// What it saw.
    pub saw: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
}

/// What the `setup:` steps last ran against (see `phases::setup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRecord {
    /// sha256 over the steps, the built image IDs, the dependency containers, the cluster and
    /// the manifests.
    pub fingerprint: String,
    /// Milliseconds since the Unix epoch when the steps passed.
    pub finished_ms: u64,
}

/// A container of someone else attached to one of the environment's networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub network: String,
    /// The container's name (kind's node names are stable; ids change with the cluster).
    pub container: String,
}

/// An object in the cluster, enough to delete it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterObjectRecord {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ClusterObjectRecord {
    /// `Kind namespace/name` or `Kind name`.
    pub fn describe(&self) -> String {
        crate::k8s::apply::describe(&self.kind, self.namespace.as_deref(), &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_written_before_attachments_existed_still_read() {
        let old = r#"{"version":1,"environment":"demo","updated_ms":1,"engine":null,"images":[],
            "cluster":null,"containers":[],"networks":[{"name":"kubetest-demo","id":"n1"}]}"#;
        let s: State = serde_json::from_str(old).unwrap();
        assert!(s.attachments.is_empty() && s.cluster_objects.is_empty());
        assert!(!s.is_empty());
        let mut s = State::new("demo");
        s.attachments.push(AttachmentRecord {
            network: "kubetest-demo".into(),
            container: "demo-control-plane".into(),
        });
        assert!(!s.is_empty(), "an attachment is something `down` must undo");
    }
}

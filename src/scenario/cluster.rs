//! What scenarios need from the cluster: the client and shared discovery cache of the run,
//! which scenarios have cluster steps, and the fresh namespace each of those gets.

use super::model::{Scenario, Step};
use crate::k8s::kinds::Kinds;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The cluster of the environment: one client and one discovery cache for the whole run.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub kinds: Kinds,
    /// The environment's name: scenario namespaces carry it as a label so `down` finds those
    /// a killed run left behind.
    pub environment: String,
    /// The run identity on a shared cluster: scenario namespaces also carry
    /// [`crate::run_id::RUN_LABEL`], and `down` removes only its own run's.
    pub run_id: Option<String>,
    /// That run's namespaces as the manifests write them: a step naming one of them means the
    /// run's `<namespace>-<id>` (src/k8s/run_refs.rs).
    pub run_namespaces: Option<crate::k8s::run_refs::RunNamespaces>,
    /// The state file of the environment: on a shared cluster, `apply:` steps record there
    /// the cluster-scoped objects they applied, so `down` releases them.
    pub state: Option<crate::state::StateStore>,
}

impl Cluster {
    pub fn new(client: kube::Client, environment: &str) -> Self {
        Self {
            client,
            kinds: Kinds::new(),
            environment: environment.to_owned(),
            run_id: None,
            run_namespaces: None,
            state: None,
        }
    }

    /// The same, recording into the state file of `store`.
    pub fn recording_to(mut self, store: crate::state::StateStore) -> Self {
        self.state = Some(store);
        self
    }

    /// Drop a cluster-scoped object a step released from the state file.
    pub fn forget_run_cluster_object(
        &self,
        o: &crate::state::RunClusterObject,
    ) -> anyhow::Result<()> {
        let Some(store) = &self.state else {
            anyhow::bail!("no state file to drop {} {} from", o.kind, o.name);
        };
        store.update_on_disk(|s| s.run_cluster_objects.retain(|r| r != o))
    }

    /// Record a cluster-scoped object a step applied as this run in the state file (once),
    /// beside what `up` and other `run`s recorded, so `down` removes or releases it.
    pub fn record_run_cluster_object(
        &self,
        o: &crate::state::RunClusterObject,
    ) -> anyhow::Result<()> {
        let Some(store) = &self.state else {
            anyhow::bail!("no state file to record {} {} in", o.kind, o.name);
        };
        store.update_on_disk(|s| {
            if !s.run_cluster_objects.contains(o) {
                s.run_cluster_objects.push(o.clone());
            }
        })
    }

    /// The same, for run `id` on a shared cluster.
    pub fn for_run(mut self, id: Option<&str>) -> Self {
        self.run_id = id.map(str::to_owned);
        self
    }

    /// The same, mapping the run's namespaces (as written in the manifests) in steps.
    pub fn with_run_namespaces(mut self, names: &[String]) -> Self {
        self.run_namespaces = self
            .run_id
            .as_deref()
            .map(|id| crate::k8s::run_refs::RunNamespaces::new(id, names.iter().cloned()));
        self
    }

    /// `text` with Service DNS names `<svc>.<namespace>.svc…` of the run's namespaces as the
    /// run has them (a command run in a pod of a shared cluster's run).
    pub fn run_hosts(&self, text: &str) -> String {
        match &self.run_namespaces {
            Some(run) => crate::k8s::run_refs::rewrite_hosts(text, run).0,
            None => text.to_owned(),
        }
    }

    /// `namespace` as this run has it: `<namespace>-<id>` for a namespace of the run on a
    /// shared cluster, else unchanged (a scenario's own `kt-…` namespace, a system one).
    pub fn run_namespace(&self, namespace: &str) -> String {
        match &self.run_namespaces {
            Some(run) => run.apply(namespace),
            None => namespace.to_owned(),
        }
    }
}

/// Steps that talk to the Kubernetes API (`exec` in a dependency container does not; `http`
/// does when it port-forwards).
pub fn is_cluster_step(step: &Step) -> bool {
    step.apply.is_some()
        || step.delete.is_some()
        || step.wait.is_some()
        || step.assert.is_some()
        || step.error.is_some()
        || step.exec.as_ref().is_some_and(|e| e.dependency.is_none())
        || step.http.as_ref().is_some_and(|h| h.forward.is_some())
}

/// The scenario has at least one cluster step (in its steps or cleanup).
pub fn needs_cluster(s: &Scenario) -> bool {
    s.steps.iter().chain(&s.cleanup).any(is_cluster_step)
}

/// Label on the namespaces kubetest creates for scenarios.
pub const SCENARIO_LABEL: &str = "kubetest.io/scenario";
/// Label on the namespaces kubetest creates for scenarios: the environment they belong to.
pub const ENVIRONMENT_LABEL: &str = "kubetest.io/environment";

/// `kt-<scenario>-<5 random lowercase letters/digits>`, at most 63 characters (a DNS label).
pub fn namespace_name(scenario: &str) -> String {
    let suffix = random_suffix(5);
    let max_scenario = 63 - "kt-".len() - 1 - suffix.len();
    let mut base: String = scenario.chars().take(max_scenario).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("kt-{base}-{suffix}")
}

fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS per process; the counter and clock make every call differ.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut x = h.finish();
    (0..n)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Create the scenario's namespace (server-side apply, labelled with the scenario's slug).
pub async fn create_namespace(cluster: &Cluster, name: &str, slug: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let ns = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                SCENARIO_LABEL: slug,
                ENVIRONMENT_LABEL: cluster.environment,
                "app.kubernetes.io/managed-by": "kubetest",
            },
        },
    });
    let mut ns = ns;
    if let Some(id) = &cluster.run_id {
        ns["metadata"]["labels"][crate::run_id::RUN_LABEL] = serde_json::Value::String(id.clone());
    }
    api.patch(
        name,
        &PatchParams::apply(crate::k8s::apply::FIELD_MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        format!(
            "cannot create the scenario's namespace {name}: {}",
            crate::k8s::apply::server_message(&e)
        )
    })
}

/// Start deleting the namespace; the cluster removes its contents in the background.
pub async fn delete_namespace(cluster: &Cluster, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(format!(
            "cannot delete the scenario's namespace {name}: {}",
            crate::k8s::apply::server_message(&e)
        )),
    }
}

/// Delete the scenario namespaces of `environment` still in the cluster — a `run` that was
/// killed never got to delete its own — and return their names.
pub async fn delete_leftover_namespaces(
    client: &kube::Client,
    environment: &str,
    run_id: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut selector = format!("{ENVIRONMENT_LABEL}={environment},{SCENARIO_LABEL}");
    if let Some(id) = run_id {
        // Another run of the same environment on a shared cluster keeps its own.
        selector.push_str(&format!(",{}={id}", crate::run_id::RUN_LABEL));
    }
    crate::k8s::namespaces::delete_labelled(client, &selector, "scenario namespaces").await
}

/// Pods, workloads, events and the logs of containers not ready in the namespace (the
/// failure bundle's `namespaces/<ns>/`), gathered before cleanup changes them.
pub async fn namespace_report(
    cluster: &Cluster,
    namespace: &str,
) -> crate::k8s::namespace_report::NamespaceReport {
    crate::k8s::namespace_report::collect(&cluster.client, namespace).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn applied_objects_are_recorded_once_in_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::state::StateStore::new(dir.path());
        store.save(&crate::state::State::new("shop")).unwrap();
        // A client that is never used: recording touches only the state file.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let o = crate::state::RunClusterObject {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "ClusterRole".into(),
            name: "reader".into(),
            shared: true,
        };
        let bare = Cluster::new(client, "shop").for_run(Some("r1"));
        let e = bare.record_run_cluster_object(&o).unwrap_err().to_string();
        assert_eq!(e, "no state file to record ClusterRole reader in");
        let cluster = bare.recording_to(store.clone());
        cluster.record_run_cluster_object(&o).unwrap();
        cluster.record_run_cluster_object(&o).unwrap();
        assert_eq!(
            store.load().unwrap().unwrap().run_cluster_objects,
            std::slice::from_ref(&o)
        );
        cluster.forget_run_cluster_object(&o).unwrap();
        assert!(store
            .load()
            .unwrap()
            .unwrap()
            .run_cluster_objects
            .is_empty());
    }

    #[test]
    fn namespace_names_are_dns_labels_and_differ() {
        let a = namespace_name("orders-flow");
        let b = namespace_name("orders-flow");
        assert!(a.starts_with("kt-orders-flow-") && a.len() == "kt-orders-flow-".len() + 5);
        assert_ne!(a, b);
        let long = namespace_name(&"x".repeat(40));
        assert!(long.len() <= 63);
        let very_long = namespace_name(&"a".repeat(60));
        assert_eq!(very_long.len(), 63, "{very_long}");
        let cut = namespace_name(&format!("{}-b", "a".repeat(53)));
        assert!(!cut.contains("--"), "{cut}");
        assert!(cut
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}

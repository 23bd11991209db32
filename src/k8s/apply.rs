//! Server-side apply of manifests (field manager `kubetest`), resolving kinds by discovery and
//! waiting for each CRD to be `Established` (by watch) before objects of its kind are applied.

use super::kinds::{self, Kinds};
use super::manifests::Manifest;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::runtime::wait::{await_condition, conditions};
use std::fmt;
use std::time::Duration;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "kubetest";

/// How long a CRD may take to become `Established`.
pub const CRD_ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// One object could not be applied: where it came from, what it is, what the server said.
#[derive(Debug, thiserror::Error)]
pub struct ApplyError {
    /// `file (document N)`.
    pub origin: String,
    /// `Kind namespace/name` or `Kind name`.
    pub object: String,
    pub message: String,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "applying {} from {}: {}",
            self.object, self.origin, self.message
        )
    }
}

/// What was applied, for the caller's events.
#[derive(Debug, Clone)]
pub struct Applied {
    /// `Kind namespace/name` or `Kind name`.
    pub object: String,
    /// The object's resourceVersion after the apply.
    pub resource_version: String,
    /// Applied as a run on a shared cluster, cluster-scoped: what `down` must remove or release.
    pub run_cluster_object: Option<crate::state::RunClusterObject>,
}

/// Applies manifests to one cluster; remembers discovered kinds.
pub struct Applier {
    client: kube::Client,
    default_namespace: String,
    kinds: Kinds,
    /// Run identity on a shared cluster: its own field manager, and its label on
    /// cluster-scoped objects (src/run_id.rs).
    run_id: Option<String>,
}

impl Applier {
    pub fn new(client: kube::Client, default_namespace: impl Into<String>) -> Self {
        Self::with_kinds(client, default_namespace, Kinds::new())
    }

    /// An applier that shares discovered kinds with others (scenario steps of one run).
    pub fn with_kinds(
        client: kube::Client,
        default_namespace: impl Into<String>,
        kinds: Kinds,
    ) -> Self {
        Self {
            client,
            default_namespace: default_namespace.into(),
            kinds,
            run_id: None,
        }
    }

    /// Apply as run `id` of a shared cluster.
    pub fn for_run(mut self, id: Option<&str>) -> Self {
        self.run_id = id.map(str::to_owned);
        self
    }

    /// Apply `manifests` in the order given (see [`super::manifests::in_apply_order`]); after
    /// the last CRD of a run of CRDs, wait until all of them are `Established`.
    pub async fn apply_all(
        &mut self,
        manifests: &[Manifest],
        mut on_applied: impl FnMut(&Applied),
    ) -> Result<(), ApplyError> {
        let mut pending_crds: Vec<&Manifest> = Vec::new();
        for m in manifests {
            if !is_crd(m) && !pending_crds.is_empty() {
                for crd in pending_crds.drain(..) {
                    self.await_established(crd).await?;
                }
            }
            let applied = self.apply_one(m).await?;
            on_applied(&applied);
            if is_crd(m) {
                pending_crds.push(m);
            }
        }
        for crd in pending_crds {
            self.await_established(crd).await?;
        }
        Ok(())
    }

    /// Server-side apply of one object.
    pub async fn apply_one(&mut self, m: &Manifest) -> Result<Applied, ApplyError> {
        let (ar, caps) = self.resolve(m).await?;
        let mut obj = m.object.clone();
        let mut run_cluster_object = None;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .get_or_insert_with(|| self.default_namespace.clone())
                    .clone();
                Api::namespaced_with(self.client.clone(), &ns, &ar)
            }
            Scope::Cluster => {
                obj.metadata.namespace = None;
                let api = Api::all_with(self.client.clone(), &ar);
                match &self.run_id {
                    // The run's namespaces go by their label (src/k8s/run_scope.rs).
                    Some(_) if m.api_version() == "v1" && m.kind() == "Namespace" => {}
                    Some(id) => {
                        run_cluster_object = Some(self.label_for_run(&api, m, &mut obj, id).await?)
                    }
                    None => {}
                }
                api
            }
        };
        let object = describe(m.kind(), obj.metadata.namespace.as_deref(), m.name());
        let manager = match &self.run_id {
            Some(id) => crate::run_id::field_manager(id),
            None => FIELD_MANAGER.to_owned(),
        };
        let params = PatchParams::apply(&manager).force();
        let out = api
            .patch(m.name(), &params, &Patch::Apply(&obj))
            .await
            .map_err(|e| ApplyError {
                origin: m.origin(),
                object: object.clone(),
                message: server_message(&e),
            })?;
        Ok(Applied {
            object,
            resource_version: out.metadata.resource_version.unwrap_or_default(),
            run_cluster_object,
        })
    }

    /// A cluster-scoped object applied by run `id`: its own (labelled with the run by
    /// src/k8s/run_scope.rs) stays as it is; a shared one gets the run's labels
    /// (src/k8s/run_cluster.rs), which depend on whether it exists already.
    async fn label_for_run(
        &self,
        api: &Api<DynamicObject>,
        m: &Manifest,
        obj: &mut DynamicObject,
        id: &str,
    ) -> Result<crate::state::RunClusterObject, ApplyError> {
        let own = obj
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::run_id::RUN_LABEL))
            .is_some_and(|v| v == id);
        if !own {
            let existing = api.get_opt(m.name()).await.map_err(|e| ApplyError {
                origin: m.origin(),
                object: describe(m.kind(), None, m.name()),
                message: format!("reading it before applying: {}", server_message(&e)),
            })?;
            let labels = existing.map(|o| o.metadata.labels.unwrap_or_default());
            let set = obj.metadata.labels.get_or_insert_with(Default::default);
            for (k, v) in crate::k8s::run_cluster::shared_labels(id, labels.as_ref()) {
                set.insert(k, v);
            }
        }
        Ok(crate::state::RunClusterObject {
            api_version: m.api_version().to_owned(),
            kind: m.kind().to_owned(),
            name: m.name().to_owned(),
            shared: !own,
        })
    }

    async fn resolve(
        &mut self,
        m: &Manifest,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let gvk = kinds::gvk(m.api_version(), m.kind());
        self.kinds
            .resolve(&self.client, &gvk)
            .await
            .map_err(|e| ApplyError {
                origin: m.origin(),
                object: describe(m.kind(), m.object.metadata.namespace.as_deref(), m.name()),
                message: kinds::explain(&e, m.api_version(), m.kind()),
            })
    }

    async fn await_established(&self, crd: &Manifest) -> Result<(), ApplyError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let wait = await_condition(api, crd.name(), conditions::is_crd_established());
        let err = |message: String| ApplyError {
            origin: crd.origin(),
            object: describe(crd.kind(), None, crd.name()),
            message,
        };
        match tokio::time::timeout(CRD_ESTABLISH_TIMEOUT, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(err(format!("watching it until Established: {e}"))),
            Err(_) => Err(err(format!(
                "not Established after {}s; `kubectl describe crd {}` shows why",
                CRD_ESTABLISH_TIMEOUT.as_secs(),
                crd.name()
            ))),
        }
    }
}

fn is_crd(m: &Manifest) -> bool {
    m.kind() == "CustomResourceDefinition" && m.api_version() == "apiextensions.k8s.io/v1"
}

/// `Kind namespace/name` or `Kind name`.
pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The server's own message for an API error, else the client error.
pub fn server_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

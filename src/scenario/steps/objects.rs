//! Cluster objects for steps: which objects a step names (kind + name or selector, templated),
//! the kind's API through the run's discovery cache, and objects as JSON trees for matching.

use super::StepFailure;
use crate::k8s::apply::{describe, server_message};
use crate::k8s::kinds;
use crate::scenario::cluster::Cluster;
use crate::scenario::template::{render, Vars};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{ApiResource, Scope};
use serde_json::Value;

/// The objects a step is about, with templates filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub api_version: String,
    pub kind: String,
    pub name: Option<String>,
    pub selector: Option<String>,
    /// The step's `namespace:`, else the scenario's.
    pub namespace: String,
}

impl Selection {
    pub fn new(
        api_version: &str,
        kind: &str,
        name: &Option<String>,
        selector: &Option<String>,
        namespace: &Option<String>,
        scenario_namespace: &str,
        vars: &Vars,
    ) -> Result<Self, StepFailure> {
        let r = |t: &str| render(t, vars).map_err(|e| StepFailure::new(e.to_string()));
        let opt = |t: &Option<String>| t.as_deref().map(r).transpose();
        Ok(Self {
            api_version: r(api_version)?,
            kind: r(kind)?,
            name: opt(name)?,
            selector: opt(selector)?,
            namespace: opt(namespace)?.unwrap_or_else(|| scenario_namespace.to_owned()),
        })
    }

    /// The step's own `namespace:`, when it names a namespace of the run on a shared cluster,
    /// as the run has it (`shop` → `shop-<id>`).
    pub fn in_run(mut self, cluster: &Cluster) -> Self {
        self.namespace = cluster.run_namespace(&self.namespace);
        self
    }

    /// `Pod demo/web-1`, `Pods matching app=web in demo`, `ConfigMaps in demo`.
    pub fn describe(&self, ns: Option<&str>) -> String {
        match (&self.name, &self.selector) {
            (Some(n), _) => describe(&self.kind, ns, n),
            (None, Some(sel)) => match ns {
                Some(ns) => format!("{} objects matching {sel} in {ns}", self.kind),
                None => format!("{} objects matching {sel}", self.kind),
            },
            (None, None) => match ns {
                Some(ns) => format!("{} objects in {ns}", self.kind),
                None => format!("{} objects", self.kind),
            },
        }
    }
}

/// The API of a selection's kind (namespaced in the selection's namespace, or cluster-wide).
pub struct KindApi {
    pub api: Api<DynamicObject>,
    pub resource: ApiResource,
    /// The namespace used, `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
}

pub async fn kind_api(cluster: &Cluster, sel: &Selection) -> Result<KindApi, StepFailure> {
    let gvk = kinds::gvk(&sel.api_version, &sel.kind);
    let (resource, caps) = cluster
        .kinds
        .resolve(&cluster.client, &gvk)
        .await
        .map_err(|e| StepFailure::new(kinds::explain(&e, &sel.api_version, &sel.kind)))?;
    Ok(match caps.scope {
        Scope::Namespaced => KindApi {
            api: Api::namespaced_with(cluster.client.clone(), &sel.namespace, &resource),
            resource,
            namespace: Some(sel.namespace.clone()),
        },
        Scope::Cluster => KindApi {
            api: Api::all_with(cluster.client.clone(), &resource),
            resource,
            namespace: None,
        },
    })
}

/// The selected objects now: the named one (none if absent), or all matching the selector.
pub async fn fetch(k: &KindApi, sel: &Selection) -> Result<Vec<DynamicObject>, StepFailure> {
    let what = || sel.describe(k.namespace.as_deref());
    match &sel.name {
        Some(name) => k
            .api
            .get_opt(name)
            .await
            .map(|o| o.into_iter().collect())
            .map_err(|e| StepFailure::new(format!("reading {}: {}", what(), server_message(&e)))),
        None => {
            let mut lp = ListParams::default();
            if let Some(s) = &sel.selector {
                lp = lp.labels(s);
            }
            k.api.list(&lp).await.map(|l| l.items).map_err(|e| {
                StepFailure::new(format!("listing {}: {}", what(), server_message(&e)))
            })
        }
    }
}

/// An object as the JSON tree expectations are matched against: `apiVersion` and `kind` filled
/// in (list items lack them), `metadata.managedFields` left out (noise in every report).
pub fn tree(obj: &DynamicObject, resource: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            Value::String(resource.api_version.clone()),
        );
        m.insert("kind".into(), Value::String(resource.kind.clone()));
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    v
}

/// `Kind ns/name` of an object.
pub fn label(obj: &DynamicObject, resource: &ApiResource) -> String {
    describe(
        &resource.kind,
        obj.metadata.namespace.as_deref(),
        obj.metadata.name.as_deref().unwrap_or(""),
    )
}

/// Objects as YAML for a failure's "observed" section.
pub fn as_yaml(trees: &[Value]) -> String {
    trees
        .iter()
        .map(|t| serde_yaml::to_string(t).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The capture source of a step about objects: the object itself when named, else
/// `{items: [...]}` as `kubectl get -o json` gives a list.
pub fn capture_value(sel: &Selection, trees: Vec<Value>) -> Value {
    if sel.name.is_some() {
        trees.into_iter().next().unwrap_or(Value::Null)
    } else {
        serde_json::json!({ "items": trees })
    }
}

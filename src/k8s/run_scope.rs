//! One run's share of a shared cluster (src/run_id.rs): its manifests moved into
//! `<namespace>-<id>` namespaces labelled with the run, and `down` deleting exactly those.

use crate::k8s::manifests::Manifest;
use crate::k8s::run_refs::{self, RunNamespaces};
use crate::run_id::{self, RUN_LABEL};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What isolating a run's manifests did, for the deploy phase's events and the state file.
#[derive(Debug, Default)]
pub struct Isolation {
    /// Namespace objects to apply first, for namespaces the manifests use without declaring.
    pub made: Vec<Manifest>,
    /// The run's namespaces as written (what scenarios' `namespace:` fields are mapped by).
    pub namespaces: RunNamespaces,
    /// `Kind name: field from → to`, one per reference rewritten inside a body.
    pub mapped: Vec<String>,
    /// Values left as written that may name a namespace of the run, and cluster-scoped objects
    /// whose name the API fixes although they refer to the run: `Kind name: field: why`.
    pub warnings: Vec<String>,
    /// Cluster-scoped objects that refer to a namespace of the run: renamed `<name>-<id>`,
    /// labelled with the run, deleted by its `down`. (apiVersion, kind, new name).
    pub owned: Vec<(String, String, String)>,
}

/// Cluster-scoped kinds whose objects can take a per-run name (nothing outside the run's own
/// objects refers to them by name, or [`follow_renames`] maps those references).
const RENAMABLE: [(&str, &str); 6] = [
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("", "PersistentVolume"),
    ("storage.k8s.io", "StorageClass"),
    ("networking.k8s.io", "IngressClass"),
];

/// Cluster-scoped kinds whose name the API fixes (`<plural>.<group>`, `<version>.<group>`).
const FIXED_NAME: [(&str, &str); 2] = [
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
];

/// Move `objects` into run `id`'s namespaces: Namespace objects are renamed and labelled,
/// namespaced objects follow their namespace, references to the run's namespaces inside bodies
/// and Service DNS names follow too (src/k8s/run_refs.rs), and cluster-scoped objects that
/// refer to the run become the run's own (renamed `<name>-<id>`, labelled).
/// `default_namespace` is the plan's, already mapped.
pub fn isolate(objects: &mut [Manifest], id: &str, default_namespace: &str) -> Isolation {
    let suffix = format!("-{id}");
    let default_written = default_namespace
        .strip_suffix(&suffix)
        .unwrap_or(default_namespace)
        .to_owned();
    let mut written = BTreeSet::from([default_written.clone()]);
    let mut services = BTreeSet::new();
    for m in objects.iter() {
        if m.api_version() == "v1" && m.kind() == "Namespace" {
            written.insert(m.name().to_owned());
        } else if let Some(ns) = &m.object.metadata.namespace {
            written.insert(ns.clone());
        }
        if m.api_version() == "v1" && m.kind() == "Service" {
            let ns = m
                .object
                .metadata
                .namespace
                .as_deref()
                .unwrap_or(&default_written);
            services.insert((ns.to_owned(), m.name().to_owned()));
        }
    }
    let run = RunNamespaces::new(id, written).with_services(services);
    let mut out = Isolation::default();
    let mut declared = BTreeSet::new();
    let mut used = BTreeSet::from([default_namespace.to_owned()]);
    let mut renamed: Vec<(&str, String, String)> = Vec::new();
    for m in objects.iter_mut() {
        if m.api_version() == "v1" && m.kind() == "Namespace" {
            let name = run_id::namespace(m.name(), Some(id));
            m.object.metadata.name = Some(name.clone());
            label(m, RUN_LABEL, id);
            declared.insert(name);
            continue;
        }
        if let Some(ns) = m.object.metadata.namespace.as_mut() {
            *ns = run_id::namespace(ns, Some(id));
            used.insert(ns.clone());
        }
        let what = format!("{} {}", m.kind(), m.name());
        let mut refs = run_refs::map_references(m, &run);
        let hosts = run_refs::map_service_hosts(m, &run);
        refs.mapped.extend(hosts.mapped);
        refs.unmapped.extend(hosts.unmapped);
        for r in &refs.mapped {
            out.mapped
                .push(format!("{what}: {} {} → {}", r.field, r.from, r.to));
        }
        for u in &refs.unmapped {
            out.warnings
                .push(format!("{what}: {}: `{}` {}", u.field, u.value, u.why));
        }
        if refs.mapped.is_empty() {
            continue;
        }
        match make_own(m, id) {
            Owned::Renamed(r) => {
                out.owned
                    .push((m.api_version().to_owned(), m.kind().to_owned(), r.2.clone()));
                renamed.push(r);
            }
            Owned::FixedName => out.warnings.push(format!(
                "{what}: refers to namespace(s) of this run but the API fixes its name, so runs on one cluster share it and the last `up` decides where it points; keep it out of shared-cluster runs or install it once for all"
            )),
            Owned::No => {}
        }
    }
    follow_renames(objects, &renamed, &mut out.mapped);
    out.made = used
        .difference(&declared)
        .filter(|n| !run_id::SYSTEM_NAMESPACES.contains(&n.as_str()))
        .filter_map(|n| namespace_manifest(n, id))
        .collect();
    out.namespaces = run;
    out
}

/// What [`make_own`] did with an object that refers to a namespace of the run.
#[derive(Debug, PartialEq, Eq)]
pub enum Owned {
    /// Renamed `<name>-<id>` and labelled with the run: (kind, old name, new name).
    Renamed((&'static str, String, String)),
    /// Cluster-scoped, but the API fixes its name: runs share it.
    FixedName,
    /// Namespaced, or a kind nothing needs to rename.
    No,
}

/// A cluster-scoped object that refers to namespace(s) of run `id` (its references already
/// mapped) becomes the run's own where its kind allows: renamed `<name>-<id>` and labelled with
/// [`RUN_LABEL`], so its `down` deletes it and another run's object of the same name is
/// another object. Used by the deploy phase and by scenario `apply:` steps alike.
pub fn make_own(m: &mut Manifest, id: &str) -> Owned {
    if m.object.metadata.namespace.is_some() {
        return Owned::No;
    }
    let gk = (run_refs::group(m.api_version()), m.kind());
    if let Some((_, kind)) = RENAMABLE.iter().find(|k| **k == gk) {
        let old = m.name().to_owned();
        let new = format!("{old}-{id}");
        m.object.metadata.name = Some(new.clone());
        label(m, RUN_LABEL, id);
        Owned::Renamed((kind, old, new))
    } else if FIXED_NAME.contains(&gk) {
        Owned::FixedName
    } else {
        Owned::No
    }
}

/// Label the run's Namespace objects (those carrying [`RUN_LABEL`]) with their environment
/// (`kubetest.io/environment`, as scenario namespaces are), so `kubetest gc` of one project
/// finds its own runs and never another project's on the same cluster.
pub fn label_environment(objects: &mut [Manifest], environment: &str) {
    for m in objects.iter_mut() {
        let is_run_namespace = m.api_version() == "v1"
            && m.kind() == "Namespace"
            && m.object
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(RUN_LABEL));
        if is_run_namespace {
            label(m, crate::scenario::cluster::ENVIRONMENT_LABEL, environment);
        }
    }
}

fn label(m: &mut Manifest, key: &str, value: &str) {
    m.object
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(key.to_owned(), value.to_owned());
}

/// References by name to renamed cluster-scoped objects: a PersistentVolumeClaim's
/// `spec.volumeName` (PersistentVolume) and `spec.storageClassName` (StorageClass, also in
/// StatefulSet `volumeClaimTemplates`), an Ingress's `spec.ingressClassName` (IngressClass).
pub fn follow_renames(
    objects: &mut [Manifest],
    renamed: &[(&'static str, String, String)],
    log: &mut Vec<String>,
) {
    if renamed.is_empty() {
        return;
    }
    let to = |kind: &str, name: &str| {
        renamed
            .iter()
            .find(|(k, old, _)| *k == kind && old == name)
            .map(|(_, _, new)| new.clone())
    };
    for m in objects.iter_mut() {
        let what = format!("{} {}", m.kind(), m.name());
        let mut fields: Vec<(String, &str)> = Vec::new();
        match (m.api_version(), m.kind()) {
            ("v1", "PersistentVolumeClaim") => {
                fields.push(("/spec/volumeName".into(), "PersistentVolume"));
                fields.push(("/spec/storageClassName".into(), "StorageClass"));
            }
            ("apps/v1", "StatefulSet") => {
                let n = m.object.data["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .map_or(0, Vec::len);
                for i in 0..n {
                    fields.push((
                        format!("/spec/volumeClaimTemplates/{i}/spec/storageClassName"),
                        "StorageClass",
                    ));
                }
            }
            ("networking.k8s.io/v1", "Ingress") => {
                fields.push(("/spec/ingressClassName".into(), "IngressClass"))
            }
            _ => {}
        }
        for (pointer, kind) in fields {
            if let Some(serde_json::Value::String(s)) = m.object.data.pointer_mut(&pointer) {
                if let Some(new) = to(kind, s) {
                    log.push(format!(
                        "{what}: {} {s} → {new}",
                        pointer.trim_start_matches('/').replace('/', ".")
                    ));
                    *s = new;
                }
            }
        }
    }
}

fn namespace_manifest(name: &str, id: &str) -> Option<Manifest> {
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": { RUN_LABEL: id, "app.kubernetes.io/managed-by": "kubetest" },
        },
    });
    Some(Manifest {
        file: PathBuf::from("(kubetest: namespace of this run)"),
        doc: 0,
        object: crate::k8s::manifests::to_object(value).ok()?,
    })
}

/// Delete the namespaces of run `id` (their contents go with them); returns their names.
pub async fn delete_namespaces(client: &kube::Client, id: &str) -> Result<Vec<String>, String> {
    let selector = format!("{RUN_LABEL}={id}");
    crate::k8s::namespaces::delete_labelled(
        client,
        &selector,
        &format!("the namespaces of run {id}"),
    )
    .await
}

/// The `kubetest.io/run` label of a namespace object as JSON (for tests and reports).
pub fn run_of(ns: &Value) -> Option<&str> {
    ns["metadata"]["labels"][RUN_LABEL].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(yaml: &str) -> Manifest {
        Manifest::from_test_yaml(yaml)
    }

    #[test]
    fn namespaces_follow_the_run() {
        let mut objects = vec![
            manifest("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
            manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
            manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: cache}\n"),
            manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n"),
            manifest("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"),
        ];
        let mut extra = isolate(&mut objects, "r7", "demo-r7").made;
        label_environment(&mut extra, "shop");
        label_environment(&mut objects, "shop");
        let env_of = |m: &Manifest| {
            m.object
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::scenario::cluster::ENVIRONMENT_LABEL).cloned())
        };
        assert_eq!(env_of(&objects[0]).as_deref(), Some("shop"));
        assert_eq!(env_of(&extra[0]).as_deref(), Some("shop"));
        assert_eq!(env_of(&objects[1]), None, "only the run's namespaces");
        assert_eq!(objects[0].name(), "shop-r7");
        assert_eq!(
            objects[0].object.metadata.labels.as_ref().unwrap()[RUN_LABEL],
            "r7"
        );
        assert_eq!(
            objects[1].object.metadata.namespace.as_deref(),
            Some("shop-r7")
        );
        assert_eq!(
            objects[2].object.metadata.namespace.as_deref(),
            Some("cache-r7")
        );
        assert_eq!(
            objects[3].object.metadata.namespace.as_deref(),
            Some("kube-system")
        );
        assert_eq!(objects[4].object.metadata.namespace, None);
        let made: Vec<&str> = extra.iter().map(|m| m.name()).collect();
        assert_eq!(
            made,
            ["cache-r7", "demo-r7"],
            "declared shop-r7 is not made twice"
        );
        assert_eq!(
            objects[4].name(),
            "reader",
            "no reference to the run: shared as is"
        );
    }

    #[test]
    fn cluster_scoped_objects_that_refer_to_the_run_become_its_own() {
        let mut objects = vec![
            manifest("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
            manifest("apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {ports: [{port: 5432}]}\n"),
            manifest("apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}]}\n"),
            manifest("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: read}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\nsubjects: [{kind: ServiceAccount, name: app, namespace: shop}]\n"),
            manifest("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: prom}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\nsubjects: [{kind: ServiceAccount, name: prom, namespace: monitoring}]\n"),
            manifest("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: data}\nspec: {claimRef: {name: data, namespace: shop}}\n"),
            manifest("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: shop}\nspec: {volumeName: data}\n"),
            manifest("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ws.x.io}\nspec: {conversion: {strategy: Webhook, webhook: {clientConfig: {service: {name: conv, namespace: shop}}}}}\n"),
            manifest("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: x, env: [{name: DB, value: 'db.shop:5432'}, {name: API, value: 'http://api.demo'}, {name: C, value: cache.shop}]}]\n"),
        ];
        let iso = isolate(&mut objects, "r7", "demo-r7");
        assert_eq!(iso.namespaces.names().collect::<Vec<_>>(), ["demo", "shop"]);
        assert_eq!(objects[3].name(), "read-r7");
        assert_eq!(
            objects[3].object.metadata.labels.as_ref().unwrap()[RUN_LABEL],
            "r7"
        );
        assert_eq!(
            objects[3].object.data["subjects"][0]["namespace"],
            "shop-r7"
        );
        assert_eq!(
            objects[4].name(),
            "prom",
            "refers to no namespace of the run"
        );
        assert_eq!(objects[5].name(), "data-r7");
        assert_eq!(
            objects[6].object.data["spec"]["volumeName"], "data-r7",
            "the claim follows its renamed volume"
        );
        assert_eq!(objects[7].name(), "ws.x.io", "a CRD's name is fixed");
        let env = &objects[8].object.data["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], "db.shop-r7:5432");
        assert_eq!(
            env[1]["value"], "http://api.demo-r7",
            "Service api in the default namespace"
        );
        assert_eq!(env[2]["value"], "cache.shop");
        let owned: Vec<&str> = iso.owned.iter().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(owned, ["read-r7", "data-r7"]);
        assert_eq!(iso.warnings.len(), 2, "{:?}", iso.warnings);
        assert!(iso.warnings[0]
            .starts_with("CustomResourceDefinition ws.x.io: refers to namespace(s) of this run"));
        assert!(iso.warnings[1].starts_with(
            "Deployment web: spec.template.spec.containers[app].env[C]: `cache.shop` may name Service cache"
        ));
        assert!(
            iso.mapped
                .iter()
                .any(|m| m == "PersistentVolumeClaim data: spec.volumeName data → data-r7"),
            "{:?}",
            iso.mapped
        );
    }
}

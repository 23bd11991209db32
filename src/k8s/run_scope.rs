//! One run's share of a shared cluster (src/run_id.rs): its manifests moved into
//! `<namespace>-<id>` namespaces labelled with the run, and `down` deleting exactly those.

use crate::k8s::manifests::Manifest;
use crate::run_id::{self, RUN_LABEL};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Move `objects` into run `id`'s namespaces: Namespace objects are renamed and labelled,
/// namespaced objects follow their namespace. Returns the Namespace objects to apply first for
/// namespaces the manifests use without declaring them (`default_namespace` included, already
/// mapped by the plan).
pub fn isolate(objects: &mut [Manifest], id: &str, default_namespace: &str) -> Vec<Manifest> {
    let mut declared = BTreeSet::new();
    let mut used = BTreeSet::from([default_namespace.to_owned()]);
    for m in objects.iter_mut() {
        if m.api_version() == "v1" && m.kind() == "Namespace" {
            let name = run_id::namespace(m.name(), Some(id));
            m.object.metadata.name = Some(name.clone());
            m.object
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(RUN_LABEL.to_owned(), id.to_owned());
            declared.insert(name);
        } else if let Some(ns) = m.object.metadata.namespace.as_mut() {
            *ns = run_id::namespace(ns, Some(id));
            used.insert(ns.clone());
        }
    }
    used.difference(&declared)
        .filter(|n| !run_id::SYSTEM_NAMESPACES.contains(&n.as_str()))
        .filter_map(|n| namespace_manifest(n, id))
        .collect()
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

/// Label a cluster-scoped object with run `id` (each run applies its own label with its own
/// field manager, so the labels of all runs that use the object accumulate).
pub fn label_cluster_scoped(obj: &mut kube::api::DynamicObject, id: &str) {
    obj.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(run_id::cluster_label(id), "true".to_owned());
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
        let extra = isolate(&mut objects, "r7", "demo-r7");
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
        let mut role = objects[4].object.clone();
        label_cluster_scoped(&mut role, "r7");
        assert_eq!(role.metadata.labels.unwrap()["run.kubetest.io/r7"], "true");
    }
}

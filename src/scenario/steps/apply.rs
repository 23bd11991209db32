//! `apply:` a manifest file (relative to the scenario file) or inline objects, templated with
//! the scenario's variables, server-side applied into the scenario's namespace by default.

use super::{StepFailure, StepOutput};
use crate::k8s::apply::Applier;
use crate::k8s::manifests::{self, Manifest};
use crate::k8s::run_refs::{self, RunNamespaces};
use crate::k8s::run_scope;
use crate::scenario::cluster::Cluster;
use crate::scenario::model::ApplyStep;
use crate::scenario::template::{render, render_value, Vars};
use std::path::Path;

/// The objects of the step, rendered, in apply order (namespaces, CRDs, the rest).
pub fn manifests(
    step: &ApplyStep,
    scenario_file: &Path,
    vars: &Vars,
) -> Result<Vec<Manifest>, StepFailure> {
    let fail = |e: &dyn std::fmt::Display| StepFailure::new(e.to_string());
    let rendered = |v: serde_json::Value| render_value(&v, vars).map_err(|e| e.to_string());
    let list = match &step.file {
        Some(f) => {
            let rel = render(f, vars).map_err(|e| fail(&e))?;
            let dir = scenario_file.parent().unwrap_or(Path::new("."));
            let path = dir.join(&rel);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                StepFailure::new(format!("cannot read the manifest {}: {e}", path.display()))
            })?;
            manifests::parse_with(&path, &text, rendered).map_err(|e| fail(&e))?
        }
        None => step
            .objects
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let err = |m: String| {
                    StepFailure::new(format!(
                        "{} apply.objects[{i}]: {m}",
                        scenario_file.display()
                    ))
                };
                let v = rendered(v.clone()).map_err(err)?;
                Ok(Manifest {
                    file: scenario_file.to_owned(),
                    doc: i + 1,
                    object: manifests::to_object(v).map_err(err)?,
                })
            })
            .collect::<Result<Vec<_>, StepFailure>>()?,
    };
    Ok(manifests::in_apply_order(list))
}

/// On a shared cluster: an object the step puts into (or a Namespace object naming) a
/// namespace of the run goes to the run's `<namespace>-<id>`, and references inside it follow
/// (src/k8s/run_refs.rs). A cluster-scoped object that refers to the run becomes its own, as in
/// the deploy phase (src/k8s/run_scope.rs): renamed `<name>-<id>`, labelled, and the
/// (kind, old, new) name returned so references to it follow.
pub fn in_run(m: &mut Manifest, run: &RunNamespaces) -> Option<(&'static str, String, String)> {
    if m.api_version() == "v1" && m.kind() == "Namespace" {
        if let Some(to) = run.map(m.name()) {
            m.object.metadata.name = Some(to);
        }
        return None;
    }
    if let Some(ns) = m.object.metadata.namespace.as_mut() {
        *ns = run.apply(ns);
    }
    let refs = run_refs::map_references(m, run);
    let hosts = run_refs::map_service_hosts(m, run);
    if refs.mapped.is_empty() && hosts.mapped.is_empty() {
        return None;
    }
    match run_scope::make_own(m, run.id()) {
        run_scope::Owned::Renamed(r) => Some(r),
        run_scope::Owned::FixedName | run_scope::Owned::No => None,
    }
}

/// Every object of the step [`in_run`], and references to the objects that became the run's
/// own renamed with them.
pub fn all_in_run(list: &mut [Manifest], run: &RunNamespaces) {
    let renamed: Vec<_> = list.iter_mut().filter_map(|m| in_run(m, run)).collect();
    let mut log = Vec::new();
    run_scope::follow_renames(list, &renamed, &mut log);
}

pub async fn run_apply(
    cluster: &Cluster,
    step: &ApplyStep,
    scenario_file: &Path,
    namespace: &str,
    vars: &Vars,
) -> Result<StepOutput, StepFailure> {
    let mut list = manifests(step, scenario_file, vars)?;
    if let Some(run) = &cluster.run_namespaces {
        all_in_run(&mut list, run);
    }
    // As run `id`, cluster-scoped objects get the run's labels and field manager, exactly as
    // the deploy phase's (src/k8s/run_cluster.rs).
    let mut applier = Applier::with_kinds(cluster.client.clone(), namespace, cluster.kinds.clone())
        .for_run(cluster.run_id.as_deref());
    let mut applied = Vec::new();
    let mut unrecorded = None;
    let result = applier
        .apply_all(&list, |a| {
            applied.push(a.object.clone());
            // Recorded as soon as applied, so `down` removes or releases it even when this
            // `run` is killed at the next step.
            if let Some(o) = &a.run_cluster_object {
                if let Err(e) = cluster.record_run_cluster_object(o) {
                    unrecorded.get_or_insert((a.object.clone(), e));
                }
            }
        })
        .await;
    if let Some((object, e)) = unrecorded {
        return Err(StepFailure {
            message: format!(
                "applied {object}, but cannot record it in the state file, so `kubetest down` would not release it: {e:#}"
            ),
            details: vec![format!(
                "remove it by hand once no other run uses it (label {} on it)",
                cluster
                    .run_id
                    .as_deref()
                    .map(crate::run_id::cluster_label)
                    .unwrap_or_default()
            )],
            observed: None,
        });
    }
    result.map_err(|e| {
        let origin = if step.file.is_some() {
            e.origin.clone()
        } else {
            e.origin.replace("(document ", "(apply.objects item ")
        };
        StepFailure {
            message: format!("applying {}: {}", e.object, e.message),
            details: vec![format!("from {origin}")],
            observed: None,
        }
    })?;
    Ok(StepOutput {
        value: serde_json::json!({ "applied": applied }),
        summary: format!("applied {}", applied.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_a_shared_cluster_run_go_to_its_namespaces() {
        let step: ApplyStep = serde_yaml::from_str(
            "objects:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: shop}, data: {url: 'http://db.shop.svc:80'}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: \"{{ namespace }}\"}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: rb}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}, subjects: [{kind: ServiceAccount, name: app, namespace: shop}]}\n",
        )
        .unwrap();
        let vars: Vars = [("namespace".to_owned(), "kt-a-1b2c3".to_owned())].into();
        let run = RunNamespaces::new("r1", ["shop".to_owned()]);
        let mut list = manifests(&step, Path::new("s.yaml"), &vars).unwrap();
        all_in_run(&mut list, &run);
        assert_eq!(list[0].name(), "shop-r1", "a Namespace object of the run");
        assert_eq!(
            list[1].object.metadata.namespace.as_deref(),
            Some("shop-r1")
        );
        assert_eq!(
            list[1].object.data["data"]["url"],
            "http://db.shop-r1.svc:80"
        );
        assert_eq!(
            list[2].object.metadata.namespace.as_deref(),
            Some("kt-a-1b2c3"),
            "the scenario's own namespace stays"
        );
        assert_eq!(list[3].object.data["subjects"][0]["namespace"], "shop-r1");
    }

    #[test]
    fn cluster_scoped_objects_referring_to_the_run_become_its_own() {
        let step: ApplyStep = serde_yaml::from_str(
            "objects:\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: reader}, rules: []}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: readers}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}, subjects: [{kind: ServiceAccount, name: app, namespace: shop}]}\n- {apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: fast}, provisioner: x, parameters: {csi.storage.k8s.io/provisioner-secret-namespace: shop}}\n- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data, namespace: shop}, spec: {storageClassName: fast}}\n",
        )
        .unwrap();
        let run = RunNamespaces::new("r1", ["shop".to_owned()]);
        let mut list = manifests(&step, Path::new("s.yaml"), &Vars::new()).unwrap();
        all_in_run(&mut list, &run);
        let by_kind = |k: &str| list.iter().find(|m| m.kind() == k).unwrap();
        let role = by_kind("ClusterRole");
        assert_eq!(role.name(), "reader", "shared: same name for every run");
        assert!(role.object.metadata.labels.is_none());
        let crb = by_kind("ClusterRoleBinding");
        assert_eq!(crb.name(), "readers-r1");
        assert_eq!(
            crb.object.metadata.labels.as_ref().unwrap()[crate::run_id::RUN_LABEL],
            "r1"
        );
        assert_eq!(crb.object.data["subjects"][0]["namespace"], "shop-r1");
        assert_eq!(crb.object.data["roleRef"]["name"], "reader");
        // A renamed object's references in the step follow it.
        assert_eq!(by_kind("StorageClass").name(), "fast-r1");
        let pvc = by_kind("PersistentVolumeClaim");
        assert_eq!(pvc.object.metadata.namespace.as_deref(), Some("shop-r1"));
        assert_eq!(pvc.object.data["spec"]["storageClassName"], "fast-r1");
    }

    #[test]
    fn inline_objects_are_rendered_and_ordered() {
        let step: ApplyStep = serde_yaml::from_str(
            "objects:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: \"cm-{{ id }}\"}, data: {ns: \"{{ namespace }}\"}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: extra}}\n",
        )
        .unwrap();
        let vars: Vars = [("id", "7"), ("namespace", "kt-a-1b2c3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let list = manifests(&step, Path::new("scenarios/a.yaml"), &vars).unwrap();
        assert_eq!(list[0].kind(), "Namespace", "namespaces first");
        assert_eq!(list[1].name(), "cm-7");
        assert_eq!(list[1].object.data["data"]["ns"], "kt-a-1b2c3");

        let bad: ApplyStep = serde_yaml::from_str("objects:\n- {kind: ConfigMap}\n").unwrap();
        let e = manifests(&bad, Path::new("s.yaml"), &vars).unwrap_err();
        assert_eq!(
            e.message,
            "s.yaml apply.objects[0]: not a Kubernetes object: no `apiVersion`"
        );
        let unknown: ApplyStep = serde_yaml::from_str(
            "objects:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: \"{{ nope }}\"}}\n",
        )
        .unwrap();
        let e = manifests(&unknown, Path::new("s.yaml"), &vars).unwrap_err();
        assert!(
            e.message.contains("unknown variable `nope`"),
            "{}",
            e.message
        );
    }
}

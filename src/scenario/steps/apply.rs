//! `apply:` a manifest file (relative to the scenario file) or inline objects, templated with
//! the scenario's variables, server-side applied into the scenario's namespace by default.

use super::{StepFailure, StepOutput};
use crate::k8s::apply::Applier;
use crate::k8s::manifests::{self, Manifest};
use crate::k8s::run_refs::{self, RunNamespaces};
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
/// (src/k8s/run_refs.rs).
pub fn in_run(m: &mut Manifest, run: &RunNamespaces) {
    if m.api_version() == "v1" && m.kind() == "Namespace" {
        if let Some(to) = run.map(m.name()) {
            m.object.metadata.name = Some(to);
        }
    } else if let Some(ns) = m.object.metadata.namespace.as_mut() {
        *ns = run.apply(ns);
    }
    run_refs::map_references(m, run);
    run_refs::map_service_hosts(m, run);
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
        for m in &mut list {
            in_run(m, run);
        }
    }
    let mut applier = Applier::with_kinds(cluster.client.clone(), namespace, cluster.kinds.clone());
    let mut applied = Vec::new();
    applier
        .apply_all(&list, |a| applied.push(a.object.clone()))
        .await
        .map_err(|e| {
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
        for m in &mut list {
            in_run(m, &run);
        }
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

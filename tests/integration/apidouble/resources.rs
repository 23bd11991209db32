//! The resources the double serves and its discovery documents (as kube-apiserver 1.33 lists them).

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Subresources (`log`, `status`).
    pub subresources: Vec<String>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn def(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    subs: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: "v1".into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        subresources: subs.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn builtin() -> Vec<ResourceDef> {
    vec![
        def("", "namespaces", "Namespace", false, &["ns"], &["status"]),
        def("", "pods", "Pod", true, &["po"], &["log", "status"]),
        def("", "events", "Event", true, &["ev"], &[]),
        def("", "configmaps", "ConfigMap", true, &["cm"], &[]),
        def("", "secrets", "Secret", true, &[], &[]),
        def("", "services", "Service", true, &["svc"], &["status"]),
        def("", "serviceaccounts", "ServiceAccount", true, &["sa"], &[]),
        def(
            "apps",
            "deployments",
            "Deployment",
            true,
            &["deploy"],
            &["status"],
        ),
        def(
            "apps",
            "statefulsets",
            "StatefulSet",
            true,
            &["sts"],
            &["status"],
        ),
        def(
            "apps",
            "daemonsets",
            "DaemonSet",
            true,
            &["ds"],
            &["status"],
        ),
        def(
            "apps",
            "replicasets",
            "ReplicaSet",
            true,
            &["rs"],
            &["status"],
        ),
        def("batch", "jobs", "Job", true, &[], &["status"]),
        def(
            "discovery.k8s.io",
            "endpointslices",
            "EndpointSlice",
            true,
            &[],
            &[],
        ),
        // RBAC and admission webhooks: namespaced Role(Binding)s, cluster-scoped ClusterRole(Binding)s
        // and webhook configurations, as `kubectl api-resources` lists them.
        def("rbac.authorization.k8s.io", "roles", "Role", true, &[], &[]),
        def(
            "rbac.authorization.k8s.io",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            &[],
        ),
        def(
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            &[],
        ),
        def(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            &[],
            &[],
        ),
        def(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
            &[],
            &[],
        ),
        def(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            &["status"],
        ),
    ]
}

/// `GET /api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let mine: Vec<&ResourceDef> = defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in &mine {
        let mut r = json!({
            "name": d.plural, "singularName": d.singular, "namespaced": d.namespaced,
            "kind": d.kind, "verbs": VERBS,
            "storageVersionHash": "aBcDeFgHiJk=",
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        resources.push(r);
        for s in &d.subresources {
            let (kind, verbs) = match s.as_str() {
                "log" => ("Pod", json!(["get"])),
                _ => (d.kind.as_str(), json!(["get", "patch", "update"])),
            };
            resources.push(json!({
                "name": format!("{}/{s}", d.plural), "singularName": "",
                "namespaced": d.namespaced, "kind": kind, "verbs": verbs,
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": mine[0].api_version(),
        "resources": resources,
    }))
}

/// `GET /apis`.
pub fn group_list(defs: &[ResourceDef]) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for d in defs.iter().filter(|d| !d.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == d.group) {
            Some((_, vs)) if !vs.contains(&d.version) => vs.push(d.version.clone()),
            Some(_) => {}
            None => groups.push((d.group.clone(), vec![d.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}],
    })
}

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.1", "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
        "gitTreeState": "clean", "buildDate": "2025-05-15T08:19:08Z",
        "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64",
    })
}

/// A `metav1.Status` failure.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

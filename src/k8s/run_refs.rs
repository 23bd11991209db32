//! Namespace references inside a run's objects on a shared cluster: the fields of the
//! Kubernetes API that name a namespace (RBAC subjects, webhook and APIService services,
//! namespace selectors, …) and Service DNS names in containers, mapped to `<namespace>-<id>`
//! when they name a namespace of the run. Pure: no cluster involved.
//!
//! Fields mapped (Kubernetes API reference v1.30, kubernetes.io/docs/reference/kubernetes-api/):
//! - RoleBinding, ClusterRoleBinding `subjects[].namespace` of `kind: ServiceAccount` subjects
//!   (User and Group subjects have no namespace);
//! - Validating/MutatingWebhookConfiguration `webhooks[].clientConfig.service.namespace`;
//! - CustomResourceDefinition `spec.conversion.webhook.clientConfig.service.namespace`;
//! - APIService `spec.service.namespace`;
//! - PersistentVolume `spec.claimRef.namespace`, every volume source's `secretRef` /
//!   `*SecretRef` (CSI: `nodePublishSecretRef`, …) `.namespace`, `azureFile.secretNamespace`;
//! - StorageClass `parameters["csi.storage.k8s.io/*-secret-namespace"]` (the CSI external
//!   provisioner's reserved parameter keys, kubernetes-csi.github.io/docs/secrets-and-credentials-storage-class.html);
//! - IngressClass `spec.parameters.namespace` (when `scope: Namespace`);
//! - Gateway API routes' `spec.parentRefs[].namespace` and `spec.rules[].backendRefs[].namespace`,
//!   ReferenceGrant `spec.from[].namespace` (gateway-api.sigs.k8s.io/reference/spec);
//! - pod templates' `affinity.podAffinity|podAntiAffinity` terms' `namespaces[]`;
//! - anywhere: a `namespaceSelector`'s `matchLabels["kubernetes.io/metadata.name"]` and its
//!   `matchExpressions` on that key (the API server sets that immutable label on every namespace
//!   to its name since v1.22, kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name).
//!
//! Service DNS names ([`map_service_hosts`]) in container `env[].value`, `args`, `command`,
//! ConfigMap `data`, Secret `stringData` and `data` (decoded when it is text) and Service
//! `spec.externalName`: `<svc>.<ns>.svc[.<cluster domain>]` (any
//! prefix, e.g. a StatefulSet pod's `web-0.web.<ns>.svc`) is rewritten whenever `<ns>` is a
//! namespace of the run; the short `<svc>.<ns>` only when the manifests declare Service `<svc>`
//! in `<ns>` — otherwise it may be an ordinary host name (`.shop` is a top-level domain), so it
//! is reported, not rewritten.

use crate::k8s::manifests::Manifest;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeSet;

/// The label the API server puts on every namespace: its name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The namespaces of one run (as written in the manifests) and the Services they declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunNamespaces {
    id: String,
    names: BTreeSet<String>,
    /// (namespace as written, Service name).
    services: BTreeSet<(String, String)>,
}

impl RunNamespaces {
    pub fn new(id: &str, names: impl IntoIterator<Item = String>) -> Self {
        Self {
            id: id.to_owned(),
            names: names
                .into_iter()
                .filter(|n| !crate::run_id::SYSTEM_NAMESPACES.contains(&n.as_str()))
                .collect(),
            services: BTreeSet::new(),
        }
    }

    /// The same, knowing which Services the manifests declare (for short DNS names).
    pub fn with_services(mut self, services: impl IntoIterator<Item = (String, String)>) -> Self {
        self.services = services.into_iter().collect();
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The namespaces as written.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// `ns` as this run has it, when it is one of the run's namespaces.
    pub fn map(&self, ns: &str) -> Option<String> {
        self.names
            .contains(ns)
            .then(|| crate::run_id::namespace(ns, Some(&self.id)))
    }

    /// `ns` as this run has it, or unchanged when it is not the run's.
    pub fn apply(&self, ns: &str) -> String {
        self.map(ns).unwrap_or_else(|| ns.to_owned())
    }

    fn has_service(&self, ns: &str, name: &str) -> bool {
        self.services.contains(&(ns.to_owned(), name.to_owned()))
    }
}

/// One field rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The field, e.g. `subjects[0].namespace`.
    pub field: String,
    pub from: String,
    pub to: String,
}

/// A value that may name a namespace of the run but was left as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub field: String,
    pub value: String,
    pub why: String,
}

/// What mapping one object did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    pub mapped: Vec<Mapped>,
    pub unmapped: Vec<Unmapped>,
}

impl Mapping {
    fn extend(&mut self, other: Mapping) {
        self.mapped.extend(other.mapped);
        self.unmapped.extend(other.unmapped);
    }
}

/// API group of an `apiVersion` (`""` for the core group).
pub fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Where a kind keeps its pod spec.
pub fn pod_spec_pointer(api_version: &str, kind: &str) -> Option<&'static str> {
    match (api_version, kind) {
        ("v1", "Pod") => Some("/spec"),
        ("v1", "PodTemplate") => Some("/template/spec"),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => Some("/spec/template/spec"),
        ("batch/v1", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Map every namespace reference of `m`'s body (see the module docs) that names a namespace
/// of `run`. `metadata.namespace` is not touched here.
pub fn map_references(m: &mut Manifest, run: &RunNamespaces) -> Mapping {
    let api_version = m.api_version().to_owned();
    let kind = m.kind().to_owned();
    let body = &mut m.object.data;
    let mut out = Mapping::default();
    let mut at = |v: Option<&mut Value>, field: String| map_string(v, field, run, &mut out);
    match (group(&api_version), kind.as_str()) {
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for (i, s) in items(body.get_mut("subjects")) {
                if s["kind"] == "ServiceAccount" {
                    at(s.get_mut("namespace"), format!("subjects[{i}].namespace"));
                }
            }
        }
        ("admissionregistration.k8s.io", k) if k.ends_with("WebhookConfiguration") => {
            for (i, w) in items(body.get_mut("webhooks")) {
                at(
                    w.pointer_mut("/clientConfig/service/namespace"),
                    format!("webhooks[{i}].clientConfig.service.namespace"),
                );
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => at(
            body.pointer_mut("/spec/conversion/webhook/clientConfig/service/namespace"),
            "spec.conversion.webhook.clientConfig.service.namespace".into(),
        ),
        ("apiregistration.k8s.io", "APIService") => at(
            body.pointer_mut("/spec/service/namespace"),
            "spec.service.namespace".into(),
        ),
        ("", "PersistentVolume") => {
            at(
                body.pointer_mut("/spec/claimRef/namespace"),
                "spec.claimRef.namespace".into(),
            );
            if let Some(Value::Object(spec)) = body.get_mut("spec") {
                for (source, v) in spec.iter_mut() {
                    let Value::Object(fields) = v else { continue };
                    for (k, f) in fields.iter_mut() {
                        if k == "secretRef" || k.ends_with("SecretRef") {
                            at(
                                f.get_mut("namespace"),
                                format!("spec.{source}.{k}.namespace"),
                            );
                        } else if k == "secretNamespace" {
                            at(Some(f), format!("spec.{source}.{k}"));
                        }
                    }
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            if let Some(Value::Object(params)) = body.get_mut("parameters") {
                for (k, v) in params.iter_mut() {
                    if k.starts_with("csi.storage.k8s.io/") && k.ends_with("-secret-namespace") {
                        at(Some(v), format!("parameters[{k}]"));
                    }
                }
            }
        }
        ("networking.k8s.io", "IngressClass")
            if body.pointer("/spec/parameters/scope") == Some(&Value::from("Namespace")) =>
        {
            at(
                body.pointer_mut("/spec/parameters/namespace"),
                "spec.parameters.namespace".into(),
            )
        }
        ("gateway.networking.k8s.io", "ReferenceGrant") => {
            for (i, f) in items(body.pointer_mut("/spec/from")) {
                at(f.get_mut("namespace"), format!("spec.from[{i}].namespace"));
            }
        }
        ("gateway.networking.k8s.io", k) if k.ends_with("Route") => {
            for (i, p) in items(body.pointer_mut("/spec/parentRefs")) {
                at(
                    p.get_mut("namespace"),
                    format!("spec.parentRefs[{i}].namespace"),
                );
            }
            for (i, r) in items(body.pointer_mut("/spec/rules")) {
                for (j, b) in items(r.get_mut("backendRefs")) {
                    at(
                        b.get_mut("namespace"),
                        format!("spec.rules[{i}].backendRefs[{j}].namespace"),
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(pointer) = pod_spec_pointer(&api_version, &kind) {
        if let Some(spec) = body.pointer_mut(pointer) {
            out.extend(affinity_namespaces(spec, &dotted(pointer), run));
        }
    }
    namespace_selectors(body, "", run, &mut out);
    out
}

/// Rewrite Service DNS names that point into a namespace of the run (see the module docs).
pub fn map_service_hosts(m: &mut Manifest, run: &RunNamespaces) -> Mapping {
    let mut out = Mapping::default();
    let api_version = m.api_version().to_owned();
    let kind = m.kind().to_owned();
    let body = &mut m.object.data;
    // Rewrites one text field; returns how many names it rewrote.
    let mut text = |v: Option<&mut Value>, field: String| -> usize {
        let Some(Value::String(s)) = v else {
            return 0;
        };
        let (new, mut found) = rewrite_hosts(s, run);
        for f in &mut found.mapped {
            f.field = field.clone();
        }
        for u in &mut found.unmapped {
            u.field = field.clone();
        }
        *s = new;
        let n = found.mapped.len();
        out.extend(found);
        n
    };
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => {
            if let Some(Value::Object(data)) = body.get_mut("data") {
                for (k, v) in data.iter_mut() {
                    text(Some(v), format!("data.{k}"));
                }
            }
        }
        ("v1", "Secret") => {
            if let Some(Value::Object(data)) = body.get_mut("stringData") {
                for (k, v) in data.iter_mut() {
                    text(Some(v), format!("stringData.{k}"));
                }
            }
            // `data` is base64: decoded, rewritten when it is text, encoded again.
            if let Some(Value::Object(data)) = body.get_mut("data") {
                for (k, v) in data.iter_mut() {
                    let Some(plain) = v.as_str().and_then(decode_text) else {
                        continue;
                    };
                    let mut plain = Value::String(plain);
                    if text(Some(&mut plain), format!("data.{k} (base64)")) > 0 {
                        *v = Value::String(B64.encode(plain.as_str().unwrap_or_default()));
                    }
                }
            }
        }
        ("v1", "Service") => {
            text(
                body.pointer_mut("/spec/externalName"),
                "spec.externalName".into(),
            );
        }
        _ => {}
    }
    let Some(pointer) = pod_spec_pointer(&api_version, &kind) else {
        return out;
    };
    let base = dotted(pointer);
    let Some(spec) = body.pointer_mut(pointer) else {
        return out;
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (_, c) in items(spec.get_mut(list)) {
            let name = c["name"].as_str().unwrap_or("?").to_owned();
            let at = format!("{base}.{list}[{name}]");
            for (_, e) in items(c.get_mut("env")) {
                let var = e["name"].as_str().unwrap_or("?").to_owned();
                text(e.get_mut("value"), format!("{at}.env[{var}]"));
            }
            for key in ["args", "command"] {
                for (i, a) in items(c.get_mut(key)) {
                    text(Some(a), format!("{at}.{key}[{i}]"));
                }
            }
        }
    }
    out
}

/// A Secret's base64 value as text, when it is UTF-8.
fn decode_text(b64: &str) -> Option<String> {
    String::from_utf8(B64.decode(b64).ok()?).ok()
}

/// Rewrite the Service host names in `text`; the fields of the results are left empty.
pub fn rewrite_hosts(text: &str, run: &RunNamespaces) -> (String, Mapping) {
    let mut out = String::with_capacity(text.len());
    let mut found = Mapping::default();
    let is_host = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(is_host).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_host(c)).unwrap_or(rest.len());
        let token = &rest[..end];
        out.push_str(&host(token, run, &mut found));
        rest = &rest[end..];
    }
    (out, found)
}

/// One run of host-name characters, rewritten when it is a Service name of the run.
fn host(token: &str, run: &RunNamespaces, found: &mut Mapping) -> String {
    let labels: Vec<&str> = token.split('.').collect();
    // `<…>.<svc>.<ns>.svc[.<domain>]`
    if let Some(i) = (1..labels.len().saturating_sub(1))
        .find(|&i| labels[i + 1] == "svc" && run.map(labels[i]).is_some())
    {
        let mut new: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        new[i] = run.apply(labels[i]);
        let to = new.join(".");
        found.mapped.push(Mapped {
            field: String::new(),
            from: token.to_owned(),
            to: to.clone(),
        });
        return to;
    }
    // `<svc>.<ns>`
    if let [svc, ns] = labels.as_slice() {
        if let Some(mapped) = run.map(ns) {
            if run.has_service(ns, svc) {
                let to = format!("{svc}.{mapped}");
                found.mapped.push(Mapped {
                    field: String::new(),
                    from: token.to_owned(),
                    to: to.clone(),
                });
                return to;
            }
            found.unmapped.push(Unmapped {
                field: String::new(),
                value: token.to_owned(),
                why: format!(
                    "may name Service {svc} in namespace {ns} (here {mapped}), but the manifests declare no Service {svc} there; write {svc}.{ns}.svc to have it rewritten"
                ),
            });
        }
    }
    token.to_owned()
}

fn map_string(v: Option<&mut Value>, field: String, run: &RunNamespaces, out: &mut Mapping) {
    if let Some(Value::String(s)) = v {
        if let Some(to) = run.map(s) {
            out.mapped.push(Mapped {
                field,
                from: std::mem::replace(s, to.clone()),
                to,
            });
        }
    }
}

/// The elements of an array field with their indexes.
fn items(v: Option<&mut Value>) -> impl Iterator<Item = (usize, &mut Value)> {
    v.and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|a| a.iter_mut().enumerate())
}

/// `/spec/template/spec` → `spec.template.spec`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// `namespaces[]` of pod (anti-)affinity terms.
fn affinity_namespaces(spec: &mut Value, base: &str, run: &RunNamespaces) -> Mapping {
    let mut out = Mapping::default();
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(a) = spec.pointer_mut(&format!("/affinity/{kind}")) else {
            continue;
        };
        let mut terms: Vec<(String, &mut Value)> = Vec::new();
        if let Value::Object(a) = a {
            for (when, list) in a.iter_mut() {
                for (i, t) in items(Some(list)) {
                    if when.starts_with("preferred") {
                        if let Some(term) = t.get_mut("podAffinityTerm") {
                            terms.push((format!("{when}[{i}].podAffinityTerm"), term));
                        }
                    } else {
                        terms.push((format!("{when}[{i}]"), t));
                    }
                }
            }
        }
        for (path, term) in terms {
            for (j, n) in items(term.get_mut("namespaces")) {
                map_string(
                    Some(n),
                    format!("{base}.affinity.{kind}.{path}.namespaces[{j}]"),
                    run,
                    &mut out,
                );
            }
        }
    }
    out
}

/// Every `namespaceSelector` in the tree: the name label in `matchLabels` and `matchExpressions`.
fn namespace_selectors(v: &mut Value, path: &str, run: &RunNamespaces, out: &mut Mapping) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k == "namespaceSelector" {
                    map_string(
                        child.pointer_mut(&format!(
                            "/matchLabels/{}",
                            NAME_LABEL.replace('/', "~1")
                        )),
                        format!("{here}.matchLabels[{NAME_LABEL}]"),
                        run,
                        out,
                    );
                    for (i, e) in items(child.get_mut("matchExpressions")) {
                        if e["key"] == NAME_LABEL {
                            for (j, value) in items(e.get_mut("values")) {
                                map_string(
                                    Some(value),
                                    format!("{here}.matchExpressions[{i}].values[{j}]"),
                                    run,
                                    out,
                                );
                            }
                        }
                    }
                } else {
                    namespace_selectors(child, &here, run, out);
                }
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter_mut().enumerate() {
                namespace_selectors(child, &format!("{path}[{i}]"), run, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunNamespaces {
        RunNamespaces::new(
            "r7",
            [
                "shop".to_owned(),
                "cache".to_owned(),
                "kube-system".to_owned(),
            ],
        )
        .with_services([("shop".to_owned(), "db".to_owned())])
    }

    fn mapped(yaml: &str) -> (Manifest, Mapping) {
        let mut m = Manifest::from_test_yaml(yaml);
        let out = map_references(&mut m, &run());
        (m, out)
    }

    fn at<'a>(m: &'a Manifest, pointer: &str) -> &'a Value {
        m.object.data.pointer(pointer).unwrap_or(&Value::Null)
    }

    #[test]
    fn run_namespaces_only() {
        let r = run();
        assert_eq!(r.map("shop").as_deref(), Some("shop-r7"));
        assert_eq!(r.map("monitoring"), None, "not a namespace of the run");
        assert_eq!(r.map("kube-system"), None, "system namespaces are shared");
        assert_eq!(r.map("shop-r7"), None, "already mapped: not again");
        assert_eq!(r.apply("monitoring"), "monitoring");
    }

    #[test]
    fn binding_subjects_of_service_accounts() {
        let (m, out) = mapped(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\nsubjects:\n- {kind: ServiceAccount, name: app, namespace: shop}\n- {kind: ServiceAccount, name: prom, namespace: monitoring}\n- {kind: User, name: shop, apiGroup: rbac.authorization.k8s.io}\n",
        );
        assert_eq!(at(&m, "/subjects/0/namespace"), "shop-r7");
        assert_eq!(at(&m, "/subjects/1/namespace"), "monitoring");
        assert_eq!(
            at(&m, "/subjects/2/name"),
            "shop",
            "a user's name is no namespace"
        );
        assert_eq!(
            out.mapped,
            [Mapped {
                field: "subjects[0].namespace".into(),
                from: "shop".into(),
                to: "shop-r7".into()
            }]
        );
        let (m, _) = mapped(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: cache}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: app, namespace: shop}]\n",
        );
        assert_eq!(at(&m, "/subjects/0/namespace"), "shop-r7");
    }

    #[test]
    fn webhooks_crd_conversion_and_api_services() {
        let (m, out) = mapped(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: v}\nwebhooks:\n- name: a.shop.example.com\n  clientConfig: {service: {name: hook, namespace: shop, path: /v}}\n  namespaceSelector:\n    matchLabels: {kubernetes.io/metadata.name: cache}\n    matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [shop, other]}, {key: team, operator: In, values: [shop]}]\n",
        );
        assert_eq!(
            at(&m, "/webhooks/0/clientConfig/service/namespace"),
            "shop-r7"
        );
        assert_eq!(
            at(
                &m,
                "/webhooks/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
            ),
            "cache-r7"
        );
        assert_eq!(
            at(
                &m,
                "/webhooks/0/namespaceSelector/matchExpressions/0/values"
            ),
            &serde_json::json!(["shop-r7", "other"])
        );
        assert_eq!(
            at(
                &m,
                "/webhooks/0/namespaceSelector/matchExpressions/1/values/0"
            ),
            "shop",
            "another label's value is no namespace"
        );
        assert_eq!(out.mapped.len(), 3, "{out:?}");
        assert_eq!(
            out.mapped[1].field,
            "webhooks[0].namespaceSelector.matchLabels[kubernetes.io/metadata.name]"
        );
        let (m, _) = mapped(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: m}\nwebhooks: [{name: m.x.io, clientConfig: {service: {name: hook, namespace: cache}}}]\n",
        );
        assert_eq!(
            at(&m, "/webhooks/0/clientConfig/service/namespace"),
            "cache-r7"
        );
        let (m, _) = mapped(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ws.x.io}\nspec:\n  conversion: {strategy: Webhook, webhook: {clientConfig: {service: {name: conv, namespace: shop}}}}\n",
        );
        assert_eq!(
            at(
                &m,
                "/spec/conversion/webhook/clientConfig/service/namespace"
            ),
            "shop-r7"
        );
        let (m, _) = mapped(
            "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.metrics.x.io}\nspec: {service: {name: metrics, namespace: shop}, group: metrics.x.io, version: v1}\n",
        );
        assert_eq!(at(&m, "/spec/service/namespace"), "shop-r7");
    }

    #[test]
    fn storage_ingress_class_and_gateway_references() {
        let (m, out) = mapped(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv}\nspec:\n  claimRef: {name: data, namespace: shop}\n  csi: {driver: x, volumeHandle: h, nodePublishSecretRef: {name: s, namespace: shop}, controllerExpandSecretRef: {name: s, namespace: elsewhere}}\n  azureFile: {secretName: s, shareName: x, secretNamespace: cache}\n",
        );
        assert_eq!(at(&m, "/spec/claimRef/namespace"), "shop-r7");
        assert_eq!(
            at(&m, "/spec/csi/nodePublishSecretRef/namespace"),
            "shop-r7"
        );
        assert_eq!(
            at(&m, "/spec/csi/controllerExpandSecretRef/namespace"),
            "elsewhere"
        );
        assert_eq!(at(&m, "/spec/azureFile/secretNamespace"), "cache-r7");
        assert_eq!(out.mapped.len(), 3);
        let (m, _) = mapped(
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: x\nparameters:\n  csi.storage.k8s.io/provisioner-secret-namespace: shop\n  csi.storage.k8s.io/node-stage-secret-namespace: \"${pvc.namespace}\"\n  pool: shop\n",
        );
        assert_eq!(
            at(
                &m,
                "/parameters/csi.storage.k8s.io~1provisioner-secret-namespace"
            ),
            "shop-r7"
        );
        assert_eq!(
            at(&m, "/parameters/pool"),
            "shop",
            "not a namespace parameter"
        );
        let (m, _) = mapped(
            "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: c}\nspec: {controller: x.io/c, parameters: {kind: P, name: p, scope: Namespace, namespace: shop}}\n",
        );
        assert_eq!(at(&m, "/spec/parameters/namespace"), "shop-r7");
        let (m, _) = mapped(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: shop}\nspec:\n  parentRefs: [{name: gw, namespace: cache}, {name: gw2, namespace: infra}]\n  rules: [{backendRefs: [{name: db, namespace: shop, port: 80}]}]\n",
        );
        assert_eq!(at(&m, "/spec/parentRefs/0/namespace"), "cache-r7");
        assert_eq!(at(&m, "/spec/parentRefs/1/namespace"), "infra");
        assert_eq!(at(&m, "/spec/rules/0/backendRefs/0/namespace"), "shop-r7");
        let (m, _) = mapped(
            "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: cache}\nspec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}], to: [{group: '', kind: Service}]}\n",
        );
        assert_eq!(at(&m, "/spec/from/0/namespace"), "shop-r7");
    }

    #[test]
    fn pod_affinity_and_network_policy_selectors() {
        let (m, out) = mapped(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: k, namespaces: [shop, default]}]\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, podAffinityTerm: {topologyKey: k, namespaces: [cache]}}]\n      containers: [{name: a, image: x}]\n",
        );
        assert_eq!(
            at(&m, "/spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/namespaces"),
            &serde_json::json!(["shop-r7", "default"])
        );
        assert_eq!(
            at(&m, "/spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/podAffinityTerm/namespaces/0"),
            "cache-r7"
        );
        assert_eq!(out.mapped.len(), 2);
        let (m, _) = mapped(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: cache}}}]}]\n",
        );
        assert_eq!(
            at(
                &m,
                "/spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
            ),
            "cache-r7"
        );
    }

    #[test]
    fn other_fields_named_namespace_are_left() {
        let (m, out) = mapped(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: {namespace: shop}\n",
        );
        assert_eq!(at(&m, "/data/namespace"), "shop");
        assert!(out.mapped.is_empty());
    }

    #[test]
    fn service_host_names() {
        let r = run();
        let (s, out) = rewrite_hosts(
            "postgres://u:p@db.shop.svc.cluster.local:5432/app?x=web-0.web.cache.svc&y=db.shop:5432,db.monitoring.svc",
            &r,
        );
        assert_eq!(
            s,
            "postgres://u:p@db.shop-r7.svc.cluster.local:5432/app?x=web-0.web.cache-r7.svc&y=db.shop-r7:5432,db.monitoring.svc"
        );
        assert_eq!(out.mapped.len(), 3);
        let (s, out) = rewrite_hosts("cache.shop www.mystore.shop shop.svc", &r);
        assert_eq!(s, "cache.shop www.mystore.shop shop.svc", "unchanged");
        assert_eq!(out.unmapped.len(), 1, "{out:?}");
        assert_eq!(out.unmapped[0].value, "cache.shop");
        assert!(out.unmapped[0].why.contains("no Service cache"));
    }

    #[test]
    fn service_hosts_in_containers_config_maps_and_external_names() {
        let mut m = Manifest::from_test_yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      initContainers: [{name: wait, image: x, command: [nc, -z, db.shop, '5432']}]\n      containers:\n      - name: app\n        image: x\n        args: [--db=db.shop.svc:5432]\n        env: [{name: DB, value: 'db.shop:5432'}, {name: OTHER, value: api.shop}, {name: REF, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]\n",
        );
        let out = map_service_hosts(&mut m, &run());
        let c = "/spec/template/spec/containers/0";
        assert_eq!(at(&m, &format!("{c}/args/0")), "--db=db.shop-r7.svc:5432");
        assert_eq!(at(&m, &format!("{c}/env/0/value")), "db.shop-r7:5432");
        assert_eq!(at(&m, &format!("{c}/env/1/value")), "api.shop");
        assert_eq!(
            at(&m, "/spec/template/spec/initContainers/0/command/2"),
            "db.shop-r7"
        );
        assert_eq!(out.mapped.len(), 3);
        assert_eq!(
            out.unmapped[0].field,
            "spec.template.spec.containers[app].env[OTHER]"
        );
        let mut cm = Manifest::from_test_yaml(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {url: 'http://db.shop.svc/'}\n",
        );
        map_service_hosts(&mut cm, &run());
        assert_eq!(at(&cm, "/data/url"), "http://db.shop-r7.svc/");
        let mut svc = Manifest::from_test_yaml(
            "apiVersion: v1\nkind: Service\nmetadata: {name: alias}\nspec: {type: ExternalName, externalName: db.shop.svc.cluster.local}\n",
        );
        map_service_hosts(&mut svc, &run());
        let url = B64.encode("postgres://u:p@db.shop.svc:5432/app");
        let mut secret = Manifest::from_test_yaml(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{host: db.shop.svc}}\ndata: {{url: {url}, bin: /w==, plain: {}}}\n",
            B64.encode("localhost")
        ));
        let out = map_service_hosts(&mut secret, &run());
        assert_eq!(at(&secret, "/stringData/host"), "db.shop-r7.svc");
        assert_eq!(
            decode_text(at(&secret, "/data/url").as_str().unwrap()).unwrap(),
            "postgres://u:p@db.shop-r7.svc:5432/app"
        );
        assert_eq!(at(&secret, "/data/bin"), "/w==", "not text: left");
        assert_eq!(at(&secret, "/data/plain"), B64.encode("localhost").as_str());
        assert_eq!(out.mapped[1].field, "data.url (base64)");
        assert_eq!(
            at(&svc, "/spec/externalName"),
            "db.shop-r7.svc.cluster.local"
        );
    }
}

//! Dependency containers by name inside the cluster: per dependency a selectorless Service and
//! an EndpointSlice holding the container's address, the `kubetest-deps` ConfigMap of values,
//! and their removal.
//!
//! Kubernetes documents this pattern for backends outside the cluster
//! (<https://kubernetes.io/docs/concepts/services-networking/service/#services-without-selectors>):
//! a Service without `selector` gets no EndpointSlices from the control plane; one made by
//! hand is linked to it by the label `kubernetes.io/service-name: <service>`, and its port
//! names must match the Service's port names. EndpointSlices not made by the EndpointSlice
//! controller must carry `endpointslice.kubernetes.io/managed-by` with a value other than
//! `endpointslice-controller.k8s.io`, or that controller treats them as its own and deletes
//! them (<https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#management>).
//! Everything is server-side applied with kubetest's field manager: applying again with a new
//! address (a recreated dependency) replaces the slice's `endpoints` (an atomic list).

use super::apply::{describe, server_message, FIELD_MANAGER};
use crate::deps::outputs::InCluster;
use crate::engine::containers::ENV_LABEL;
use crate::state::ClusterObjectRecord;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::Resource;

/// Value of `endpointslice.kubernetes.io/managed-by` on kubetest's slices.
pub const MANAGED_BY: &str = "kubetest.dev";
/// The ConfigMap of `KUBETEST_DEP_*` values in the deploy namespace.
pub const VALUES_CONFIGMAP: &str = "kubetest-deps";
/// Label naming the dependency a Service or EndpointSlice stands for.
pub const DEP_LABEL: &str = "dev.kubetest.dep";

/// An object could not be made or removed; what the API server said.
#[derive(Debug, thiserror::Error)]
#[error("{action} {object}: {message}")]
pub struct ClusterObjectError {
    pub action: &'static str,
    /// `Kind namespace/name`.
    pub object: String,
    pub message: String,
}

/// `tcp-5432`: a valid Service port name (IANA_SVC_NAME: at most 15 characters, lowercase
/// letters, digits and `-`, at least one letter), the same in the Service and the slice.
pub fn port_name(port: u16, protocol: crate::config::Protocol) -> String {
    format!("{protocol}-{port}")
}

fn protocol(p: crate::config::Protocol) -> String {
    p.to_string().to_ascii_uppercase()
}

/// The name of a dependency's EndpointSlice.
pub fn slice_name(dependency: &str) -> String {
    format!("{dependency}-kubetest")
}

fn meta(name: &str, namespace: Option<&str>, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// A Service `<dep>` without selector, one port per container port (port = targetPort).
pub fn service(dep: &InCluster, namespace: &str, env: &str) -> Service {
    let labels = [(ENV_LABEL, env), (DEP_LABEL, dep.dependency.as_str())];
    Service {
        metadata: meta(&dep.dependency, Some(namespace), &labels),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            ports: Some(
                dep.ports
                    .iter()
                    .map(|(port, proto)| ServicePort {
                        name: Some(port_name(*port, *proto)),
                        port: i32::from(*port),
                        target_port: Some(IntOrString::Int(i32::from(*port))),
                        protocol: Some(protocol(*proto)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

/// The EndpointSlice of Service `<dep>`: the container's address, ready, with the same ports.
pub fn endpoint_slice(dep: &InCluster, namespace: &str, env: &str) -> EndpointSlice {
    let labels = [
        ("kubernetes.io/service-name", dep.dependency.as_str()),
        ("endpointslice.kubernetes.io/managed-by", MANAGED_BY),
        (ENV_LABEL, env),
        (DEP_LABEL, dep.dependency.as_str()),
    ];
    EndpointSlice {
        metadata: meta(&slice_name(&dep.dependency), Some(namespace), &labels),
        address_type: if dep.address.contains(':') {
            "IPv6".into()
        } else {
            "IPv4".into()
        },
        endpoints: Some(vec![Endpoint {
            addresses: vec![dep.address.clone()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ports: Some(
            dep.ports
                .iter()
                .map(|(port, proto)| EndpointPort {
                    name: Some(port_name(*port, *proto)),
                    port: Some(i32::from(*port)),
                    protocol: Some(protocol(*proto)),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}

/// The `kubetest-deps` ConfigMap: one key per variable, for `envFrom`.
pub fn values_config_map(values: &[(String, String)], namespace: &str, env: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(VALUES_CONFIGMAP, Some(namespace), &[(ENV_LABEL, env)]),
        data: Some(values.iter().cloned().collect()),
        ..Default::default()
    }
}

/// The record of a namespaced object of type `K`.
fn record<K: Resource<DynamicType = ()>>(
    namespace: Option<&str>,
    name: &str,
) -> ClusterObjectRecord {
    ClusterObjectRecord {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
    }
}

/// Server-side apply of one typed object (named, namespaced) with kubetest's field manager.
pub async fn apply<K>(
    client: &kube::Client,
    namespace: &str,
    obj: &K,
) -> Result<ClusterObjectRecord, ClusterObjectError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(obj))
        .await
        .map_err(|e| ClusterObjectError {
            action: "applying",
            object: describe(&K::kind(&()), Some(namespace), &name),
            message: server_message(&e),
        })?;
    Ok(record::<K>(Some(namespace), &name))
}

/// Make namespace `name` when it does not exist. `Some(record)` when this call made it
/// (then `down` deletes it), `None` when it was there.
pub async fn ensure_namespace(
    client: &kube::Client,
    name: &str,
    env: &str,
) -> Result<Option<ClusterObjectRecord>, ClusterObjectError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let err = |action, e: kube::Error| ClusterObjectError {
        action,
        object: describe("Namespace", None, name),
        message: server_message(&e),
    };
    if api
        .get_opt(name)
        .await
        .map_err(|e| err("reading", e))?
        .is_some()
    {
        return Ok(None);
    }
    let ns = Namespace {
        metadata: meta(name, None, &[(ENV_LABEL, env)]),
        ..Default::default()
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .map_err(|e| err("creating", e))?;
    Ok(Some(record::<Namespace>(None, name)))
}

/// Whether a recorded object still exists.
pub async fn exists(
    client: &kube::Client,
    rec: &ClusterObjectRecord,
) -> Result<bool, ClusterObjectError> {
    let ns = rec.namespace.as_deref().unwrap_or("default");
    let found = match rec.kind.as_str() {
        "Service" => Api::<Service>::namespaced(client.clone(), ns)
            .get_opt(&rec.name)
            .await
            .map(|o| o.is_some()),
        "EndpointSlice" => Api::<EndpointSlice>::namespaced(client.clone(), ns)
            .get_opt(&rec.name)
            .await
            .map(|o| o.is_some()),
        "ConfigMap" => Api::<ConfigMap>::namespaced(client.clone(), ns)
            .get_opt(&rec.name)
            .await
            .map(|o| o.is_some()),
        "Namespace" => Api::<Namespace>::all(client.clone())
            .get_opt(&rec.name)
            .await
            .map(|o| o.is_some()),
        other => {
            return Err(ClusterObjectError {
                action: "reading",
                object: rec.describe(),
                message: format!("kubetest never records objects of kind {other}"),
            })
        }
    };
    found.map_err(|e| ClusterObjectError {
        action: "reading",
        object: rec.describe(),
        message: server_message(&e),
    })
}

/// Delete a recorded object; one that is already gone is success.
pub async fn delete(
    client: &kube::Client,
    rec: &ClusterObjectRecord,
) -> Result<(), ClusterObjectError> {
    let ns = rec.namespace.as_deref().unwrap_or("default");
    let dp = DeleteParams::background();
    let result = match rec.kind.as_str() {
        "Service" => Api::<Service>::namespaced(client.clone(), ns)
            .delete(&rec.name, &dp)
            .await
            .map(|_| ()),
        "EndpointSlice" => Api::<EndpointSlice>::namespaced(client.clone(), ns)
            .delete(&rec.name, &dp)
            .await
            .map(|_| ()),
        "ConfigMap" => Api::<ConfigMap>::namespaced(client.clone(), ns)
            .delete(&rec.name, &dp)
            .await
            .map(|_| ()),
        "Namespace" => Api::<Namespace>::all(client.clone())
            .delete(&rec.name, &dp)
            .await
            .map(|_| ()),
        other => {
            return Err(ClusterObjectError {
                action: "deleting",
                object: rec.describe(),
                message: format!(
                    "kubetest never records objects of kind {other}; remove it by hand"
                ),
            })
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ClusterObjectError {
            action: "deleting",
            object: rec.describe(),
            message: server_message(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;
    use serde_json::json;

    fn postgres() -> InCluster {
        InCluster {
            dependency: "postgres".into(),
            address: "10.89.0.7".into(),
            ports: vec![(5432, Protocol::Tcp), (9187, Protocol::Tcp)],
        }
    }

    #[test]
    fn selectorless_service_and_its_slice_share_port_names() {
        let svc = serde_json::to_value(service(&postgres(), "shop", "demo")).unwrap();
        assert_eq!(svc["kind"], "Service");
        assert!(svc["spec"].get("selector").is_none());
        assert_eq!(
            svc["spec"]["ports"],
            json!([
                {"name": "tcp-5432", "port": 5432, "targetPort": 5432, "protocol": "TCP"},
                {"name": "tcp-9187", "port": 9187, "targetPort": 9187, "protocol": "TCP"},
            ])
        );
        assert_eq!(svc["metadata"]["labels"][ENV_LABEL], "demo");
        let slice = serde_json::to_value(endpoint_slice(&postgres(), "shop", "demo")).unwrap();
        assert_eq!(slice["apiVersion"], "discovery.k8s.io/v1");
        assert_eq!(slice["metadata"]["name"], "postgres-kubetest");
        let labels = &slice["metadata"]["labels"];
        assert_eq!(labels["kubernetes.io/service-name"], "postgres");
        assert_ne!(
            labels["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["endpoints"],
            json!([{"addresses": ["10.89.0.7"], "conditions": {"ready": true}}])
        );
        assert_eq!(
            slice["ports"],
            json!([
                {"name": "tcp-5432", "port": 5432, "protocol": "TCP"},
                {"name": "tcp-9187", "port": 9187, "protocol": "TCP"},
            ])
        );
    }

    #[test]
    fn port_names_fit_iana_svc_name() {
        for (p, proto) in [(65535, Protocol::Sctp), (53, Protocol::Udp)] {
            let n = port_name(p, proto);
            assert!(n.len() <= 15, "{n}");
            assert!(n.chars().any(|c| c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn ipv6_address_gets_ipv6_slice() {
        let mut d = postgres();
        d.address = "fd00::7".into();
        let slice = serde_json::to_value(endpoint_slice(&d, "shop", "demo")).unwrap();
        assert_eq!(slice["addressType"], "IPv6");
    }
}

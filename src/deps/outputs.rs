//! What later phases get from the dependencies: `KUBETEST_DEP_<NAME>_PORT_<port>` and friends,
//! as seen from the host (scenarios) and from a pod (the `kubetest-deps` ConfigMap).

use crate::config::{DependencySpec, Protocol};
use crate::state::ContainerRecord;

/// `postgres-main` → `POSTGRES_MAIN`.
fn env_name(dep: &str) -> String {
    dep.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The values of one dependency as seen from one place: where its ports listen, each
/// port's number there, and the container's own address.
struct Seen<'a> {
    dependency: &'a str,
    host: Option<String>,
    /// (container port, `tcp`|`udp`|`sctp`, the port to use from here).
    ports: Vec<(u16, String, u16)>,
    address: Option<&'a str>,
}

/// The one naming of the values: `KUBETEST_DEP_<NAME>_HOST`, `..._PORT_<port>` per TCP
/// port (`..._PORT_<port>_UDP` for UDP/SCTP), `..._ADDRESS`; sorted by name.
fn render(seen: &[Seen<'_>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in seen {
        let base = format!("KUBETEST_DEP_{}", env_name(s.dependency));
        if let Some(h) = &s.host {
            out.push((format!("{base}_HOST"), h.clone()));
        }
        for (port, proto, value) in &s.ports {
            let suffix = if proto == "tcp" {
                String::new()
            } else {
                format!("_{}", proto.to_ascii_uppercase())
            };
            out.push((format!("{base}_PORT_{port}{suffix}"), value.to_string()));
        }
        if let Some(a) = s.address {
            out.push((format!("{base}_ADDRESS"), a.to_owned()));
        }
    }
    out.sort();
    out
}

/// Environment variables for scenarios and host commands, sorted by name:
/// `KUBETEST_DEP_<NAME>_HOST` (where published ports listen), `..._PORT_<port>` per published
/// TCP port (`..._PORT_<port>_UDP` for UDP/SCTP), `..._ADDRESS` (the container on its network).
pub fn env_vars(containers: &[ContainerRecord]) -> Vec<(String, String)> {
    let seen: Vec<Seen<'_>> = containers
        .iter()
        .map(|c| Seen {
            dependency: &c.dependency,
            host: (!c.ports.is_empty()).then(|| "127.0.0.1".to_owned()),
            ports: c
                .ports
                .iter()
                .map(|(key, host)| {
                    let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                    (port.parse().unwrap_or(0), proto.to_owned(), *host)
                })
                .collect(),
            address: c.address.as_deref(),
        })
        .collect();
    render(&seen)
}

/// A dependency as pods reach it: its Service (named after the dependency) and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCluster {
    pub dependency: String,
    /// The dependency container's address on the environment's network (the EndpointSlice's).
    pub address: String,
    /// (container port = Service port, `tcp`|`udp`|`sctp`).
    pub ports: Vec<(u16, Protocol)>,
}

/// The same variables as seen from a pod (the `kubetest-deps` ConfigMap): `_HOST` is the
/// Service's DNS name `<dep>.<namespace>.svc` (from any namespace), `_PORT_<port>` the Service
/// port, which is the container port, and `_ADDRESS` the container's address.
pub fn cluster_env_vars(deps: &[InCluster], namespace: &str) -> Vec<(String, String)> {
    let seen: Vec<Seen<'_>> = deps
        .iter()
        .map(|d| Seen {
            dependency: &d.dependency,
            host: Some(format!("{}.{namespace}.svc", d.dependency)),
            ports: d
                .ports
                .iter()
                .map(|(p, proto)| (*p, proto.to_string(), *p))
                .collect(),
            address: Some(&d.address),
        })
        .collect();
    render(&seen)
}

/// The ports a dependency serves to the cluster: every container port of `ports:`, plus the
/// port its `tcp`/`http` health check probes (so a dependency with only a health port is
/// reachable too), in that order, each once.
pub fn cluster_ports(spec: &DependencySpec) -> Vec<(u16, Protocol)> {
    let mut out: Vec<(u16, Protocol)> = Vec::new();
    let health = spec.health.as_ref().and_then(|h| {
        h.tcp
            .or_else(|| h.http.as_ref().and_then(|http| http.port))
            .map(|p| (p, Protocol::Tcp))
    });
    for p in spec
        .ports
        .iter()
        .map(|p| (p.container, p.protocol))
        .chain(health)
    {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn variables_per_port_and_address() {
        let rec = |dep: &str, ports: &[(&str, u16)], address: Option<&str>| ContainerRecord {
            name: format!("kubetest-demo-{dep}"),
            id: "abc".into(),
            dependency: dep.into(),
            config_hash: "h".into(),
            ports: ports
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
            address: address.map(str::to_owned),
            health: Vec::new(),
        };
        let vars = env_vars(&[
            rec("postgres", &[("5432/tcp", 15432)], Some("10.89.0.2")),
            rec("dns-cache", &[("53/udp", 40053), ("53/tcp", 40054)], None),
            rec("migrate", &[], None),
        ]);
        let want: Vec<(String, String)> = [
            ("KUBETEST_DEP_DNS_CACHE_HOST", "127.0.0.1"),
            ("KUBETEST_DEP_DNS_CACHE_PORT_53", "40054"),
            ("KUBETEST_DEP_DNS_CACHE_PORT_53_UDP", "40053"),
            ("KUBETEST_DEP_POSTGRES_ADDRESS", "10.89.0.2"),
            ("KUBETEST_DEP_POSTGRES_HOST", "127.0.0.1"),
            ("KUBETEST_DEP_POSTGRES_PORT_5432", "15432"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, want);
    }

    #[test]
    fn variables_seen_from_a_pod() {
        let deps = [
            InCluster {
                dependency: "postgres".into(),
                address: "10.89.0.2".into(),
                ports: vec![(5432, Protocol::Tcp)],
            },
            InCluster {
                dependency: "dns-cache".into(),
                address: "10.89.0.3".into(),
                ports: vec![(53, Protocol::Udp), (53, Protocol::Tcp)],
            },
        ];
        let want: Vec<(String, String)> = [
            ("KUBETEST_DEP_DNS_CACHE_ADDRESS", "10.89.0.3"),
            ("KUBETEST_DEP_DNS_CACHE_HOST", "dns-cache.shop.svc"),
            ("KUBETEST_DEP_DNS_CACHE_PORT_53", "53"),
            ("KUBETEST_DEP_DNS_CACHE_PORT_53_UDP", "53"),
            ("KUBETEST_DEP_POSTGRES_ADDRESS", "10.89.0.2"),
            ("KUBETEST_DEP_POSTGRES_HOST", "postgres.shop.svc"),
            ("KUBETEST_DEP_POSTGRES_PORT_5432", "5432"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(cluster_env_vars(&deps, "shop"), want);
    }

    #[test]
    fn cluster_ports_are_the_container_ports_and_the_health_port() {
        let spec = |yaml: &str| -> DependencySpec { serde_yaml::from_str(yaml).unwrap() };
        assert_eq!(
            cluster_ports(&spec(
                "{image: p, ports: [\"15432:5432\", \"53/udp\"], health: {tcp: 5432}}"
            )),
            [(5432, Protocol::Tcp), (53, Protocol::Udp)]
        );
        assert_eq!(
            cluster_ports(&spec("{image: a, health: {http: {port: 8080}}}")),
            [(8080, Protocol::Tcp)]
        );
        assert!(cluster_ports(&spec("{image: m, once: true}")).is_empty());
    }
}

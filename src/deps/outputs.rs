//! What later phases get from the dependencies: `KUBETEST_DEP_<NAME>_PORT_<port>` and friends.

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

/// Environment variables for scenarios and host commands, sorted by name:
/// `KUBETEST_DEP_<NAME>_HOST` (where published ports listen), `..._PORT_<port>` per published
/// TCP port (`..._PORT_<port>_UDP` for UDP/SCTP), `..._ADDRESS` (the container on its network).
pub fn env_vars(containers: &[ContainerRecord]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in containers {
        let base = format!("KUBETEST_DEP_{}", env_name(&c.dependency));
        if !c.ports.is_empty() {
            out.push((format!("{base}_HOST"), "127.0.0.1".to_owned()));
        }
        for (key, host) in &c.ports {
            let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let suffix = if proto == "tcp" {
                String::new()
            } else {
                format!("_{}", proto.to_ascii_uppercase())
            };
            out.push((format!("{base}_PORT_{port}{suffix}"), host.to_string()));
        }
        if let Some(a) = &c.address {
            out.push((format!("{base}_ADDRESS"), a.clone()));
        }
    }
    out.sort();
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
}

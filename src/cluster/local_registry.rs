//! kind's local-registry pattern (https://kind.sigs.k8s.io/docs/user/local-registry/, its
//! script site/static/examples/kind-with-registry.sh): a registry container published on
//! `127.0.0.1:<port>` and attached to kind's node network; each node's containerd maps
//! `localhost:<port>` to `http://<container>:5000` through
//! `/etc/containerd/certs.d/localhost:<port>/hosts.toml` (read at every pull, no restart:
//! containerd's docs/hosts.md); the ConfigMap `local-registry-hosting` in `kube-public`
//! advertises the registry to tools (KEP-1755). The same name, `localhost:<port>/app`, then
//! works from the host (push) and from the nodes (pull).
//!
//! Everything goes through the engine API: the container is created, started and connected
//! with bollard, and hosts.toml is written into each node by an archive upload
//! (`PUT /containers/{node}/archive`), not by a shell in the node.

use crate::engine::containers::{self, is_port_in_use};
use crate::engine::{attach, EngineKind};
use crate::state::LocalRegistryRecord;
use anyhow::Context;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::Docker;
use std::collections::HashMap;

/// Label on the registry container: the environment it serves.
pub const REGISTRY_LABEL: &str = "dev.kubetest.local-registry";
/// Label on the registry container: the image it was created from (a changed
/// `cluster.local_registry.image` replaces the container).
pub const IMAGE_LABEL: &str = "dev.kubetest.local-registry.image";
/// Label on the registry container: its host port (a stopped container's inspect lists no
/// published ports, so the port it would come back on is read from here).
pub const PORT_LABEL: &str = "dev.kubetest.local-registry.port";
/// The port the registry listens on inside its container (`registry:2`'s default).
pub const CONTAINER_PORT: u16 = 5000;
/// The ConfigMap of KEP-1755, in `kube-public`.
pub const HOSTING_CONFIGMAP: &str = "local-registry-hosting";
pub const HOSTING_NAMESPACE: &str = "kube-public";

/// The registry container's name for an environment.
pub fn container_name(environment: &str) -> String {
    format!("kubetest-{environment}-registry")
}

/// The network kind puts its nodes on: `kind`, unless the provider's variable names another —
/// `KIND_EXPERIMENTAL_DOCKER_NETWORK` (docker provider) or `KIND_EXPERIMENTAL_PODMAN_NETWORK`
/// (podman provider), kind's pkg/cluster/internal/providers/{docker,podman}/network.go.
pub fn kind_network(engine: EngineKind, var: impl Fn(&str) -> Option<String>) -> String {
    let name = match engine {
        EngineKind::Podman => "KIND_EXPERIMENTAL_PODMAN_NETWORK",
        EngineKind::Docker => "KIND_EXPERIMENTAL_DOCKER_NETWORK",
    };
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "kind".to_owned())
}

/// `localhost:<port>`: the registry's name for the host's engine and, via hosts.toml, the nodes.
pub fn registry_host(port: u16) -> String {
    format!("localhost:{port}")
}

/// The hosts.toml of kind's guide: pulls of `localhost:<port>/…` go to the container by name;
/// then, when known, by its address on kind's network. A network without DNS (Podman with
/// CNI and no `dnsname` plugin, as here: docs/engine-facts.md) cannot resolve the name, and
/// containerd tries the hosts in order, going on to the next after a failed request
/// (remotes/docker/resolver.go: "trying next host").
pub fn hosts_toml(container: &str, address: Option<&str>) -> String {
    let mut out = format!("[host.\"http://{container}:{CONTAINER_PORT}\"]\n");
    if let Some(a) = address {
        out.push_str(&format!("[host.\"http://{a}:{CONTAINER_PORT}\"]\n"));
    }
    out
}

/// Where hosts.toml goes in a node.
pub fn hosts_path(port: u16) -> String {
    format!(
        "{}/{}/hosts.toml",
        super::kind_config::CERTS_DIR,
        registry_host(port)
    )
}

/// A tar to unpack at `/` that creates hosts.toml and its directories (root-owned, 0755/0644,
/// as they are in kind's node image).
pub fn hosts_archive(port: u16, container: &str, address: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let path = hosts_path(port);
    let rel = path.trim_start_matches('/');
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = String::new();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        dir.push_str(part);
        dir.push('/');
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        b.append_data(&mut h, &dir, std::io::empty())
            .context("cannot build the hosts.toml archive")?;
    }
    let body = hosts_toml(container, address);
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(body.len() as u64);
    b.append_data(&mut h, rel, body.as_bytes())
        .context("cannot build the hosts.toml archive")?;
    b.into_inner()
        .context("cannot build the hosts.toml archive")
}

/// Write hosts.toml into `node` through the engine's archive upload.
pub async fn write_hosts(
    docker: &Docker,
    node: &str,
    port: u16,
    container: &str,
    address: Option<&str>,
) -> anyhow::Result<()> {
    let tar = hosts_archive(port, container, address)?;
    docker
        .upload_to_container(
            node,
            Some(
                bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                    .path("/")
                    .build(),
            ),
            bollard::body_full(tar.into()),
        )
        .await
        .with_context(|| {
            format!(
                "cannot write {} into kind node {node} (engine archive upload)",
                hosts_path(port)
            )
        })
}

/// containerd's config in a kind node.
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";

/// Whether `config.toml` text makes containerd read per-registry hosts from [`CERTS_DIR`].
///
/// [`CERTS_DIR`]: super::kind_config::CERTS_DIR
pub fn reads_certs_dir(config_toml: &str) -> bool {
    config_toml.lines().any(|l| {
        let l = l.trim();
        l.starts_with("config_path")
            && l.split_once('=').is_some_and(|(_, v)| {
                v.trim().trim_matches(['"', '\'']) == super::kind_config::CERTS_DIR
            })
    })
}

/// [`CONTAINERD_CONFIG`] of `node`, read through the engine's archive download; `None` when
/// the engine cannot give it (no such file: not a kind node image).
pub async fn containerd_config(docker: &Docker, node: &str) -> Option<String> {
    use futures::StreamExt;
    let opts = bollard::query_parameters::DownloadFromContainerOptions {
        path: CONTAINERD_CONFIG.to_owned(),
    };
    let mut stream = Box::pin(docker.download_from_container(node, Some(opts)));
    let mut tar = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar.extend_from_slice(&chunk.ok()?);
        if tar.len() > 1 << 20 {
            return None;
        }
    }
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
    Some(text)
}

/// The KEP-1755 ConfigMap, as kind's guide applies it.
pub fn hosting_configmap(port: u16) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": HOSTING_CONFIGMAP, "namespace": HOSTING_NAMESPACE },
        "data": {
            "localRegistryHosting.v1": format!(
                "host: \"{}\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n",
                registry_host(port)
            )
        }
    })
}

/// A free port on 127.0.0.1 (the engine binds it a moment later; a race shows as "port in use").
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free port on 127.0.0.1 for the local registry")?;
    Ok(l.local_addr()
        .context("cannot find a free port on 127.0.0.1")?
        .port())
}

/// What [`ensure`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    Created,
    Started,
    Running,
}

/// The registry container of `rec` exists, runs, publishes `rec.port` on 127.0.0.1 and is
/// from `rec.image`; one that differs (another image or port in the config) is replaced.
/// Returns its id.
pub async fn ensure(
    docker: &Docker,
    rec: &LocalRegistryRecord,
    environment: &str,
) -> anyhow::Result<(String, Ensured)> {
    let key = format!("{CONTAINER_PORT}/tcp");
    if let Some(info) = containers::inspect(docker, &rec.name, "").await? {
        let same = info.labels.get(IMAGE_LABEL) == Some(&rec.image)
            && info.labels.get(REGISTRY_LABEL).map(String::as_str) == Some(environment)
            && info.labels.get(PORT_LABEL) == Some(&rec.port.to_string())
            && (!info.running || info.ports.get(&key) == Some(&rec.port));
        if same && info.running {
            return Ok((info.id, Ensured::Running));
        }
        if same {
            containers::start(docker, &info.id)
                .await
                .map_err(|e| port_error(e, rec))?;
            return Ok((info.id, Ensured::Started));
        }
        containers::remove(docker, &rec.name).await?;
    }
    let body = ContainerCreateBody {
        image: Some(rec.image.clone()),
        labels: Some(HashMap::from([
            (REGISTRY_LABEL.to_owned(), environment.to_owned()),
            (IMAGE_LABEL.to_owned(), rec.image.clone()),
            (PORT_LABEL.to_owned(), rec.port.to_string()),
        ])),
        exposed_ports: Some(vec![key.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                key,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(rec.port.to_string()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = bollard::query_parameters::CreateContainerOptions {
        name: Some(rec.name.clone()),
        ..Default::default()
    };
    let id = docker
        .create_container(Some(opts), body)
        .await
        .map_err(|e| {
            if e.to_string().contains("No such image") || e.to_string().contains("image not known")
            {
                anyhow::anyhow!(
                    "cannot create the local registry container {} from image {}: the engine does not have it; pull it (`docker pull {0}` / `podman pull {0}`) or set `cluster.local_registry.image`",
                    rec.name,
                    rec.image
                )
            } else {
                anyhow::anyhow!("cannot create the local registry container {}: {e}", rec.name)
            }
        })?
        .id;
    containers::start(docker, &id)
        .await
        .map_err(|e| port_error(e, rec))?;
    Ok((id, Ensured::Created))
}

fn port_error(e: bollard::errors::Error, rec: &LocalRegistryRecord) -> anyhow::Error {
    if is_port_in_use(&e) {
        anyhow::anyhow!(
            "cannot start the local registry container {}: port 127.0.0.1:{} is taken ({e}); set another `cluster.local_registry.port`, or none to get a free one",
            rec.name,
            rec.port
        )
    } else {
        anyhow::anyhow!(
            "cannot start the local registry container {}: {e}",
            rec.name
        )
    }
}

/// Connect the registry container to kind's node network (already connected is success).
pub async fn attach_to(docker: &Docker, network: &str, container: &str) -> anyhow::Result<()> {
    attach::connect(docker, network, container)
        .await
        .map(drop)
        .with_context(|| {
            format!(
                "the kind nodes cannot reach the local registry: kind's node network `{network}` must exist (kind creates it; KIND_EXPERIMENTAL_DOCKER_NETWORK / KIND_EXPERIMENTAL_PODMAN_NETWORK rename it)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_files_follow_kinds_guide() {
        assert_eq!(container_name("demo"), "kubetest-demo-registry");
        assert_eq!(
            hosts_toml("kubetest-demo-registry", None),
            "[host.\"http://kubetest-demo-registry:5000\"]\n"
        );
        assert_eq!(
            hosts_toml("reg", Some("10.89.0.7")),
            "[host.\"http://reg:5000\"]\n[host.\"http://10.89.0.7:5000\"]\n"
        );
        assert_eq!(
            hosts_path(5001),
            "/etc/containerd/certs.d/localhost:5001/hosts.toml"
        );
        let cm = hosting_configmap(5001);
        assert_eq!(cm["metadata"]["namespace"], "kube-public");
        assert!(cm["data"]["localRegistryHosting.v1"]
            .as_str()
            .unwrap()
            .starts_with("host: \"localhost:5001\"\n"));
    }

    #[test]
    fn containerd_configs_that_read_certs_d() {
        assert!(reads_certs_dir(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
        ));
        assert!(!reads_certs_dir(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n"
        ));
        assert!(!reads_certs_dir(
            "  config_path = \"/etc/containerd/hosts\"\n"
        ));
    }

    #[test]
    fn network_follows_the_providers_variable() {
        let none = |_: &str| None;
        assert_eq!(kind_network(EngineKind::Docker, none), "kind");
        let set = |v: &str| (v == "KIND_EXPERIMENTAL_PODMAN_NETWORK").then(|| "kt-net".to_owned());
        assert_eq!(kind_network(EngineKind::Podman, set), "kt-net");
        assert_eq!(kind_network(EngineKind::Docker, set), "kind");
    }

    #[test]
    fn archive_holds_the_directories_then_the_file() {
        let tar = hosts_archive(5001, "reg", None).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            seen.push((p, e.header().mode().unwrap(), s));
        }
        assert_eq!(seen[0].0, "etc/");
        assert_eq!(
            seen.last().unwrap(),
            &(
                "etc/containerd/certs.d/localhost:5001/hosts.toml".to_owned(),
                0o644,
                "[host.\"http://reg:5000\"]\n".to_owned()
            )
        );
        assert_eq!(seen.len(), 5);
    }
}

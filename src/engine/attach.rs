//! Attaching containers kubetest does not own (kind's nodes) to an environment's network,
//! and detaching them again; finding kind's nodes by their labels.
//!
//! What the engines answer (seen against Podman 4.3 and Docker 20.10 on these machines, and
//! asserted by `tests/integration/connect.rs`):
//! - connect when already connected: Docker `403 endpoint with name N already exists in
//!   network X`; Podman `500 container ID is already connected to network "X": network is
//!   already connected`. Both mean the attachment is in place: success.
//! - disconnect when not connected: both `500 container … is not connected to network X`:
//!   success. A missing container or network: `404` on both: success.
//! - removing a network a container is still attached to fails (Docker `403 … has active
//!   endpoints`, Podman `500 … network is being used`): `down` detaches first.
//! - Podman gives the container a second default route through the new network (listed
//!   first); Docker keeps the first network's default route. Addresses on either network's
//!   subnet are routed directly on both.

use super::images::is_not_found;
use bollard::errors::Error as BollardError;
use bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use bollard::Docker;

/// Label kind puts on every node container: the cluster's name.
pub const KIND_CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

/// What a connect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The container was connected now.
    Now,
    /// It already was.
    Already,
}

/// The engine's answer to a connect means the container is already on the network.
pub fn is_already_connected(e: &BollardError) -> bool {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 403 | 500,
            message,
        } => {
            message.contains("already exists in network")
                || message.contains("already connected to network")
        }
        _ => false,
    }
}

/// The engine's answer to a disconnect means the container is not on the network.
pub fn is_not_connected(e: &BollardError) -> bool {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 403 | 500,
            message,
        } => message.contains("is not connected to"),
        _ => false,
    }
}

/// Connect `container` (name or id) to `network`; already connected is success.
pub async fn connect(docker: &Docker, network: &str, container: &str) -> anyhow::Result<Attached> {
    let req = NetworkConnectRequest {
        container: container.to_owned(),
        endpoint_config: None,
    };
    match docker.connect_network(network, req).await {
        Ok(()) => Ok(Attached::Now),
        Err(e) if is_already_connected(&e) => Ok(Attached::Already),
        Err(e) => Err(anyhow::anyhow!(
            "cannot connect container {container} to network {network}: {e}"
        )),
    }
}

/// Disconnect `container` from `network`; a container that is not attached, or a container
/// or network that no longer exists, is success.
pub async fn disconnect(docker: &Docker, network: &str, container: &str) -> anyhow::Result<()> {
    let req = NetworkDisconnectRequest {
        container: container.to_owned(),
        force: Some(true),
    };
    match docker.disconnect_network(network, req).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) || is_not_connected(&e) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "cannot disconnect container {container} from network {network}: {e}"
        )),
    }
}

/// (id, name) of the node containers of kind cluster `cluster` (label
/// `io.x-k8s.kind.cluster=<cluster>`, running or not), sorted by name, on the engine at `url`.
pub async fn kind_nodes(url: &str, cluster: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut nodes = super::containers::containers_with_label(url, KIND_CLUSTER_LABEL, cluster)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list the nodes of kind cluster {cluster}: {e:#}"))?;
    nodes.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code: code,
            message: message.into(),
        }
    }

    #[test]
    fn engines_answers_to_repeated_connects_and_disconnects() {
        // Docker 20.10 and Podman 4.3, verbatim.
        assert!(is_already_connected(&server(
            403,
            "endpoint with name kt-control-plane already exists in network kubetest-demo"
        )));
        assert!(is_already_connected(&server(
            500,
            "container 12fa95 is already connected to network \"kubetest-demo\": network is already connected"
        )));
        assert!(!is_already_connected(&server(
            404,
            "network kubetest-demo not found"
        )));
        assert!(is_not_connected(&server(
            500,
            "container 2f3b47 is not connected to network kubetest-demo"
        )));
        assert!(!is_not_connected(&server(
            500,
            "\"kubetest-demo\" has associated containers with it. Use -f to forcibly delete containers and pods: network is being used"
        )));
    }
}

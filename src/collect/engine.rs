//! Copying out of engine containers (dependencies, kind's node containers) through the
//! archive endpoint (`GET /containers/{id}/archive?path=…`), streamed into the unpacker; and
//! stopping a dependency with its own stop timeout first.

use super::unpack::{unpack, Unpacked};
use anyhow::Context;
use bollard::query_parameters::{
    DownloadFromContainerOptions, InspectContainerOptions, ListContainersOptions,
    StopContainerOptions,
};
use bollard::Docker;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The label kind puts on every node container, valued with the cluster's name.
pub const KIND_CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// The label kind puts on node containers: `control-plane` or `worker`.
pub const KIND_ROLE_LABEL: &str = "io.x-k8s.kind.role";

/// Why a copy out of a container failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The engine refused the path before sending anything (missing, unreadable).
    #[error("the engine cannot read {path} in container {container}: {message}")]
    Refused {
        container: String,
        path: String,
        message: String,
    },
    #[error("copying {path} out of container {container}: {source}")]
    Unpack {
        container: String,
        path: String,
        #[source]
        source: super::unpack::UnpackError,
    },
}

/// The message of an engine error, without bollard's wrapping.
fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Copy `path` out of `container` into `dest`: the archive holds the path's last component
/// (a file, or a directory and everything under it), so it lands as `dest/<name>`.
pub async fn copy(
    docker: &Docker,
    container: &str,
    path: &str,
    dest: &Path,
) -> Result<Unpacked, CopyError> {
    let opts = DownloadFromContainerOptions {
        path: path.to_owned(),
    };
    let mut stream = Box::pin(docker.download_from_container(container, Some(opts)));
    // The engine answers a missing or unreadable path with an error status before any byte.
    let first = match stream.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Err(CopyError::Refused {
                container: container.to_owned(),
                path: path.to_owned(),
                message: engine_message(&e),
            })
        }
        None => bytes::Bytes::new(),
    };
    let body = futures::stream::iter([Ok(first)])
        .chain(stream)
        .map_err(|e| std::io::Error::other(engine_message(&e)));
    let reader = tokio_util::io::StreamReader::new(body);
    let dest = dest.to_path_buf();
    // The tar reader is synchronous: it runs on a blocking thread and pulls the body through
    // the bridge, one chunk at a time (memory stays at a chunk plus the copy buffer).
    let unpacked = tokio::task::spawn_blocking(move || {
        unpack(tokio_util::io::SyncIoBridge::new(reader), &dest)
    })
    .await
    .unwrap_or_else(|e| Err(super::unpack::UnpackError::Read(std::io::Error::other(e))));
    unpacked.map_err(|source| CopyError::Unpack {
        container: container.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// How a stopped container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub exit_code: Option<i64>,
}

/// Docker's stop timeout for a container created without one (`StopTimeout` unset).
pub const DEFAULT_STOP_TIMEOUT_SECS: i64 = 10;

/// The stop timeout `container` was created with; Docker's default when it has none or 0.
/// Podman 4.3's compat API records `StopTimeout: 0` for a container created without one, and
/// its `/containers/{id}/stop` without `t` then sends SIGKILL right after SIGTERM (measured:
/// exit 137 in 2 s, a SIGTERM handler never ran), so a process never flushes on exit.
async fn stop_timeout(docker: &Docker, container: &str) -> i64 {
    docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|i| i.config?.stop_timeout)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_STOP_TIMEOUT_SECS)
}

/// Stop `container` with its stop timeout (SIGTERM, then SIGKILL after it; see
/// [`stop_timeout`]), then wait until the engine reports it not running, at most `limit`.
pub async fn stop(docker: &Docker, container: &str, limit: Duration) -> anyhow::Result<Stopped> {
    let deadline = tokio::time::Instant::now() + limit;
    let t = stop_timeout(docker, container).await;
    let opts = StopContainerOptions {
        t: Some(i32::try_from(t).unwrap_or(i32::MAX)),
        ..StopContainerOptions::default()
    };
    match tokio::time::timeout(limit, docker.stop_container(container, Some(opts))).await {
        Ok(Ok(())) => {}
        // 304: already stopped.
        Ok(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        })) => {}
        Ok(Err(e)) => {
            return Err(anyhow::anyhow!(
                "cannot stop container {container}: {}",
                engine_message(&e)
            ))
        }
        Err(_) => anyhow::bail!(
            "container {container} did not stop within {}",
            humantime::format_duration(limit)
        ),
    }
    loop {
        let info = docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|e| anyhow::anyhow!("{}", engine_message(&e)))
            .with_context(|| format!("cannot inspect container {container} after stopping it"))?;
        let state = info.state.unwrap_or_default();
        if state.running != Some(true) {
            return Ok(Stopped {
                exit_code: state.exit_code,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "container {container} still runs {} after it was asked to stop",
                humantime::format_duration(limit)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The names of the kind cluster's node containers (running or not), control-plane nodes
/// only when `control_plane_only`, sorted.
pub async fn kind_nodes(
    docker: &Docker,
    cluster: &str,
    control_plane_only: bool,
) -> anyhow::Result<Vec<String>> {
    let mut labels = vec![format!("{KIND_CLUSTER_LABEL}={cluster}")];
    if control_plane_only {
        labels.push(format!("{KIND_ROLE_LABEL}=control-plane"));
    }
    let opts = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_owned(), labels)])),
        ..ListContainersOptions::default()
    };
    let list = docker
        .list_containers(Some(opts))
        .await
        .map_err(|e| anyhow::anyhow!("{}", engine_message(&e)))
        .with_context(|| format!("cannot list the node containers of kind cluster `{cluster}`"))?;
    let mut names: Vec<String> = list
        .into_iter()
        .filter_map(|c| c.names?.into_iter().next())
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect();
    names.sort();
    Ok(names)
}

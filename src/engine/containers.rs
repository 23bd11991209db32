//! Containers and networks in the engine: create, start, inspect, wait, logs, exec, remove,
//! and the label filters that find what an environment left behind.
//!
//! Docker and Podman differ in how they refuse: Docker answers a name conflict with 409,
//! Podman with 500 and a `cause`; both answer a missing object with 404 (success on removal).
//! Docker 20.10 also creates a second network with a name already taken, so networks are
//! looked up before they are created and removed by id.

use super::images::is_not_found;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, LogsOptions,
    RemoveContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};

/// Label naming the environment that owns a container or network.
pub const ENV_LABEL: &str = "dev.kubetest.env";
/// Label naming the dependency a container runs.
pub const DEP_LABEL: &str = "dev.kubetest.dep";
/// Label holding the hash of the dependency's config (reuse decision).
pub const CONFIG_HASH_LABEL: &str = "dev.kubetest.config-hash";

/// Everything needed to create one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `host:container:ro|rw`, host path absolute.
    pub binds: Vec<String>,
    /// (`5432/tcp`, host port; `None` = the engine picks one).
    pub ports: Vec<(String, Option<u16>)>,
    pub network: String,
    /// Extra DNS names on the network (the dependency's own name).
    pub aliases: Vec<String>,
    /// `name:address` lines for /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// What the engine says about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub running: bool,
    /// Created but never started, or exited: the exit code when it has one.
    pub exit_code: Option<i64>,
    pub status: String,
    pub labels: HashMap<String, String>,
    /// `5432/tcp` → host port, for published ports.
    pub ports: BTreeMap<String, u16>,
    /// The container's address on `network`, when attached.
    pub address: Option<String>,
}

/// A conflict: the name is taken (Docker: 409; Podman: 500 with "already in use/exists").
pub fn is_conflict(e: &BollardError) -> bool {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 409, ..
        } => true,
        BollardError::DockerResponseServerError {
            status_code: 500,
            message,
        } => message.contains("already in use") || message.contains("already exists"),
        _ => false,
    }
}

/// The engine refused to bind a host port.
pub fn is_port_in_use(e: &BollardError) -> bool {
    let msg = e.to_string();
    msg.contains("address already in use") || msg.contains("port is already allocated")
}

/// The id of network `name`, creating it (labelled) when it does not exist.
pub async fn ensure_network(
    docker: &Docker,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> anyhow::Result<(String, bool)> {
    if let Some(id) = network_id(docker, name).await? {
        return Ok((id, false));
    }
    let req = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".to_owned()),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    };
    match docker.create_network(req).await {
        Ok(r) => Ok((r.id, true)),
        Err(e) if is_conflict(&e) => network_id(docker, name)
            .await?
            .map(|id| (id, false))
            .ok_or_else(|| anyhow::anyhow!("network {name} exists and vanished: {e}")),
        Err(e) => Err(anyhow::anyhow!("cannot create network {name}: {e}")),
    }
}

/// The id of network `name` (or id), `None` when it does not exist.
pub async fn network_id(docker: &Docker, name: &str) -> anyhow::Result<Option<String>> {
    match docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(n) => Ok(n.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot inspect network {name}: {e}")),
    }
}

/// Remove a network by id or name; a missing one is success.
pub async fn remove_network(docker: &Docker, id_or_name: &str) -> anyhow::Result<()> {
    match docker.remove_network(id_or_name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove network {id_or_name}"))),
    }
}

/// Create a container (not started) and return its id.
pub async fn create(docker: &Docker, spec: &ContainerSpec) -> Result<String, BollardError> {
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|(key, host)| {
            (
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: None,
                    // "" lets the engine pick a free port; inspect says which.
                    host_port: Some(host.map(|h| h.to_string()).unwrap_or_default()),
                }]),
            )
        })
        .collect();
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        working_dir: spec.workdir.clone(),
        user: spec.user.clone(),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: Some(spec.ports.iter().map(|(k, _)| k.clone()).collect()),
        host_config: Some(HostConfig {
            binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
            port_bindings: Some(port_bindings),
            network_mode: Some(spec.network.clone()),
            extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                spec.network.clone(),
                EndpointSettings {
                    aliases: Some(spec.aliases.clone()),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptions {
        name: Some(spec.name.clone()),
        ..Default::default()
    };
    docker
        .create_container(Some(opts), body)
        .await
        .map(|r| r.id)
}

pub async fn start(docker: &Docker, id: &str) -> Result<(), BollardError> {
    docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
}

/// The container `name_or_id` as the engine sees it, `None` when it does not exist.
pub async fn inspect(
    docker: &Docker,
    name_or_id: &str,
    network: &str,
) -> anyhow::Result<Option<ContainerInfo>> {
    let c = match docker
        .inspect_container(
            name_or_id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(c) => c,
        Err(e) if is_not_found(&e) => return Ok(None),
        // Podman 4.3 reports a container that just exited, before its cleanup ran, with
        // status `stopped`, which the Docker API (and bollard) do not know.
        Err(e) if e.to_string().contains("unknown variant `stopped`") => {
            return Ok(Some(ContainerInfo {
                id: name_or_id.to_owned(),
                status: "stopped".to_owned(),
                ..Default::default()
            }))
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot inspect container {name_or_id}: {e}"
            ))
        }
    };
    let state = c.state.unwrap_or_default();
    let started = state
        .started_at
        .as_deref()
        .is_some_and(|s| !s.is_empty() && !s.starts_with("0001-"));
    let settings = c.network_settings.unwrap_or_default();
    let mut ports = BTreeMap::new();
    for (key, bindings) in settings.ports.unwrap_or_default() {
        let host = bindings
            .unwrap_or_default()
            .iter()
            .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()));
        if let Some(h) = host {
            ports.insert(key, h);
        }
    }
    let address = settings
        .networks
        .unwrap_or_default()
        .get(network)
        .and_then(|n| n.ip_address.clone())
        .filter(|a| !a.is_empty());
    let running = state.running.unwrap_or(false);
    Ok(Some(ContainerInfo {
        id: c.id.unwrap_or_default(),
        running,
        exit_code: (!running && started).then(|| state.exit_code.unwrap_or(0)),
        status: state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
        ports,
        address,
    }))
}

/// Resolves with the exit code when the container stops (at once if it already has).
pub async fn wait_exit(docker: &Docker, id: &str) -> anyhow::Result<i64> {
    let opts = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    let mut stream = docker.wait_container(id, Some(opts));
    match stream.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        // bollard turns a non-zero exit into this error.
        Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(anyhow::anyhow!("cannot wait for container {id}: {e}")),
        None => Err(anyhow::anyhow!(
            "the engine closed the wait for container {id} without an exit code"
        )),
    }
}

/// The last `n` lines of the container's stdout and stderr, interleaved as written.
pub async fn last_logs(docker: &Docker, id: &str, n: usize) -> Vec<String> {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: n.to_string(),
        ..Default::default()
    };
    let mut text = String::new();
    let mut stream = docker.logs(id, Some(opts));
    while let Some(item) = stream.next().await {
        match item {
            Ok(out) => text.push_str(&String::from_utf8_lossy(&out.into_bytes())),
            Err(e) => {
                text.push_str(&format!("\n(cannot read more logs: {e})"));
                break;
            }
        }
    }
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let skip = lines.len().saturating_sub(n);
    lines.into_iter().skip(skip).collect()
}

/// The container's stdout and stderr as written so far: the last `tail` lines, or all.
pub async fn logs_text(docker: &Docker, id: &str, tail: Option<usize>) -> Result<String, String> {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    let mut stream = docker.logs(id, Some(opts));
    while let Some(item) = stream.next().await {
        match item {
            Ok(out) => bytes.extend_from_slice(&out.into_bytes()),
            Err(e) if bytes.is_empty() => return Err(format!("cannot read the logs of {id}: {e}")),
            Err(e) => {
                bytes.extend_from_slice(format!("\n(cannot read more logs: {e})\n").as_bytes());
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The container's output as it is written (from the start), one line per item.
pub fn follow_logs(docker: &Docker, id: &str) -> impl Stream<Item = anyhow::Result<String>> {
    let opts = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let id = id.to_owned();
    docker.logs(&id, Some(opts)).flat_map(move |item| {
        let lines: Vec<anyhow::Result<String>> = match item {
            Ok(out) => String::from_utf8_lossy(&out.into_bytes())
                .lines()
                .map(|l| Ok(l.to_owned()))
                .collect(),
            Err(e) => vec![Err(anyhow::anyhow!("cannot follow the logs of {id}: {e}"))],
        };
        futures::stream::iter(lines)
    })
}

/// What a command run inside a container printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    /// stdout then stderr, for messages that show "the output".
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Run `cmd` inside the container and collect its two streams and exit code.
pub async fn exec(docker: &Docker, id: &str, cmd: &[String]) -> anyhow::Result<ExecOutput> {
    let created = docker
        .create_exec(
            id,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot exec {cmd:?} in {id}: {e}"))?;
    let mut result = ExecOutput::default();
    match docker
        .start_exec(&created.id, None::<StartExecOptions>)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start {cmd:?} in {id}: {e}"))?
    {
        StartExecResults::Attached {
            output: mut out, ..
        } => {
            while let Some(item) = out.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        result.stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    Ok(chunk) => result
                        .stdout
                        .push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                    Err(e) => return Err(anyhow::anyhow!("exec {cmd:?} in {id}: {e}")),
                }
            }
        }
        StartExecResults::Detached => {}
    }
    let inspected = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| anyhow::anyhow!("cannot inspect exec {cmd:?} in {id}: {e}"))?;
    result.code = inspected.exit_code.unwrap_or(-1);
    Ok(result)
}

/// Remove a container (stopping it, with its anonymous volumes); a missing one is success.
pub async fn remove(docker: &Docker, name_or_id: &str) -> anyhow::Result<()> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(name_or_id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Already being removed by someone else: it will be gone.
        Err(e) if e.to_string().contains("already in progress") => Ok(()),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("cannot remove container {name_or_id}")))
        }
    }
}

fn label_filter(env: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{ENV_LABEL}={env}")])])
}

/// (id, name) of every container, running or not, labelled with environment `env`, on the
/// engine at `url`.
pub async fn labelled_containers(url: &str, env: &str) -> anyhow::Result<Vec<(String, String)>> {
    containers_with_label(url, ENV_LABEL, env)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list the containers of environment {env}: {e:#}"))
}

/// A ceiling for one listing; callers bound it by `engine.timeout` (`patience::within_limit`).
const LIST_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// (id, name) of every container, running or not, with label `key=value` (for example kind's
/// `io.x-k8s.kind.cluster=<name>` on a cluster's nodes), on the engine at `url`.
///
/// Read as raw JSON, not through bollard's model: Podman 4.3 lists a container whose process
/// just exited, before its cleanup ran, in state `stopped`, a value the Docker API (and so
/// bollard's enum) does not have, and the whole listing would fail to parse — seen when `up`
/// was killed while a one-shot job finished.
pub async fn containers_with_label(
    url: &str,
    key: &str,
    value: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let filters = serde_json::json!({ "label": [format!("{key}={value}")] }).to_string();
    let path = format!(
        "/containers/json?all=1&filters={}",
        super::raw_api::query_escape(&filters)
    );
    let (status, body) = super::raw_api::get(url, &path, LIST_LIMIT)
        .await
        .map_err(|e| anyhow::anyhow!("cannot list the containers labelled {key}={value}: {e}"))?;
    if status != 200 {
        anyhow::bail!("cannot list the containers labelled {key}={value}: HTTP {status}: {body}");
    }
    Ok(body
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let name = c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            (c["Id"].as_str().unwrap_or_default().to_owned(), name)
        })
        .collect())
}

/// (id, name) of every network labelled with environment `env`.
pub async fn labelled_networks(
    docker: &Docker,
    env: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let opts = ListNetworksOptions {
        filters: Some(label_filter(env)),
    };
    let list = docker.list_networks(Some(opts)).await.map_err(|e| {
        anyhow::Error::new(e).context(format!("cannot list the networks of environment {env}"))
    })?;
    Ok(list
        .into_iter()
        .map(|n| (n.id.unwrap_or_default(), n.name.unwrap_or_default()))
        .collect())
}

/// The name of a container that publishes host port `port`, if any.
pub async fn holder_of_port(docker: &Docker, port: u16) -> Option<String> {
    let list = docker
        .list_containers(Some(ListContainersOptions::default()))
        .await
        .ok()?;
    list.into_iter()
        .find(|c| {
            c.ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|p| p.public_port == Some(port))
        })
        .and_then(|c| c.names.unwrap_or_default().into_iter().next())
        .map(|n| n.trim_start_matches('/').to_owned())
}

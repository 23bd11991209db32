//! Finding the engine: which endpoints to try, in which order, and what answered.
//!
//! Explicit means explicit: an endpoint the user named (`engine.host` in the config, else
//! `CONTAINER_HOST` — Podman's variable, which bollard does not read — unless `engine: docker`,
//! else `DOCKER_HOST`) is the only one tried; if it does not answer, that is the error.
//! Without one, kubetest searches: rootless Podman, rootful Podman, `/var/run/docker.sock`,
//! and on macOS/Windows the podman machine's socket. `engine: docker|podman` keeps only the
//! endpoints that can be that engine and rejects an answer from the other one.
//!
//! An engine whose `/_ping` answers is alive: when its other calls lag it is busy, and
//! kubetest waits for it (reporting progress) up to `engine.timeout` instead of trying
//! another endpoint or calling it stopped.

use crate::cmd::Cmd;
use crate::config::EngineChoice;
use crate::engine::patience::{classify, patiently, Attempt, EngineBusy, Patience, PatientError};
use crate::engine::raw_api;
use crate::state::EngineRecord;
use bollard::models::SystemVersion;
use bollard::Docker;
use std::fmt;
use std::path::Path;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// `/_ping` is answered in milliseconds even by a busy engine; silence this long means hung.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// bollard's client timeout covers a request until its response headers; a build's context
/// upload happens before them, so it must be long.
const CLIENT_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// An endpoint to try and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port`, `ssh://…`.
    pub url: String,
    /// e.g. `DOCKER_HOST`, `rootful podman socket`.
    pub source: String,
}

/// A connected, identified engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub kind: EngineKind,
    pub endpoint: Endpoint,
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub rootless: bool,
    /// `/_ping`'s `Server` header (empty when the engine sent none).
    pub server: String,
}

impl Engine {
    /// What the state file keeps of this engine.
    pub fn record(&self) -> EngineRecord {
        EngineRecord {
            kind: self.kind.as_str().to_owned(),
            endpoint: self.endpoint.url.clone(),
            version: self.version.clone(),
            server: self.server.clone(),
            api_version: self.api_version.clone(),
            os: self.os.clone(),
            arch: self.arch.clone(),
            rootless: self.rootless,
        }
    }

    /// `podman 4.3.1 (API 1.41, linux/amd64, rootful) at unix:///run/podman/podman.sock`
    pub fn describe(&self) -> String {
        format!(
            "{} {} (API {}, {}/{}, {}) at {} [{}]",
            self.kind.as_str(),
            self.version,
            self.api_version,
            self.os,
            self.arch,
            if self.rootless { "rootless" } else { "rootful" },
            self.endpoint.url,
            self.endpoint.source
        )
    }
}

/// No endpoint answered: every one tried, and why it failed.
#[derive(Debug, thiserror::Error)]
pub struct NoEngine {
    pub choice: EngineChoice,
    pub attempts: Vec<(Endpoint, String)>,
}

impl fmt::Display for NoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.choice {
            EngineChoice::Auto => "no container engine answered",
            EngineChoice::Docker => "no Docker engine answered (`engine: docker`)",
            EngineChoice::Podman => "no Podman engine answered (`engine: podman`)",
        };
        writeln!(f, "{what}; tried:")?;
        for (ep, why) in &self.attempts {
            writeln!(f, "  {} ({}): {why}", ep.url, ep.source)?;
        }
        write!(
            f,
            "start an engine (e.g. `podman machine start`, `systemctl start docker`, or \
             `podman system service --time=0 &`) or point DOCKER_HOST/CONTAINER_HOST at one; \
             `kubetest doctor` checks each of these"
        )
    }
}

/// Why one endpoint could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Nothing listens, the socket is missing, the connection is refused, or `/_ping` is silent.
    #[error("{0}")]
    NotAnswering(String),
    /// It answered as the other engine than the one asked for.
    #[error("answered as {}, but `engine: {}` was asked for", found.as_str(), choice_str(*wanted))]
    WrongKind {
        found: EngineKind,
        wanted: EngineChoice,
    },
    /// It answers `/_ping`, but another call lagged past the limit.
    #[error(transparent)]
    Busy(EngineBusy),
}

impl EndpointError {
    pub fn is_busy(&self) -> bool {
        matches!(self, EndpointError::Busy(_))
    }
}

/// An endpoint the user named that cannot be used. kubetest tries no other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the engine endpoint {} (from {}) does not answer: {why}. kubetest uses only the endpoint \
     you name and tries no other: start the engine it points at, point {} at one that runs, \
     or remove it to let kubetest look for an engine (`kubetest doctor` lists what answers)",
    endpoint.url, endpoint.source, endpoint.source
)]
pub struct ExplicitUnanswered {
    pub endpoint: Endpoint,
    pub why: String,
}

/// Why [`connect`] found no engine to use.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `engine: auto`-style search: nothing answered.
    #[error(transparent)]
    NoEngine(NoEngine),
    /// The endpoint the user named cannot be used.
    #[error(transparent)]
    Explicit(ExplicitUnanswered),
    /// An engine answers, but too slowly.
    #[error(transparent)]
    Busy(EngineBusy),
}

impl ConnectError {
    /// The inner typed error, so `anyhow`'s `downcast_ref::<EngineBusy>()` (and
    /// `ExplicitUnanswered`, `NoEngine`) finds it in the chain.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            ConnectError::NoEngine(e) => e.into(),
            ConnectError::Explicit(e) => e.into(),
            ConnectError::Busy(e) => e.into(),
        }
    }
}

/// What [`connect`] looks for.
#[derive(Clone, Copy)]
pub struct Wanted<'a> {
    pub choice: EngineChoice,
    /// An endpoint named in the config (`engine.host`); its source names where it came from.
    pub host: Option<&'a Endpoint>,
    pub patience: Patience<'a>,
}

/// Where the config's `engine.host` comes from, as errors name it.
pub const CONFIG_HOST_SOURCE: &str = "`engine.host` in the config";

/// The process environment, injectable for tests.
pub struct Env<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub uid: u32,
}

impl Env<'_> {
    fn get(&self, k: &str) -> Option<String> {
        (self.var)(k).filter(|v| !v.is_empty())
    }
}

/// The endpoints to try, in order, without duplicates.
pub fn candidates(choice: EngineChoice, env: &Env) -> Vec<Endpoint> {
    let podman_ok = choice != EngineChoice::Docker;
    let docker_ok = choice != EngineChoice::Podman;
    let mut out: Vec<Endpoint> = Vec::new();
    let mut push = |url: String, source: &str| {
        if !out.iter().any(|e| e.url == url) {
            out.push(Endpoint {
                url,
                source: source.to_owned(),
            });
        }
    };
    if podman_ok {
        if let Some(h) = env.get("CONTAINER_HOST") {
            push(h, "CONTAINER_HOST");
        }
    }
    if let Some(h) = env.get("DOCKER_HOST") {
        push(h, "DOCKER_HOST");
    }
    if podman_ok {
        if let Some(x) = env.get("XDG_RUNTIME_DIR") {
            push(
                format!("unix://{x}/podman/podman.sock"),
                "rootless podman socket ($XDG_RUNTIME_DIR)",
            );
        }
        if env.uid != 0 {
            push(
                format!("unix:///run/user/{}/podman/podman.sock", env.uid),
                "rootless podman socket",
            );
        }
        push(
            "unix:///run/podman/podman.sock".to_owned(),
            "rootful podman socket",
        );
    }
    if docker_ok {
        push("unix:///var/run/docker.sock".to_owned(), "docker socket");
    }
    out
}

/// The endpoint the user named, if any: the config's `engine.host`, else `CONTAINER_HOST`
/// (not for `engine: docker`: it is Podman's variable), else `DOCKER_HOST`.
pub fn explicit_endpoint(
    choice: EngineChoice,
    host: Option<&Endpoint>,
    env: &Env,
) -> Option<Endpoint> {
    if let Some(h) = host {
        return Some(h.clone());
    }
    let var = |name: &str| {
        env.get(name).map(|url| Endpoint {
            url,
            source: name.to_owned(),
        })
    };
    if choice != EngineChoice::Docker {
        if let Some(ep) = var("CONTAINER_HOST") {
            return Some(ep);
        }
    }
    var("DOCKER_HOST")
}

/// Find and connect to the engine. A named endpoint (see [`explicit_endpoint`]) is the only
/// one tried; otherwise the well-known sockets are, and every failure is reported when none
/// answers. An engine that answers `/_ping` but lags is waited for (within
/// `wanted.patience`), never skipped for another. `known` is the state file's record of the
/// engine the last run used (see [`connect_endpoint`]).
pub async fn connect(
    wanted: Wanted<'_>,
    known: Option<&EngineRecord>,
) -> Result<Engine, ConnectError> {
    let var = |k: &str| std::env::var(k).ok();
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let env = Env { var: &var, uid };
    if let Some(ep) = explicit_endpoint(wanted.choice, wanted.host, &env) {
        return match connect_endpoint_for(&ep, known, wanted.choice, wanted.patience).await {
            Ok(engine) => Ok(engine),
            Err(EndpointError::Busy(b)) => Err(ConnectError::Busy(b)),
            Err(why) => Err(ConnectError::Explicit(ExplicitUnanswered {
                endpoint: ep,
                why: why.to_string(),
            })),
        };
    }
    let choice = wanted.choice;
    // No variable applies (else it would be explicit), so these are the well-known sockets.
    let list = candidates(choice, &env);
    let mut attempts = Vec::new();
    if let Some(engine) = first_answer(wanted, list, known, &mut attempts).await? {
        return Ok(engine);
    }
    // The podman machines come last; `podman machine inspect` is a process start (and a VM
    // query), so it runs only when nothing before them answered.
    if choice != EngineChoice::Docker && cfg!(any(target_os = "macos", target_os = "windows")) {
        let machines: Vec<Endpoint> = podman_machine_sockets()
            .await
            .into_iter()
            .filter(|m| !attempts.iter().any(|(tried, _)| tried.url == m.url))
            .collect();
        if let Some(engine) = first_answer(wanted, machines, known, &mut attempts).await? {
            return Ok(engine);
        }
    }
    Err(ConnectError::NoEngine(NoEngine { choice, attempts }))
}

/// Try `list` in order: the first engine of the wanted kind, a busy one as an error, else
/// every failure in `attempts`.
async fn first_answer(
    wanted: Wanted<'_>,
    list: Vec<Endpoint>,
    known: Option<&EngineRecord>,
    attempts: &mut Vec<(Endpoint, String)>,
) -> Result<Option<Engine>, ConnectError> {
    for ep in list {
        match connect_endpoint_for(&ep, known, wanted.choice, wanted.patience).await {
            Ok(engine) => return Ok(Some(engine)),
            Err(EndpointError::Busy(b)) => return Err(ConnectError::Busy(b)),
            Err(why) => attempts.push((ep, why.to_string())),
        }
    }
    Ok(None)
}

fn kind_matches(choice: EngineChoice, kind: EngineKind) -> bool {
    match choice {
        EngineChoice::Auto => true,
        EngineChoice::Docker => kind == EngineKind::Docker,
        EngineChoice::Podman => kind == EngineKind::Podman,
    }
}

fn choice_str(c: EngineChoice) -> &'static str {
    match c {
        EngineChoice::Auto => "auto",
        EngineChoice::Docker => "docker",
        EngineChoice::Podman => "podman",
    }
}

/// The engine `up` recorded in the state file, if it still answers.
pub async fn connect_recorded(rec: &EngineRecord) -> Result<Engine, String> {
    let ep = Endpoint {
        url: rec.endpoint.clone(),
        source: "recorded by `kubetest up`".into(),
    };
    connect_endpoint(&ep, Some(rec))
        .await
        .map_err(|e| e.to_string())
}

/// [`connect_recorded`], failing with an error that names the engine `up` used.
pub async fn reconnect(rec: &EngineRecord) -> anyhow::Result<Engine> {
    connect_recorded(rec).await.map_err(|why| {
        anyhow::anyhow!(
            "the {} engine at {} that `up` used does not answer: {why}",
            rec.kind,
            rec.endpoint
        )
    })
}

/// Connect to one endpoint and identify the engine; the error says why it failed in the
/// words a person checks next (missing file, permission denied, refused, timeout).
///
/// `/_ping`'s headers name the engine, its version and API version in about a millisecond;
/// arch and rootless come from `known` (the state file's record) when it describes the same
/// engine at the same endpoint, else from `/info`. Only an engine whose ping headers say
/// nothing is asked the slow `/version` (Podman takes ~350 ms to answer it).
pub async fn connect_endpoint(
    ep: &Endpoint,
    known: Option<&EngineRecord>,
) -> Result<Engine, EndpointError> {
    let patience = Patience::quiet(crate::config::DEFAULT_ENGINE_TIMEOUT.get());
    connect_endpoint_for(ep, known, EngineChoice::Auto, patience).await
}

/// [`connect_endpoint`] for an engine of kind `choice` (another kind is refused before any
/// slow call), waiting for a busy engine within `patience`.
pub async fn connect_endpoint_for(
    ep: &Endpoint,
    known: Option<&EngineRecord>,
    choice: EngineChoice,
    patience: Patience<'_>,
) -> Result<Engine, EndpointError> {
    let no = EndpointError::NotAnswering;
    let (docker, ping) = if let Some(path) = ep.url.strip_prefix("unix://") {
        let stream = open_unix(Path::new(path)).await.map_err(no)?;
        let ping = ping(stream).await.map_err(no)?;
        let docker =
            Docker::connect_with_unix(path, CLIENT_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(|e| no(format!("cannot use the socket: {e}")))?;
        (docker, ping)
    } else if let Some(addr) = ep
        .url
        .strip_prefix("tcp://")
        .or_else(|| ep.url.strip_prefix("http://"))
    {
        let stream = open_tcp(addr).await.map_err(no)?;
        let ping = ping(stream).await.map_err(no)?;
        let docker = Docker::connect_with_http(
            &format!("http://{addr}"),
            CLIENT_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| no(format!("cannot use the address: {e}")))?;
        (docker, ping)
    } else if ep.url.starts_with("ssh://") {
        return Err(no("ssh:// endpoints are not supported; use the engine's local socket (for a podman machine: `podman machine inspect`, ConnectionInfo.PodmanSocket)".to_owned()));
    } else {
        return Err(no(
            "unsupported endpoint scheme (expected unix:// or tcp://)".to_owned(),
        ));
    };
    let engine = match ping {
        Some(p) => {
            if !kind_matches(choice, p.kind) {
                return Err(EndpointError::WrongKind {
                    found: p.kind,
                    wanted: choice,
                });
            }
            identify_pinged(docker, ep.clone(), p, known, patience).await?
        }
        None => identify_by_version(docker, ep.clone(), patience).await?,
    };
    if !kind_matches(choice, engine.kind) {
        return Err(EndpointError::WrongKind {
            found: engine.kind,
            wanted: choice,
        });
    }
    Ok(engine)
}

/// `GET <path>` through bollard with the engine's patience: a lagging answer is waited for
/// and reported, transient failures retried; a failure names the call.
async fn slow_get<T, Fut>(
    endpoint: &Endpoint,
    call: &str,
    patience: Patience<'_>,
    get: impl FnMut() -> Fut,
) -> Result<T, EndpointError>
where
    Fut: std::future::Future<Output = Result<T, Attempt<bollard::errors::Error>>>,
{
    patiently(endpoint, call, patience, get)
        .await
        .map_err(|e| match e {
            PatientError::Busy(b) => EndpointError::Busy(b),
            PatientError::Failed(e) => {
                EndpointError::NotAnswering(format!("connected, but {call} failed: {e}"))
            }
        })
}

async fn open_unix(path: &Path) -> Result<tokio::net::UnixStream, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("no such socket file".to_owned())
        }
        Err(e) => return Err(format!("cannot stat the socket: {e}")),
        Ok(_) => {}
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path)).await {
        Err(_) => Err(format!(
            "connect timed out after {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(io_reason(&e)),
        Ok(Ok(s)) => Ok(s),
    }
}

async fn open_tcp(addr: &str) -> Result<tokio::net::TcpStream, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => Err(format!(
            "connect timed out after {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(io_reason(&e)),
        Ok(Ok(s)) => Ok(s),
    }
}

/// `GET /_ping` on a connected stream. A silent engine is an error (it would not answer
/// anything else either); an answer that cannot be read is `None`, and `/version` decides.
async fn ping<S>(stream: S) -> Result<Option<PingIdentity>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(ANSWER_TIMEOUT, raw_api::exchange(stream, "/_ping")).await {
        Err(_) => Err(format!(
            "connected, but no answer to GET /_ping within {}s",
            ANSWER_TIMEOUT.as_secs()
        )),
        Ok(Err(_)) => Ok(None),
        Ok(Ok(raw)) => Ok(raw_api::parse_http(&raw)
            .ok()
            .as_ref()
            .and_then(identify_from_ping)),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (add your user to the engine's group, or use the rootless socket)"
                .to_owned()
        }
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (the socket file exists but no engine is listening)".to_owned()
        }
        std::io::ErrorKind::NotFound => "no such socket file".to_owned(),
        _ => format!("cannot connect: {e}"),
    }
}

/// What the headers of a `/_ping` answer say about the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingIdentity {
    pub kind: EngineKind,
    pub version: String,
    pub api_version: String,
    pub os: String,
    /// The `Server` header as sent.
    pub server: String,
}

/// Docker sends `Server: Docker/20.10.24+dfsg1 (linux)`, `Api-Version: 1.41`,
/// `Ostype: linux`; Podman sends `Server: Libpod/4.3.1 (linux)`, `Libpod-Api-Version: 4.3.1`,
/// `Api-Version: 1.41`. `None` when the answer does not name both the engine and its API
/// version (a proxy in between, an engine that sends no `Server`).
pub fn identify_from_ping(r: &raw_api::Response) -> Option<PingIdentity> {
    if r.status != 200 {
        return None;
    }
    let server = r.header("Server")?;
    let api_version = r.header("Api-Version")?;
    let (product, rest) = server.split_once('/')?;
    let (version, paren) = rest.split_once(' ').unwrap_or((rest, ""));
    let kind = if product.eq_ignore_ascii_case("Libpod") || r.header("Libpod-Api-Version").is_some()
    {
        EngineKind::Podman
    } else if product.eq_ignore_ascii_case("Docker") {
        EngineKind::Docker
    } else {
        return None;
    };
    let os = r
        .header("Ostype")
        .or_else(|| {
            Some(paren.trim().trim_start_matches('(').trim_end_matches(')'))
                .filter(|o| !o.is_empty())
        })
        .unwrap_or("unknown");
    Some(PingIdentity {
        kind,
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        os: os.to_owned(),
        server: server.to_owned(),
    })
}

/// `/info` reports the kernel's machine name (`x86_64`); `/version` and kind's downloads use
/// Go's (`amd64`).
pub fn go_arch(machine: &str) -> String {
    match machine {
        "x86_64" => "amd64",
        "aarch64" | "armv8l" => "arm64",
        "armv7l" | "armv6l" | "armhf" => "arm",
        "i386" | "i686" => "386",
        other => other,
    }
    .to_owned()
}

/// Identified by `/_ping`; arch and rootless from the record of the same engine, else `/info`.
async fn identify_pinged(
    docker: Docker,
    endpoint: Endpoint,
    p: PingIdentity,
    known: Option<&EngineRecord>,
    patience: Patience<'_>,
) -> Result<Engine, EndpointError> {
    let same =
        known.filter(|k| k.endpoint == endpoint.url && k.server == p.server && !k.arch.is_empty());
    let (arch, rootless) = match same {
        Some(k) => (k.arch.clone(), k.rootless),
        None => {
            let info = slow_get(&endpoint, "GET /info", patience, || async {
                classify(docker.info().await)
            })
            .await?;
            let rootless = is_rootless(info.security_options.as_deref());
            let arch = info.architecture.as_deref().map(go_arch);
            (arch.unwrap_or_else(|| "unknown".to_owned()), rootless)
        }
    };
    Ok(Engine {
        docker,
        kind: p.kind,
        endpoint,
        version: p.version,
        api_version: p.api_version,
        os: p.os,
        arch,
        rootless,
        server: p.server,
    })
}

fn is_rootless(security_options: Option<&[String]>) -> bool {
    security_options
        .unwrap_or_default()
        .iter()
        .any(|o| o.contains("rootless"))
}

/// What `/version` says: Podman lists a `Podman Engine` component (whose version is
/// Podman's), Docker does not. The engine's version, when it gives one.
pub fn identify_from_version(v: &SystemVersion) -> (EngineKind, Option<String>) {
    let podman = v
        .components
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.name == "Podman Engine"))
        .map(|c| c.version.clone());
    match podman {
        Some(p) => (EngineKind::Podman, Some(p)),
        None => (EngineKind::Docker, v.version.clone()),
    }
}

/// The slow way, for engines whose ping says nothing: `/version` and `/info` at once.
async fn identify_by_version(
    docker: Docker,
    endpoint: Endpoint,
    patience: Patience<'_>,
) -> Result<Engine, EndpointError> {
    let (version, info) = tokio::join!(
        slow_get(&endpoint, "GET /version", patience, || async {
            classify(docker.version().await)
        }),
        slow_get(&endpoint, "GET /info", patience, || async {
            classify(docker.info().await)
        }),
    );
    let version = version?;
    let (kind, engine_version) = identify_from_version(&version);
    let rootless = match info {
        Ok(info) => is_rootless(info.security_options.as_deref()),
        Err(e @ EndpointError::Busy(_)) => return Err(e),
        Err(_) => false,
    };
    Ok(Engine {
        docker,
        kind,
        endpoint,
        version: engine_version.unwrap_or_else(|| "unknown".to_owned()),
        api_version: version.api_version.unwrap_or_else(|| "unknown".to_owned()),
        os: version.os.unwrap_or_else(|| "unknown".to_owned()),
        arch: version.arch.unwrap_or_else(|| "unknown".to_owned()),
        rootless,
        server: String::new(),
    })
}

/// The API sockets of podman machines (macOS/Windows), from `podman machine inspect`.
async fn podman_machine_sockets() -> Vec<Endpoint> {
    let cmd = Cmd::new("podman")
        .args(["machine", "inspect"])
        .timeout(Duration::from_secs(10));
    match cmd.run().await {
        Ok(out) => machine_sockets_from_inspect(&out.stdout),
        Err(_) => Vec::new(),
    }
}

/// `podman machine inspect` JSON → `unix://<ConnectionInfo.PodmanSocket.Path>` per machine.
pub fn machine_sockets_from_inspect(json: &str) -> Vec<Endpoint> {
    let Ok(serde_json::Value::Array(machines)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    machines
        .iter()
        .filter_map(|m| {
            let path = m.pointer("/ConnectionInfo/PodmanSocket/Path")?.as_str()?;
            let name = m.get("Name").and_then(|n| n.as_str()).unwrap_or("?");
            Some(Endpoint {
                url: format!("unix://{path}"),
                source: format!("podman machine `{name}`"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(choice: EngineChoice, vars: &[(&str, &str)], uid: u32) -> Vec<String> {
        let var = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        candidates(choice, &Env { var: &var, uid })
            .into_iter()
            .map(|e| e.url)
            .collect()
    }

    #[test]
    fn order_of_candidates() {
        let vars = [
            ("CONTAINER_HOST", "unix:///tmp/c.sock"),
            ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ];
        assert_eq!(
            urls(EngineChoice::Auto, &vars, 1000),
            [
                "unix:///tmp/c.sock",
                "tcp://127.0.0.1:2375",
                "unix:///run/user/1000/podman/podman.sock",
                "unix:///run/podman/podman.sock",
                "unix:///var/run/docker.sock"
            ]
        );
        assert_eq!(
            urls(EngineChoice::Docker, &vars, 1000),
            ["tcp://127.0.0.1:2375", "unix:///var/run/docker.sock"]
        );
        assert_eq!(
            urls(EngineChoice::Podman, &[], 0),
            ["unix:///run/podman/podman.sock"],
            "root without XDG_RUNTIME_DIR: only the rootful socket"
        );
        assert_eq!(
            urls(EngineChoice::Auto, &[("DOCKER_HOST", "")], 0).len(),
            2,
            "empty variables are ignored"
        );
    }

    #[test]
    fn a_named_endpoint_comes_from_the_config_then_the_variables() {
        let pick = |choice, host: Option<&Endpoint>, vars: &[(&str, &str)]| {
            let var = |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            };
            explicit_endpoint(
                choice,
                host,
                &Env {
                    var: &var,
                    uid: 1000,
                },
            )
            .map(|e| format!("{} {}", e.source, e.url))
        };
        let both = [
            ("CONTAINER_HOST", "unix:///tmp/c.sock"),
            ("DOCKER_HOST", "unix:///tmp/d.sock"),
        ];
        let config = Endpoint {
            url: "tcp://127.0.0.1:2375".into(),
            source: CONFIG_HOST_SOURCE.into(),
        };
        assert_eq!(
            pick(EngineChoice::Auto, Some(&config), &both).as_deref(),
            Some("`engine.host` in the config tcp://127.0.0.1:2375")
        );
        assert_eq!(
            pick(EngineChoice::Auto, None, &both).as_deref(),
            Some("CONTAINER_HOST unix:///tmp/c.sock")
        );
        assert_eq!(
            pick(EngineChoice::Docker, None, &both).as_deref(),
            Some("DOCKER_HOST unix:///tmp/d.sock"),
            "CONTAINER_HOST is Podman's variable"
        );
        assert_eq!(
            pick(EngineChoice::Docker, None, &both[..1]),
            None,
            "engine: docker with only CONTAINER_HOST searches"
        );
        assert_eq!(pick(EngineChoice::Auto, None, &[("DOCKER_HOST", "")]), None);
    }

    #[tokio::test]
    async fn failures_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Endpoint {
            url: format!("unix://{}/none.sock", dir.path().display()),
            source: "test".into(),
        };
        assert_eq!(
            connect_endpoint(&missing, None)
                .await
                .unwrap_err()
                .to_string(),
            "no such socket file"
        );
        // A socket file with nobody listening: bind, then drop the listener.
        let path = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let dead = Endpoint {
            url: format!("unix://{}", path.display()),
            source: "test".into(),
        };
        assert!(connect_endpoint(&dead, None)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("connection refused"));
        let ssh = Endpoint {
            url: "ssh://core@127.0.0.1:2222/run/podman.sock".into(),
            source: "test".into(),
        };
        assert!(connect_endpoint(&ssh, None)
            .await
            .unwrap_err()
            .to_string()
            .contains("not supported"));
    }

    fn ping_answer(head: &str) -> Option<PingIdentity> {
        let raw = format!("{head}\r\n\r\nOK");
        identify_from_ping(&raw_api::parse_http(raw.as_bytes()).unwrap())
    }

    #[test]
    fn ping_headers_identify_the_engine() {
        // As Podman 4.3.1 and Docker 20.10 on these machines answer, then newer releases.
        let podman = ping_answer(
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nBuilder-Version: \r\nBuildkit-Version: \r\n\
             Docker-Experimental: true\r\nLibpod-Api-Version: 4.3.1\r\nLibpod-Buildah-Version: 1.28.2\r\n\
             Server: Libpod/4.3.1 (linux)",
        )
        .unwrap();
        assert_eq!(
            podman,
            PingIdentity {
                kind: EngineKind::Podman,
                version: "4.3.1".into(),
                api_version: "1.41".into(),
                os: "linux".into(),
                server: "Libpod/4.3.1 (linux)".into(),
            }
        );
        let docker = ping_answer(
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nOstype: linux\r\n\
             Server: Docker/20.10.24+dfsg1 (linux)",
        )
        .unwrap();
        assert_eq!(
            (docker.kind, docker.version.as_str(), docker.os.as_str()),
            (EngineKind::Docker, "20.10.24+dfsg1", "linux")
        );
        let podman5 = ping_answer(
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 5.2.2\r\nServer: Libpod/5.2.2 (linux)",
        )
        .unwrap();
        assert_eq!(
            (podman5.kind, podman5.version.as_str()),
            (EngineKind::Podman, "5.2.2")
        );
        let desktop = ping_answer(
            "HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nOstype: linux\r\nServer: Docker/27.3.1 (linux)",
        )
        .unwrap();
        assert_eq!(
            (desktop.kind, desktop.api_version.as_str()),
            (EngineKind::Docker, "1.47")
        );
        // Nothing to go on: `/version` decides.
        assert_eq!(ping_answer("HTTP/1.1 200 OK\r\nApi-Version: 1.41"), None);
        assert_eq!(
            ping_answer("HTTP/1.1 200 OK\r\nServer: Docker/20.10.24 (linux)"),
            None,
            "no API version"
        );
        assert_eq!(
            ping_answer("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nServer: nginx/1.25.3"),
            None,
            "a proxy's Server header"
        );
        assert_eq!(
            ping_answer(
                "HTTP/1.1 500 Internal Server Error\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)"
            ),
            None
        );
    }

    #[test]
    fn kernel_machine_names_become_go_arch_names() {
        for (machine, go) in [
            ("x86_64", "amd64"),
            ("amd64", "amd64"),
            ("aarch64", "arm64"),
            ("arm64", "arm64"),
            ("armv7l", "arm"),
            ("i686", "386"),
            ("s390x", "s390x"),
            ("ppc64le", "ppc64le"),
        ] {
            assert_eq!(go_arch(machine), go, "{machine}");
        }
    }

    #[test]
    fn podman_machine_inspect_sockets() {
        // Shape of `podman machine inspect` (podman 4.x/5.x), trimmed.
        let json = r#"[{"ConfigPath":{"Path":"/Users/me/.config/containers/podman/machine/applehv/podman-machine-default.json"},
            "ConnectionInfo":{"PodmanSocket":{"Path":"/var/folders/x/T/podman/podman-machine-default-api.sock"},"PodmanPipe":null},
            "Created":"2024-05-02T10:00:00Z","Name":"podman-machine-default","Resources":{"CPUs":4,"DiskSize":100,"Memory":2048},
            "SSHConfig":{"Port":62093,"RemoteUsername":"core"},"State":"running","Rootful":false}]"#;
        let eps = machine_sockets_from_inspect(json);
        assert_eq!(eps.len(), 1);
        assert_eq!(
            eps[0].url,
            "unix:///var/folders/x/T/podman/podman-machine-default-api.sock"
        );
        assert_eq!(eps[0].source, "podman machine `podman-machine-default`");
        assert!(machine_sockets_from_inspect("not json").is_empty());
    }
}

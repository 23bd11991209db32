//! What the checks share: time limits, the environment's plan (when a config exists), and
//! the engine endpoints, probed once however many checks ask.

use crate::cmd::Cmd;
use crate::config::{self, EngineChoice};
use crate::engine::discover::{
    self, candidates, connect_endpoint_for, Endpoint, EndpointError, EngineKind, Env,
};
use crate::engine::Patience;
use crate::plan::Plan;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How the checks run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Each check's time limit; a command inside a check gets three quarters of it, so a
    /// hung command is reported by name before the check itself is cut off.
    pub check_timeout: Duration,
    /// The environment file (`-f`); the `state` and `kind` checks read it when it exists.
    pub config: PathBuf,
}

/// An engine that answered, without the client (so judges can be tested with plain data).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFacts {
    pub kind: EngineKind,
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub rootless: bool,
}

impl EngineFacts {
    /// `podman 4.3.1 (API 1.41, linux/amd64, rootful)`
    pub fn describe(&self) -> String {
        format!(
            "{} {} (API {}, {}/{}, {})",
            self.kind.as_str(),
            self.version,
            self.api_version,
            self.os,
            self.arch,
            if self.rootless { "rootless" } else { "rootful" }
        )
    }
}

/// One candidate endpoint and what it said: an engine, or why not (not answering, or busy).
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub endpoint: Endpoint,
    pub answer: Result<EngineFacts, EndpointError>,
}

/// The environment file as the checks see it.
#[derive(Debug)]
pub enum ConfigStatus {
    Missing(PathBuf),
    Invalid(PathBuf, String),
    Loaded(Box<Plan>),
}

pub struct Context {
    pub settings: Settings,
    pub config: ConfigStatus,
    endpoints: OnceCell<Vec<Probed>>,
}

impl Context {
    pub fn new(settings: Settings) -> Self {
        let config = load_config(&settings.config);
        Self {
            settings,
            config,
            endpoints: OnceCell::new(),
        }
    }

    pub fn plan(&self) -> Option<&Plan> {
        match &self.config {
            ConfigStatus::Loaded(p) => Some(p),
            _ => None,
        }
    }

    /// The engine the config asks for (`auto` without a config).
    pub fn choice(&self) -> EngineChoice {
        self.plan().map(|p| p.engine).unwrap_or(EngineChoice::Auto)
    }

    /// A command with this doctor's per-command time limit.
    pub fn cmd(&self, program: impl AsRef<Path>) -> Cmd {
        Cmd::new(program).timeout(self.settings.check_timeout * 3 / 4)
    }

    /// Every candidate endpoint, probed concurrently (once per run).
    pub async fn endpoints(&self) -> &[Probed] {
        self.endpoints.get_or_init(|| probe_all(self)).await
    }

    /// The endpoint kubetest would use, chosen as `up` chooses (see [`chosen`]).
    pub async fn engine(&self) -> Option<(&Endpoint, &EngineFacts)> {
        let choice = self.choice();
        let p = chosen(self.endpoints().await, choice)?;
        match &p.answer {
            Ok(f) if choice_allows(choice, f.kind) => Some((&p.endpoint, f)),
            _ => None,
        }
    }
}

/// The endpoint `up` would settle on: a named one (`engine.host`, `CONTAINER_HOST` unless
/// `engine: docker`, `DOCKER_HOST`) whatever it said; else the first that answers as the
/// engine asked for or is busy (a busy engine is waited for, not skipped).
pub fn chosen(probed: &[Probed], choice: EngineChoice) -> Option<&Probed> {
    if let Some(p) = explicit(probed, choice) {
        return Some(p);
    }
    probed.iter().find(|p| match &p.answer {
        Ok(f) => choice_allows(choice, f.kind),
        Err(e) => e.is_busy(),
    })
}

/// The probed endpoint the user named, if any (same precedence as
/// [`discover::explicit_endpoint`]).
pub fn explicit(probed: &[Probed], choice: EngineChoice) -> Option<&Probed> {
    let by = |source: &str| probed.iter().find(|p| p.endpoint.source == source);
    by(discover::CONFIG_HOST_SOURCE)
        .or_else(|| by("--engine"))
        .or_else(|| {
            (choice != EngineChoice::Docker)
                .then(|| by("CONTAINER_HOST"))
                .flatten()
        })
        .or_else(|| by("DOCKER_HOST"))
}

pub fn choice_allows(choice: EngineChoice, kind: EngineKind) -> bool {
    match choice {
        EngineChoice::Auto => true,
        EngineChoice::Docker => kind == EngineKind::Docker,
        EngineChoice::Podman => kind == EngineKind::Podman,
    }
}

fn load_config(path: &Path) -> ConfigStatus {
    if !path.exists() {
        return ConfigStatus::Missing(path.to_path_buf());
    }
    match config::load(path) {
        Ok(loaded) => ConfigStatus::Loaded(Box::new(Plan::from_config(&loaded))),
        Err(e) => ConfigStatus::Invalid(path.to_path_buf(), e.to_string()),
    }
}

async fn probe_all(ctx: &Context) -> Vec<Probed> {
    let var = |k: &str| std::env::var(k).ok();
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut list = candidates(EngineChoice::Auto, &Env { var: &var, uid });
    if let Some(host) = ctx.plan().and_then(|p| p.engine_endpoint()) {
        list.retain(|e| e.url != host.url);
        list.insert(0, host);
    }
    // A busy engine is waited for within most of the check's time, so the check can say
    // "busy" (and which call lagged) before it is cut off as hung.
    let patience = Patience::quiet(ctx.settings.check_timeout * 3 / 4);
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        let inspect = ctx.cmd("podman").args(["machine", "inspect"]);
        if let Ok(out) = inspect.run().await {
            for ep in discover::machine_sockets_from_inspect(&out.stdout) {
                if !list.iter().any(|e| e.url == ep.url) {
                    list.push(ep);
                }
            }
        }
    }
    futures::future::join_all(list.into_iter().map(|endpoint| async move {
        let answer = connect_endpoint_for(&endpoint, None, EngineChoice::Auto, patience)
            .await
            .map(|e| EngineFacts {
                kind: e.kind,
                version: e.version,
                api_version: e.api_version,
                os: e.os,
                arch: e.arch,
                rootless: e.rootless,
            });
        Probed { endpoint, answer }
    }))
    .await
}

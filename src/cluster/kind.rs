//! The `kind` CLI: every call goes through [`crate::cmd::Cmd`]; failures carry kind's own
//! `ERROR:` lines and `Command Output:` and say what to do.

use crate::cmd::{Cmd, CmdError, Output, Stream};
use crate::engine::EngineKind;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable that picks kind's node provider.
pub const PROVIDER_ENV: &str = "KIND_EXPERIMENTAL_PROVIDER";

/// Quick queries (version, get) should never hang a run.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Failures of `kind create cluster` that a second attempt usually gets past.
const TRANSIENT: &[&str] = &[
    // crun racing the runtime's version probe on busy Podman hosts.
    "crun: unknown version specified",
    "OCI runtime error",
    // kind reading `podman logs` of a node that has just started.
    "failed to read logs",
    "could not find a log line that matches",
];

/// The words of kind's "name already taken" error.
const NODES_EXIST: &str = "node(s) already exist for a cluster with the name";

/// `kind` is not installed (or `cluster.kind_binary` points nowhere).
#[derive(Debug, thiserror::Error)]
#[error(
    "kind was not found ({looked}); `provider: kind` needs it.\n\
     Install it: https://kind.sigs.k8s.io/docs/user/quick-start/#installation \
     (e.g. `go install sigs.k8s.io/kind@latest`, `brew install kind`, or download the \
     release binary into a directory on PATH), or set `cluster.kind_binary`; \
     `cluster.provider: existing` uses a cluster you already have instead"
)]
pub struct KindMissing {
    pub looked: String,
}

/// Find the kind binary: `cluster.kind_binary` when set, else `kind` on PATH.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, KindMissing> {
    match explicit {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(KindMissing {
            looked: format!("cluster.kind_binary {} does not exist", p.display()),
        }),
        None => which::which("kind").map_err(|_| KindMissing {
            looked: "no `kind` on PATH".to_owned(),
        }),
    }
}

/// `kind version` output (`kind v0.23.0 go1.22.2 linux/amd64`, or `0.23.0` with `-q`) → `0.23.0`.
pub fn parse_version(stdout: &str) -> Option<String> {
    stdout
        .split_whitespace()
        .map(|w| w.strip_prefix('v').unwrap_or(w))
        .find(|w| {
            let mut parts = w.split(['.', '-', '+']);
            parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
                && parts.next().is_some_and(|p| p.parse::<u32>().is_ok())
        })
        .map(str::to_owned)
}

/// The provider value kind should run with, and a warning when the user's contradicts the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChoice {
    pub value: Option<String>,
    pub warning: Option<String>,
}

/// Podman engines always get `podman`; a Docker engine gets `docker` only when the user set
/// something else; otherwise kind's own detection is left alone.
pub fn provider_for(engine: Option<EngineKind>, user: Option<&str>) -> ProviderChoice {
    let user = user.map(str::trim).filter(|v| !v.is_empty());
    let want = match engine {
        Some(EngineKind::Podman) => "podman",
        Some(EngineKind::Docker) => "docker",
        None => {
            return ProviderChoice {
                value: user.map(str::to_owned),
                warning: None,
            }
        }
    };
    match user {
        Some(v) if v != want => ProviderChoice {
            value: Some(want.to_owned()),
            warning: Some(format!(
                "{PROVIDER_ENV}={v} is set, but the engine is {want}; kubetest runs kind with \
                 {PROVIDER_ENV}={want} so the nodes land on the engine it builds with \
                 (unset the variable to silence this)"
            )),
        },
        _ if want == "podman" => ProviderChoice {
            value: Some(want.to_owned()),
            warning: None,
        },
        _ => ProviderChoice {
            value: user.map(str::to_owned),
            warning: None,
        },
    }
}

/// A line kind printed while creating a cluster.
///
/// kind's status logger (`pkg/internal/cli/status.go`) writes, when stderr is not a terminal
/// (as under kubetest), ` • {step}  ...` when a step starts, ` ✓ {step}` when it ends and
/// ` ✗ {step}` when it fails; every other line is plain log text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindLine<'a> {
    Started(&'a str),
    Done(&'a str),
    Failed(&'a str),
    Other(&'a str),
}

impl<'a> KindLine<'a> {
    pub fn parse(line: &'a str) -> Self {
        let step = |rest: &'a str| {
            rest.trim_end()
                .trim_end_matches("...")
                // The trailing emoji (and its variation selector): they are decoration, and
                // terminals disagree on their width.
                .trim_end_matches(|c: char| !c.is_ascii() || c.is_whitespace())
        };
        if let Some(rest) = line.strip_prefix(" \u{2022} ") {
            KindLine::Started(step(rest))
        } else if let Some(rest) = line.strip_prefix(" \u{2713} ") {
            KindLine::Done(step(rest))
        } else if let Some(rest) = line.strip_prefix(" \u{2717} ") {
            KindLine::Failed(step(rest))
        } else {
            KindLine::Other(line)
        }
    }
}

/// What `kind create cluster` gets.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    pub name: &'a str,
    pub config: Option<&'a Path>,
    pub image: Option<&'a str>,
    pub wait: Duration,
    pub kubeconfig: &'a Path,
}

/// A kind binary and the environment every call gets.
#[derive(Debug, Clone)]
pub struct Kind {
    pub binary: PathBuf,
    pub provider: Option<String>,
}

impl Kind {
    pub fn new(binary: PathBuf, provider: Option<String>) -> Self {
        Self { binary, provider }
    }

    fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let c = Cmd::new(&self.binary).args(args);
        match &self.provider {
            Some(p) => c.env(PROVIDER_ENV, p),
            None => c,
        }
    }

    async fn call(&self, cmd: Cmd) -> anyhow::Result<Output> {
        self.call_with_lines(cmd, |_| {}).await
    }

    /// Run, handing each line kind prints on stderr to `on_line` as it comes.
    async fn call_with_lines(
        &self,
        cmd: Cmd,
        mut on_line: impl FnMut(&str),
    ) -> anyhow::Result<Output> {
        let run = cmd.run_with_lines(|which, line| {
            if which == Stream::Stderr {
                on_line(line);
            }
        });
        match run.await {
            Ok(out) => Ok(out),
            Err(CmdError::Failed {
                cmdline,
                code,
                stdout,
                stderr,
            }) => Err(KindError {
                cmdline,
                code,
                stdout,
                stderr,
            }
            .into()),
            Err(CmdError::NotFound { program }) => Err(KindMissing {
                looked: format!("{program} cannot be run"),
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// `kind version` → `0.23.0`.
    pub async fn version(&self) -> anyhow::Result<String> {
        let out = self
            .call(self.cmd(["version"]).timeout(QUERY_TIMEOUT))
            .await?;
        parse_version(&out.stdout).ok_or_else(|| {
            anyhow::anyhow!(
                "`{} version` printed no version: {:?}",
                self.binary.display(),
                out.stdout.trim()
            )
        })
    }

    /// Names of the clusters kind sees (stdout; "No kind clusters found." goes to stderr).
    pub async fn clusters(&self) -> anyhow::Result<Vec<String>> {
        let out = self
            .call(self.cmd(["get", "clusters"]).timeout(QUERY_TIMEOUT))
            .await?;
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Create the cluster; each line kind prints goes to `on_line` as it comes (its steps
    /// take 30–90 s in all).
    pub async fn create(
        &self,
        req: &CreateRequest<'_>,
        mut on_line: impl FnMut(KindLine<'_>),
    ) -> anyhow::Result<()> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "create".into(),
            "cluster".into(),
            "--name".into(),
            req.name.into(),
        ];
        if let Some(c) = req.config {
            args.extend(["--config".into(), c.into()]);
        }
        if let Some(i) = req.image {
            args.extend(["--image".into(), i.into()]);
        }
        args.extend([
            "--wait".into(),
            go_duration(req.wait).into(),
            "--kubeconfig".into(),
            req.kubeconfig.into(),
        ]);
        self.call_with_lines(self.cmd(args), |l| on_line(KindLine::parse(l)))
            .await
            .map(drop)
    }

    /// Delete; a cluster that does not exist is success (kind's own behaviour).
    pub async fn delete(&self, name: &str, kubeconfig: Option<&Path>) -> anyhow::Result<()> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "delete".into(),
            "cluster".into(),
            "--name".into(),
            name.into(),
        ];
        if let Some(k) = kubeconfig {
            args.extend(["--kubeconfig".into(), k.into()]);
        }
        self.call(self.cmd(args)).await.map(drop)
    }

    /// `kind get kubeconfig --name N`: the kubeconfig text.
    pub async fn kubeconfig(&self, name: &str) -> anyhow::Result<String> {
        let out = self
            .call(
                self.cmd(["get", "kubeconfig", "--name", name])
                    .timeout(QUERY_TIMEOUT),
            )
            .await?;
        Ok(out.stdout)
    }

    /// `kind export kubeconfig --name N`: merge into `$KUBECONFIG` / `~/.kube/config`.
    pub async fn export_kubeconfig(&self, name: &str) -> anyhow::Result<()> {
        self.call(
            self.cmd(["export", "kubeconfig", "--name", name])
                .timeout(QUERY_TIMEOUT),
        )
        .await
        .map(drop)
    }

    /// `kind load image-archive FILE --name N`: import into every node.
    pub async fn load_archive(&self, archive: &Path, name: &str) -> anyhow::Result<()> {
        let args: Vec<std::ffi::OsString> = vec![
            "load".into(),
            "image-archive".into(),
            archive.into(),
            "--name".into(),
            name.into(),
        ];
        self.call(self.cmd(args)).await.map(drop)
    }
}

/// A Go `time.ParseDuration` string: `60s`, `1500ms`.
pub fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// kind exited non-zero. Shows the command, kind's `ERROR:` lines and `Command Output:`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct KindError {
    pub cmdline: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KindError {
    /// kind's `ERROR: …` lines.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("ERROR:"))
            .collect()
    }

    /// What follows `Command Output:` (the failed subprocess's output), up to a stack trace.
    pub fn command_output(&self) -> Option<String> {
        let start = self.stderr.find("Command Output:")?;
        let rest = &self.stderr[start + "Command Output:".len()..];
        let text: Vec<&str> = rest
            .lines()
            .take_while(|l| !l.starts_with("Stack Trace:"))
            .collect();
        let text = text.join("\n").trim().to_owned();
        (!text.is_empty()).then_some(text)
    }

    /// A failure that another attempt usually gets past.
    pub fn is_transient(&self) -> bool {
        TRANSIENT.iter().any(|p| self.stderr.contains(p))
    }

    /// kind refused because nodes of a cluster with that name exist.
    pub fn nodes_exist(&self) -> bool {
        self.stderr.contains(NODES_EXIST)
    }

    /// The name in `node(s) already exist for a cluster with the name "N"`.
    fn existing_name(&self) -> Option<&str> {
        let at = self.stderr.find(NODES_EXIST)? + NODES_EXIST.len();
        let rest = self.stderr[at..].trim_start().strip_prefix('"')?;
        rest.split('"').next()
    }
}

impl fmt::Display for KindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exit = match self.code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".to_owned(),
        };
        write!(f, "`{}` failed ({exit})", self.cmdline)?;
        let errors = self.errors();
        for e in &errors {
            write!(f, "\n  {e}")?;
        }
        if let Some(out) = self.command_output() {
            write!(f, "\n  Command Output:")?;
            for l in out.lines() {
                write!(f, "\n  | {l}")?;
            }
        }
        if errors.is_empty() {
            // Not kind's usual error shape: show the end of what it printed.
            let tail: Vec<&str> = self.stderr.lines().rev().take(15).collect();
            for l in tail.iter().rev() {
                write!(f, "\n  | {l}")?;
            }
        }
        if self.nodes_exist() {
            let name = self.existing_name().unwrap_or("<name>");
            write!(
                f,
                "\n  A kind cluster named \"{name}\" exists that this environment did not create. \
                 Adopt it with `kubetest up --reuse`, or delete it with \
                 `kind delete cluster --name {name}` and run `kubetest up` again."
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_forms() {
        assert_eq!(
            parse_version("kind v0.23.0 go1.21.10 linux/amd64\n").as_deref(),
            Some("0.23.0")
        );
        assert_eq!(parse_version("0.24.0\n").as_deref(), Some("0.24.0"));
        assert_eq!(
            parse_version("kind v0.24.0-alpha.45+a1b2c3d4e5f6a7 go1.22.5 darwin/arm64").as_deref(),
            Some("0.24.0-alpha.45+a1b2c3d4e5f6a7")
        );
        assert_eq!(parse_version("something else"), None);
    }

    #[test]
    fn provider_follows_the_engine() {
        let p = provider_for(Some(EngineKind::Podman), None);
        assert_eq!((p.value.as_deref(), p.warning), (Some("podman"), None));
        let p = provider_for(Some(EngineKind::Podman), Some("docker"));
        assert_eq!(p.value.as_deref(), Some("podman"));
        assert!(p
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("KIND_EXPERIMENTAL_PROVIDER=docker is set")));
        let p = provider_for(Some(EngineKind::Docker), None);
        assert_eq!(
            (p.value, p.warning),
            (None, None),
            "kind detects docker itself"
        );
        let p = provider_for(Some(EngineKind::Docker), Some("podman"));
        assert_eq!(p.value.as_deref(), Some("docker"));
        assert!(p.warning.is_some());
        let p = provider_for(None, Some("nerdctl"));
        assert_eq!((p.value.as_deref(), p.warning), (Some("nerdctl"), None));
    }

    fn err(stderr: &str) -> KindError {
        KindError {
            cmdline: "kind create cluster --name demo".into(),
            code: Some(1),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn error_text_carries_kinds_words() {
        // Shape of kind's output (cmd/kind/app/main.go: "ERROR: %v", then "\nCommand Output: %s").
        let e = err("Creating cluster \"demo\" ...\n \u{2713} Ensuring node image (kindest/node:v1.30.0) \u{1f5bc}\n \u{2717} Preparing nodes \u{1f4e6}\nERROR: failed to create cluster: command \"podman run --name demo-control-plane ...\" failed with error: exit status 126\n\nCommand Output: Error: OCI runtime error: crun: unknown version specified\n");
        let text = e.to_string();
        assert!(text.starts_with("`kind create cluster --name demo` failed (exit code 1)"));
        assert!(
            text.contains("\n  ERROR: failed to create cluster: command"),
            "{text}"
        );
        assert!(text.contains("\n  Command Output:\n  | Error: OCI runtime error: crun: unknown version specified"), "{text}");
        assert!(
            !text.contains("Preparing nodes"),
            "progress lines stay out: {text}"
        );
        assert!(e.is_transient());
        assert!(!e.nodes_exist());
    }

    #[test]
    fn node_exists_is_explained() {
        let e = err("ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"demo\"\n");
        assert!(e.nodes_exist() && !e.is_transient());
        let text = e.to_string();
        assert!(text.contains("kubetest up --reuse"), "{text}");
        assert!(text.contains("kind delete cluster --name demo"), "{text}");
    }

    #[test]
    fn unusual_failure_shows_the_tail() {
        let e = err("panic: runtime error\ngoroutine 1 [running]:\n");
        assert!(e.to_string().contains("| panic: runtime error"));
    }

    #[test]
    fn status_lines_become_steps() {
        // status.go without a terminal: " • %s  ...\n" at Start, " ✓ %s\n" / " ✗ %s\n" at End.
        assert_eq!(
            KindLine::parse(" \u{2022} Ensuring node image (kindest/node:v1.30.0) \u{1f5bc}  ..."),
            KindLine::Started("Ensuring node image (kindest/node:v1.30.0)")
        );
        assert_eq!(
            KindLine::parse(" \u{2713} Starting control-plane \u{1f579}\u{fe0f}"),
            KindLine::Done("Starting control-plane")
        );
        assert_eq!(
            KindLine::parse(" \u{2717} Preparing nodes \u{1f4e6}"),
            KindLine::Failed("Preparing nodes")
        );
        assert_eq!(
            KindLine::parse(
                " \u{2022} Waiting \u{2264} 1m0s for control-plane = Ready \u{23f3}  ..."
            ),
            KindLine::Started("Waiting \u{2264} 1m0s for control-plane = Ready")
        );
        assert_eq!(
            KindLine::parse("Creating cluster \"demo\" ..."),
            KindLine::Other("Creating cluster \"demo\" ...")
        );
    }

    #[test]
    fn durations_for_go() {
        assert_eq!(go_duration(Duration::from_secs(60)), "60s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }
}

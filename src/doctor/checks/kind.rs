//! kind: the binary and its version, the provider kind would pick vs the engine in use,
//! clusters and their node containers (including leftovers kind no longer sees).

use super::context::Context;
use super::result::{CheckResult, Findings};
use crate::config::Provider;
use crate::doctor::rules::CHECK_KIND;
use crate::engine::raw_api;
use crate::engine::EngineKind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Label kind puts on every node container: the cluster name.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// Label kind puts on every node container: `control-plane` or `worker`.
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";

/// The provider kind would use, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderChoice {
    /// `docker`, `podman` or `nerdctl`.
    pub provider: &'static str,
    pub why: String,
    /// Set when KIND_EXPERIMENTAL_PROVIDER holds a value kind ignores.
    pub ignored_env: Option<String>,
}

/// kind's provider selection (FACTS.md): KIND_EXPERIMENTAL_PROVIDER, else `docker -v` must
/// start with "Docker version" (a podman shim fails this), else nerdctl, else `podman -v`,
/// else kind falls back to docker.
pub fn provider_choice(
    env: Option<&str>,
    docker_v: Option<&str>,
    nerdctl: bool,
    podman_v: Option<&str>,
) -> ProviderChoice {
    let mut ignored_env = None;
    if let Some(v) = env.map(str::trim).filter(|v| !v.is_empty()) {
        let p = match v {
            "docker" => Some("docker"),
            "podman" => Some("podman"),
            "nerdctl" | "finch" | "nerdctl.lima" => Some("nerdctl"),
            _ => None,
        };
        if let Some(provider) = p {
            return ProviderChoice {
                provider,
                why: format!("KIND_EXPERIMENTAL_PROVIDER={v}"),
                ignored_env: None,
            };
        }
        ignored_env = Some(v.to_owned());
    }
    let (provider, why) = match docker_v.map(str::trim) {
        Some(d) if d.starts_with("Docker version") => {
            ("docker", format!("`docker -v` says \"{d}\""))
        }
        _ if nerdctl => (
            "nerdctl",
            "nerdctl is installed and `docker -v` is not Docker".to_owned(),
        ),
        _ if podman_v.is_some() => (
            "podman",
            format!(
                "`docker -v` is {} and `podman -v` says \"{}\"",
                match docker_v {
                    Some(d) => format!("\"{}\" (not Docker)", d.trim()),
                    None => "missing".to_owned(),
                },
                podman_v.unwrap_or("").trim()
            ),
        ),
        _ => (
            "docker",
            "no provider detected; kind falls back to docker".to_owned(),
        ),
    };
    ProviderChoice {
        provider,
        why,
        ignored_env,
    }
}

/// `kind get clusters` stdout: one name per line ("No kind clusters found." goes to stderr).
pub fn parse_clusters(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("No kind clusters"))
        .map(str::to_owned)
        .collect()
}

/// A kind node container on the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub cluster: String,
    pub role: String,
    pub state: String,
}

/// `GET /containers/json?all=1&filters={"label":["io.x-k8s.kind.cluster"]}` → nodes.
pub fn parse_nodes(list: &Value) -> Vec<Node> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|c| {
            let labels = c.get("Labels")?;
            let cluster = labels.get(CLUSTER_LABEL)?.as_str()?.to_owned();
            let name = c
                .get("Names")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .and_then(Value::as_str)
                .unwrap_or("?")
                .trim_start_matches('/')
                .to_owned();
            Some(Node {
                name,
                cluster,
                role: labels
                    .get(ROLE_LABEL)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                state: c
                    .get("State")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
            })
        })
        .collect()
}

/// The kind binary: where, and what `kind version` said.
#[derive(Debug, Clone, PartialEq)]
pub enum Binary {
    Missing,
    Found {
        path: PathBuf,
        version: Result<String, String>,
    },
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub binary: Binary,
    /// Whether the environment needs kind: `Some(true)` for `provider: kind`, `None` without a config.
    pub needed: Option<bool>,
    pub provider: ProviderChoice,
    pub docker_v: Option<String>,
    pub engine: Option<EngineKind>,
    /// `kind get clusters` with the engine's provider; `None` when not run.
    pub clusters: Option<Result<Vec<String>, String>>,
    pub nodes: Option<Vec<Node>>,
    pub os: &'static str,
    pub arch: &'static str,
}

pub fn install_hint(os: &str, arch: &str) -> Vec<String> {
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let os = if os == "macos" { "darwin" } else { os };
    vec![
        "go install sigs.k8s.io/kind@latest".to_owned(),
        format!("curl -Lo ./kind https://github.com/kubernetes-sigs/kind/releases/latest/download/kind-{os}-{arch} && chmod +x ./kind && sudo mv ./kind /usr/local/bin/kind"),
    ]
}

pub fn judge(o: &Observed) -> CheckResult {
    let mut f = Findings::new(CHECK_KIND);
    let version = match &o.binary {
        Binary::Missing => {
            let what = "kind is not installed (not on PATH)";
            match o.needed {
                Some(false) => f.see(format!(
                    "{what}; this environment does not use a kind cluster"
                )),
                Some(true) => f.fail(
                    format!("{what}; this environment's `cluster.provider: kind` needs it"),
                    install_hint(o.os, o.arch),
                ),
                None => f.warn(
                    format!("{what}; `cluster.provider: kind` (the default) needs it"),
                    install_hint(o.os, o.arch),
                ),
            }
            None
        }
        Binary::Found { path, version } => {
            match version {
                Ok(v) => f.see(format!("{}: {v}", path.display())),
                Err(e) => f.fail(
                    format!("`{} version` failed: {e}", path.display()),
                    ["kind version".to_owned()],
                ),
            }
            version.as_ref().ok().cloned()
        }
    };
    let p = &o.provider;
    if let Some(d) = &o.docker_v {
        if d.to_ascii_lowercase().contains("podman") {
            f.see(format!(
                "the docker CLI is a podman shim (`docker -v`: {}); kind does not pick the docker provider through it",
                d.trim()
            ));
        }
    }
    f.see(format!(
        "kind would use the {} provider: {}",
        p.provider, p.why
    ));
    if let Some(v) = &p.ignored_env {
        f.warn(
            format!("KIND_EXPERIMENTAL_PROVIDER={v} is not a provider kind knows (docker, podman, nerdctl); kind ignores it"),
            ["unset KIND_EXPERIMENTAL_PROVIDER".to_owned()],
        );
    }
    if let Some(e) = o.engine {
        f.see(format!("engine in use: {}", e.as_str()));
        if e.as_str() != p.provider {
            f.warn(
                format!(
                    "kind run by hand would use {} but the engine in use is {} (kubetest sets KIND_EXPERIMENTAL_PROVIDER={} for its own kind calls)",
                    p.provider,
                    e.as_str(),
                    e.as_str()
                ),
                [format!("export KIND_EXPERIMENTAL_PROVIDER={}", e.as_str())],
            );
        }
    }
    let mut by_cluster: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for n in o.nodes.iter().flatten() {
        by_cluster.entry(n.cluster.as_str()).or_default().push(n);
    }
    match &o.clusters {
        Some(Ok(c)) => f.see(format!(
            "kind get clusters: {}",
            if c.is_empty() {
                "none".to_owned()
            } else {
                c.join(", ")
            }
        )),
        Some(Err(e)) => f.see(format!("kind get clusters failed: {e}")),
        None => {}
    }
    let engine_cli = o.engine.map(|e| e.as_str()).unwrap_or("docker");
    for (cluster, nodes) in &by_cluster {
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        f.see(format!(
            "cluster {cluster}: nodes {}",
            nodes
                .iter()
                .map(|n| format!("{} ({}, {})", n.name, n.role, n.state))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let listed = match &o.clusters {
            Some(Ok(c)) => Some(c.iter().any(|c| c == cluster)),
            _ => None,
        };
        let no_control_plane = !nodes.iter().any(|n| n.role == "control-plane");
        let rm = format!("{engine_cli} rm -f {}", names.join(" "));
        if listed == Some(false) {
            f.warn(
                format!(
                    "leftover kind nodes of cluster {cluster} that kind does not list: {}",
                    names.join(", ")
                ),
                [rm],
            );
        } else if no_control_plane {
            f.warn(
                format!("cluster {cluster} has no control-plane node (left over from a failed create): {}", names.join(", ")),
                [
                    format!("KIND_EXPERIMENTAL_PROVIDER={engine_cli} kind delete cluster --name {cluster}"),
                    rm,
                ],
            );
        }
    }
    let clusters = by_cluster.len();
    f.finish(match version {
        Some(v) => format!(
            "{v}; provider {}; {clusters} cluster(s) on the engine",
            p.provider
        ),
        None => format!("kind not installed; {clusters} cluster(s) on the engine"),
    })
}

pub async fn check(ctx: &Context) -> CheckResult {
    let plan = ctx.plan();
    let needed = plan.map(|p| p.cluster.provider == Provider::Kind);
    let configured = plan.and_then(|p| p.cluster.kind_binary.clone());
    let bin = match configured {
        Some(p) => which::which(&p).ok(),
        None => which::which("kind").ok(),
    };
    let env = std::env::var("KIND_EXPERIMENTAL_PROVIDER").ok();
    let version = async {
        match &bin {
            Some(b) => Some(ctx.cmd(b).arg("version").run().await),
            None => None,
        }
    };
    let limit = ctx.settings.check_timeout * 3 / 4;
    let clusters = async {
        match (&bin, ctx.engine().await) {
            (Some(b), Some((_, facts))) => Some(
                ctx.cmd(b)
                    .args(["get", "clusters"])
                    .env("KIND_EXPERIMENTAL_PROVIDER", facts.kind.as_str())
                    .run()
                    .await
                    .map(|o| parse_clusters(&o.stdout))
                    .map_err(|e| e.to_string()),
            ),
            _ => None,
        }
    };
    let nodes = async {
        let (ep, _) = ctx.engine().await?;
        let filters = raw_api::query_escape(&format!(r#"{{"label":["{CLUSTER_LABEL}"]}}"#));
        match raw_api::get(
            &ep.url,
            &format!("/containers/json?all=1&filters={filters}"),
            limit,
        )
        .await
        {
            Ok((200, v)) => Some(parse_nodes(&v)),
            _ => None,
        }
    };
    // Every question at once: the check's time limit covers the slowest, not their sum.
    let (docker_cmd, podman_cmd) = (ctx.cmd("docker").arg("-v"), ctx.cmd("podman").arg("-v"));
    let (version, docker_v, podman_v, clusters, nodes) =
        tokio::join!(version, docker_cmd.run(), podman_cmd.run(), clusters, nodes);
    let hung: Vec<String> = [&docker_v, &podman_v]
        .into_iter()
        .filter_map(|r| match r {
            Err(e @ crate::cmd::CmdError::TimedOut { .. }) => Some(e.to_string()),
            _ => None,
        })
        .collect();
    let docker_v = docker_v.ok().map(|o| o.stdout.trim().to_owned());
    let podman_v = podman_v.ok().map(|o| o.stdout.trim().to_owned());
    let provider = provider_choice(
        env.as_deref(),
        docker_v.as_deref(),
        which::which("nerdctl").is_ok(),
        podman_v.as_deref(),
    );
    let binary = match (&bin, version) {
        (Some(path), Some(v)) => Binary::Found {
            path: path.clone(),
            version: v
                .map(|o| o.stdout.trim().to_owned())
                .map_err(|e| e.to_string()),
        },
        _ => Binary::Missing,
    };
    let engine = ctx.engine().await;
    let mut result = judge(&Observed {
        binary,
        needed,
        provider,
        docker_v,
        engine: engine.map(|(_, f)| f.kind),
        clusters,
        nodes,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    });
    result.evidence.extend(hung);
    result
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::*;

    fn observed() -> Observed {
        Observed {
            binary: Binary::Missing,
            needed: None,
            provider: provider_choice(
                None,
                Some("Docker version 28.2.2, build e6534b4"),
                false,
                Some("podman version 4.3.1"),
            ),
            docker_v: Some("Docker version 28.2.2, build e6534b4".into()),
            engine: Some(EngineKind::Podman),
            clusters: None,
            nodes: Some(Vec::new()),
            os: "linux",
            arch: "x86_64",
        }
    }

    #[test]
    fn provider_selection_follows_kind() {
        let p = provider_choice(
            None,
            Some("Docker version 20.10.24+dfsg1, build 297e128"),
            false,
            Some("podman version 4.3.1"),
        );
        assert_eq!(p.provider, "docker");
        // The podman-docker shim prints podman's version: kind skips docker.
        let p = provider_choice(
            None,
            Some("podman version 4.3.1"),
            false,
            Some("podman version 4.3.1"),
        );
        assert_eq!(p.provider, "podman");
        assert!(
            p.why.contains("\"podman version 4.3.1\" (not Docker)"),
            "{}",
            p.why
        );
        assert_eq!(
            provider_choice(Some("podman"), Some("Docker version 28"), false, None).provider,
            "podman"
        );
        assert_eq!(
            provider_choice(Some("finch"), None, false, None).provider,
            "nerdctl"
        );
        let p = provider_choice(Some("lxd"), None, false, None);
        assert_eq!(
            (p.provider, p.ignored_env.as_deref()),
            ("docker", Some("lxd"))
        );
        assert_eq!(provider_choice(None, None, true, None).provider, "nerdctl");
    }

    #[test]
    fn missing_kind_has_install_hint() {
        let r = judge(&observed());
        assert_eq!(r.status, Status::Warn);
        assert!(r.summary.contains("kind is not installed"), "{}", r.summary);
        assert!(
            r.summary
                .contains("kind run by hand would use docker but the engine in use is podman"),
            "{}",
            r.summary
        );
        assert!(
            r.fix
                .contains(&"go install sigs.k8s.io/kind@latest".to_owned()),
            "{:?}",
            r.fix
        );
        assert!(
            r.fix
                .iter()
                .any(|f| f.contains("releases/latest/download/kind-linux-amd64")),
            "{:?}",
            r.fix
        );
        let mut o = observed();
        o.needed = Some(true);
        o.engine = Some(EngineKind::Docker);
        let r = judge(&o);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.summary, "kind is not installed (not on PATH); this environment's `cluster.provider: kind` needs it");
        o.needed = Some(false);
        assert_eq!(judge(&o).status, Status::Pass);
        assert!(install_hint("macos", "aarch64")[1].contains("kind-darwin-arm64"));
    }

    #[test]
    fn clusters_and_leftover_nodes() {
        // `GET /containers/json` items of kind nodes (Docker API shape).
        let list = serde_json::json!([
            {"Id": "a1", "Names": ["/demo-control-plane"], "State": "running",
             "Labels": {"io.x-k8s.kind.cluster": "demo", "io.x-k8s.kind.role": "control-plane"}},
            {"Id": "b2", "Names": ["/old-worker"], "State": "exited",
             "Labels": {"io.x-k8s.kind.cluster": "old", "io.x-k8s.kind.role": "worker"}},
            {"Id": "c3", "Names": ["/unrelated"], "State": "running", "Labels": {}}
        ]);
        let nodes = parse_nodes(&list);
        assert_eq!(nodes.len(), 2);
        assert_eq!(parse_clusters("demo\n"), ["demo"]);
        assert!(parse_clusters("").is_empty());
        let mut o = observed();
        o.engine = Some(EngineKind::Docker);
        o.binary = Binary::Found {
            path: "/usr/local/bin/kind".into(),
            version: Ok("kind v0.27.0 go1.23.6 linux/amd64".into()),
        };
        o.clusters = Some(Ok(vec!["demo".into()]));
        o.nodes = Some(nodes);
        let r = judge(&o);
        assert_eq!(r.status, Status::Warn, "{r:?}");
        assert_eq!(
            r.summary,
            "leftover kind nodes of cluster old that kind does not list: old-worker"
        );
        assert_eq!(r.fix, ["docker rm -f old-worker"]);
        assert!(r.evidence.contains(
            &"cluster demo: nodes demo-control-plane (control-plane, running)".to_owned()
        ));
        // Without kind's list, a cluster without a control plane is still a leftover.
        o.clusters = None;
        let r = judge(&o);
        assert!(
            r.summary
                .starts_with("cluster old has no control-plane node"),
            "{}",
            r.summary
        );
        o.nodes = Some(Vec::new());
        let r = judge(&o);
        assert_eq!(r.status, Status::Pass);
        assert_eq!(
            r.summary,
            "kind v0.27.0 go1.23.6 linux/amd64; provider docker; 0 cluster(s) on the engine"
        );
    }
}

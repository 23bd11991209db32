//! state: this environment's state file against the engine — recorded things that no longer
//! exist, and kubetest-labelled containers that no state file records.

use super::context::{ConfigStatus, Context};
use super::kind::{parse_nodes, CLUSTER_LABEL};
use super::result::{CheckResult, Findings};
use super::CHECK_STATE;
use crate::engine::raw_api;
use crate::state::{State, StateStore};
use serde_json::Value;
use std::time::Duration;

pub use crate::engine::containers::ENV_LABEL;

/// What exists on the engine, for what the state records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reality {
    /// `docker 20.10.24 at unix://…`
    pub engine: String,
    pub missing_containers: Vec<String>,
    pub missing_networks: Vec<String>,
    pub missing_images: Vec<String>,
    /// Node containers of the recorded kind cluster; `None` when no kind cluster is recorded.
    pub cluster_nodes: Option<Vec<String>>,
    /// Containers labelled `dev.kubetest.env=<environment>`.
    pub labelled: Vec<String>,
}

pub fn judge(environment: &str, state: Option<&State>, r: &Reality, cli: &str) -> CheckResult {
    let mut f = Findings::new(CHECK_STATE);
    f.see(format!("engine checked: {}", r.engine));
    let recorded: Vec<&str> = state
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let unrecorded: Vec<&str> = r
        .labelled
        .iter()
        .map(String::as_str)
        .filter(|n| !recorded.contains(n))
        .collect();
    if !unrecorded.is_empty() {
        f.warn(
            format!(
                "containers labelled {ENV_LABEL}={environment} exist that the state file does not record: {}",
                unrecorded.join(", ")
            ),
            [format!("{cli} rm -f {}", unrecorded.join(" "))],
        );
    }
    let Some(s) = state else {
        return f.finish(format!(
            "environment {environment} is not up (no state file) and nothing of it exists"
        ));
    };
    if let Some(e) = &s.engine {
        f.see(format!(
            "state recorded on {} {} at {}",
            e.kind, e.version, e.endpoint
        ));
    }
    f.see(format!(
        "recorded: {} image(s), {} container(s), {} network(s), cluster {}",
        s.images.len(),
        s.containers.len(),
        s.networks.len(),
        s.cluster
            .as_ref()
            .map(|c| c.name.as_str())
            .unwrap_or("none")
    ));
    let down = ["kubetest down   # removes what is left and forgets the rest".to_owned()];
    if !r.missing_containers.is_empty() {
        f.warn(
            format!(
                "recorded containers no longer exist: {}",
                r.missing_containers.join(", ")
            ),
            down.clone(),
        );
    }
    if !r.missing_networks.is_empty() {
        f.warn(
            format!(
                "recorded networks no longer exist: {}",
                r.missing_networks.join(", ")
            ),
            down.clone(),
        );
    }
    if let (Some(c), Some(nodes)) = (&s.cluster, &r.cluster_nodes) {
        if nodes.is_empty() {
            f.warn(
                format!(
                    "the recorded kind cluster {} has no node containers any more",
                    c.name
                ),
                down.clone(),
            );
        } else {
            f.see(format!("cluster {} nodes: {}", c.name, nodes.join(", ")));
        }
    }
    for i in &r.missing_images {
        f.see(format!(
            "recorded image {i} no longer exists (`kubetest up` rebuilds it)"
        ));
    }
    f.finish(format!(
        "environment {environment}: everything recorded exists ({} container(s))",
        s.containers.len()
    ))
}

async fn exists(url: &str, path: String, limit: Duration) -> Result<bool, String> {
    match raw_api::get(url, &path, limit).await? {
        (200, _) => Ok(true),
        (404, _) => Ok(false),
        (code, body) => Err(format!("GET {path}: HTTP {code}: {body}")),
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.get("Names")?
                .as_array()?
                .first()?
                .as_str()
                .map(|n| n.trim_start_matches('/').to_owned())
        })
        .collect()
}

pub async fn check(ctx: &Context) -> CheckResult {
    let mut f = Findings::new(CHECK_STATE);
    let plan = match &ctx.config {
        ConfigStatus::Missing(p) => {
            f.see(format!("no environment file at {}", p.display()));
            return f.finish("no kubetest.yaml here (-f names one); no environment to compare");
        }
        ConfigStatus::Invalid(p, e) => {
            f.warn(
                format!("the environment file {} is invalid: {e}", p.display()),
                [format!("kubetest -f {} status", p.display())],
            );
            return f.finish("");
        }
        ConfigStatus::Loaded(p) => p,
    };
    let store = StateStore::new(&plan.state_dir);
    let state = match store.load() {
        Ok(s) => s,
        Err(e) => {
            f.fail(
                format!("{e:#}"),
                [format!(
                    "mv {} {}.broken && kubetest down",
                    store.path().display(),
                    store.path().display()
                )],
            );
            return f.finish("");
        }
    };
    let endpoints = ctx.endpoints().await;
    let recorded = state
        .as_ref()
        .and_then(|s| s.engine.as_ref())
        .and_then(|e| {
            endpoints
                .iter()
                .find(|p| p.endpoint.url == e.endpoint && p.answer.is_ok())
                .and_then(|p| p.answer.as_ref().ok().map(|f| (&p.endpoint, f)))
        });
    let Some((ep, facts)) = recorded.or(ctx.engine().await) else {
        f.warn(
            "no engine answered; the state was not compared (see engine-endpoints)",
            Vec::<String>::new(),
        );
        return f.finish("");
    };
    let limit = ctx.settings.check_timeout * 3 / 4;
    let url = ep.url.as_str();
    let env = &plan.environment;
    let mut reality = Reality {
        engine: format!("{} at {}", facts.describe(), url),
        ..Reality::default()
    };
    let filter = |label: String| raw_api::query_escape(&format!(r#"{{"label":["{label}"]}}"#));
    let labelled = format!(
        "/containers/json?all=1&filters={}",
        filter(format!("{ENV_LABEL}={env}"))
    );
    let errors = match raw_api::get(url, &labelled, limit).await {
        Ok((200, v)) => {
            reality.labelled = names(&v);
            Vec::new()
        }
        Ok((code, v)) => vec![format!("listing labelled containers: HTTP {code}: {v}")],
        Err(e) => vec![e],
    };
    let mut errors = errors;
    if let Some(s) = &state {
        let containers = futures::future::join_all(
            s.containers
                .iter()
                .map(|c| exists(url, format!("/containers/{}/json", c.name), limit)),
        );
        let networks = futures::future::join_all(
            s.networks
                .iter()
                .map(|n| exists(url, format!("/networks/{}", n.name), limit)),
        );
        let images = futures::future::join_all(
            s.images
                .iter()
                .map(|i| exists(url, format!("/images/{}/json", i.name), limit)),
        );
        let (containers, networks, images) = tokio::join!(containers, networks, images);
        let mut collect =
            |results: Vec<Result<bool, String>>, names: Vec<String>, into: &mut Vec<String>| {
                for (r, n) in results.into_iter().zip(names) {
                    match r {
                        Ok(true) => {}
                        Ok(false) => into.push(n),
                        Err(e) => errors.push(e),
                    }
                }
            };
        collect(
            containers,
            s.containers.iter().map(|c| c.name.clone()).collect(),
            &mut reality.missing_containers,
        );
        collect(
            networks,
            s.networks.iter().map(|n| n.name.clone()).collect(),
            &mut reality.missing_networks,
        );
        collect(
            images,
            s.images.iter().map(|i| i.name.clone()).collect(),
            &mut reality.missing_images,
        );
        if let Some(c) = s.cluster.as_ref().filter(|c| c.provider == "kind") {
            let path = format!(
                "/containers/json?all=1&filters={}",
                filter(format!("{CLUSTER_LABEL}={}", c.name))
            );
            match raw_api::get(url, &path, limit).await {
                Ok((200, v)) => {
                    reality.cluster_nodes =
                        Some(parse_nodes(&v).into_iter().map(|n| n.name).collect())
                }
                Ok((code, v)) => errors.push(format!("listing kind nodes: HTTP {code}: {v}")),
                Err(e) => errors.push(e),
            }
        }
    }
    let mut r = judge(env, state.as_ref(), &reality, facts.kind.as_str());
    if !errors.is_empty() {
        r.evidence
            .extend(errors.iter().map(|e| format!("not compared: {e}")));
        if r.status == super::Status::Pass {
            r.status = super::Status::Warn;
            r.summary = format!("the engine did not answer every question: {}", errors[0]);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::*;
    use crate::state::{ClusterRecord, ContainerRecord, EngineRecord};

    fn state() -> State {
        let mut s = State::new("demo");
        s.engine = Some(EngineRecord {
            kind: "podman".into(),
            endpoint: "unix:///run/podman/podman.sock".into(),
            version: "4.3.1".into(),
            ..EngineRecord::default()
        });
        for (name, dep) in [
            ("kubetest-demo-postgres", "postgres"),
            ("kubetest-demo-redis", "redis"),
        ] {
            s.containers.push(ContainerRecord {
                name: name.into(),
                id: format!("{dep}-id"),
                dependency: dep.into(),
                config_hash: "h".into(),
                ports: Default::default(),
                address: None,
                health: Vec::new(),
            });
        }
        s.cluster = Some(ClusterRecord {
            provider: "kind".into(),
            name: "demo".into(),
            created: true,
            kubeconfig: None,
            context: None,
        });
        s
    }

    #[test]
    fn consistent_state_passes() {
        let r = Reality {
            engine: "podman 4.3.1".into(),
            cluster_nodes: Some(vec!["demo-control-plane".into()]),
            labelled: vec![
                "kubetest-demo-postgres".into(),
                "kubetest-demo-redis".into(),
            ],
            ..Reality::default()
        };
        let res = judge("demo", Some(&state()), &r, "podman");
        assert_eq!(res.status, Status::Pass, "{res:?}");
        assert_eq!(
            res.summary,
            "environment demo: everything recorded exists (2 container(s))"
        );
    }

    #[test]
    fn recorded_but_gone_and_unrecorded_but_present() {
        let r = Reality {
            engine: "podman 4.3.1".into(),
            missing_containers: vec!["kubetest-demo-redis".into()],
            cluster_nodes: Some(Vec::new()),
            labelled: vec!["kubetest-demo-postgres".into(), "kubetest-demo-old".into()],
            missing_images: vec!["localhost/demo:dev".into()],
            ..Reality::default()
        };
        let res = judge("demo", Some(&state()), &r, "podman");
        assert_eq!(res.status, Status::Warn);
        assert!(
            res.summary
                .contains("the state file does not record: kubetest-demo-old"),
            "{}",
            res.summary
        );
        assert!(res
            .summary
            .contains("recorded containers no longer exist: kubetest-demo-redis"));
        assert!(res
            .summary
            .contains("recorded kind cluster demo has no node containers"));
        assert_eq!(res.fix[0], "podman rm -f kubetest-demo-old");
        assert!(res.fix[1].starts_with("kubetest down"));
        assert!(res
            .evidence
            .iter()
            .any(|e| e.starts_with("recorded image localhost/demo:dev no longer exists")));
    }

    #[test]
    fn no_state_file() {
        let r = Reality::default();
        assert_eq!(judge("demo", None, &r, "docker").status, Status::Pass);
        let r = Reality {
            labelled: vec!["kubetest-demo-postgres".into()],
            ..Reality::default()
        };
        let res = judge("demo", None, &r, "docker");
        assert_eq!(res.status, Status::Warn);
        assert_eq!(res.fix, ["docker rm -f kubetest-demo-postgres"]);
    }
}

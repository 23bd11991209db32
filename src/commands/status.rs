//! `kubetest status`: what the state file records, and whether each thing still exists and
//! works — asked of the engine and the cluster, not assumed. Exit 0 when everything is as
//! recorded, 3 when something is missing or broken (each one named).

use crate::config::LoadedConfig;
use crate::deps::health;
use crate::engine::containers;
use crate::engine::images::{self, short_id as short};
use crate::engine::{self, Engine};
use crate::exit;
use crate::k8s::client::{connect, ClusterAccess};
use crate::plan::Plan;
use crate::report::{OutputMode, Palette};
use crate::state::{State, StateStore};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use serde::Serialize;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

/// Longest wait for one answer of the engine or the cluster.
const CHECK_LIMIT: Duration = Duration::from_secs(15);

/// How one recorded thing is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Exists and works as recorded.
    Ok,
    /// No longer exists.
    Missing,
    /// Exists but does not work (stopped, unhealthy, not answering).
    Broken,
    /// Could not be checked (what it depends on is missing or broken).
    Unchecked,
}

/// One recorded thing and how it is now.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// `engine`, `image`, `network`, `container`, `local registry`, `cluster`, `kubeconfig`,
    /// `namespace`.
    pub kind: &'static str,
    pub name: String,
    pub health: Health,
    pub detail: String,
}

/// The whole answer; `--output json` prints it as one object.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub environment: String,
    pub state_file: String,
    /// A state file exists (`up` ran).
    pub up: bool,
    /// Everything recorded exists and works.
    pub ok: bool,
    /// Names of the things missing or broken, as `kind name`.
    pub problems: Vec<String>,
    pub items: Vec<Item>,
}

pub async fn status(
    loaded: &LoadedConfig,
    output: OutputMode,
    quiet: bool,
    palette: &Palette,
) -> anyhow::Result<i32> {
    let plan = Plan::from_config(loaded);
    let store = StateStore::new(&plan.state_dir);
    let state = store.load()?;
    let mut items = Vec::new();
    if let Some(state) = &state {
        check_all(&plan, state, &mut items).await;
    }
    let problems: Vec<String> = items
        .iter()
        .filter(|i| matches!(i.health, Health::Missing | Health::Broken))
        .map(|i| format!("{} {}", i.kind, i.name))
        .collect();
    let report = StatusReport {
        environment: plan.environment.clone(),
        state_file: store.path().display().to_string(),
        up: state.is_some(),
        ok: problems.is_empty(),
        problems,
        items,
    };
    let text = match output {
        OutputMode::Json => serde_json::to_string(&report)? + "\n",
        _ => render(&report, quiet, palette),
    };
    let text = crate::secrets::mask(&text);
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is not a failure of the environment.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(if report.ok { exit::OK } else { exit::INFRA })
}

/// Ask the engine and the cluster about everything the state records.
pub async fn check_all(plan: &Plan, state: &State, items: &mut Vec<Item>) {
    let engine = check_engine(state, items).await;
    check_images(state, engine.as_ref(), items).await;
    check_networks(state, engine.as_ref(), items).await;
    check_containers(plan, state, engine.as_ref(), items).await;
    check_attachments(state, engine.as_ref(), items).await;
    check_local_registry(state, engine.as_ref(), items).await;
    check_cluster(plan, state, items).await;
}

/// The registry container of `cluster.load: registry`: still running on its port?
async fn check_local_registry(state: &State, engine: Option<&Engine>, items: &mut Vec<Item>) {
    let Some(r) = &state.local_registry else {
        return;
    };
    let Some(live) = engine else {
        unchecked("local registry", &r.name, items);
        return;
    };
    let (h, d) = match limited(containers::inspect(&live.docker, &r.name, "")).await {
        Some(Ok(Some(info))) if info.running => (
            Health::Ok,
            format!(
                "running, localhost:{} (127.0.0.1:{}) for the kind nodes",
                r.port, r.port
            ),
        ),
        Some(Ok(Some(info))) => (
            Health::Broken,
            format!("{}; `kubetest up` starts it again", info.status),
        ),
        Some(Ok(None)) => (
            Health::Missing,
            "no longer exists; `kubetest up` recreates it (pods pull from it)".to_owned(),
        ),
        Some(Err(e)) => (Health::Broken, format!("{e:#}")),
        None => (
            Health::Broken,
            "the engine did not answer within 15s".to_owned(),
        ),
    };
    items.push(item("local registry", r.name.clone(), h, d));
}

/// kind's nodes `up` attached to the environment's network: still attached?
async fn check_attachments(state: &State, engine: Option<&Engine>, items: &mut Vec<Item>) {
    for a in &state.attachments {
        let name = format!("{} on {}", a.container, a.network);
        let Some(live) = engine else {
            unchecked("attachment", &name, items);
            continue;
        };
        let inspected = limited(live.docker.inspect_container(
            &a.container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        ))
        .await;
        let (health, detail) = match inspected {
            Some(Ok(c)) => {
                let on = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .is_some_and(|n| n.contains_key(&a.network));
                if on {
                    (Health::Ok, "attached".to_owned())
                } else {
                    (
                        Health::Missing,
                        "no longer attached; `kubetest up` attaches it again".to_owned(),
                    )
                }
            }
            Some(Err(e)) if e.to_string().contains("404") => (
                Health::Missing,
                "the node container no longer exists".to_owned(),
            ),
            Some(Err(e)) => (Health::Broken, e.to_string()),
            None => (
                Health::Broken,
                "the engine did not answer within 15s".to_owned(),
            ),
        };
        items.push(item("attachment", name, health, detail));
    }
}

async fn limited<T>(f: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(CHECK_LIMIT, f).await.ok()
}

fn item(
    kind: &'static str,
    name: impl Into<String>,
    health: Health,
    detail: impl Into<String>,
) -> Item {
    Item {
        kind,
        name: name.into(),
        health,
        detail: detail.into(),
    }
}

async fn check_engine(state: &State, items: &mut Vec<Item>) -> Option<Engine> {
    let rec = state.engine.as_ref()?;
    let name = format!("{} at {}", rec.kind, rec.endpoint);
    match limited(engine::connect_recorded(rec)).await {
        Some(Ok(live)) => {
            items.push(item(
                "engine",
                name,
                Health::Ok,
                format!("answers: {}", live.describe()),
            ));
            Some(live)
        }
        Some(Err(why)) => {
            items.push(item(
                "engine",
                name,
                Health::Broken,
                format!("does not answer: {why}"),
            ));
            None
        }
        None => {
            items.push(item(
                "engine",
                name,
                Health::Broken,
                "did not answer within 15s",
            ));
            None
        }
    }
}

fn unchecked(kind: &'static str, name: &str, items: &mut Vec<Item>) {
    items.push(item(
        kind,
        name,
        Health::Unchecked,
        "not checked: the engine does not answer",
    ));
}

async fn check_images(state: &State, engine: Option<&Engine>, items: &mut Vec<Item>) {
    for i in &state.images {
        let Some(live) = engine else {
            unchecked("image", &i.name, items);
            continue;
        };
        let (health, detail) = match limited(images::inspect(&live.docker, &i.name)).await {
            Some(Ok(Some(local))) if local.id == i.id => {
                (Health::Ok, format!("present ({})", short(&i.id)))
            }
            Some(Ok(Some(local))) => (
                Health::Broken,
                format!(
                    "the tag now points at {} instead of {}; `kubetest up` rebuilds and reloads it",
                    short(&local.id),
                    short(&i.id)
                ),
            ),
            Some(Ok(None)) => (
                Health::Missing,
                "no longer in the engine; `kubetest up` rebuilds it".into(),
            ),
            Some(Err(e)) => (Health::Broken, format!("cannot inspect it: {e:#}")),
            None => (
                Health::Broken,
                "the engine did not answer within 15s".into(),
            ),
        };
        items.push(item("image", &i.name, health, detail));
    }
}

async fn check_networks(state: &State, engine: Option<&Engine>, items: &mut Vec<Item>) {
    for n in &state.networks {
        let Some(live) = engine else {
            unchecked("network", &n.name, items);
            continue;
        };
        let (health, detail) = match limited(containers::network_id(&live.docker, &n.id)).await {
            Some(Ok(Some(_))) => (Health::Ok, format!("exists ({})", short(&n.id))),
            Some(Ok(None)) => (
                Health::Missing,
                "no longer exists; `kubetest up` recreates it".into(),
            ),
            Some(Err(e)) => (Health::Broken, format!("{e:#}")),
            None => (
                Health::Broken,
                "the engine did not answer within 15s".into(),
            ),
        };
        items.push(item("network", &n.name, health, detail));
    }
}

async fn check_containers(
    plan: &Plan,
    state: &State,
    engine: Option<&Engine>,
    items: &mut Vec<Item>,
) {
    let network = state
        .networks
        .first()
        .map(|n| n.name.as_str())
        .unwrap_or("");
    for c in &state.containers {
        let name = format!("{} ({})", c.name, c.dependency);
        let Some(live) = engine else {
            unchecked("container", &name, items);
            continue;
        };
        let dep = plan.dependencies.iter().find(|d| d.name == c.dependency);
        let once = dep.is_some_and(|d| d.spec.once);
        let info = match limited(containers::inspect(&live.docker, &c.id, network)).await {
            Some(Ok(Some(info))) => info,
            Some(Ok(None)) => {
                items.push(item(
                    "container",
                    name,
                    Health::Missing,
                    "no longer exists; `kubetest up` recreates it",
                ));
                continue;
            }
            Some(Err(e)) => {
                items.push(item("container", name, Health::Broken, format!("{e:#}")));
                continue;
            }
            None => {
                items.push(item(
                    "container",
                    name,
                    Health::Broken,
                    "the engine did not answer within 15s",
                ));
                continue;
            }
        };
        let ports: Vec<String> = info
            .ports
            .iter()
            .map(|(k, v)| format!("{k} → 127.0.0.1:{v}"))
            .collect();
        let ports = if ports.is_empty() {
            String::new()
        } else {
            format!(" ({})", ports.join(", "))
        };
        if once {
            let (h, d) = match info.exit_code {
                Some(0) => (Health::Ok, "one-shot job, exited 0".to_owned()),
                Some(code) => (
                    Health::Broken,
                    format!("one-shot job, exited with code {code}"),
                ),
                None if info.running => (Health::Ok, "one-shot job, still running".to_owned()),
                None => (Health::Broken, format!("one-shot job, {}", info.status)),
            };
            items.push(item("container", name, h, d));
            continue;
        }
        if !info.running {
            let how = match info.exit_code {
                Some(code) => format!("{}, exit code {code}", info.status),
                None => info.status.clone(),
            };
            items.push(item(
                "container",
                name,
                Health::Broken,
                format!(
                    "not running ({how}); `kubetest logs {}` shows why",
                    c.dependency
                ),
            ));
            continue;
        }
        let probe = dep.and_then(|d| d.spec.health.as_ref()).and_then(|h| {
            health::probe_for(h, &info.ports, info.address.as_deref())
                .ok()
                .flatten()
        });
        let (h, d) = match probe {
            None => (Health::Ok, format!("running{ports}")),
            Some(p) => {
                match health::check(&live.docker, &info.id, &p, Duration::from_secs(5)).await {
                    Ok(saw) => (Health::Ok, format!("running, healthy: {saw}{ports}")),
                    Err(saw) => (
                        Health::Broken,
                        format!("running but unhealthy: {} saw {saw}{ports}", p.describe()),
                    ),
                }
            }
        };
        items.push(item("container", name, h, d));
    }
}

async fn check_cluster(plan: &Plan, state: &State, items: &mut Vec<Item>) {
    let Some(c) = &state.cluster else {
        return;
    };
    let name = format!("{} ({})", c.name, c.provider);
    if let Some(k) = &c.kubeconfig {
        if !k.is_file() {
            items.push(item(
                "kubeconfig",
                k.display().to_string(),
                Health::Missing,
                "recorded but missing; `kubetest up` writes it again",
            ));
            items.push(item(
                "cluster",
                name,
                Health::Unchecked,
                "not checked: its kubeconfig is missing",
            ));
            return;
        }
        items.push(item(
            "kubeconfig",
            k.display().to_string(),
            Health::Ok,
            "present",
        ));
    }
    let access = ClusterAccess::from_state_or_plan(state, &plan.cluster);
    let client = match connect(&access).await {
        Ok(client) => client,
        Err(e) => {
            items.push(item("cluster", name, Health::Broken, format!("{e:#}")));
            return;
        }
    };
    match limited(client.apiserver_version()).await {
        Some(Ok(v)) => items.push(item(
            "cluster",
            name,
            Health::Ok,
            format!("API server {} answers", v.git_version),
        )),
        Some(Err(e)) => {
            items.push(item(
                "cluster",
                name,
                Health::Broken,
                format!(
                    "the API server does not answer ({}): {e}",
                    access.describe()
                ),
            ));
            return;
        }
        None => {
            items.push(item(
                "cluster",
                name,
                Health::Broken,
                "the API server did not answer within 15s",
            ));
            return;
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in crate::bundle::deploy_namespaces(plan) {
        let (h, d) = match limited(namespaces.get_opt(&ns)).await {
            Some(Ok(Some(n))) => match n.status.and_then(|s| s.phase).as_deref() {
                Some("Terminating") => (Health::Broken, "being deleted (Terminating)".to_owned()),
                phase => (Health::Ok, phase.unwrap_or("Active").to_owned()),
            },
            Some(Ok(None)) => (
                Health::Missing,
                "no longer exists; `kubetest up` applies the manifests again".into(),
            ),
            Some(Err(e)) => (Health::Broken, crate::k8s::apply::server_message(&e)),
            None => (
                Health::Broken,
                "the API server did not answer within 15s".into(),
            ),
        };
        items.push(item("namespace", ns, h, d));
    }
    // What the connect phase made for pods to reach the dependencies.
    for rec in &state.cluster_objects {
        let (h, d) = match limited(crate::k8s::dep_services::exists(&client, rec)).await {
            Some(Ok(true)) => (Health::Ok, "exists".to_owned()),
            Some(Ok(false)) => (
                Health::Missing,
                "no longer exists; `kubetest up` makes it again".to_owned(),
            ),
            Some(Err(e)) => (Health::Broken, e.to_string()),
            None => (
                Health::Broken,
                "the API server did not answer within 15s".to_owned(),
            ),
        };
        items.push(item("cluster object", rec.describe(), h, d));
    }
}

/// The human answer: one line per recorded thing, then a verdict naming each problem.
/// The human report; `quiet` (`-q`) leaves out what is fine and keeps problems and the verdict.
pub fn render(r: &StatusReport, quiet: bool, palette: &Palette) -> String {
    let mut out = format!("environment `{}`: ", r.environment);
    if !r.up {
        out.push_str(&format!("not up (no {})\n", r.state_file));
        return out;
    }
    out.push_str(&format!("state {}\n", r.state_file));
    if r.items.is_empty() {
        out.push_str("  nothing recorded\n");
    }
    let width = r
        .items
        .iter()
        .map(|i| i.kind.len() + 1 + i.name.len())
        .max()
        .unwrap_or(0);
    for i in r
        .items
        .iter()
        .filter(|i| !(quiet && i.health == Health::Ok))
    {
        let mark = match i.health {
            Health::Ok => palette.ok.apply_to("ok     "),
            Health::Missing | Health::Broken => {
                palette.fail.apply_to(if i.health == Health::Missing {
                    "MISSING"
                } else {
                    "BROKEN "
                })
            }
            Health::Unchecked => palette.warn.apply_to("?      "),
        };
        let what = format!("{} {}", i.kind, i.name);
        out.push_str(&format!("  {mark} {what:width$}  {}\n", i.detail));
    }
    if r.ok {
        out.push_str("everything recorded exists and works\n");
    } else {
        out.push_str(&format!(
            "{} problem(s): {}; `kubetest up` repairs the environment\n",
            r.problems.len(),
            r.problems.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_problem_and_counts_them() {
        let r = StatusReport {
            environment: "demo".into(),
            state_file: ".kubetest/state.json".into(),
            up: true,
            ok: false,
            problems: vec!["container kubetest-demo-db (db)".into()],
            items: vec![
                item("network", "kubetest-demo", Health::Ok, "exists"),
                item(
                    "container",
                    "kubetest-demo-db (db)",
                    Health::Missing,
                    "no longer exists",
                ),
            ],
        };
        let text = render(&r, false, &Palette::new(false));
        assert!(
            text.contains("  MISSING container kubetest-demo-db (db)  no longer exists\n"),
            "{text}"
        );
        assert!(text.contains("network kubetest-demo"), "{text}");
        // `-q`: only the problem and the verdict.
        let quiet = render(&r, true, &Palette::new(false));
        assert!(!quiet.contains("network kubetest-demo"), "{quiet}");
        assert!(quiet.contains("MISSING container"), "{quiet}");
        assert!(quiet.contains("1 problem(s)"), "{quiet}");
        assert!(
            text.contains("1 problem(s): container kubetest-demo-db (db);"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["items"][1]["health"], "missing");
        assert_eq!(json["ok"], false);
    }
}

//! What a person needs when pods did not become ready: per pod its phase, conditions, each
//! container's state, the last events and the last log lines of the containers not ready.

use super::ready::summary;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use std::fmt::Write;

/// How many of the pod's events and log lines to show.
pub const EVENTS: usize = 10;
pub const LOG_LINES: i64 = 20;

/// The diagnostics of every pod, as text (also what is saved as an artifact).
pub async fn pods_report(client: &kube::Client, pods: &[Pod]) -> String {
    let reports = futures::future::join_all(pods.iter().map(|p| pod_report(client, p))).await;
    reports.join("\n")
}

/// The diagnostics of one pod; API errors are written in place of what they hid.
pub async fn pod_report(client: &kube::Client, pod: &Pod) -> String {
    pod_report_with(client, pod, LOG_LINES).await.text
}

/// The log of one container instance of a pod, as fetched for a report.
#[derive(Debug, Clone)]
pub struct ContainerLog {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The instance before the last restart.
    pub previous: bool,
    /// The last lines asked for, or why the API gave none.
    pub text: Result<String, String>,
}

/// A pod's diagnostics: the text (with the last [`LOG_LINES`] lines of each log inline) and
/// the last `tail` lines of every not-ready container and of its previous instance.
#[derive(Debug, Clone)]
pub struct PodReport {
    pub text: String,
    pub logs: Vec<ContainerLog>,
}

/// [`pod_report`], fetching the last `tail` log lines of each not-ready container.
pub async fn pod_report_with(client: &kube::Client, pod: &Pod, tail: i64) -> PodReport {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let mut out = render_status(pod);
    let events = Api::<Event>::namespaced(client.clone(), ns);
    let mut fields = format!("involvedObject.kind=Pod,involvedObject.name={name}");
    if let Some(uid) = &pod.metadata.uid {
        fields.push_str(&format!(",involvedObject.uid={uid}"));
    }
    match events.list(&ListParams::default().fields(&fields)).await {
        Ok(list) => out.push_str(&render_events(list.items)),
        Err(e) => {
            let _ = writeln!(out, "  events: cannot list them: {e}");
        }
    }
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    let mut logs = Vec::new();
    for cs in not_ready_containers(pod) {
        let mut instances = vec![false];
        if cs.restart_count > 0 {
            instances.push(true);
        }
        for previous in instances {
            let params = LogParams {
                container: Some(cs.name.clone()),
                previous,
                tail_lines: Some(tail.max(LOG_LINES)),
                ..LogParams::default()
            };
            let which = if previous {
                format!("logs of {}, previous instance", cs.name)
            } else {
                format!("logs of {}", cs.name)
            };
            let text = match pods.logs(name, &params).await {
                Ok(text) => Ok(text),
                Err(e) => Err(super::apply::server_message(&e)),
            };
            match &text {
                Ok(text) if text.trim().is_empty() => {
                    let _ = writeln!(out, "  {which}: (empty)");
                }
                Ok(text) => {
                    let _ = writeln!(out, "  {which} (last {LOG_LINES} lines):");
                    for line in last_lines(text, LOG_LINES as usize) {
                        let _ = writeln!(out, "    | {line}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  {which}: none ({e})");
                }
            }
            logs.push(ContainerLog {
                namespace: ns.to_owned(),
                pod: name.to_owned(),
                container: cs.name.clone(),
                previous,
                text,
            });
        }
    }
    PodReport { text: out, logs }
}

fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

fn not_ready_containers(pod: &Pod) -> Vec<&ContainerStatus> {
    let s = pod.status.as_ref();
    let init = s
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_none_or(|t| t.exit_code != 0)
        });
    let main = s
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| !c.ready);
    init.chain(main).collect()
}

/// Phase, conditions and container states (no API calls).
pub fn render_status(pod: &Pod) -> String {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let status = pod.status.as_ref();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pod {ns}/{name}: phase {} — {}",
        status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending"),
        summary(pod)
    );
    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        let _ = writeln!(out, "  node: {node}");
    }
    let _ = writeln!(out, "  conditions:");
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    if conditions.is_empty() {
        let _ = writeln!(out, "    (none)");
    }
    for c in conditions {
        let _ = write!(out, "    {}={}", c.type_, c.status);
        if let Some(r) = &c.reason {
            let _ = write!(out, " {r}");
        }
        if let Some(m) = &c.message {
            let _ = write!(out, ": {m}");
        }
        if let Some(t) = &c.last_transition_time {
            let _ = write!(out, " (since {})", t.0);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  containers:");
    let init = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[]);
    let main = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    if init.is_empty() && main.is_empty() {
        let _ = writeln!(out, "    (no container status yet)");
    }
    for (cs, is_init) in init
        .iter()
        .map(|c| (c, true))
        .chain(main.iter().map(|c| (c, false)))
    {
        let _ = writeln!(
            out,
            "    {}{} ({}): {}, ready {}, restarts {}{}",
            cs.name,
            if is_init { " [init]" } else { "" },
            cs.image,
            state(cs.state.as_ref()),
            cs.ready,
            cs.restart_count,
            cs.last_state
                .as_ref()
                .filter(|s| s.terminated.is_some())
                .map(|s| format!("; last {}", state(Some(s))))
                .unwrap_or_default()
        );
    }
    out
}

fn state(s: Option<&ContainerState>) -> String {
    let Some(s) = s else {
        return "unknown".into();
    };
    if let Some(w) = &s.waiting {
        let mut t = format!("waiting {}", w.reason.as_deref().unwrap_or(""));
        if let Some(m) = &w.message {
            t.push_str(&format!(" ({m})"));
        }
        return t;
    }
    if let Some(t) = &s.terminated {
        let mut out = format!(
            "terminated {} exit code {}",
            t.reason.as_deref().unwrap_or(""),
            t.exit_code
        );
        if let Some(m) = &t.message {
            out.push_str(&format!(" ({m})"));
        }
        return out;
    }
    if let Some(r) = &s.running {
        return match &r.started_at {
            Some(t) => format!("running since {}", t.0),
            None => "running".into(),
        };
    }
    "unknown".into()
}

/// The last [`EVENTS`] events, oldest first.
pub fn render_events(events: Vec<Event>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  events (last {EVENTS}):");
    out.push_str(&render_event_lines(events, Some(EVENTS), false));
    out
}

/// Events oldest first (by last, then event, then first timestamp), the last `limit` of
/// them, one per line; `with_object` names the object each one is about.
pub fn render_event_lines(
    mut events: Vec<Event>,
    limit: Option<usize>,
    with_object: bool,
) -> String {
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.first_timestamp.as_ref().map(|t| t.0))
    });
    let start = limit.map_or(0, |n| events.len().saturating_sub(n));
    let mut out = String::new();
    if events.is_empty() {
        let _ = writeln!(out, "    (none)");
    }
    for e in &events[start..] {
        let object = if with_object {
            format!(
                " {}/{}",
                e.involved_object.kind.as_deref().unwrap_or("?"),
                e.involved_object.name.as_deref().unwrap_or("?")
            )
        } else {
            String::new()
        };
        let when = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or(e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default();
        let count = e
            .count
            .filter(|c| *c > 1)
            .map(|c| format!(" (x{c})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {when}{object} {} {}{count}: {}",
            e.type_.as_deref().unwrap_or("Normal"),
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("").trim_end()
        );
    }
    out
}

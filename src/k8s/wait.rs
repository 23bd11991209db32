//! Wait for pods to be ready by watching the Pod API (kube-rs watcher): each pod's transitions
//! are reported as they happen, a pod that cannot become ready ends the wait at once, and
//! transient API errors (connection reset, 5xx, 410 Gone) are retried with backoff.

use super::outage::{is_unreachable, watch_unreachable, with_causes, Connection, Outage};
use super::ready::{is_terminating, judge, ready_since, FailReason, JudgeOptions};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Which pods to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Pods matching a label selector (`app=demo,tier in (web)`).
    Selector(String),
    /// The pods of a workload, found through its `spec.selector`.
    Workload { kind: WorkloadKind, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
        }
    }
    fn group_version(self) -> (&'static str, &'static str) {
        match self {
            WorkloadKind::Job => ("batch", "v1"),
            _ => ("apps", "v1"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Selector(s) => f.write_str(s),
            Target::Workload { kind, name } => {
                write!(f, "{}/{name}", kind.as_str().to_lowercase())
            }
        }
    }
}

/// One wait: where, what, how many, how long.
#[derive(Debug, Clone)]
pub struct WaitRequest {
    pub namespace: String,
    pub target: Target,
    /// At least this many matching pods, all ready.
    pub min: u32,
    pub timeout: Duration,
    pub judge: JudgeOptions,
}

/// What the wait saw, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The label selector the wait watches (resolved from a workload).
    Watching { selector: String },
    /// A pod's status line changed (or it was deleted).
    Pod(PodChange),
    /// The watch failed for a moment and is being restarted; the wait goes on.
    Retrying { error: String, after: Duration },
    /// How many pods are ready of how many wanted, and the time left: sent when the watch
    /// starts and after every pod change it delivers.
    Count(Count),
    /// The API server does not answer (refused, reset); retried with backoff. `first` is true
    /// for the retry that starts the outage.
    Unreachable {
        since: SystemTime,
        error: String,
        after: Duration,
        first: bool,
    },
    /// The API server answers again after an outage that lasted this long.
    Reachable { after: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Live pods (not terminating, not of an older build) that are ready.
    pub ready: u32,
    /// The live pods, at least the request's `min`.
    pub want: u32,
    /// Every matching pod the watch holds.
    pub pods: u32,
    pub left: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodChange {
    pub pod: String,
    pub status: String,
    pub ready: bool,
    /// When it just became ready: from its Ready condition's `lastTransitionTime`
    /// (second precision) to now, in milliseconds.
    pub ready_latency_ms: Option<u64>,
}

/// Why a wait ended without every pod ready. Each carries the pods last seen.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("pod {pod}: {reason}")]
    Failed {
        pod: String,
        reason: FailReason,
        pods: Vec<Pod>,
    },
    #[error("not ready after {}: {status}", humantime::format_duration(*after))]
    TimedOut {
        after: Duration,
        status: String,
        pods: Vec<Pod>,
    },
    /// The wait ran out of time while the API server did not answer.
    #[error("not ready after {}: {}; the pods' state is unknown since then", humantime::format_duration(*after), outage.describe())]
    Unreachable {
        after: Duration,
        outage: Outage,
        pods: Vec<Pod>,
    },
    #[error("{0}")]
    Api(String),
}

impl WaitError {
    /// The pods last seen, for diagnostics.
    pub fn pods(&self) -> &[Pod] {
        match self {
            WaitError::Failed { pods, .. }
            | WaitError::TimedOut { pods, .. }
            | WaitError::Unreachable { pods, .. } => pods,
            WaitError::Api(_) => &[],
        }
    }
}

/// Appended to the status of a pod made from an older build of one of kubetest's images.
const STALE: &str = " (older build, being replaced)";

/// First retry delay after a transient watch error; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Watch until at least `min` pods match and all are ready; returns them.
pub async fn wait_ready(
    client: &kube::Client,
    req: &WaitRequest,
    mut on: impl FnMut(Progress),
) -> Result<Vec<Pod>, WaitError> {
    let deadline = crate::deadline::tokio_after(req.timeout);
    let mut conn = Connection::default();
    let mut backoff = MIN_BACKOFF;
    let selector = loop {
        let timed_out = |conn: &Connection| match conn.outage() {
            Some(o) => WaitError::Unreachable {
                after: req.timeout,
                outage: o.clone(),
                pods: Vec::new(),
            },
            None => WaitError::TimedOut {
                after: req.timeout,
                status: format!("{} was never found", req.target),
                pods: Vec::new(),
            },
        };
        let found = tokio::select! {
            s = resolve_selector_once(client, &req.namespace, &req.target) => s,
            () = tokio::time::sleep_until(deadline) => return Err(timed_out(&conn)),
        };
        match found {
            Ok(s) => {
                if let Some(after) = conn.answered() {
                    on(Progress::Reachable { after });
                }
                break s;
            }
            Err(Lookup::Final(e)) => return Err(e),
            Err(Lookup::Unreachable(error)) => {
                let first = conn.lost(error.clone());
                let since = conn
                    .outage()
                    .map(|o| o.since)
                    .unwrap_or_else(SystemTime::now);
                on(Progress::Unreachable {
                    since,
                    error,
                    after: backoff,
                    first,
                });
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = tokio::time::sleep_until(deadline) => return Err(timed_out(&conn)),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    backoff = MIN_BACKOFF;
    on(Progress::Watching {
        selector: selector.clone(),
    });
    on(Progress::Count(Count {
        ready: 0,
        want: req.min,
        pods: 0,
        left: deadline.saturating_duration_since(tokio::time::Instant::now()),
    }));
    let api: Api<Pod> = Api::namespaced(client.clone(), &req.namespace);
    let config = watcher::Config::default().labels(&selector);
    let mut stream = watcher::watcher(api, config).boxed();
    let mut seen = Seen::default();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = tokio::time::sleep_until(deadline) => {
                // While the server is unreachable, what was last seen is not the pods' state.
                return Err(match conn.outage() {
                    Some(o) => WaitError::Unreachable {
                        after: req.timeout,
                        outage: o.clone(),
                        pods: seen.pods(),
                    },
                    None => WaitError::TimedOut {
                        after: req.timeout,
                        status: seen.status(req),
                        pods: seen.pods(),
                    },
                });
            }
        };
        let Some(item) = item else {
            return Err(WaitError::Api("the pod watch ended".into()));
        };
        let changed = match item {
            Ok(ev) => {
                backoff = MIN_BACKOFF;
                if let Some(after) = conn.answered() {
                    on(Progress::Reachable { after });
                }
                seen.apply(ev)
            }
            Err(e) => {
                if let Some(fatal) = fatal(&e) {
                    return Err(WaitError::Api(fatal));
                }
                // 410 Gone: the watcher re-lists on its next poll; no reason to wait.
                let after = if is_gone(&e) { Duration::ZERO } else { backoff };
                if watch_unreachable(&e) {
                    let error = with_causes(&e);
                    let first = conn.lost(error.clone());
                    let since = conn
                        .outage()
                        .map(|o| o.since)
                        .unwrap_or_else(SystemTime::now);
                    on(Progress::Unreachable {
                        since,
                        error,
                        after,
                        first,
                    });
                } else {
                    on(Progress::Retrying {
                        error: e.to_string(),
                        after,
                    });
                }
                if !after.is_zero() {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tokio::select! {
                        () = tokio::time::sleep(after) => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                false
            }
        };
        if !changed || seen.initialising {
            continue;
        }
        for change in seen.transitions(&req.judge) {
            on(Progress::Pod(change));
        }
        on(Progress::Count(seen.count(
            req,
            deadline.saturating_duration_since(tokio::time::Instant::now()),
        )));
        match seen.verdict(req) {
            Verdict::Ready => return Ok(seen.pods()),
            Verdict::Failed { pod, reason } => {
                return Err(WaitError::Failed {
                    pod,
                    reason,
                    pods: seen.pods(),
                })
            }
            Verdict::Waiting => {}
        }
    }
}

/// The pods the watch holds and what was last reported of each.
#[derive(Default)]
struct Seen {
    pods: BTreeMap<String, Pod>,
    buffer: BTreeMap<String, Pod>,
    initialising: bool,
    reported: BTreeMap<String, (String, bool)>,
}

enum Verdict {
    Ready,
    Waiting,
    Failed { pod: String, reason: FailReason },
}

impl Seen {
    /// Take in a watcher event; true when the set of pods may have changed.
    fn apply(&mut self, ev: Event<Pod>) -> bool {
        match ev {
            Event::Init => {
                self.initialising = true;
                self.buffer.clear();
                false
            }
            Event::InitApply(p) => {
                self.buffer.insert(key(&p), p);
                false
            }
            Event::InitDone => {
                self.initialising = false;
                self.pods = std::mem::take(&mut self.buffer);
                true
            }
            Event::Apply(p) => {
                self.pods.insert(key(&p), p);
                true
            }
            Event::Delete(p) => {
                self.pods.remove(&key(&p));
                true
            }
        }
    }

    fn transitions(&mut self, opts: &JudgeOptions) -> Vec<PodChange> {
        let mut out = Vec::new();
        for (name, pod) in &self.pods {
            let mut j = judge(pod, opts);
            if opts.images.is_stale(pod) {
                j.summary.push_str(STALE);
                j.ready = false;
            }
            let before = self.reported.get(name);
            if before.is_some_and(|(s, r)| *s == j.summary && *r == j.ready) {
                continue;
            }
            let became_ready = j.ready && !before.is_some_and(|(_, r)| *r);
            let ready_latency_ms = became_ready
                .then(|| ready_since(pod))
                .flatten()
                .map(|t| latency_ms(SystemTime::from(t.0)));
            out.push(PodChange {
                pod: name.clone(),
                status: j.summary.clone(),
                ready: j.ready,
                ready_latency_ms,
            });
            self.reported.insert(name.clone(), (j.summary, j.ready));
        }
        let gone: Vec<String> = self
            .reported
            .keys()
            .filter(|k| !self.pods.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            self.reported.remove(&name);
            out.push(PodChange {
                pod: name,
                status: "Deleted".into(),
                ready: false,
                ready_latency_ms: None,
            });
        }
        out
    }

    fn verdict(&self, req: &WaitRequest) -> Verdict {
        let mut live = 0;
        let mut ready = 0;
        let mut stale = 0;
        for (name, pod) in &self.pods {
            if is_terminating(pod) {
                continue;
            }
            // A pod of an older build is judged by nobody: its controller replaces it.
            if req.judge.images.is_stale(pod) {
                stale += 1;
                continue;
            }
            let j = judge(pod, &req.judge);
            if let Some(reason) = j.failure {
                return Verdict::Failed {
                    pod: name.clone(),
                    reason,
                };
            }
            live += 1;
            ready += usize::from(j.ready);
        }
        if live >= req.min as usize && ready == live && stale == 0 {
            Verdict::Ready
        } else {
            Verdict::Waiting
        }
    }

    fn count(&self, req: &WaitRequest, left: Duration) -> Count {
        let (mut live, mut ready) = (0u32, 0u32);
        for pod in self.pods.values() {
            if is_terminating(pod) || req.judge.images.is_stale(pod) {
                continue;
            }
            live += 1;
            ready += u32::from(judge(pod, &req.judge).ready);
        }
        Count {
            ready,
            want: live.max(req.min),
            pods: u32::try_from(self.pods.len()).unwrap_or(u32::MAX),
            left,
        }
    }

    fn status(&self, req: &WaitRequest) -> String {
        if self.pods.is_empty() {
            return format!(
                "no pod matches {} in namespace {} (want {})",
                req.target, req.namespace, req.min
            );
        }
        let lines: Vec<String> = self
            .pods
            .iter()
            .map(|(n, p)| {
                let stale = if req.judge.images.is_stale(p) {
                    STALE
                } else {
                    ""
                };
                format!("{n} {}{stale}", judge(p, &req.judge).summary)
            })
            .collect();
        let live = self.pods.values().filter(|p| !is_terminating(p)).count();
        let mut s = lines.join("; ");
        if live < req.min as usize {
            s.push_str(&format!(" ({live} of at least {} pods)", req.min));
        }
        s
    }

    fn pods(&self) -> Vec<Pod> {
        self.pods.values().cloned().collect()
    }
}

fn key(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

fn latency_ms(since: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(since)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn api_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

fn is_gone(e: &watcher::Error) -> bool {
    api_code(e) == Some(410)
}

/// Errors no retry will fix: the credentials are refused.
fn fatal(e: &watcher::Error) -> Option<String> {
    match api_code(e) {
        Some(401) => Some(format!("the cluster refused the credentials: {e}")),
        Some(403) => Some(format!("not allowed to watch pods: {e}")),
        _ => None,
    }
}

/// Why one look-up of a workload's selector failed.
enum Lookup {
    /// No answer from the API server: worth another try.
    Unreachable(String),
    Final(WaitError),
}

/// The label selector of the target (a workload's `spec.selector`), one attempt.
pub async fn resolve_selector(
    client: &kube::Client,
    namespace: &str,
    target: &Target,
) -> Result<String, WaitError> {
    resolve_selector_once(client, namespace, target)
        .await
        .map_err(|e| match e {
            Lookup::Unreachable(why) => WaitError::Api(why),
            Lookup::Final(e) => e,
        })
}

async fn resolve_selector_once(
    client: &kube::Client,
    namespace: &str,
    target: &Target,
) -> Result<String, Lookup> {
    let (kind, name) = match target {
        Target::Selector(s) => return Ok(s.clone()),
        Target::Workload { kind, name } => (*kind, name),
    };
    let (group, version) = kind.group_version();
    let gvk = GroupVersionKind::gvk(group, version, kind.as_str());
    let ar = kube::api::ApiResource::from_gvk(&gvk);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let obj = api.get(name).await.map_err(|e| {
        if is_unreachable(&e) {
            return Lookup::Unreachable(format!(
                "reading {} {namespace}/{name}: {}",
                kind.as_str(),
                with_causes(&e)
            ));
        }
        Lookup::Final(WaitError::Api(match &e {
            kube::Error::Api(s) if s.code == 404 => format!(
                "{} {namespace}/{name} does not exist: is it in `deploy.manifests`, in this namespace?",
                kind.as_str()
            ),
            _ => format!(
                "reading {} {namespace}/{name}: {}",
                kind.as_str(),
                super::apply::server_message(&e)
            ),
        }))
    })?;
    let sel: LabelSelector = obj
        .data
        .pointer("/spec/selector")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            Lookup::Final(WaitError::Api(format!(
                "{} {namespace}/{name} has no spec.selector",
                kind.as_str()
            )))
        })?;
    Ok(selector_string(&sel))
}

/// A `LabelSelector` in the query syntax of `labelSelector=`.
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_in_query_syntax() {
        let sel: LabelSelector = serde_yaml::from_str(
            "matchLabels: {app: web, tier: front}\nmatchExpressions:\n- {key: env, operator: In, values: [a, b]}\n- {key: canary, operator: DoesNotExist}\n",
        )
        .unwrap();
        assert_eq!(
            selector_string(&sel),
            "app=web,tier=front,env in (a,b),!canary"
        );
    }
}

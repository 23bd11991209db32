//! Scenario files as written: scenarios, their steps, and what each step expects.

use crate::config::Duration;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One scenario. A file holds one (a mapping) or several (a list of mappings).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Time limit of the steps; cleanup still runs after it (each cleanup step within its timeout).
    #[serde(default = "default_scenario_timeout")]
    pub timeout: Duration,
    /// Namespace for cluster steps; default: a fresh `kt-<scenario>-<random>`, deleted afterwards.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Run alone, not beside other scenarios.
    #[serde(default)]
    pub serial: bool,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    /// Always runs, also after a failure.
    #[serde(default)]
    pub cleanup: Vec<Step>,
}

fn default_scenario_timeout() -> Duration {
    Duration::from_secs(600)
}

/// One step: common settings plus exactly one action.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    /// Time limit of one attempt.
    #[serde(default = "default_step_timeout")]
    pub timeout: Duration,
    /// Retry the step until it holds or this much time has passed.
    #[serde(default)]
    pub eventually: Option<Duration>,
    /// Pause between attempts of an `eventually` step.
    #[serde(default = "default_retry_interval")]
    pub interval: Duration,
    /// Variables taken from the step's result (a JSONPath per name) for later steps.
    #[serde(default)]
    pub capture: IndexMap<String, String>,

    #[serde(default)]
    pub http: Option<HttpStep>,
    #[serde(default)]
    pub run: Option<RunStep>,
    #[serde(default)]
    pub exec: Option<ExecStep>,
    #[serde(default)]
    pub sleep: Option<Duration>,
    #[serde(default)]
    pub apply: Option<ApplyStep>,
    #[serde(default)]
    pub delete: Option<ObjectRef>,
    #[serde(default)]
    pub wait: Option<WaitStep>,
    #[serde(default)]
    pub assert: Option<AssertStep>,
    #[serde(default)]
    pub error: Option<AssertStep>,
    #[serde(default)]
    pub tcp: Option<TcpStep>,
}

fn default_step_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retry_interval() -> Duration {
    Duration::from_millis(500)
}

/// The action keys, in the order they are documented.
pub const ACTIONS: &[&str] = &[
    "http", "run", "exec", "sleep", "apply", "delete", "wait", "assert", "error", "tcp",
];

impl Step {
    /// The action keys this step sets (valid steps set exactly one).
    pub fn actions(&self) -> Vec<&'static str> {
        let set = [
            self.http.is_some(),
            self.run.is_some(),
            self.exec.is_some(),
            self.sleep.is_some(),
            self.apply.is_some(),
            self.delete.is_some(),
            self.wait.is_some(),
            self.assert.is_some(),
            self.error.is_some(),
            self.tcp.is_some(),
        ];
        ACTIONS
            .iter()
            .zip(set)
            .filter(|(_, s)| *s)
            .map(|(a, _)| *a)
            .collect()
    }

    /// The name shown in reports: the given name, else the action and its target.
    pub fn title(&self, index: usize) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let what = if let Some(h) = &self.http {
            format!("http {} {}", h.method, h.url)
        } else if let Some(r) = &self.run {
            format!("run {}", r.command.join(" "))
        } else if let Some(e) = &self.exec {
            format!("exec {}", e.command.join(" "))
        } else if let Some(t) = &self.tcp {
            format!("tcp {}:{}", t.host, t.port)
        } else if let Some(d) = &self.sleep {
            format!("sleep {d}")
        } else {
            self.actions().first().copied().unwrap_or("step").to_owned()
        };
        format!("step {}: {what}", index + 1)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A string is sent as is; any other YAML value is sent as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// Reach a pod or Service through a port-forward; `url` is then a path (`/healthz`).
    #[serde(default)]
    pub forward: Option<ForwardTarget>,
    #[serde(default)]
    pub expect: HttpExpect,
}

/// A pod port to forward to: a Service's port (to one of its ready pods), a pod's, or the
/// port of a pod chosen by selector. The namespace defaults to the scenario's.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardTarget {
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub port: u16,
}

fn get() -> String {
    "GET".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub body_regex: Option<String>,
    /// The body parsed as JSON must contain this tree (maps as subsets, lists order-insensitive).
    #[serde(default)]
    pub json: Option<Value>,
}

/// A TCP exchange with a host port (a dependency's published port): connect, send, read
/// until the reply holds `expect.contains` (or the peer closes). No host tool (`nc`) needed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TcpStep {
    #[serde(default = "loopback")]
    pub host: String,
    /// A number or a template (`"{{ deps.redis.port.6379 }}"`).
    pub port: PortText,
    /// Sent once connected (YAML escapes such as `\r\n` work in double quotes).
    #[serde(default)]
    pub send: Option<String>,
    #[serde(default)]
    pub expect: TcpExpect,
}

/// A port as a number or as text to render.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PortText {
    Number(u16),
    Text(String),
}

impl std::fmt::Display for PortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortText::Number(n) => write!(f, "{n}"),
            PortText::Text(t) => f.write_str(t),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TcpExpect {
    /// The reply must contain this text.
    #[serde(default)]
    pub contains: Option<String>,
}

fn loopback() -> String {
    "127.0.0.1".to_owned()
}

/// A host command: an argv, or a shell string with `shell: true`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    pub command: Vec<String>,
    #[serde(default)]
    pub shell: bool,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: OutputExpect,
}

/// A command in a pod (by name or selector) or in a dependency container.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    #[serde(default)]
    pub dependency: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    pub command: Vec<String>,
    #[serde(default)]
    pub expect: OutputExpect,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputExpect {
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub stdout_contains: Option<String>,
    #[serde(default)]
    pub stdout_regex: Option<String>,
    #[serde(default)]
    pub stderr_contains: Option<String>,
    #[serde(default)]
    pub stderr_regex: Option<String>,
    /// stdout parsed as JSON must contain this tree.
    #[serde(default)]
    pub json: Option<Value>,
}

/// `apply:` a manifest file (relative to the scenario file) or inline objects.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApplyStep {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// An object or a set of objects in the cluster.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// `delete:` only: wait until the objects are gone.
    #[serde(default)]
    pub wait: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// `ready` (pods Ready / workloads available), `deleted`, or a condition type such as `Complete`.
    #[serde(rename = "for")]
    pub until: String,
    /// With `jsonpath`: the value it must reach.
    #[serde(default)]
    pub jsonpath: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssertStep {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// The tree the object must contain (`assert`) or must not (`error`).
    #[serde(default)]
    pub expect: Value,
}

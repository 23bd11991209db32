//! Step executors: one attempt of one step, returning what it saw or why it failed.

mod apply;
mod assert;
mod delete;
pub(crate) mod exec;
mod exec_dep;
mod expect;
mod host;
mod http;
pub mod objects;
mod tcp;
pub mod wait;

pub use apply::run_apply;
pub use assert::{run_assert, run_error};
pub use delete::run_delete;
pub use exec::run_exec;
pub use exec_dep::run_exec_dependency;
pub use expect::check_output;
pub use host::run_host;
pub use http::run_http;
pub use tcp::run_tcp;
pub use wait::run_wait;

use crate::scenario::template::{render, Vars};
use serde_json::Value;

/// The namespace a step names (templated), else the scenario's.
fn step_namespace(own: Option<&str>, scenario: &str, vars: &Vars) -> Result<String, StepFailure> {
    match own {
        Some(n) => render(n, vars).map_err(|e| StepFailure::new(e.to_string())),
        None => Ok(scenario.to_owned()),
    }
}

/// A successful attempt: what later steps may capture from, and a one-line summary.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// The tree `capture:` JSONPaths read (e.g. `{status, headers, body}` of a response).
    pub value: Value,
    pub summary: String,
}

/// A failed attempt: the reason, every mismatch, and what the step saw (response, output).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFailure {
    pub message: String,
    pub details: Vec<String>,
    pub observed: Option<String>,
}

impl StepFailure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: Vec::new(),
            observed: None,
        }
    }

    /// The message with its details, as shown in reports.
    pub fn render(&self) -> String {
        let mut s = self.message.clone();
        for d in &self.details {
            s.push_str(&format!("\n  - {d}"));
        }
        s
    }
}

/// Cut long output for reports, keeping the end (where errors usually are).
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let start = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|i| *i >= text.len() - max)
        .unwrap_or(0);
    format!("…{}", &text[start..])
}

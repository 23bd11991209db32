//! `kubetest doctor`: named checks of the infrastructure, or `--explain` of a raw error.

use crate::cli::DoctorArgs;
use crate::doctor::checks::{self, CheckResult, Settings};
use crate::doctor::classify::{classify, Classification};
use crate::exit::Stop;
use crate::Session;
use anyhow::Context;
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Each check's time limit unless `--timeout` says otherwise.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// What `doctor` produced, for the caller to render.
pub enum DoctorReport {
    Explanation(Box<Explanation>),
    Checks(Vec<CheckResult>),
}

/// `doctor --explain`: the verdict on the text and, with `--live`, the check that decides it.
#[derive(Debug, Serialize)]
pub struct Explanation {
    #[serde(flatten)]
    pub classification: Classification,
    /// The result of the `decided_by` check, run on this machine (`--live`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<CheckResult>,
}

pub async fn doctor(
    _session: &Session,
    args: &DoctorArgs,
    config: &Path,
) -> anyhow::Result<DoctorReport> {
    if let Some(text) = &args.explain {
        let text = if text == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the error text from standard input")?;
            s
        } else {
            text.clone()
        };
        if text.trim().is_empty() {
            return Err(Stop::Usage(
                "--explain needs the text of an error (or `-` to read it from standard input)"
                    .into(),
            )
            .into());
        }
        let classification = classify(&text);
        let live = match (args.live, classification.decided_by) {
            (true, Some(check)) => checks::run_one(&context(args, config), check).await,
            _ => None,
        };
        // A family verdict is settled by the live check's line for the socket in the text.
        let classification = match &live {
            Some(result) => crate::doctor::decide::settle(classification, result, &text),
            None => classification,
        };
        return Ok(DoctorReport::Explanation(Box::new(Explanation {
            classification,
            live,
        })));
    }
    Ok(DoctorReport::Checks(
        checks::run_all(&context(args, config)).await,
    ))
}

fn context(args: &DoctorArgs, config: &Path) -> checks::Context {
    checks::Context::new(Settings {
        check_timeout: args.timeout.unwrap_or(DEFAULT_CHECK_TIMEOUT),
        config: config.to_path_buf(),
    })
}

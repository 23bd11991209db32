//! `kubetest doctor`: named checks of the infrastructure, or `--explain` of a raw error.

use crate::cli::DoctorArgs;
use crate::doctor::checks::{self, CheckResult, Settings};
use crate::doctor::classify::{classify, Classification};
use crate::exit::Stop;
use crate::Session;
use anyhow::Context;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Each check's time limit unless `--timeout` says otherwise.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// What `doctor` produced, for the caller to render.
pub enum DoctorReport {
    Explanation(Classification),
    Checks(Vec<CheckResult>),
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
        return Ok(DoctorReport::Explanation(classify(&text)));
    }
    let ctx = checks::Context::new(Settings {
        check_timeout: args.timeout.unwrap_or(DEFAULT_CHECK_TIMEOUT),
        config: config.to_path_buf(),
    });
    Ok(DoctorReport::Checks(checks::run_all(&ctx).await))
}

//! `kubetest doctor`: named checks of the infrastructure, or `--explain` of a raw error.

use crate::cli::DoctorArgs;
use crate::doctor::classify::{classify, Classification};
use crate::exit::Stop;
use crate::Session;
use anyhow::Context;
use std::io::Read;

/// What `doctor` produced, for the caller to render.
pub enum DoctorReport {
    Explanation(Classification),
}

pub async fn doctor(_session: &Session, args: &DoctorArgs) -> anyhow::Result<DoctorReport> {
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
    Err(Stop::NotImplemented {
        what: "doctor checks",
        issue: 8,
    }
    .into())
}

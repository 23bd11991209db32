//! `kubetest report`: the last recorded `up` and `run` of the environment as one HTML page.

use crate::cli::ReportArgs;
use crate::cmd::Cmd;
use crate::config::LoadedConfig;
use crate::plan::Plan;
use crate::report::{events_dir, read_recording, recordings, RecordError};
use crate::timeline::{render, Section, Timeline};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The commands a page shows, in this order.
const SHOWN: [&str; 2] = ["up", "run"];

/// The file `kubetest report` writes without `-o`.
pub fn default_path(state_dir: &Path) -> PathBuf {
    state_dir.join("report.html")
}

/// Writes the page; returns where.
pub async fn report(loaded: &LoadedConfig, args: &ReportArgs) -> anyhow::Result<PathBuf> {
    let plan = Plan::from_config(loaded);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_path(&plan.state_dir));
    let dir = events_dir(&plan.state_dir);
    let shown = write_page(&dir, &plan.environment, &out)?;
    if shown == 0 {
        anyhow::bail!(
            "no recorded `kubetest up` or `kubetest run` of environment `{}` in {}; run one first \
             (they record their events there)",
            plan.environment,
            dir.display()
        );
    }
    if args.open {
        open(&out).await?;
    }
    Ok(out)
}

/// Renders the newest `up` and `run` of `environment` recorded in `dir` (each compared with
/// the one before it) into `out`; returns how many commands the page shows (with none, no
/// page is written).
pub fn write_page(dir: &Path, environment: &str, out: &Path) -> anyhow::Result<usize> {
    let mut shown: Vec<(Timeline, Option<Timeline>)> = Vec::new();
    for command in SHOWN {
        let mut found = newest(dir, command, environment, 2)?.into_iter();
        if let Some(now) = found.next() {
            shown.push((now, found.next()));
        }
    }
    let sections: Vec<Section<'_>> = shown
        .iter()
        .map(|(now, previous)| Section {
            now,
            previous: previous.as_ref(),
        })
        .collect();
    if sections.is_empty() {
        return Ok(0);
    }
    let html = render(&sections);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "cannot create the directory of the report {}",
                out.display()
            )
        })?;
    }
    std::fs::write(out, html)
        .with_context(|| format!("cannot write the report {}", out.display()))?;
    Ok(sections.len())
}

/// The newest `n` recordings of `command` for `environment`, newest first. A recording that
/// cannot be read is skipped only when it is not the newest (a killed command's torn file is
/// read up to its last whole line anyway).
fn newest(
    dir: &Path,
    command: &str,
    environment: &str,
    n: usize,
) -> Result<Vec<Timeline>, RecordError> {
    let mut out = Vec::new();
    for rec in recordings(dir)?
        .iter()
        .rev()
        .filter(|r| r.command == command)
    {
        let events = match read_recording(&rec.path) {
            Ok(e) => e,
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => continue,
        };
        let t = Timeline::from_events(&events);
        if t.environment == environment {
            out.push(t);
            if out.len() == n {
                break;
            }
        }
    }
    Ok(out)
}

/// Opens the page with the desktop's handler (`xdg-open`, or `open` on macOS).
async fn open(page: &Path) -> anyhow::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    Cmd::new(opener)
        .arg(page)
        .timeout(Duration::from_secs(20))
        .run()
        .await
        .with_context(|| {
            format!(
                "the report is written to {}, but `{opener}` could not open it; open it in a browser",
                page.display()
            )
        })?;
    Ok(())
}

//! The dependency containers of a bundle: per container its state and exit code, the health
//! checks kubetest made and the engine's own health log, the last log lines, and the full log.

use super::writer::{slug, Bundle};
use crate::engine::containers::logs_text;
use crate::engine::images::is_not_found;
use crate::state::ContainerRecord;
use bollard::Docker;
use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

/// Log lines shown in each container's summary file.
pub const TAIL_LINES: usize = 200;

/// Write `dependencies/<dep>.txt` and `dependencies/<dep>.log` for every container;
/// `engine` is `Err(why)` when the recorded engine does not answer.
pub async fn add(
    b: &mut Bundle,
    engine: Result<&Docker, &str>,
    containers: &[ContainerRecord],
) -> anyhow::Result<()> {
    for c in containers {
        let base = format!("dependencies/{}", slug(&c.dependency));
        let mut text = format!(
            "dependency {} — container {} ({})\n",
            c.dependency,
            c.name,
            crate::engine::images::short_id(&c.id)
        );
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|(k, v)| format!("{k} → 127.0.0.1:{v}"))
            .collect();
        if !ports.is_empty() {
            let _ = writeln!(text, "ports: {}", ports.join(", "));
        }
        if let Some(a) = &c.address {
            let _ = writeln!(text, "address on the environment network: {a}");
        }
        let mut full = None;
        match engine {
            Err(why) => {
                let _ = writeln!(text, "state: unknown (the engine does not answer: {why})");
            }
            Ok(docker) => {
                text.push_str(&engine_state(docker, &c.id).await);
                match logs_text(docker, &c.id, None).await {
                    Ok(log) => full = Some(log),
                    Err(e) => {
                        let _ = writeln!(text, "\nlogs: {e}");
                    }
                }
            }
        }
        text.push_str(&kubetest_checks(c));
        let state = text
            .lines()
            .find_map(|l| l.strip_prefix("state: "))
            .unwrap_or("unknown")
            .to_owned();
        let last_check = c
            .health
            .last()
            .map(|h| {
                format!(
                    "; last health check {}: {}",
                    if h.ok { "ok" } else { "failed" },
                    h.saw
                )
            })
            .unwrap_or_default();
        b.glance(format!(
            "dependency {}: {state}{last_check} (dependencies/{}.txt)",
            c.dependency,
            slug(&c.dependency)
        ));
        if let Some(log) = &full {
            let lines: Vec<&str> = log.lines().collect();
            let start = lines.len().saturating_sub(TAIL_LINES);
            let _ = writeln!(
                text,
                "\nlast {} of {} log lines (all of them in {}.log):",
                lines.len() - start,
                lines.len(),
                slug(&c.dependency)
            );
            for l in &lines[start..] {
                let _ = writeln!(text, "  | {l}");
            }
        }
        b.write(
            &format!("{base}.txt"),
            &format!(
                "dependency `{}`: state, exit code, health checks, last {TAIL_LINES} log lines",
                c.dependency
            ),
            &text,
        )?;
        if let Some(log) = &full {
            b.write(
                &format!("{base}.log"),
                &format!(
                    "dependency `{}`: its whole log (stdout and stderr)",
                    c.dependency
                ),
                log,
            )?;
        }
    }
    Ok(())
}

/// State, exit code and the engine's health log, as the engine reports them now.
async fn engine_state(docker: &Docker, id: &str) -> String {
    let mut out = String::new();
    let c = match docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(c) => c,
        Err(e) if is_not_found(&e) => {
            return "state: missing (the container no longer exists in the engine)\n".into()
        }
        // Podman 4.3 reports a container that just exited, before its cleanup ran, with
        // status `stopped`, which the Docker API (and bollard) do not know.
        Err(e) if e.to_string().contains("unknown variant `stopped`") => {
            return "state: stopped (exited; the engine's details could not be read)\n".into()
        }
        Err(e) => return format!("state: cannot inspect the container: {e}\n"),
    };
    let s = c.state.unwrap_or_default();
    let status = s
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".into());
    let _ = write!(out, "state: {status}");
    if s.running != Some(true) {
        if let Some(code) = s.exit_code {
            let _ = write!(out, ", exit code {code}");
        }
    }
    if s.oom_killed == Some(true) {
        out.push_str(", killed for lack of memory (OOMKilled)");
    }
    out.push('\n');
    if let Some(e) = s.error.as_deref().filter(|e| !e.is_empty()) {
        let _ = writeln!(out, "error: {e}");
    }
    if let Some(t) = s.started_at.as_ref() {
        let _ = writeln!(out, "started at: {t}");
    }
    if s.running != Some(true) {
        if let Some(t) = s.finished_at.as_ref() {
            let _ = writeln!(out, "finished at: {t}");
        }
    }
    // Podman reports an empty health object for images without a HEALTHCHECK.
    let health = s.health.filter(|h| {
        h.status
            .as_ref()
            .is_some_and(|st| !st.to_string().is_empty() && st.to_string() != "none")
            || h.log.as_ref().is_some_and(|l| !l.is_empty())
    });
    match health {
        Some(h) => {
            let _ = writeln!(
                out,
                "\nengine health check (HEALTHCHECK): {}, failing streak {}",
                h.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                h.failing_streak.unwrap_or(0)
            );
            for r in h.log.unwrap_or_default() {
                let _ = writeln!(
                    out,
                    "  {} exit {}: {}",
                    r.start.map(|t| t.to_string()).unwrap_or_default(),
                    r.exit_code.unwrap_or(-1),
                    r.output.unwrap_or_default().trim_end()
                );
            }
        }
        None => out.push_str("\nengine health check: none (the image has no HEALTHCHECK)\n"),
    }
    out
}

/// What kubetest's own health checks saw while `up` waited for the container.
fn kubetest_checks(c: &ContainerRecord) -> String {
    let mut out = String::new();
    if c.health.is_empty() {
        out.push_str("\nkubetest health checks: none recorded (no `health:` in the config, or the container was kept from an earlier `up`)\n");
        return out;
    }
    let _ = writeln!(out, "\nkubetest health checks (last {}):", c.health.len());
    for h in &c.health {
        let at = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(h.at_ms));
        let _ = writeln!(
            out,
            "  {at} {} {}: {}",
            if h.ok { "ok  " } else { "fail" },
            h.probe,
            h.saw
        );
    }
    out
}

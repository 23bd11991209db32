//! Why a dependency failed, with what a person needs to act: exit code, last log lines,
//! the last health-check answer, the port and who holds it.

use std::time::Duration;

/// Log lines shown under a failure.
pub const LOG_TAIL: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum DepFailure {
    #[error("dependency `{dep}`: image {image} is not in the {engine} engine; build it first (list it under `images:`) or pull it (`{engine} pull {image}`)")]
    ImageMissing {
        dep: String,
        image: String,
        engine: String,
    },
    #[error("dependency `{dep}`: mounted path {path} does not exist (paths are relative to the config file)")]
    MountMissing { dep: String, path: String },
    #[error("dependency `{dep}`: host port {port} is already in use{}; free it or pick another host port (`0:CONTAINER_PORT` lets the engine choose)", holder.as_ref().map(|h| format!(" by container {h}")).unwrap_or_else(|| " by another process (`ss -ltnp` shows which)".to_owned()))]
    PortInUse {
        dep: String,
        port: u16,
        holder: Option<String>,
    },
    #[error(
        "dependency `{dep}` exited with code {code} while waiting for it to become healthy{}",
        logs_block(logs)
    )]
    Crashed {
        dep: String,
        code: i64,
        logs: Vec<String>,
    },
    #[error(
        "one-shot job `{dep}` failed with exit code {code}{}",
        logs_block(logs)
    )]
    JobFailed {
        dep: String,
        code: i64,
        logs: Vec<String>,
    },
    #[error("dependency `{dep}` did not become healthy within {} ({attempts} checks of {probe}); last check: {last}{}", humantime::format_duration(*waited), logs_block(logs))]
    Unhealthy {
        dep: String,
        waited: Duration,
        attempts: u32,
        probe: String,
        last: String,
        logs: Vec<String>,
    },
}

fn logs_block(logs: &[String]) -> String {
    if logs.is_empty() {
        return "; it wrote no output".to_owned();
    }
    let mut s = format!("; its last {} log lines:", logs.len());
    for l in logs {
        s.push_str("\n  | ");
        s.push_str(l);
    }
    s
}

impl DepFailure {
    /// The dependency that failed.
    pub fn dep(&self) -> &str {
        match self {
            DepFailure::ImageMissing { dep, .. }
            | DepFailure::MountMissing { dep, .. }
            | DepFailure::PortInUse { dep, .. }
            | DepFailure::Crashed { dep, .. }
            | DepFailure::JobFailed { dep, .. }
            | DepFailure::Unhealthy { dep, .. } => dep,
        }
    }

    /// One line for the task's finished event.
    pub fn headline(&self) -> String {
        match self {
            DepFailure::ImageMissing { image, .. } => format!("image {image} not found"),
            DepFailure::MountMissing { path, .. } => format!("{path} does not exist"),
            DepFailure::PortInUse { port, .. } => format!("host port {port} in use"),
            DepFailure::Crashed { code, .. } => format!("exited with code {code}"),
            DepFailure::JobFailed { code, .. } => format!("job failed with exit code {code}"),
            DepFailure::Unhealthy { waited, .. } => {
                format!("not healthy after {}", humantime::format_duration(*waited))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_thing_and_show_logs() {
        let e = DepFailure::Crashed {
            dep: "api".into(),
            code: 3,
            logs: vec!["starting".into(), "fatal: no config".into()],
        };
        assert_eq!(
            e.to_string(),
            "dependency `api` exited with code 3 while waiting for it to become healthy; its last 2 log lines:\n  | starting\n  | fatal: no config"
        );
        let e = DepFailure::PortInUse {
            dep: "db".into(),
            port: 15432,
            holder: Some("kubetest-other-postgres".into()),
        };
        assert!(e
            .to_string()
            .contains("host port 15432 is already in use by container kubetest-other-postgres"));
        let e = DepFailure::ImageMissing {
            dep: "db".into(),
            image: "postgres:16".into(),
            engine: "podman".into(),
        };
        assert!(e.to_string().contains("`podman pull postgres:16`"));
        assert_eq!(e.headline(), "image postgres:16 not found");
    }
}

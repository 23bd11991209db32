//! Shared helpers of the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate root (tests run with it as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kubetest binary built for these tests.
pub fn kubetest() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubetest"));
    c.env_remove("KUBETEST_OUTPUT")
        .env_remove("KUBETEST_FILE")
        .env_remove("CI")
        .env("NO_COLOR", "1");
    c
}

/// `tag` made unique to this test process, for names that live in a shared engine
/// (images, containers): leftovers of an earlier, interrupted run — or a concurrent run of
/// the suite on the same engines — then never look like this run's cache.
pub fn unique(tag: &str) -> String {
    use std::sync::OnceLock;
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{:x}{:x}", std::process::id(), nanos % 0x1000)
    });
    format!("{tag}-{run}")
}

/// Compare `actual` with the file at `path`; with `KUBETEST_BLESS=1` write it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("KUBETEST_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); run with KUBETEST_BLESS=1",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// `kubetest ARGS` in `dir`, run off the async runtime so a double served by the test's
/// runtime keeps answering while the binary talks to it.
pub async fn kubetest_in(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || Run::new(kubetest().current_dir(dir).args(args)))
        .await
        .unwrap()
}

/// A finished `kubetest` run with its JSON events parsed (when `--output json`).
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<serde_json::Value>,
}

impl Run {
    pub fn new(cmd: &mut Command) -> Self {
        let out = cmd.output().expect("run kubetest");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        // Every event a real run prints is what docs/events.schema.json documents.
        for e in events.iter().filter(|e| e.get("event").is_some()) {
            crate::events_schema::assert_valid(e);
        }
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            events,
        }
    }

    /// Indexes of events of `kind` in `phase`.
    pub fn positions(&self, kind: &str, phase: &str) -> Vec<usize> {
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["event"] == kind && e["phase"] == phase)
            .map(|(i, _)| i)
            .collect()
    }

    /// (task, outcome) of every finished task of `phase`.
    pub fn task_outcomes(&self, phase: &str) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_finished" && e["phase"] == phase)
            .map(|e| {
                (
                    e["task"].as_str().unwrap_or("").to_owned(),
                    e["outcome"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The text field `field` of every event of `kind` (`("warning", "message")`,
    /// `("task_log", "line")`), in order.
    pub fn texts(&self, kind: &str, field: &str) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e["event"] == kind)
            .filter_map(|e| e[field].as_str())
            .collect()
    }

    pub fn phase_outcome(&self, phase: &str) -> Option<String> {
        self.events
            .iter()
            .find(|e| e["event"] == "phase_finished" && e["phase"] == phase)
            .and_then(|e| e["outcome"].as_str().map(str::to_owned))
    }
}

//! How the last `run` ended, kept beside the state so `down` can honour `when: on-failure`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FILE: &str = "last-run.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub failed: bool,
    /// Milliseconds since the Unix epoch when it ended.
    pub finished_ms: u64,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Record the run's outcome (mode 0600, like the other files under `.kubetest/`).
pub fn record(state_dir: &Path, run: LastRun) -> anyhow::Result<()> {
    let text = serde_json::to_string(&run)?;
    crate::state::private::write_artifact(&path(state_dir), &text)
}

/// The last run's outcome; `None` when none was recorded or the file is unreadable.
pub fn read(state_dir: &Path) -> Option<LastRun> {
    let text = std::fs::read_to_string(path(state_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_run_reads_back() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()), None);
        let r = LastRun {
            failed: true,
            finished_ms: 7,
        };
        record(d.path(), r).unwrap();
        assert_eq!(read(d.path()), Some(r));
    }
}

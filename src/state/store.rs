//! Reading and atomically writing the state file.

use super::model::State;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `.kubetest/` directory beside a config file.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The recorded state; `None` when no state file exists.
    pub fn load(&self) -> anyhow::Result<Option<State>> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| {
                    format!(
                        "the state file {} is not valid kubetest state; move it away and run `kubetest down` to clean up by labels",
                        path.display()
                    )
                })
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read the state file {}", path.display())),
        }
    }

    /// Write to a temporary file in the same directory, flush it to disk, then rename over the
    /// old file: a reader (or a crash) sees either the old or the new state, never a mix.
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        // 0700: the state names the environment's containers and kubeconfig; tempfile's own
        // files are 0600.
        super::private::create_dir(&self.dir)?;
        let mut state = state.clone();
        state.updated_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let path = self.path();
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.json.")
            .tempfile_in(&self.dir)
            .with_context(|| format!("cannot create a temporary file in {}", self.dir.display()))?;
        serde_json::to_writer_pretty(&mut tmp, &state).context("cannot serialise the state")?;
        tmp.write_all(b"\n")
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("cannot write the state file {}", path.display()))?;
        tmp.persist(&path)
            .with_context(|| format!("cannot replace the state file {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Rename an unusable state file to `state.json.unreadable-<ms>` (kept for a person to
    /// read); returns the new path.
    pub fn move_aside(&self) -> anyhow::Result<PathBuf> {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let to = self.dir.join(format!("state.json.unreadable-{ms}"));
        std::fs::rename(self.path(), &to)
            .with_context(|| format!("cannot move {} aside", self.path().display()))?;
        Ok(to)
    }

    /// Remove the state file (after a complete `down`).
    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(self.path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", self.path().display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ImageRecord;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join(".kubetest"));
        assert_eq!(store.load().unwrap(), None);
        let mut s = State::new("demo");
        s.images.push(ImageRecord {
            name: "localhost/a:1".into(),
            id: "sha256:1".into(),
            input_hash: "h".into(),
            pushed: None,
        });
        store.save(&s).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back.images, s.images);
        assert!(back.updated_ms > 0);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn corrupt_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        std::fs::write(store.path(), "{not json").unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("state.json"), "{err}");
    }
}

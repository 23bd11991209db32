//! Reading and atomically writing the state file.

use super::model::State;
use anyhow::Context;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Beside the state file: serialises [`StateStore::update_on_disk`] across processes.
const UPDATE_LOCK: &str = "state.update.lock";

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

    /// Change the state file as it is on disk now, serialised with other processes doing the
    /// same through an exclusive lock on `state.update.lock` (released when the file closes, or
    /// by the kernel when the process dies). `run`s share the environment lock with each other
    /// (src/state/lock.rs), so each one's change is read, applied and written whole, and none
    /// overwrites another's with an older copy; `up` and `down` hold the environment alone and
    /// keep writing through their [`super::Recorder`].
    pub fn update_on_disk(&self, change: impl FnOnce(&mut State)) -> anyhow::Result<()> {
        super::private::create_dir(&self.dir)?;
        let lock_path = self.dir.join(UPDATE_LOCK);
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let Some(mut state) = self.load()? else {
            anyhow::bail!(
                "the state file {} is gone; run `kubetest up` again",
                self.path().display()
            );
        };
        change(&mut state);
        self.save(&state)
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
    fn updates_on_disk_from_many_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join(".kubetest"));
        let missing = format!("{:#}", store.update_on_disk(|_| {}).unwrap_err());
        assert!(missing.contains("state.json is gone"), "{missing}");
        let mut s = State::new("demo");
        s.run_id = Some("r1".into());
        store.save(&s).unwrap();
        // Separate stores stand for separate `run` processes: each reads the file anew.
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let store = StateStore::new(store.dir().to_owned());
                std::thread::spawn(move || {
                    for j in 0..5 {
                        store
                            .update_on_disk(|s| {
                                s.run_cluster_objects.push(crate::state::RunClusterObject {
                                    api_version: "v1".into(),
                                    kind: "ClusterRole".into(),
                                    name: format!("role-{i}-{j}"),
                                    shared: true,
                                })
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let back = store.load().unwrap().unwrap();
        assert_eq!(
            back.run_cluster_objects.len(),
            40,
            "no writer lost another's"
        );
        assert_eq!(back.run_id.as_deref(), Some("r1"), "the rest is kept");
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

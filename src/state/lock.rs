//! One `kubetest` per environment at a time: an advisory lock on `.kubetest/lock`.
//!
//! The kernel releases the lock when the holder exits, so a crashed `up` never leaves a stale
//! lock behind. The holder writes its pid into the file so the loser can name it.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Another process holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment is in use by another kubetest ({holder}); wait for it to finish or stop it (lock file {})",
    path.display()
)]
pub struct LockBusy {
    pub path: PathBuf,
    pub holder: String,
}

/// Held for the lifetime of the value.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
    path: PathBuf,
}

impl EnvLock {
    /// Take the lock at once or fail with [`LockBusy`]; `what` (e.g. `kubetest up`) is recorded.
    pub fn acquire(dir: &Path, what: &str) -> anyhow::Result<Self> {
        super::private::create_dir(dir)?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "pid unknown".to_owned()
                } else {
                    holder.to_owned()
                };
                return Err(LockBusy { path, holder }.into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "pid {}, `{what}`", std::process::id()))
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write the lock file {}", path.display()))?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = EnvLock::acquire(dir.path(), "kubetest up").unwrap();
        let err = EnvLock::acquire(dir.path(), "kubetest up").unwrap_err();
        let busy = err.downcast_ref::<LockBusy>().expect("LockBusy");
        assert_eq!(
            busy.holder,
            format!("pid {}, `kubetest up`", std::process::id())
        );
        drop(held);
        EnvLock::acquire(dir.path(), "kubetest down").expect("free after drop");
    }
}

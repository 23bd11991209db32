//! One `kubetest` per environment at a time: an advisory lock on `.kubetest/lock`.
//!
//! The kernel releases the lock when the holder exits, so a crashed `up` never leaves a stale
//! lock behind. The holder writes its pid into the file so the loser can name it. `up` and
//! `down` hold it alone; `run`s share it with each other (each names itself in `lock.<pid>`).

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
    /// A shared holder's own holder file (`lock.<pid>`), removed on drop.
    holder_file: Option<PathBuf>,
}

/// How the lock is held: `up` and `down` change the environment and hold it alone; `run`s only
/// use it and may share it with each other, never with an `up` or `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Exclusive,
    Shared,
}

impl EnvLock {
    /// Take the lock exclusively at once or fail with [`LockBusy`]; `what` (e.g.
    /// `kubetest up`) is recorded so the loser can name the holder.
    pub fn acquire(dir: &Path, what: &str) -> anyhow::Result<Self> {
        Self::acquire_mode(dir, what, LockMode::Exclusive)
    }

    /// Take the lock shared (beside other shared holders) at once, or fail with [`LockBusy`]
    /// naming the exclusive holder.
    pub fn acquire_shared(dir: &Path, what: &str) -> anyhow::Result<Self> {
        Self::acquire_mode(dir, what, LockMode::Shared)
    }

    fn acquire_mode(dir: &Path, what: &str, mode: LockMode) -> anyhow::Result<Self> {
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
        let tried = match mode {
            LockMode::Exclusive => file.try_lock(),
            LockMode::Shared => file.try_lock_shared(),
        };
        match tried {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holders(dir, &mut file);
                return Err(LockBusy { path, holder }.into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        let me = format!("pid {}, `{what}`", std::process::id());
        if mode == LockMode::Shared {
            // Shared holders must not overwrite each other: each names itself in its own file.
            let own = dir.join(format!("lock.{}", std::process::id()));
            super::private::create_file(&own)?
                .write_all(me.as_bytes())
                .with_context(|| format!("cannot write {}", own.display()))?;
            return Ok(Self {
                _file: file,
                path,
                holder_file: Some(own),
            });
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{me}"))
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write the lock file {}", path.display()))?;
        Ok(Self {
            _file: file,
            path,
            holder_file: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        if let Some(own) = &self.holder_file {
            let _ = std::fs::remove_file(own);
        }
    }
}

/// Who holds the lock: the exclusive holder's line in the lock file, else the shared holders'
/// files of processes still alive (a killed `run` leaves its file; its lock died with it).
fn holders(dir: &Path, lock: &mut File) -> String {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("lock.")
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if alive(pid) {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    names.push(text.trim().to_owned());
                }
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if names.is_empty() {
        let mut text = String::new();
        let _ = lock.read_to_string(&mut text);
        if !text.trim().is_empty() {
            names.push(text.trim().to_owned());
        }
    }
    if names.is_empty() {
        "pid unknown".to_owned()
    } else {
        names.sort();
        names.join("; ")
    }
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only reports whether the pid exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
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

    #[test]
    fn runs_share_the_lock_but_not_with_up_or_down() {
        let dir = tempfile::tempdir().unwrap();
        let a = EnvLock::acquire_shared(dir.path(), "kubetest run").unwrap();
        let b = EnvLock::acquire_shared(dir.path(), "kubetest run").expect("runs share it");
        let err = EnvLock::acquire(dir.path(), "kubetest up").unwrap_err();
        let busy = err.downcast_ref::<LockBusy>().expect("LockBusy");
        assert_eq!(
            busy.holder,
            format!("pid {}, `kubetest run`", std::process::id())
        );
        drop((a, b));
        let up = EnvLock::acquire(dir.path(), "kubetest up").expect("free once the runs end");
        let err = EnvLock::acquire_shared(dir.path(), "kubetest run").unwrap_err();
        assert_eq!(
            err.downcast_ref::<LockBusy>().unwrap().holder,
            format!("pid {}, `kubetest up`", std::process::id())
        );
        drop(up);
        // A killed run's holder file does not name a dead process.
        std::fs::write(
            dir.path().join("lock.999999999"),
            "pid 999999999, `kubetest run`",
        )
        .unwrap();
        let _run = EnvLock::acquire_shared(dir.path(), "kubetest run").unwrap();
        let err = EnvLock::acquire(dir.path(), "kubetest down").unwrap_err();
        assert!(!err
            .downcast_ref::<LockBusy>()
            .unwrap()
            .holder
            .contains("999999999"));
    }
}

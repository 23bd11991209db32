//! The event log: each `up`, `run` and `down` recorded as JSON lines under `.kubetest/events/`.
//!
//! A reporter-side sink: [`Recording`] wraps the command's reporter and copies every event
//! (already masked by `Events::emit`) into the file [`EventLog::open`] names, so phases stay
//! untouched. `kubetest report` reads the recordings back with [`recordings`] and [`read`].

use crate::events::{Reporter, Stamped};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Recordings kept per command (`up`, `run`, `down`); older ones are removed when a new one
/// starts.
pub const KEEP: usize = 10;

/// The directory of the recordings, inside an environment's state directory.
pub fn events_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("events")
}

/// Why a recording cannot be started or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create the event log {path}: {reason}")]
    Create { path: PathBuf, reason: String },
    #[error("cannot read the event log {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the event log {path} is not kubetest's JSON lines (line {line}: {source}); it was written by another version or edited")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Where events go once the command knows its environment; cheap to clone.
#[derive(Clone, Default)]
pub struct EventLog(Arc<Mutex<Option<Open>>>);

struct Open {
    path: PathBuf,
    /// `None` once a write failed.
    file: Option<File>,
}

impl EventLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record from now on into `DIR/<start_unix_ms>-<command>.jsonl`, and remove this
    /// command's recordings beyond the newest [`KEEP`]. Returns the file's path.
    pub fn open(
        &self,
        dir: &Path,
        command: &str,
        start_unix_ms: u64,
    ) -> Result<PathBuf, RecordError> {
        let path = dir.join(format!("{start_unix_ms}-{command}.jsonl"));
        // Private like the state and bundles: 0700 directory, 0600 file.
        let create = |e: anyhow::Error| RecordError::Create {
            path: path.clone(),
            reason: format!("{e:#}"),
        };
        crate::state::private::create_dir(dir).map_err(create)?;
        let file = crate::state::private::create_file(&path).map_err(create)?;
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Open {
            path: path.clone(),
            file: Some(file),
        });
        prune(dir, command, KEEP);
        Ok(path)
    }

    /// The file being recorded into, once [`EventLog::open`] succeeded.
    pub fn path(&self) -> Option<PathBuf> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|o| o.path.clone())
    }

    /// One event as one line. A failed write stops the recording (the command goes on: the
    /// log is for later reading, never a reason to fail).
    fn write(&self, ev: &Stamped) {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Open {
            file: file @ Some(_),
            ..
        }) = guard.as_mut()
        else {
            return;
        };
        let Ok(mut line) = serde_json::to_vec(ev) else {
            return;
        };
        line.push(b'\n');
        // One write per line: a crash leaves whole lines, at most a torn last one.
        if file.as_mut().is_some_and(|f| f.write_all(&line).is_err()) {
            *file = None;
        }
    }
}

/// The command's reporter, plus a copy of every event into the [`EventLog`].
pub struct Recording {
    inner: Box<dyn Reporter>,
    log: EventLog,
}

impl Recording {
    pub fn new(inner: Box<dyn Reporter>, log: EventLog) -> Self {
        Self { inner, log }
    }
}

impl Reporter for Recording {
    fn handle(&mut self, ev: &Stamped) {
        self.log.write(ev);
        self.inner.handle(ev);
    }
}

/// One recorded command, named by its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: PathBuf,
    /// When the command started (milliseconds since the Unix epoch).
    pub start_unix_ms: u64,
    pub command: String,
}

/// The recordings in `dir`, oldest first; none when the directory does not exist.
pub fn recordings(dir: &Path) -> Result<Vec<Recorded>, RecordError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RecordError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut out: Vec<Recorded> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".jsonl")?;
            let (start, command) = stem.split_once('-')?;
            Some(Recorded {
                path: e.path(),
                start_unix_ms: start.parse().ok()?,
                command: command.to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.start_unix_ms, &a.command).cmp(&(b.start_unix_ms, &b.command)));
    Ok(out)
}

/// The events of one recording. A torn last line (the command was killed mid-write) is
/// dropped; any other bad line is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Stamped>, RecordError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecordError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// [`read`] for text already in memory (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Stamped>, RecordError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(ev) => out.push(ev),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(source) => {
                return Err(RecordError::Parse {
                    path: path.to_owned(),
                    line: i + 1,
                    source,
                })
            }
        }
    }
    Ok(out)
}

/// Removes the oldest recordings of `command` beyond `keep` (best effort).
fn prune(dir: &Path, command: &str, keep: usize) {
    let Ok(all) = recordings(dir) else {
        return;
    };
    let mine: Vec<&Recorded> = all.iter().filter(|r| r.command == command).collect();
    let extra = mine.len().saturating_sub(keep);
    for r in &mine[..extra] {
        let _ = std::fs::remove_file(&r.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, Events, Phase};

    struct Nothing;
    impl Reporter for Nothing {
        fn handle(&mut self, _: &Stamped) {}
    }

    #[test]
    fn records_every_event_and_keeps_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("events");
        for start in 1..=(KEEP as u64 + 3) {
            let log = EventLog::new();
            let events = Events::new(Box::new(Recording::new(Box::new(Nothing), log.clone())));
            // Before `open`: nothing is written anywhere.
            events.emit(Event::PhaseStarted {
                phase: Phase::Preflight,
            });
            log.open(dir.as_path(), "up", start).unwrap();
            events.emit(Event::PhaseStarted {
                phase: Phase::Build,
            });
            events.note(Some(Phase::Build), "hello");
        }
        // A `run` is not pruned by `up`s.
        EventLog::new().open(dir.as_path(), "run", 1).unwrap();
        let all = recordings(dir.as_path()).unwrap();
        let ups: Vec<u64> = all
            .iter()
            .filter(|r| r.command == "up")
            .map(|r| r.start_unix_ms)
            .collect();
        assert_eq!(ups, (4..=(KEEP as u64 + 3)).collect::<Vec<_>>());
        assert!(all.iter().any(|r| r.command == "run"));
        let evs = read(&all.last().unwrap().path).unwrap();
        assert_eq!(evs.len(), 2);
        assert!(matches!(evs[1].event, Event::Note { .. }));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.as_path()), 0o700);
        assert_eq!(mode(&all.last().unwrap().path), 0o600);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_middle_line_is_named() {
        let p = Path::new("x.jsonl");
        let good = r#"{"ts_ms":1,"at_ms":0,"event":"phase_started","phase":"build"}"#;
        let evs = parse(p, &format!("{good}\n{good}\n{{\"ts_ms\":2,\"at")).unwrap();
        assert_eq!(evs.len(), 2);
        let err = parse(p, &format!("{good}\nnot json\n{good}\n")).unwrap_err();
        assert!(err.to_string().contains("x.jsonl"), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn no_directory_means_no_recordings() {
        let dir = tempfile::tempdir().unwrap();
        assert!(recordings(&dir.path().join("none")).unwrap().is_empty());
    }
}

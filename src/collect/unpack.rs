//! Unpacking a tar stream from a container or a pod into a directory, refusing what would
//! land outside it: absolute paths, `..`, links whose target leaves it, and writes through
//! a link. A hostile or broken archive is an error naming the entry; files are streamed to
//! disk with a fixed buffer, so memory stays flat whatever the size.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Bytes copied per read while a file is written.
const COPY_BUFFER: usize = 256 * 1024;

/// What an archive held, as written under the destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written (and hard links), relative to the destination, with their sizes.
    pub files: Vec<(PathBuf, u64)>,
    /// Sum of the files' sizes.
    pub bytes: u64,
    /// Entries not written: devices, FIFOs (named, with their kind).
    pub skipped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive tries to write outside the destination: refused, nothing more unpacked.
    #[error("refused archive entry `{entry}`: {why} (the archive is hostile or broken; nothing after it was unpacked)")]
    Escapes { entry: String, why: &'static str },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the archive: {0}")]
    Read(#[source] io::Error),
}

/// The entry path as a relative path of normal components, or why it is refused.
fn relative(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("its path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
        }
    }
    Ok(out)
}

/// Whether `target`, a link target written at `link` (relative to the destination), stays
/// inside the destination when resolved lexically.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth: usize = link.components().count().saturating_sub(1);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

struct Dest {
    root: PathBuf,
    /// `root` with its own links resolved, to compare real parents against.
    real_root: PathBuf,
}

impl Dest {
    fn new(root: &Path) -> Result<Self, UnpackError> {
        fs::create_dir_all(root).map_err(|source| UnpackError::Write {
            path: root.to_path_buf(),
            source,
        })?;
        let real_root = fs::canonicalize(root).map_err(|source| UnpackError::Write {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            real_root,
        })
    }

    /// The path of `rel` with its parent directories made, after checking that the parent
    /// really lies inside the destination (no link on the way leaves it) and that nothing
    /// but a plain file or directory sits at the path itself.
    fn prepare(&self, rel: &Path, entry: &str) -> Result<PathBuf, UnpackError> {
        let full = self.root.join(rel);
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| UnpackError::Write { path, source }
        };
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).map_err(write_err(parent))?;
            let real = fs::canonicalize(parent).map_err(write_err(parent))?;
            if !real.starts_with(&self.real_root) {
                return Err(UnpackError::Escapes {
                    entry: entry.to_owned(),
                    why: "it would be written through a link that leaves the destination",
                });
            }
        }
        // An earlier entry may have put a link here: replace it, never write through it.
        if let Ok(m) = fs::symlink_metadata(&full) {
            if m.file_type().is_symlink() || m.is_file() {
                fs::remove_file(&full).map_err(write_err(&full))?;
            }
        }
        Ok(full)
    }
}

/// Unpack the tar read from `reader` into `dest` (created when missing).
pub fn unpack<R: Read>(reader: R, dest: &Path) -> Result<Unpacked, UnpackError> {
    let dest = Dest::new(dest)?;
    let mut archive = tar::Archive::new(reader);
    let mut out = Unpacked::default();
    let mut buf = vec![0u8; COPY_BUFFER];
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path().map_err(UnpackError::Read)?.into_owned();
        let shown = raw.display().to_string();
        let rel = relative(&raw).map_err(|why| UnpackError::Escapes {
            entry: shown.clone(),
            why,
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        match kind {
            tar::EntryType::Directory => {
                let full = dest.prepare(&rel, &shown)?;
                if !full.is_dir() {
                    fs::create_dir(&full).map_err(|source| UnpackError::Write {
                        path: full.clone(),
                        source,
                    })?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let full = dest.prepare(&rel, &shown)?;
                let write = |source| UnpackError::Write {
                    path: full.clone(),
                    source,
                };
                let mut file = fs::File::create(&full).map_err(write)?;
                let mut size = 0u64;
                loop {
                    let n = match entry.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(UnpackError::Read(e)),
                    };
                    file.write_all(&buf[..n]).map_err(write)?;
                    size += n as u64;
                }
                set_mode(&full, mode);
                out.bytes += size;
                out.files.push((rel, size));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Read)?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if !link_stays_inside(&rel, &target) {
                    return Err(UnpackError::Escapes {
                        entry: shown,
                        why: "it is a link whose target leaves the destination",
                    });
                }
                let full = dest.prepare(&rel, &shown)?;
                std::os::unix::fs::symlink(&target, &full).map_err(|source| {
                    UnpackError::Write {
                        path: full.clone(),
                        source,
                    }
                })?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Read)?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                // A hard link's target is a path of the archive, relative to its root.
                let target_rel = relative(&target).map_err(|why| UnpackError::Escapes {
                    entry: shown.clone(),
                    why,
                })?;
                let source = dest.root.join(&target_rel);
                let real = fs::canonicalize(&source).map_err(|e| UnpackError::Write {
                    path: source.clone(),
                    source: e,
                })?;
                if !real.starts_with(&dest.real_root) {
                    return Err(UnpackError::Escapes {
                        entry: shown,
                        why: "it is a hard link to a file outside the destination",
                    });
                }
                let full = dest.prepare(&rel, &shown)?;
                fs::hard_link(&real, &full).map_err(|source| UnpackError::Write {
                    path: full.clone(),
                    source,
                })?;
                let size = fs::metadata(&full).map(|m| m.len()).unwrap_or(0);
                out.bytes += size;
                out.files.push((rel, size));
            }
            other => out.skipped.push(format!("{shown} ({other:?})")),
        }
    }
    Ok(out)
}

/// The archive's permission bits, kept readable and writable by the user who collects.
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode((mode & 0o777) | 0o600));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive built by hand, entries written raw so hostile names survive.
    fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // `set_path` refuses `..`; write the name bytes directly as a hostile tar would.
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as L};

    #[test]
    fn a_tree_is_written_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let tar = archive(&[
            ("out/", D, b"", None),
            ("out/a.txt", F, b"hello", None),
            ("out/sub/b.bin", F, &[7u8; 3000], None),
            ("out/link", L, b"", Some("a.txt")),
            ("out/hard", H, b"", Some("out/a.txt")),
        ]);
        let u = unpack(&tar[..], dir.path()).unwrap();
        assert_eq!(u.bytes, 5 + 3000 + 5);
        assert_eq!(
            fs::read_to_string(dir.path().join("out/link")).unwrap(),
            "hello"
        );
        assert_eq!(
            fs::read(dir.path().join("out/sub/b.bin")).unwrap(),
            vec![7u8; 3000]
        );
        assert_eq!(u.files.len(), 3);
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_lands_outside() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        let outside = root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (archive(&[("../escape", F, b"x", None)]), "`..`"),
            (archive(&[("a/../../escape", F, b"x", None)]), "`..`"),
            (archive(&[("/tmp/abs", F, b"x", None)]), "absolute"),
            (
                archive(&[("evil", L, b"", Some("../outside"))]),
                "link whose target leaves",
            ),
            (
                archive(&[("evil", L, b"", Some("/etc/passwd"))]),
                "link whose target leaves",
            ),
            (archive(&[("h", H, b"", Some("../outside/f"))]), "`..`"),
        ];
        for (tar, want) in cases {
            let e = unpack(&tar[..], &dest).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
            assert!(e.contains("refused archive entry"), "{e}");
        }
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!root.path().join("escape").exists());
    }

    #[test]
    fn a_link_chain_cannot_carry_a_write_outside() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir_all(dest.join("d")).unwrap();
        // A link that points at the destination itself passes the lexical check, then
        // `self/../x` would leave it through the link: the real parent is checked.
        std::os::unix::fs::symlink("..", dest.join("d/up")).unwrap();
        std::os::unix::fs::symlink("../..", dest.join("d/upup")).unwrap();
        let tar = archive(&[("d/upup/escaped", F, b"x", None)]);
        let e = unpack(&tar[..], &dest).unwrap_err().to_string();
        assert!(e.contains("through a link"), "{e}");
        assert!(!root.path().join("escaped").exists());
        // Through a link that stays inside is fine.
        let tar = archive(&[("d/up/fine", F, b"x", None)]);
        unpack(&tar[..], &dest).unwrap();
        assert!(dest.join("fine").exists());
    }

    #[test]
    fn a_file_over_an_earlier_link_replaces_the_link() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        let tar = archive(&[
            ("a", F, b"A", None),
            ("l", L, b"", Some("a")),
            ("l", F, b"L", None),
        ]);
        unpack(&tar[..], &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "A");
        assert_eq!(fs::read_to_string(dest.join("l")).unwrap(), "L");
    }

    #[test]
    fn a_truncated_archive_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let tar = archive(&[("big", F, &[1u8; 10_000], None)]);
        let e = unpack(&tar[..4096], dir.path()).unwrap_err();
        assert!(matches!(e, UnpackError::Read(_)), "{e}");
    }
}

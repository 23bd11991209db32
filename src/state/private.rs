//! Files only the owner may read: `.kubetest/` and the artifacts are directories of mode 0700,
//! the state, lock and bundle files 0600 — a bundle can quote a dependency's log, and a
//! kubeconfig holds credentials. Text saved as an artifact is also masked (`crate::secrets`).

use anyhow::Context;
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (and missing parents) with mode 0700; an existing `dir` is set to 0700 too.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict the permissions of {}", dir.display()))
}

/// Open `path` for writing with mode 0600 (created, or truncated and set to 0600).
pub fn create_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
    Ok(file)
}

/// Save `text` as an artifact: secrets masked, mode 0600, in a 0700 directory.
pub fn write_artifact(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    create_file(path)?
        .write_all(crate::secrets::mask(text).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_0700_files_0600_also_when_they_existed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("f.txt");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        write_artifact(&f, "new").unwrap();
        assert_eq!(
            (mode(&f), std::fs::read_to_string(&f).unwrap()),
            (0o600, "new".into())
        );
        let g = tmp.path().join("c/d/g.txt");
        write_artifact(&g, "x").unwrap();
        assert_eq!((mode(g.parent().unwrap()), mode(&g)), (0o700, 0o600));
    }
}

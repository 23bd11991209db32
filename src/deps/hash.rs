//! The config hash of a dependency: what decides whether a running container can be kept.
//!
//! It covers the dependency's whole config, the image id (a rebuilt image means a new
//! container) and the contents of read-only bind mounts (a changed migration reruns its job);
//! a read-write mount is the container's output, so only its path counts.

use crate::config::DependencySpec;
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Bound on what a mounted directory may hold for hashing; beyond it only names and sizes count.
const MAX_HASHED_BYTES: u64 = 64 * 1024 * 1024;

/// sha256 hex of the dependency's config, its image id and its read-only mounted files
/// (`mounts`: host path, read-only).
pub fn config_hash(
    spec: &DependencySpec,
    image_id: &str,
    mounts: &[(&Path, bool)],
) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(b"kubetest-dependency-v1\0");
    h.update(serde_json::to_vec(spec).context("cannot serialise the dependency config")?);
    h.update(b"\0image\0");
    h.update(image_id.as_bytes());
    let mut budget = MAX_HASHED_BYTES;
    for (m, read_only) in mounts {
        h.update(b"\0mount\0");
        h.update(m.to_string_lossy().as_bytes());
        if *read_only {
            hash_tree(&mut h, m, &mut budget)?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_tree(h: &mut Sha256, path: &Path, budget: &mut u64) -> anyhow::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        // A missing source is reported when the container is created.
        Err(_) => return Ok(()),
    };
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read mounted directory {}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            h.update(e.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(b"\0");
            hash_tree(h, &e, budget)?;
        }
    } else if meta.len() <= *budget {
        *budget -= meta.len();
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read mounted file {}", path.display()))?;
        h.update(&bytes);
    } else {
        h.update(meta.len().to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DependencySpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn changes_with_config_image_and_mounted_content() {
        let dir = tempfile::tempdir().unwrap();
        let sql = dir.path().join("migrate.sql");
        std::fs::write(&sql, "create table a (id int);").unwrap();
        let base = spec("image: p\nports: ['5432']\n");
        let h = |s: &DependencySpec, id: &str| config_hash(s, id, &[(dir.path(), true)]).unwrap();
        let first = h(&base, "sha256:1");
        assert_eq!(first, h(&base, "sha256:1"), "stable");
        assert_ne!(first, h(&base, "sha256:2"), "rebuilt image");
        assert_ne!(
            first,
            h(
                &spec("image: p\nports: ['5432']\nenv: {A: b}\n"),
                "sha256:1"
            ),
            "env"
        );
        std::fs::write(&sql, "create table b (id int);").unwrap();
        assert_ne!(first, h(&base, "sha256:1"), "mounted file content");
        let rw = config_hash(&base, "sha256:1", &[(dir.path(), false)]).unwrap();
        std::fs::write(&sql, "written by the job").unwrap();
        assert_eq!(
            rw,
            config_hash(&base, "sha256:1", &[(dir.path(), false)]).unwrap(),
            "a read-write mount is output"
        );
    }
}

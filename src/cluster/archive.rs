//! One docker-archive of many images, exported through the engine API and streamed to a
//! temporary file (memory stays flat whatever the images weigh).

use super::image_ref::normalize;
use anyhow::Context;
use bollard::Docker;
use futures::StreamExt;
use serde::Deserialize;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// One entry of the archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveImage {
    /// `<hex>.json` (Docker) or `blobs/sha256/<hex>`: the config blob, whose digest is the image id.
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
}

impl ArchiveImage {
    /// The image id the archive's config blob gives (what containerd will list).
    pub fn id(&self) -> &str {
        let c = self.config.trim_end_matches(".json");
        c.rsplit('/').next().unwrap_or(c)
    }

    /// The tags, normalised as containerd will name them.
    pub fn tags(&self) -> Vec<String> {
        self.repo_tags
            .iter()
            .flatten()
            .map(|t| normalize(t))
            .collect()
    }
}

/// Export `names` as one archive into a new temporary file in `dir` and return it with its size.
pub async fn export(
    docker: &Docker,
    names: &[&str],
    dir: &Path,
) -> anyhow::Result<(tempfile::NamedTempFile, u64)> {
    crate::state::private::create_dir(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix("kubetest-images-")
        .suffix(".tar")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary archive in {}", dir.display()))?;
    let file = tmp
        .reopen()
        .with_context(|| format!("cannot open {}", tmp.path().display()))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut stream = docker.export_images(names);
    let mut size = 0u64;
    let what = names.join(", ");
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("the engine failed to export {what}"))?;
        size += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    }
    out.flush()
        .await
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    out.into_inner()
        .sync_all()
        .await
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    Ok((tmp, size))
}

/// The images listed in the archive's `manifest.json` (headers are skipped by seeking).
pub fn manifest(path: &Path) -> anyhow::Result<Vec<ArchiveImage>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the archive {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    for entry in archive
        .entries_with_seek()
        .with_context(|| format!("{} is not a tar archive", path.display()))?
    {
        let entry = entry.with_context(|| format!("{} is not a tar archive", path.display()))?;
        let is_manifest = entry
            .path()
            .is_ok_and(|p| p.as_os_str() == "manifest.json" || p.as_os_str() == "./manifest.json");
        if is_manifest {
            return serde_json::from_reader(entry)
                .with_context(|| format!("the manifest.json of {} is not valid", path.display()));
        }
    }
    anyhow::bail!(
        "{} has no manifest.json: not a docker-archive",
        path.display()
    )
}

/// Names in `wanted` that no archive entry carries (compared normalised).
pub fn missing_from(entries: &[ArchiveImage], wanted: &[&str]) -> Vec<String> {
    let have: Vec<String> = entries.iter().flat_map(ArchiveImage::tags).collect();
    wanted
        .iter()
        .filter(|w| !have.contains(&normalize(w)))
        .map(|w| (*w).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_with(manifest: &str) -> tempfile::NamedTempFile {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(tmp.reopen().unwrap());
        for (name, data) in [
            ("0123.json", "{}".as_bytes()),
            ("manifest.json", manifest.as_bytes()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        b.finish().unwrap();
        tmp
    }

    #[test]
    fn manifest_tags_normalised_and_missing_found() {
        // Docker writes familiar names; Podman writes full ones.
        let tmp = archive_with(
            r#"[{"Config":"0123.json","RepoTags":["kt-a:1","localhost/kt-b:1"],"Layers":["x/layer.tar"]},
                {"Config":"blobs/sha256/4567","RepoTags":["docker.io/library/redis:7"],"Layers":[]}]"#,
        );
        let m = manifest(tmp.path()).unwrap();
        assert_eq!(m[0].id(), "0123");
        assert_eq!(m[1].id(), "4567");
        assert_eq!(
            m[0].tags(),
            ["docker.io/library/kt-a:1", "localhost/kt-b:1"]
        );
        assert_eq!(
            missing_from(&m, &["redis:7", "localhost/kt-b:1", "localhost/kt-c:1"]),
            ["localhost/kt-c:1"]
        );
        let bad = archive_with("not json");
        assert!(format!("{:#}", manifest(bad.path()).unwrap_err()).contains("not valid"));
    }
}

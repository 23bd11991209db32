//! Images in the engine: the ID (and the legacy input-hash label) of a tagged image, and removal.

use bollard::errors::Error as BollardError;
use bollard::Docker;

/// The label with which kubetest before the state-file cache record marked a build's input
/// hash. It is only read now: adding it cost Docker's legacy builder one layer commit per build.
pub const INPUT_HASH_LABEL: &str = "dev.kubetest.input-hash";

/// A tagged image as the engine has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    pub input_hash: Option<String>,
}

/// The image behind `tag`, or `None` when the engine has no such image.
pub async fn inspect(docker: &Docker, tag: &str) -> anyhow::Result<Option<LocalImage>> {
    match docker.inspect_image(tag).await {
        Ok(img) => Ok(Some(LocalImage {
            id: img.id.unwrap_or_default(),
            input_hash: img
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(INPUT_HASH_LABEL)),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot inspect image {tag}: {e}")),
    }
}

/// Remove an image by name; an image that is already gone is success.
pub async fn remove(docker: &Docker, name: &str) -> anyhow::Result<()> {
    match docker
        .remove_image(
            name,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove image {name}"))),
    }
}

/// HTTP 404 from the engine: the object does not exist (teardown treats this as success).
pub fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The first 12 hex digits of an image id or hash, as engines print them.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

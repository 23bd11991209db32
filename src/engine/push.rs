//! Pushing a built image to a registry through the engine API (bollard `push_image`), and the
//! digest the registry stored, read from the push's own progress stream.
//!
//! Both engines end a push with the status line `<tag>: digest: sha256:<hex> size: <n>`
//! (Docker 20.10 also sends it as `aux`, which bollard's `PushImageInfo` does not model).
//! Podman verifies TLS unless the request says `tlsVerify=false` (its compat push handler's
//! query parameter, default true); Docker ignores that parameter and decides by its daemon's
//! `insecure-registries` (127.0.0.0/8 by default) — see docs/engine-facts.md.

use super::registry_auth::Credentials;
use super::EngineKind;
use bollard::Docker;
use futures::StreamExt;

/// What a push left in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `host[:port]/path` without tag.
    pub repo: String,
    pub tag: String,
    /// `sha256:<hex>` of the manifest the registry stored.
    pub digest: String,
}

impl Pushed {
    /// `repo@sha256:…`: the reference pods pull, pinned to this build.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repo, self.digest)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot tag {image} as {target} in the {engine} engine: {source}")]
    Tag {
        image: String,
        target: String,
        engine: &'static str,
        source: bollard::errors::Error,
    },
    #[error("the {engine} engine could not push {target}{}: {message}{}", credentials.as_deref().map(|c| format!(" (credentials from {c})")).unwrap_or_default(), hint(message))]
    Push {
        target: String,
        engine: &'static str,
        credentials: Option<String>,
        message: String,
    },
    #[error("the {engine} engine pushed {target} but never said which digest the registry stored (no `digest: sha256:…` status line)")]
    NoDigest {
        target: String,
        engine: &'static str,
    },
}

/// What to do about the usual push failures.
fn hint(message: &str) -> &'static str {
    if message.contains("unauthorized") || message.contains("authentication required") {
        "\n  hint: the registry refused the credentials; `docker login`/`podman login` to it, or set `cluster.registry.auth: {username_env, password_env}`"
    } else if message.contains("x509") || message.contains("certificate") {
        "\n  hint: the engine does not trust the registry's certificate; put its CA in /etc/docker/certs.d/<host:port>/ca.crt (Docker) or /etc/containers/certs.d/<host:port>/ca.crt (Podman), or set `cluster.registry.tls_verify: false` (Podman)"
    } else if message.contains("server gave HTTP response to HTTPS client") {
        "\n  hint: the registry speaks plain HTTP; set `cluster.registry.tls_verify: false` (Podman), or list it in Docker's `insecure-registries`"
    } else {
        ""
    }
}

/// `<tag>: digest: sha256:<hex> size: <n>` → `sha256:<hex>`.
pub fn digest_of_status(status: &str) -> Option<String> {
    let rest = &status[status.find("digest: sha256:")? + "digest: ".len()..];
    let hex: String = rest["sha256:".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
}

/// Tag `image` as `target` (`repo:tag`) and push it with `credentials`.
pub async fn push(
    docker: &Docker,
    engine: EngineKind,
    image: &str,
    target: &str,
    credentials: Option<&Credentials>,
    tls_verify: bool,
) -> Result<Pushed, PushError> {
    let (repo, tag) = split_tag(target);
    docker
        .tag_image(
            image,
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .map_err(|source| PushError::Tag {
            image: image.to_owned(),
            target: target.to_owned(),
            engine: engine.as_str(),
            source,
        })?;
    let server = repo.split('/').next().unwrap_or(repo);
    let auth = credentials.map(|c| c.for_engine(server));
    // bollard's PushImageOptions has only `tag` and `platform`. With no options bollard keeps
    // the query written into the path, so `tlsVerify=false` rides there; the trailing
    // `/push` bollard appends lands in an unknown parameter both engines ignore (tried on
    // Docker 20.10 and Podman 4.3).
    let mut stream = if tls_verify {
        docker
            .push_image(
                repo,
                Some(
                    bollard::query_parameters::PushImageOptionsBuilder::default()
                        .tag(tag)
                        .build(),
                ),
                auth,
            )
            .boxed()
    } else {
        let path = format!("{repo}/push?tag={tag}&tlsVerify=false&kubetest=");
        docker
            .push_image(
                &path,
                None::<bollard::query_parameters::PushImageOptions>,
                auth,
            )
            .boxed()
    };
    let mut digest = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| PushError::Push {
            target: target.to_owned(),
            engine: engine.as_str(),
            credentials: credentials.map(|c| c.source.clone()),
            message: crate::secrets::mask(&stream_error(e)).into_owned(),
        })?;
        if let Some(d) = info.status.as_deref().and_then(digest_of_status) {
            digest = Some(d);
        }
    }
    let digest = digest.ok_or_else(|| PushError::NoDigest {
        target: target.to_owned(),
        engine: engine.as_str(),
    })?;
    Ok(Pushed {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest,
    })
}

fn stream_error(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerStreamError { error } => error,
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    }
}

/// `host:5000/app:dev` → (`host:5000/app`, `dev`); no tag → `latest`.
pub fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_from_either_engine_status() {
        let hex = "41385f3c68c0ebd9d4504450ed7419a2fd1168b13e0ef8d43be97d96b87654bb";
        assert_eq!(
            digest_of_status(&format!("1: digest: sha256:{hex} size: 423")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_of_status("Pushed"), None);
        assert_eq!(digest_of_status("x: digest: sha256:abc size: 1"), None);
        assert_eq!(
            split_tag("127.0.0.1:5000/app:dev"),
            ("127.0.0.1:5000/app", "dev")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app", "latest")
        );
        let p = Pushed {
            repo: "r:1/a".into(),
            tag: "t".into(),
            digest: format!("sha256:{hex}"),
        };
        assert_eq!(p.pinned(), format!("r:1/a@sha256:{hex}"));
    }

    #[test]
    fn failures_say_what_to_do() {
        assert!(hint("unauthorized: authentication required").contains("login"));
        assert!(hint("x509: certificate signed by unknown authority").contains("certs.d"));
        assert!(hint("http: server gave HTTP response to HTTPS client").contains("tls_verify"));
    }
}

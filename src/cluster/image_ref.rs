//! Image references the way containerd in a kind node names them
//! (`x:tag` → `docker.io/library/x:tag`), so what we load matches what a pod asks for.

/// Registry that short names resolve to.
const DEFAULT_DOMAIN: &str = "docker.io";

/// A parsed image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse as Docker's `ParseNormalizedNamed` does: the first component is a registry
    /// only when it has a `.` or `:` or is `localhost`; `docker.io/x` becomes
    /// `docker.io/library/x`; `index.docker.io` is `docker.io`.
    pub fn parse(reference: &str) -> Self {
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) => (r, Some(d.to_owned())),
            None => (reference, None),
        };
        // A tag is the part after the last `:` that comes after the last `/`
        // (`localhost:5000/app` has a port, not a tag).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_owned()
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Self {
            domain,
            path,
            tag,
            digest,
        }
    }

    /// True when the reference names no tag and no digest, or the tag `latest`: Kubernetes
    /// then defaults `imagePullPolicy` to `Always`.
    pub fn is_latest(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }

    /// The repository without tag or digest: `docker.io/library/redis`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl std::fmt::Display for ImageRef {
    /// The fully qualified name; a reference without tag or digest gets `:latest`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        match (&self.tag, &self.digest) {
            (None, None) => write!(f, ":latest"),
            (tag, digest) => {
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = digest {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
        }
    }
}

/// The name containerd in a kind node lists for `reference`.
pub fn normalize(reference: &str) -> String {
    ImageRef::parse(reference).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_containerd_lists_them() {
        for (given, want) in [
            ("redis:7", "docker.io/library/redis:7"),
            ("redis", "docker.io/library/redis:latest"),
            ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("docker.io/redis:7", "docker.io/library/redis:7"),
            (
                "index.docker.io/library/redis:7",
                "docker.io/library/redis:7",
            ),
            ("localhost/app:dev", "localhost/app:dev"),
            ("localhost/team/app:dev", "localhost/team/app:dev"),
            ("localhost:5000/app:dev", "localhost:5000/app:dev"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("quay.io/org/app:1.2", "quay.io/org/app:1.2"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            (
                "redis@sha256:0123abcd",
                "docker.io/library/redis@sha256:0123abcd",
            ),
            (
                "redis:7@sha256:0123abcd",
                "docker.io/library/redis:7@sha256:0123abcd",
            ),
            // `localhost` without a path is an image called localhost on Docker Hub.
            ("localhost", "docker.io/library/localhost:latest"),
        ] {
            assert_eq!(normalize(given), want, "{given}");
        }
    }

    #[test]
    fn latest_means_no_tag_or_latest_and_no_digest() {
        assert!(ImageRef::parse("app").is_latest());
        assert!(ImageRef::parse("localhost/app:latest").is_latest());
        assert!(ImageRef::parse("localhost:5000/app").is_latest());
        assert!(!ImageRef::parse("localhost:5000/app:dev").is_latest());
        assert!(!ImageRef::parse("app@sha256:abc").is_latest());
        assert_eq!(
            ImageRef::parse("quay.io/org/app:1").repository(),
            "quay.io/org/app"
        );
    }
}

//! `cluster.load` and `cluster.local_registry`: how built images get into a kind cluster — one
//! archive through `kind load image-archive`, or pushed to a registry container on the kind
//! network that the nodes pull from (kind's local-registry pattern,
//! https://kind.sigs.k8s.io/docs/user/local-registry/), or chosen by the images' size.

use serde::{Deserialize, Serialize};

/// `cluster.load`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// One docker-archive of the images the nodes lack, `kind load image-archive`.
    #[default]
    Archive,
    /// Push to a registry container on the kind network; the nodes pull (only missing layers).
    Registry,
    /// `registry` when the built images weigh more than [`AUTO_REGISTRY_BYTES`], else `archive`.
    Auto,
}

impl LoadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Archive => "archive",
            LoadMode::Registry => "registry",
            LoadMode::Auto => "auto",
        }
    }
}

/// `cluster.load: auto` picks the registry above this total size of the images to load.
///
/// Measured here (issue 18): the archive path costs 14–17 ms per MB on every change — a 301 MB
/// image by hand 4.1–5.0 s, and `benches/load_registry.rs` (a 317.6 MB image, export + load)
/// 5.25–5.49 s. Through a registry a rebuild with 1 MB changed cost 0.42 s push + 0.77 s pull
/// by hand and 0.44–0.81 s push + pull in the bench, whatever the image weighs, because only
/// the changed layer moves. The two meet at 0.44–1.2 s / 14–17 ms/MB ≈ 25–85 MB. The first
/// registry push moves everything and costs more than an archive (317 MB: 6.1 s Podman,
/// 15.0 s Docker, against ~5.3 s), and the registry container must start once; so the
/// threshold sits above the break-even, at 100 MB, where the first change already repays it.
pub const AUTO_REGISTRY_BYTES: u64 = 100_000_000;

/// The registry image kind's guide runs.
pub const DEFAULT_REGISTRY_IMAGE: &str = "registry:2";

/// `cluster.local_registry`: the registry container of `cluster.load: registry | auto`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LocalRegistrySpec {
    /// Image of the registry container (it must serve the distribution API on port 5000).
    #[serde(default = "default_image")]
    pub image: String,
    /// Host port on 127.0.0.1 (kind's guide uses 5001); default: a free port, kept across `up`s.
    #[serde(default)]
    pub port: Option<u16>,
}

fn default_image() -> String {
    DEFAULT_REGISTRY_IMAGE.to_owned()
}

impl Default for LocalRegistrySpec {
    fn default() -> Self {
        Self {
            image: default_image(),
            port: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn load(yaml: &str) -> Result<crate::config::Config, String> {
        let dir = Path::new("/tmp");
        crate::config::load_str(yaml, &dir.join("kubetest.yaml"), dir).map_err(|e| e.to_string())
    }

    #[test]
    fn modes_and_registry_settings_with_located_errors() {
        let c = load("name: e\ncluster:\n  load: registry\n  local_registry: { image: localhost/reg:1, port: 5001 }\n").unwrap();
        assert_eq!(c.cluster.load, super::LoadMode::Registry);
        assert_eq!(c.cluster.local_registry.image, "localhost/reg:1");
        assert_eq!(c.cluster.local_registry.port, Some(5001));
        let d = load("name: e\n").unwrap();
        assert_eq!(d.cluster.load, super::LoadMode::Archive);
        assert_eq!(d.cluster.local_registry.image, "registry:2");

        let bad = load("name: e\ncluster:\n  load: pull\n").unwrap_err();
        assert!(bad.contains("kubetest.yaml:3"), "{bad}");
        assert!(bad.contains("archive") && bad.contains("registry"), "{bad}");
        let unknown = load("name: e\ncluster:\n  load: registry\n  local_registry:\n    host: x\n")
            .unwrap_err();
        assert!(unknown.contains("kubetest.yaml:5"), "{unknown}");
        let existing =
            load("name: e\ncluster:\n  provider: existing\n  load: registry\n").unwrap_err();
        assert!(existing.contains("kubetest.yaml:4"), "{existing}");
        assert!(existing.contains("cluster.load"), "{existing}");
        let unused = load("name: e\ncluster:\n  local_registry: { port: 5001 }\n").unwrap_err();
        assert!(unused.contains("kubetest.yaml:3"), "{unused}");
        assert!(unused.contains("cluster.load"), "{unused}");
        let zero =
            load("name: e\ncluster:\n  load: auto\n  local_registry: { port: 0 }\n").unwrap_err();
        assert!(zero.contains("kubetest.yaml:4"), "{zero}");
    }
}

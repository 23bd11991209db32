//! The kind cluster config of `cluster.load: registry | auto`: the user's config (or kind's
//! minimal one) with the containerd patch of kind's local-registry guide merged in, so that
//! containerd reads per-registry `hosts.toml` files from `/etc/containerd/certs.d`
//! (https://kind.sigs.k8s.io/docs/user/local-registry/, step 2; containerd's docs/hosts.md).
//! The user's own `containerdConfigPatches` are kept, in order; the patch is appended.

use serde_yaml::{Mapping, Value};
use std::path::Path;

/// containerd's registry config directory, where each node gets `<host:port>/hosts.toml`.
pub const CERTS_DIR: &str = "/etc/containerd/certs.d";

/// The patch kind's guide passes to `kind create cluster` (kind-with-registry.sh).
pub fn config_path_patch() -> String {
    format!("[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{CERTS_DIR}\"")
}

#[derive(Debug, thiserror::Error)]
pub enum KindConfigError {
    #[error("cannot read the kind config {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("the kind config {file} is not YAML kind can read: {source}")]
    Yaml {
        file: String,
        source: serde_yaml::Error,
    },
    #[error("the kind config {file} is not a mapping (`kind: Cluster`, `apiVersion: kind.x-k8s.io/v1alpha4`, …)")]
    NotMapping { file: String },
    #[error("the kind config {file}: `containerdConfigPatches` must be a list of TOML strings")]
    PatchesNotStrings { file: String },
    #[error(
        "the kind config {file} sets containerd's registry `config_path` to another directory; \
         `cluster.load: registry` writes the local registry's hosts.toml under {CERTS_DIR}. \
         Set `config_path = \"{CERTS_DIR}\"` in that patch, or use `cluster.load: archive`"
    )]
    OtherConfigPath { file: String },
}

/// What merging did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub yaml: String,
    /// False when a patch of the user's already set `config_path` to [`CERTS_DIR`].
    pub patched: bool,
}

/// The config text to give kind: `user` (text and file name for errors) or kind's minimal one,
/// with the `config_path` patch appended unless a patch of the user's sets it already.
pub fn merge(user: Option<(&str, &Path)>) -> Result<Merged, KindConfigError> {
    let file = user
        .map(|(_, p)| p.display().to_string())
        .unwrap_or_else(|| "(generated)".to_owned());
    let mut doc = match user {
        Some((text, _)) if !text.trim().is_empty() => {
            serde_yaml::from_str::<Value>(text).map_err(|source| KindConfigError::Yaml {
                file: file.clone(),
                source,
            })?
        }
        _ => {
            let mut m = Mapping::new();
            m.insert("kind".into(), "Cluster".into());
            m.insert("apiVersion".into(), "kind.x-k8s.io/v1alpha4".into());
            Value::Mapping(m)
        }
    };
    let map = doc
        .as_mapping_mut()
        .ok_or_else(|| KindConfigError::NotMapping { file: file.clone() })?;
    let patches = map
        .entry("containerdConfigPatches".into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if patches.is_null() {
        *patches = Value::Sequence(Vec::new());
    }
    let list = patches
        .as_sequence_mut()
        .ok_or_else(|| KindConfigError::PatchesNotStrings { file: file.clone() })?;
    let mut ours_already = false;
    for p in list.iter() {
        let text = p
            .as_str()
            .ok_or_else(|| KindConfigError::PatchesNotStrings { file: file.clone() })?;
        if let Some(value) = config_path_value(text) {
            if value != CERTS_DIR {
                return Err(KindConfigError::OtherConfigPath { file });
            }
            ours_already = true;
        }
    }
    if !ours_already {
        list.push(Value::String(config_path_patch()));
    }
    let yaml = serde_yaml::to_string(&doc).map_err(|source| KindConfigError::Yaml {
        file: file.clone(),
        source,
    })?;
    Ok(Merged {
        yaml,
        patched: !ours_already,
    })
}

/// The value of a `config_path = "…"` line in a TOML patch.
fn config_path_value(toml: &str) -> Option<String> {
    toml.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "config_path").then(|| value.trim().trim_matches(['"', '\'']).to_owned())
    })
}

/// Read `path` (the user's `cluster.config`, if any) and write the merged config to `out`.
pub fn write_merged(user: Option<&Path>, out: &Path) -> anyhow::Result<Merged> {
    let text = match user {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|source| KindConfigError::Read {
                file: p.display().to_string(),
                source,
            })?,
        ),
        None => None,
    };
    let merged = merge(text.as_deref().zip(user))?;
    if let Some(dir) = out.parent() {
        crate::state::private::create_dir(dir)?;
    }
    use std::io::Write;
    crate::state::private::create_file(out)?
        .write_all(merged.yaml.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patches(yaml: &str) -> Vec<String> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        v["containerdConfigPatches"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn generated_config_is_kinds_minimal_one_with_the_patch() {
        let m = merge(None).unwrap();
        assert!(m.patched);
        let v: Value = serde_yaml::from_str(&m.yaml).unwrap();
        assert_eq!(v["kind"], "Cluster");
        assert_eq!(v["apiVersion"], "kind.x-k8s.io/v1alpha4");
        assert_eq!(patches(&m.yaml), [config_path_patch()]);
        assert!(config_path_patch().contains("config_path = \"/etc/containerd/certs.d\""));
    }

    #[test]
    fn user_patches_and_nodes_are_kept() {
        let user = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\ncontainerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n    snapshotter = \"native\"\n";
        let m = merge(Some((user, Path::new("kind.yaml")))).unwrap();
        let p = patches(&m.yaml);
        assert_eq!(p.len(), 2);
        assert!(p[0].contains("snapshotter = \"native\""), "{p:?}");
        assert_eq!(p[1], config_path_patch());
        let v: Value = serde_yaml::from_str(&m.yaml).unwrap();
        assert_eq!(v["nodes"].as_sequence().unwrap().len(), 2);

        // Already there: nothing added twice.
        let again = merge(Some((&m.yaml, Path::new("kind.yaml")))).unwrap();
        assert!(!again.patched);
        assert_eq!(patches(&again.yaml).len(), 2);
    }

    #[test]
    fn conflicting_or_malformed_configs_are_named() {
        let other = "kind: Cluster\ncontainerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"/etc/containerd/hosts\"\n";
        let e = merge(Some((other, Path::new("my-kind.yaml"))))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("my-kind.yaml") && e.contains("/etc/containerd/certs.d"),
            "{e}"
        );
        let e = merge(Some(("- a\n", Path::new("k.yaml"))))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a mapping"), "{e}");
        let e = merge(Some((
            "containerdConfigPatches: {a: 1}\n",
            Path::new("k.yaml"),
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("list of TOML strings"), "{e}");
    }
}

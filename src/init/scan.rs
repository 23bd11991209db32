//! What `init` finds in the project tree: Containerfiles/Dockerfiles, kind configs, directories
//! (or files) of Kubernetes manifests, and kustomize/Helm layouts it can name but not apply.

use super::Layout;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// Directories never looked into: build output, dependencies, version control, kubetest's own.
const SKIP: &[&str] = &[
    "target",
    "node_modules",
    "vendor",
    "scenarios",
    "__pycache__",
];
/// How deep the walk goes below the project root.
const MAX_DEPTH: usize = 8;
/// Entries looked at, at most (a huge tree is cut short rather than read for minutes).
const MAX_ENTRIES: usize = 20_000;
/// YAML files larger than this are not parsed.
const MAX_YAML_BYTES: u64 = 1024 * 1024;

/// Paths relative to the root, in lexical order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Found {
    pub containerfiles: Vec<PathBuf>,
    pub kind_configs: Vec<PathBuf>,
    /// Directories (ending in `/`) or single files, as `deploy.manifests` lists them.
    pub manifests: Vec<PathBuf>,
    pub layouts: Vec<Layout>,
}

/// What one YAML file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YamlKind {
    /// Every document is a Kubernetes object (`apiVersion` and `kind`).
    Manifest,
    KindConfig,
    /// Anything else: compose files, CI files, Helm templates that are not YAML…
    Other,
}

fn is_containerfile(name: &str) -> bool {
    let base = ["Containerfile", "Dockerfile"];
    if name.ends_with(".dockerignore") || name.ends_with(".containerignore") {
        return false;
    }
    base.iter().any(|b| {
        name == *b
            || name.strip_prefix(b).is_some_and(|r| r.starts_with('.'))
            || name.strip_suffix(b).is_some_and(|r| r.ends_with('.'))
    })
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn classify(path: &Path) -> YamlKind {
    let too_big = std::fs::metadata(path).map_or(true, |m| m.len() > MAX_YAML_BYTES);
    let Ok(text) = std::fs::read_to_string(path) else {
        return YamlKind::Other;
    };
    if too_big {
        return YamlKind::Other;
    }
    let mut docs = 0;
    let mut kind_config = false;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let Ok(v) = Value::deserialize(doc) else {
            return YamlKind::Other;
        };
        if v.is_null() {
            continue;
        }
        let api = v.get("apiVersion").and_then(Value::as_str);
        let kind = v.get("kind").and_then(Value::as_str);
        match (api, kind) {
            (Some(a), Some("Cluster")) if a.starts_with("kind.x-k8s.io/") => kind_config = true,
            (Some(a), Some(_)) if a.starts_with("kustomize.config.k8s.io/") => {
                return YamlKind::Other
            }
            (Some(_), Some(_)) => {}
            _ => return YamlKind::Other,
        }
        docs += 1;
    }
    match (docs, kind_config) {
        (0, _) => YamlKind::Other,
        (_, true) => YamlKind::KindConfig,
        _ => YamlKind::Manifest,
    }
}

use serde::Deserialize;

/// One directory's findings, for deciding whether it can be listed whole.
struct DirScan {
    /// Relative paths of the manifest files in its whole subtree.
    manifests: Vec<PathBuf>,
    /// Every YAML file of the subtree is a manifest and no layout is inside.
    clean: bool,
}

pub fn scan(root: &Path) -> Found {
    let mut found = Found::default();
    let mut budget = MAX_ENTRIES;
    let top = walk(root, Path::new(""), 0, &mut found, &mut budget);
    // The root itself is never listed whole: it holds kubetest.yaml, compose files, sources.
    let _ = top;
    for v in [
        &mut found.containerfiles,
        &mut found.kind_configs,
        &mut found.manifests,
    ] {
        v.sort();
    }
    found
}

/// Walk `rel` (relative to `root`); a clean manifest subdirectory is listed whole, otherwise its
/// manifest files one by one.
fn walk(root: &Path, rel: &Path, depth: usize, found: &mut Found, budget: &mut usize) -> DirScan {
    let dir = root.join(rel);
    let mut scan = DirScan {
        manifests: Vec::new(),
        clean: true,
    };
    if rel.as_os_str().is_empty() {
        scan.clean = false;
    }
    let has = |n: &str| dir.join(n).is_file();
    if !rel.as_os_str().is_empty() {
        if has("Chart.yaml") {
            found.layouts.push(Layout::Helm(rel.to_path_buf()));
            scan.clean = false;
            return scan;
        }
        if has("kustomization.yaml") || has("kustomization.yml") || has("Kustomization") {
            found.layouts.push(Layout::Kustomize(rel.to_path_buf()));
            scan.clean = false;
            return scan;
        }
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        scan.clean = false;
        return scan;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut subdirs = Vec::new();
    for e in entries {
        if *budget == 0 {
            scan.clean = false;
            break;
        }
        *budget -= 1;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        let path = rel.join(&name);
        if ft.is_dir() {
            if name.starts_with('.') || SKIP.contains(&name.as_str()) || depth >= MAX_DEPTH {
                continue;
            }
            subdirs.push(path);
        } else if ft.is_file() {
            if is_containerfile(&name) {
                found.containerfiles.push(path.clone());
            }
            if is_yaml(&path) {
                match classify(&root.join(&path)) {
                    YamlKind::Manifest => scan.manifests.push(path),
                    YamlKind::KindConfig => {
                        found.kind_configs.push(path);
                        scan.clean = false;
                    }
                    YamlKind::Other => scan.clean = false,
                }
            }
        }
    }
    let mut listed_here: Vec<PathBuf> = std::mem::take(&mut scan.manifests);
    let mut children_listed = Vec::new();
    for sub in subdirs {
        let child = walk(root, &sub, depth + 1, found, budget);
        if child.clean && !child.manifests.is_empty() {
            children_listed.push(sub);
        } else if !child.clean {
            scan.clean = false;
        }
        // A clean child without manifests (sources, docs) does not spoil this directory.
        let _ = child.manifests;
    }
    if scan.clean && (!listed_here.is_empty() || !children_listed.is_empty()) {
        // The whole directory can be listed by the parent.
        scan.manifests = vec![rel.to_path_buf()];
        return scan;
    }
    // Not clean: list what is inside individually.
    for c in children_listed {
        found.manifests.push(with_slash(&c));
    }
    found.manifests.append(&mut listed_here);
    scan
}

fn with_slash(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}/", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n";

    #[test]
    fn finds_containerfiles_kind_configs_manifests_and_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(r, "Dockerfile", "FROM scratch\n");
        write(r, "api/Containerfile", "FROM scratch\n");
        write(r, "api/Dockerfile.dev", "FROM scratch\n");
        write(r, "api/Dockerfile.dockerignore", "x\n");
        write(r, "node_modules/x/Dockerfile", "FROM scratch\n");
        write(
            r,
            "kind-config.yaml",
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: control-plane}]\n",
        );
        write(
            r,
            "docker-compose.yml",
            "services: {db: {image: postgres}}\n",
        );
        write(r, "deploy/base/app.yaml", DEPLOY);
        write(
            r,
            "deploy/base/more/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        write(
            r,
            "deploy/overlay/kustomization.yaml",
            "resources: [../base]\n",
        );
        write(r, "deploy/values.yaml", "replicas: 2\n");
        write(
            r,
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        );
        write(r, "charts/web/templates/d.yaml", "{{ .Values.x }}\n");
        write(r, "service.yaml", DEPLOY);
        let f = scan(r);
        assert_eq!(
            f.containerfiles,
            ["Dockerfile", "api/Containerfile", "api/Dockerfile.dev"].map(PathBuf::from)
        );
        assert_eq!(f.kind_configs, [PathBuf::from("kind-config.yaml")]);
        // deploy/ holds a non-manifest (values.yaml) and a kustomize overlay: its clean
        // subdirectory is listed, not deploy/ itself; the root's manifest file alone.
        assert_eq!(
            f.manifests,
            ["deploy/base/", "service.yaml"].map(PathBuf::from)
        );
        assert_eq!(
            f.layouts,
            vec![
                Layout::Helm(PathBuf::from("charts/web")),
                Layout::Kustomize(PathBuf::from("deploy/overlay")),
            ]
        );
    }

    #[test]
    fn a_clean_manifest_tree_is_one_entry() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "k8s/a.yaml", DEPLOY);
        write(tmp.path(), "k8s/sub/b.yml", DEPLOY);
        write(tmp.path(), "k8s/README.md", "docs\n");
        assert_eq!(scan(tmp.path()).manifests, [PathBuf::from("k8s/")]);
    }
}

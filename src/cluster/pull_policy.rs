//! Warnings for manifests that would make the kubelet pull an image kubetest loaded into the
//! nodes (`:latest` without `imagePullPolicy` defaults to `Always`).

use super::image_ref::{normalize, ImageRef};
use std::path::{Path, PathBuf};

/// A container of a manifest that will try to pull a loaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullWarning {
    pub file: PathBuf,
    pub container: String,
    pub image: String,
    pub why: String,
}

impl std::fmt::Display for PullWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: container `{}` uses {} {}; the kubelet will try to pull it, but it exists only \
             in the nodes (set `imagePullPolicy: IfNotPresent` or use a tag other than latest)",
            self.file.display(),
            self.container,
            self.image,
            self.why
        )
    }
}

/// Check every YAML/JSON file under `paths` (directories in lexical order) for containers
/// whose image is one of `loaded`. Files that do not parse are left to the deploy phase.
pub fn check(paths: &[PathBuf], loaded: &[String]) -> Vec<PullWarning> {
    let loaded: Vec<String> = loaded.iter().map(|l| normalize(l)).collect();
    let mut files = Vec::new();
    for p in paths {
        collect_files(p, &mut files);
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        out.extend(check_text(&text, &file, &loaded));
    }
    out
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(rd) = std::fs::read_dir(path) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            collect_files(&e, out);
        }
    } else if path
        .extension()
        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
    {
        out.push(path.to_path_buf());
    }
}

/// The warnings of one multi-document YAML text; `loaded` is normalised.
pub fn check_text(text: &str, file: &Path, loaded: &[String]) -> Vec<PullWarning> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let Ok(value) = serde_yaml::Value::deserialize(doc) else {
            return out;
        };
        walk(&value, &mut |c| {
            let Some(image) = c.get("image").and_then(|v| v.as_str()) else {
                return;
            };
            if !loaded.contains(&normalize(image)) {
                return;
            }
            let policy = c.get("imagePullPolicy").and_then(|v| v.as_str());
            let why = match policy {
                Some("Always") => "with `imagePullPolicy: Always`".to_owned(),
                None if ImageRef::parse(image).is_latest() => {
                    "as :latest with no imagePullPolicy (which defaults to Always)".to_owned()
                }
                _ => return,
            };
            out.push(PullWarning {
                file: file.to_path_buf(),
                container: c
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_owned(),
                image: image.to_owned(),
                why,
            });
        });
    }
    out
}

/// Every container spec anywhere in the object (Pod, Deployment, CronJob, …).
fn walk(v: &serde_yaml::Value, f: &mut impl FnMut(&serde_yaml::Mapping)) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, child) in m {
                let is_containers = matches!(
                    k.as_str(),
                    Some("containers" | "initContainers" | "ephemeralContainers")
                );
                match (is_containers, child) {
                    (true, serde_yaml::Value::Sequence(items)) => {
                        for item in items {
                            if let serde_yaml::Value::Mapping(c) = item {
                                f(c);
                            }
                        }
                    }
                    _ => walk(child, f),
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| walk(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: app, namespace: demo }
spec:
  selector: { matchLabels: { app: app } }
  template:
    metadata: { labels: { app: app } }
    spec:
      initContainers:
        - name: migrate
          image: localhost/migrate
      containers:
        - name: app
          image: localhost/app:dev
        - name: sidecar
          image: localhost/app:latest
          imagePullPolicy: IfNotPresent
        - name: pinned
          image: localhost/app:dev
          imagePullPolicy: Always
        - name: redis
          image: redis
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly }
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - { name: job, image: "localhost/app:latest" }
"#;

    #[test]
    fn latest_without_policy_and_always_are_flagged() {
        let loaded: Vec<String> = [
            "localhost/app:dev",
            "localhost/app:latest",
            "localhost/migrate:latest",
        ]
        .iter()
        .map(|s| normalize(s))
        .collect();
        let w = check_text(MANIFEST, Path::new("m.yaml"), &loaded);
        let got: Vec<(&str, &str)> = w
            .iter()
            .map(|w| (w.container.as_str(), w.image.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("migrate", "localhost/migrate"),
                ("pinned", "localhost/app:dev"),
                ("job", "localhost/app:latest"),
            ],
            "redis is not loaded; :dev without a policy and :latest with IfNotPresent are fine"
        );
        assert!(w[0].to_string().contains("defaults to Always"), "{}", w[0]);
        assert!(w[1].to_string().contains("imagePullPolicy: Always"));
    }

    #[test]
    fn files_in_directories_in_lexical_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let pod = |img: &str| {
            format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: c, image: \"{img}\"}}\n")
        };
        std::fs::write(dir.path().join("b.yaml"), pod("localhost/b")).unwrap();
        std::fs::write(dir.path().join("sub/a.yml"), pod("localhost/a")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), pod("localhost/a")).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "{ not: yaml: at all").unwrap();
        let w = check(
            &[dir.path().to_path_buf()],
            &["localhost/a".into(), "localhost/b".into()],
        );
        let files: Vec<_> = w
            .iter()
            .map(|w| w.file.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(files, [PathBuf::from("b.yaml"), PathBuf::from("sub/a.yml")]);
    }
}

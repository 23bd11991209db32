//! Manifest files → ordered documents: files and directories (lexical order), multi-document
//! YAML, `kind: List` expanded; namespaces first, then CRDs, then the rest in file order.

use kube::api::DynamicObject;
use std::fmt;
use std::path::{Path, PathBuf};

/// One object of a manifest file, with where it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: PathBuf,
    /// 1-based position of the YAML document in its file.
    pub doc: usize,
    pub object: DynamicObject,
}

/// The objects of one YAML document: the `items` of a `*List` (`v1/List`, `PodList`…, as
/// `kubectl apply` unwraps them), else the document itself.
pub(crate) fn list_items(value: serde_json::Value) -> Vec<serde_json::Value> {
    match value.get("kind").and_then(|k| k.as_str()) {
        Some(k) if k.ends_with("List") && value.get("items").is_some() => value
            .get("items")
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => vec![value],
    }
}

#[cfg(test)]
impl Manifest {
    /// A manifest from YAML text, as document 1 of `app.yaml` (unit tests).
    pub fn from_test_yaml(yaml: &str) -> Manifest {
        Manifest {
            file: PathBuf::from("app.yaml"),
            doc: 1,
            object: serde_yaml::from_str(yaml).expect("test manifest YAML"),
        }
    }
}

impl Manifest {
    pub fn api_version(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map(|t| t.api_version.as_str())
            .unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map(|t| t.kind.as_str())
            .unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or("")
    }
    /// `file (document N)`.
    pub fn origin(&self) -> String {
        format!("{} (document {})", self.file.display(), self.doc)
    }
    fn rank(&self) -> u8 {
        match (self.api_version(), self.kind()) {
            ("v1", "Namespace") => 0,
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => 1,
            _ => 2,
        }
    }
}

/// A manifest that cannot be read or is not a Kubernetes object.
#[derive(Debug, thiserror::Error)]
pub struct ManifestError {
    pub file: PathBuf,
    pub doc: Option<usize>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.doc {
            Some(d) => write!(
                f,
                "{} (document {d}): {}",
                self.file.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The files named by `paths`: a file as is, a directory's `.yaml`/`.yml`/`.json` files
/// (recursively) in lexical order of their paths.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| ManifestError {
            file: p.clone(),
            doc: None,
            message: format!("cannot read it: {e}"),
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ManifestError {
        file: dir.to_owned(),
        doc: None,
        message: format!("cannot list the directory: {e}"),
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| ManifestError {
                file: dir.to_owned(),
                doc: None,
                message: format!("cannot list the directory: {e}"),
            })?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Every object of `text` (the content of `file`), in document order.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Manifest>, ManifestError> {
    parse_with(file, text, Ok)
}

/// Like [`parse`], with each document passed through `transform` (e.g. template rendering)
/// before it becomes an object.
pub fn parse_with(
    file: &Path,
    text: &str,
    transform: impl Fn(serde_json::Value) -> Result<serde_json::Value, String>,
) -> Result<Vec<Manifest>, ManifestError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = i + 1;
        let err = |message: String| ManifestError {
            file: file.to_owned(),
            doc: Some(doc),
            message,
        };
        let value = serde_json::Value::deserialize(de).map_err(|e| err(format!("{e}")))?;
        if value.is_null() {
            continue;
        }
        let value = transform(value).map_err(err)?;
        let items = list_items(value);
        for item in items {
            out.push(Manifest {
                file: file.to_owned(),
                doc,
                object: to_object(item).map_err(err)?,
            });
        }
    }
    Ok(out)
}

/// A JSON tree as an object to apply: `apiVersion`, `kind` and `metadata.name` required.
pub fn to_object(value: serde_json::Value) -> Result<DynamicObject, String> {
    for key in ["apiVersion", "kind"] {
        if !value.get(key).is_some_and(|v| v.is_string()) {
            return Err(format!("not a Kubernetes object: no `{key}`"));
        }
    }
    if value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .is_none_or(str::is_empty)
    {
        let kind = value["kind"].as_str().unwrap_or("");
        return Err(format!(
            "{kind} without `metadata.name` (generateName cannot be applied server-side)"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("not a Kubernetes object: {e}"))
}

/// Read every manifest of `paths` in apply order.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Manifest>, ManifestError> {
    let mut all = Vec::new();
    for file in expand(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|e| ManifestError {
            file: file.clone(),
            doc: None,
            message: format!("cannot read it: {e}"),
        })?;
        all.extend(parse(&file, &text)?);
    }
    Ok(in_apply_order(all))
}

/// Namespaces, then CRDs, then everything else; file order kept inside each group.
pub fn in_apply_order(mut all: Vec<Manifest>) -> Vec<Manifest> {
    all.sort_by_key(Manifest::rank);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
---
# only a comment
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: demo}
"#;

    #[test]
    fn namespaces_then_crds_then_file_order_with_document_numbers() {
        let all = in_apply_order(parse(Path::new("m.yaml"), APP).unwrap());
        let got: Vec<(&str, &str, usize)> =
            all.iter().map(|m| (m.kind(), m.name(), m.doc)).collect();
        assert_eq!(
            got,
            [
                ("Namespace", "demo", 3),
                ("CustomResourceDefinition", "widgets.example.com", 4),
                ("Deployment", "web", 1),
                ("Widget", "w1", 5),
            ]
        );
        assert_eq!(all[3].object.metadata.namespace.as_deref(), Some("demo"));
    }

    #[test]
    fn lists_are_expanded() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let all = parse(Path::new("l.yaml"), text).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name(), "b");
    }

    #[test]
    fn errors_name_the_file_and_document() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n";
        let e = parse(Path::new("dir/c.yaml"), text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dir/c.yaml (document 2): not a Kubernetes object: no `apiVersion`"
        );
        let e = parse(
            Path::new("g.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {generateName: x-}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("Pod without `metadata.name`"), "{e}");
        let e = parse(Path::new("bad.yaml"), "a: [1,\n").unwrap_err();
        assert!(e.to_string().starts_with("bad.yaml (document 1): "), "{e}");
    }

    #[test]
    fn directories_in_lexical_order_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("base")).unwrap();
        for f in ["20-app.yaml", "00-ns.yml", "base/config.yaml", "README.md"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let files = expand(&[d.to_owned()]).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["00-ns.yml", "20-app.yaml", "base/config.yaml"]);
    }
}

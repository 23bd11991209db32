//! `kubetest init`: a commented `kubetest.yaml` drafted from the project tree and, with
//! `--from-compose`, from a Compose file's services.

pub mod compose;
pub mod render;
pub mod scan;

use crate::config::DependencySpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; `kubetest init --force` replaces it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot read the compose file {}: {source}", path.display())]
    ReadCompose {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a compose file kubetest can read: {message}", path.display())]
    BadCompose { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The draft does not load with kubetest's own loader: a bug of `init`, reported with the
    /// loader's own message rather than written as a broken file.
    #[error("the drafted kubetest.yaml does not load (a bug of `kubetest init`; nothing was written):\n{0}")]
    Invalid(String),
}

impl InitError {
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Write { .. } | InitError::Invalid(_) => crate::exit::INFRA,
            _ => crate::exit::CONFIG,
        }
    }
}

/// An image `up` will build.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDraft {
    pub name: String,
    /// Context directory relative to the config's directory.
    pub context: PathBuf,
    /// Containerfile relative to the context, when not the default name.
    pub file: Option<PathBuf>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Where it was found: `backend/Dockerfile`, `compose service web`.
    pub origin: String,
    /// Why the entry is written commented out (its context or Containerfile is missing).
    pub disabled: Option<String>,
}

/// A dependency converted from a compose service.
#[derive(Debug, Clone, PartialEq)]
pub struct DepDraft {
    pub name: String,
    pub spec: DependencySpec,
    /// One-line comment on the `health:` line: how its timeout was computed.
    pub health_comment: Option<String>,
    /// Volume entries left commented out, each with the reason.
    pub disabled_volumes: Vec<(String, String)>,
    /// Comment lines written above the dependency (its origin).
    pub comments: Vec<String>,
}

/// A layout kubetest can name but not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Kustomize(PathBuf),
    Helm(PathBuf),
}

/// Everything the generated file says, before it is written out as text.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    /// The command line that made it (first comment line).
    pub made_by: String,
    /// Compose keys and values kubetest cannot express, one per line, grouped by the caller.
    pub not_converted: Vec<String>,
    /// Things worth knowing that are not losses (variables resolved from `.env`, …).
    pub remarks: Vec<String>,
    pub images: Vec<ImageDraft>,
    pub kind_config: Option<PathBuf>,
    pub other_kind_configs: Vec<PathBuf>,
    pub manifests: Vec<PathBuf>,
    pub layouts: Vec<Layout>,
    pub dependencies: Vec<DepDraft>,
    /// Whether `scenarios/` exists already (then `init` adds no example).
    pub scenarios_exist: bool,
}

/// A name usable as an environment, dependency or image name: lowercase letters, digits and
/// `-`, starting and ending with a letter or digit, at most `max` characters.
pub fn label(raw: &str, max: usize) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s: String = s.trim_matches('-').chars().take(max).collect();
    s.trim_end_matches('-').to_owned()
}

/// Build the draft for the project at `root`, optionally converting `compose` (a path as the
/// user gave it, relative to the current directory).
pub fn draft(
    root: &Path,
    compose_file: Option<&Path>,
    made_by: String,
) -> Result<Draft, InitError> {
    let found = scan::scan(root);
    let dir_name = root
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| label(n, 40))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "app".to_owned());
    let mut d = Draft {
        name: dir_name,
        made_by,
        kind_config: found.kind_configs.first().cloned(),
        other_kind_configs: found.kind_configs.iter().skip(1).cloned().collect(),
        manifests: found.manifests,
        layouts: found.layouts,
        scenarios_exist: root.join("scenarios").exists(),
        ..Draft::default()
    };
    let mut compose_images = Vec::new();
    if let Some(file) = compose_file {
        let c = compose::convert(file, root, &d.name)?;
        if let Some(n) = c.project_name.as_deref().map(|n| label(n, 40)) {
            if !n.is_empty() {
                d.name = n;
            }
        }
        d.not_converted = c.not_converted;
        d.remarks = c.remarks;
        d.dependencies = c.dependencies;
        compose_images = c.images;
    }
    // Containerfiles the compose file already builds are listed once, under its name.
    let built: Vec<(PathBuf, PathBuf)> = compose_images
        .iter()
        .map(|i| {
            (
                i.context.clone(),
                i.file
                    .clone()
                    .unwrap_or_else(|| default_file(root, &i.context)),
            )
        })
        .collect();
    let mut images = compose_images;
    for f in &found.containerfiles {
        let context = f.parent().map(Path::to_path_buf).unwrap_or_default();
        let file_name = PathBuf::from(f.file_name().unwrap_or_default());
        if built
            .iter()
            .any(|(c, file)| same_dir(c, &context) && *file == file_name)
        {
            continue;
        }
        let stem = if context.as_os_str().is_empty() || context == Path::new(".") {
            d.name.clone()
        } else {
            format!("{}-{}", d.name, label(&context.to_string_lossy(), 40))
        };
        let default = matches!(file_name.to_str(), Some("Containerfile" | "Dockerfile"));
        let mut name = format!("localhost/{}:dev", label(&stem, 60));
        if !default || images.iter().any(|i: &ImageDraft| i.name == name) {
            let extra = label(
                &file_name
                    .to_string_lossy()
                    .replace("Dockerfile", "")
                    .replace("Containerfile", ""),
                20,
            );
            name = format!("localhost/{}:dev", label(&format!("{stem}-{extra}"), 60));
        }
        let mut n = 2;
        while images.iter().any(|i| i.name == name) {
            name = format!("localhost/{}-{n}:dev", label(&stem, 60));
            n += 1;
        }
        images.push(ImageDraft {
            name,
            context: if context.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                context
            },
            file: (!default).then_some(file_name),
            args: BTreeMap::new(),
            target: None,
            origin: f.display().to_string(),
            disabled: None,
        });
    }
    d.images = images;
    Ok(d)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        let s = p.to_string_lossy();
        let s = s.trim_start_matches("./").trim_end_matches('/');
        if s.is_empty() {
            ".".to_owned()
        } else {
            s.to_owned()
        }
    };
    norm(a) == norm(b)
}

/// The file `up` builds in `context` when none is named: Containerfile, then Dockerfile.
fn default_file(root: &Path, context: &Path) -> PathBuf {
    if root.join(context).join("Containerfile").is_file() {
        PathBuf::from("Containerfile")
    } else {
        PathBuf::from("Dockerfile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label("My_Project.v2", 40), "my-project-v2");
        assert_eq!(label("--a__b--", 40), "a-b");
        assert_eq!(label(&"x".repeat(50), 40).len(), 40);
        assert_eq!(label("ab-cd", 3), "ab");
    }
}

//! `kubetest validate`: the config, every scenario file and every manifest checked without
//! an engine or a cluster; `run` runs the same checks before it looks for an environment.

use crate::config::{self, ConfigError, LoadedConfig, Problem};
use crate::events::Event;
use crate::k8s::{manifest_check, manifests};
use crate::plan::Plan;
use crate::scenario::load::{load_dir, Known, LoadedScenario};
use crate::Session;
use std::fmt;
use std::path::{Path, PathBuf};

/// Every problem of every file, each as `file:line:col` (exit code 2).
#[derive(Debug, thiserror::Error)]
pub struct Invalid(pub Vec<ConfigError>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count: usize = self.0.iter().map(|e| e.problems.len()).sum();
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{count} problem{} found\n{}",
            if count == 1 { "" } else { "s" },
            texts.join("\n")
        )
    }
}

/// What a valid environment holds.
#[derive(Debug)]
pub struct Valid {
    pub scenarios: Vec<LoadedScenario>,
    pub scenario_files: usize,
    pub manifest_files: usize,
    pub objects: usize,
}

/// `kubetest validate`: load the config, then check the rest.
pub fn validate(session: &Session, file: &Path) -> anyhow::Result<()> {
    let loaded = config::load(file).map_err(|e| Invalid(vec![e]))?;
    let valid = check(&loaded)?;
    session.events.emit(Event::Validated {
        config: loaded.path.display().to_string(),
        scenario_files: valid.scenario_files,
        scenarios: valid.scenarios.len(),
        manifest_files: valid.manifest_files,
        objects: valid.objects,
    });
    Ok(())
}

/// Scenario files and manifests of a loaded config; every problem of every file at once.
pub fn check(loaded: &LoadedConfig) -> Result<Valid, Invalid> {
    let plan = Plan::from_config(loaded);
    let mut errors = Vec::new();
    let known =
        Known::of_dependencies(plan.dependencies.iter().map(|d| (d.name.as_str(), &d.spec)));
    let (scenarios, scenario_files) = match &plan.scenarios_dir {
        Some(dir) => {
            let files = count_yaml(dir);
            match load_dir(&shown(dir), &known) {
                Ok(s) => (s, files),
                Err(e) => {
                    errors.extend(e);
                    (Vec::new(), files)
                }
            }
        }
        None => (Vec::new(), 0),
    };
    let (manifest_files, objects) = check_manifests(&plan.deploy.manifests, &mut errors);
    if errors.is_empty() {
        Ok(Valid {
            scenarios,
            scenario_files,
            manifest_files,
            objects,
        })
    } else {
        Err(Invalid(errors))
    }
}

fn check_manifests(paths: &[PathBuf], errors: &mut Vec<ConfigError>) -> (usize, usize) {
    let mut files = Vec::new();
    for p in paths {
        match manifests::expand(std::slice::from_ref(p)) {
            Ok(f) => files.extend(f),
            Err(e) => errors.push(ConfigError::single(
                shown(&e.file),
                Problem::new(None, e.message),
            )),
        }
    }
    let mut objects = 0;
    for f in &files {
        let text = match config::read_text(f, "manifest") {
            Ok(t) => t,
            Err(mut e) => {
                e.file = shown(f);
                errors.push(e);
                continue;
            }
        };
        let checked = manifest_check::check(config::without_bom(&text));
        objects += checked.objects;
        if !checked.problems.is_empty() {
            errors.push(
                ConfigError {
                    file: shown(f),
                    problems: checked.problems,
                }
                .with_source(&text),
            );
        }
    }
    (files.len(), objects)
}

fn count_yaml(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml") && p.is_file())
            .count()
    })
}

/// A path relative to the current directory when it is inside it (what people type).
fn shown(p: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .map(|r| {
            if r.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                r
            }
        })
        .unwrap_or_else(|| p.to_path_buf())
}

//! Reading scenario files: every `*.yaml`/`*.yml` of the scenario directory, in name order,
//! with errors located like the config's (file, line, column, what was expected).

use super::jsonpath;
use super::model::{Scenario, Step};
use super::template;
use crate::config::{did_you_mean, from_yaml, ConfigError, LocationIndex, Problem};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A scenario and where it was defined.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    pub file: PathBuf,
    /// Line of the scenario's `name:`.
    pub line: usize,
    /// Line of each step, then of each cleanup step (the numbering of step results).
    pub step_lines: Vec<usize>,
}

/// What scenario files may refer to besides their own vars and captures.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Dependency name → its container ports (for `deps.<name>.port.<port>`).
    pub dependencies: BTreeMap<String, Vec<u16>>,
}

impl Known {
    /// The template variables every scenario has.
    pub fn variables(&self) -> BTreeSet<String> {
        let mut v: BTreeSet<String> = ["namespace", "environment", "kubeconfig"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for (name, ports) in &self.dependencies {
            v.insert(format!("deps.{name}.host"));
            v.insert(format!("deps.{name}.address"));
            for p in ports {
                v.insert(format!("deps.{name}.port.{p}"));
            }
        }
        v
    }
}

/// Load every scenario file of `dir`; all problems of all files are reported together.
pub fn load_dir(dir: &Path, known: &Known) -> Result<Vec<LoadedScenario>, Vec<ConfigError>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml") && p.is_file())
            .collect(),
        Err(e) => {
            return Err(vec![ConfigError::single(
                dir,
                Problem::new(None, format!("cannot read the scenario directory: {e}"))
                    .expected("a directory of scenario files"),
            )])
        }
    };
    files.sort();
    let mut out: Vec<LoadedScenario> = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load_file(&f, known) {
            Ok(list) => {
                for s in list {
                    if let Some(first) = out.iter().find(|o| o.scenario.name == s.scenario.name) {
                        errors.push(ConfigError::single(
                            &s.file,
                            Problem::new(
                                Some(crate::config::Location {
                                    line: s.line,
                                    column: 1,
                                }),
                                format!(
                                    "duplicate scenario name `{}` (also in {}:{})",
                                    s.scenario.name,
                                    first.file.display(),
                                    first.line
                                ),
                            )
                            .expected("each scenario name once across the scenario directory"),
                        ));
                    } else {
                        out.push(s);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Load one file: a scenario mapping, or a list of them.
pub fn load_file(path: &Path, known: &Known) -> Result<Vec<LoadedScenario>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::single(
            path,
            Problem::new(None, format!("cannot read the scenario file: {e}")),
        )
    })?;
    let raw: Value = serde_yaml::from_str(&text).unwrap_or(Value::Null);
    let (scenarios, index, prefix): (Vec<Scenario>, LocationIndex, bool) = match raw {
        Value::Sequence(_) => {
            let (v, idx) = from_yaml::<Vec<Scenario>>(&text, path)?;
            (v, idx, true)
        }
        Value::Null => {
            return Err(ConfigError::single(
                path,
                Problem::new(
                    Some(crate::config::Location::START),
                    "the scenario file is empty",
                )
                .expected("a scenario (`name:` and `steps:`) or a list of scenarios"),
            )
            .with_source(&text))
        }
        _ => {
            let (v, idx) = from_yaml::<Scenario>(&text, path)?;
            (vec![v], idx, false)
        }
    };
    let raw_list: Vec<Value> = match serde_yaml::from_str::<Value>(&text) {
        Ok(Value::Sequence(items)) => items,
        Ok(other) => vec![other],
        Err(_) => Vec::new(),
    };
    let mut problems = crate::config::duplicate_keys(&index);
    let mut loaded = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    for (k, s) in scenarios.into_iter().enumerate() {
        let base = if prefix {
            format!("[{k}]")
        } else {
            String::new()
        };
        let mut v = Checker {
            idx: &index,
            base: &base,
            problems: &mut problems,
            dir,
        };
        v.scenario(&s, raw_list.get(k), known);
        let line = index.value(&v.path("name")).line;
        let step_lines = (0..s.steps.len())
            .map(|i| format!("steps[{i}]"))
            .chain((0..s.cleanup.len()).map(|i| format!("cleanup[{i}]")))
            .map(|p| index.value(&v.path(&p)).line)
            .collect();
        loaded.push(LoadedScenario {
            scenario: s,
            file: path.to_path_buf(),
            line,
            step_lines,
        });
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        problems.sort_by_key(|p| p.location);
        Err(ConfigError {
            file: path.to_path_buf(),
            problems,
        }
        .with_source(&text))
    }
}

struct Checker<'a> {
    idx: &'a LocationIndex,
    base: &'a str,
    problems: &'a mut Vec<Problem>,
    dir: &'a Path,
}

impl Checker<'_> {
    fn path(&self, rel: &str) -> String {
        if self.base.is_empty() {
            rel.to_owned()
        } else if rel.starts_with('[') {
            format!("{}{rel}", self.base)
        } else {
            format!("{}.{rel}", self.base)
        }
    }

    fn at(&mut self, rel: &str, message: String, expected: &str) {
        let loc = self.idx.value(&self.path(rel));
        self.problems
            .push(Problem::new(Some(loc), message).expected(expected));
    }

    fn scenario(&mut self, s: &Scenario, raw: Option<&Value>, known: &Known) {
        let label_ok = !s.name.is_empty()
            && s.name.len() <= 40
            && s.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.name.starts_with('-')
            && !s.name.ends_with('-');
        if !label_ok {
            self.at("name", format!("invalid scenario name `{}`", s.name), "lowercase letters, digits and `-`, at most 40 characters (it names the scenario's namespace)");
        }
        if s.steps.is_empty() {
            self.at(
                "steps",
                format!("scenario `{}` has no steps", s.name),
                "at least one step",
            );
        }
        let mut names = known.variables();
        names.extend(s.vars.keys().cloned());
        let raw_steps = raw
            .and_then(|r| r.get("steps"))
            .and_then(Value::as_sequence);
        for (i, step) in s.steps.iter().enumerate() {
            self.step(
                &format!("steps[{i}]"),
                step,
                raw_steps.and_then(|r| r.get(i)),
                &names,
                known,
            );
            names.extend(step.capture.keys().cloned());
        }
        let raw_cleanup = raw
            .and_then(|r| r.get("cleanup"))
            .and_then(Value::as_sequence);
        for (i, step) in s.cleanup.iter().enumerate() {
            self.step(
                &format!("cleanup[{i}]"),
                step,
                raw_cleanup.and_then(|r| r.get(i)),
                &names,
                known,
            );
        }
    }

    fn step(
        &mut self,
        p: &str,
        step: &Step,
        raw: Option<&Value>,
        names: &BTreeSet<String>,
        known: &Known,
    ) {
        let actions = step.actions();
        if actions.len() != 1 {
            self.at(
                p,
                format!("{p}: {} given", if actions.is_empty() { "no action".to_owned() } else { format!("several actions ({})", actions.join(", ")) }),
                "exactly one of `http`, `run`, `exec`, `sleep`, `apply`, `delete`, `wait`, `assert`, `error`",
            );
        }
        // Every `{{ name }}` in the step must be known by the time the step runs.
        if let Some(raw) = raw {
            let mut texts = Vec::new();
            strings(raw, &mut texts);
            for t in texts {
                match template::references(&t) {
                    Ok(refs) => {
                        for r in refs.into_iter().filter(|r| !names.contains(r)) {
                            let loc = self
                                .idx
                                .scalar_under(&self.path(p), &t)
                                .unwrap_or_else(|| self.idx.value(&self.path(p)));
                            self.problems.push(
                                Problem::new(
                                    Some(loc),
                                    format!("{p}: unknown variable `{{{{ {r} }}}}`"),
                                )
                                .expected(format!(
                                    "one of: {}",
                                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                                ))
                                .hint(did_you_mean(&r, names.iter().map(String::as_str))),
                            );
                        }
                    }
                    Err(e) => {
                        let loc = self
                            .idx
                            .scalar_under(&self.path(p), &t)
                            .unwrap_or_else(|| self.idx.value(&self.path(p)));
                        self.problems.push(
                            Problem::new(Some(loc), format!("{p}: {e}")).expected("`{{ name }}`"),
                        );
                    }
                }
            }
        }
        for (name, path) in &step.capture {
            if let Err(e) = jsonpath::validate(path) {
                self.at(
                    &format!("{p}.capture.{name}"),
                    format!("{p}.capture.{name}: {e}"),
                    "a JSONPath such as `.status.phase` or `{.items[0].metadata.name}`",
                );
            }
        }
        let regexes = [
            (
                step.http
                    .as_ref()
                    .and_then(|h| h.expect.body_regex.as_ref()),
                "http.expect.body_regex",
            ),
            (
                step.run
                    .as_ref()
                    .and_then(|r| r.expect.stdout_regex.as_ref()),
                "run.expect.stdout_regex",
            ),
            (
                step.run
                    .as_ref()
                    .and_then(|r| r.expect.stderr_regex.as_ref()),
                "run.expect.stderr_regex",
            ),
            (
                step.exec
                    .as_ref()
                    .and_then(|r| r.expect.stdout_regex.as_ref()),
                "exec.expect.stdout_regex",
            ),
            (
                step.exec
                    .as_ref()
                    .and_then(|r| r.expect.stderr_regex.as_ref()),
                "exec.expect.stderr_regex",
            ),
        ];
        for (re, field) in regexes {
            if let Some(re) = re {
                if let Err(e) = regex::Regex::new(re) {
                    let msg = e.to_string().lines().last().unwrap_or("").to_owned();
                    self.at(
                        &format!("{p}.{field}"),
                        format!("{p}.{field}: invalid regex: {msg}"),
                        "a regular expression (Rust regex syntax)",
                    );
                }
            }
        }
        if let Some(h) = &step.http {
            if let Some(f) = &h.forward {
                let targets = [f.service.is_some(), f.pod.is_some(), f.selector.is_some()];
                if targets.iter().filter(|t| **t).count() != 1 {
                    self.at(
                        &format!("{p}.http.forward"),
                        format!("{p}.http.forward: name exactly one target"),
                        "one of `service: NAME`, `pod: NAME` or `selector: app=x`, and `port:`",
                    );
                }
                if !h.url.starts_with('/') {
                    self.at(
                        &format!("{p}.http.url"),
                        format!(
                            "{p}.http.url: with `forward`, the URL is a path on the forwarded port, found `{}`",
                            h.url
                        ),
                        "a path such as /healthz (kubetest supplies http://127.0.0.1:<local port>)",
                    );
                }
            }
            let m = h.method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
                self.at(
                    &format!("{p}.http.method"),
                    format!("{p}.http.method: unknown method `{}`", h.method),
                    "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
                );
            }
        }
        if let Some(r) = &step.run {
            if r.command.is_empty() || (r.shell && r.command.len() != 1) {
                self.at(
                    &format!("{p}.run.command"),
                    format!(
                        "{p}.run.command: {}",
                        if r.shell {
                            "with `shell: true` give one string"
                        } else {
                            "empty command"
                        }
                    ),
                    "an argv list such as [curl, -fsS, URL], or one string with `shell: true`",
                );
            }
        }
        if let Some(e) = &step.exec {
            let targets = [
                e.dependency.is_some(),
                e.pod.is_some(),
                e.selector.is_some(),
            ]
            .iter()
            .filter(|t| **t)
            .count();
            if targets != 1 {
                self.at(
                    &format!("{p}.exec"),
                    format!("{p}.exec: name exactly one target"),
                    "one of `dependency: NAME`, `pod: NAME` or `selector: app=x`",
                );
            }
            if let Some(d) = &e.dependency {
                if !known.dependencies.contains_key(d) {
                    let loc = self.idx.value(&self.path(&format!("{p}.exec.dependency")));
                    self.problems.push(
                        Problem::new(
                            Some(loc),
                            format!("{p}.exec.dependency: unknown dependency `{d}`"),
                        )
                        .expected(format!(
                            "a dependency of kubetest.yaml ({})",
                            known
                                .dependencies
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .hint(did_you_mean(
                            d,
                            known.dependencies.keys().map(String::as_str),
                        )),
                    );
                }
            }
            if e.command.is_empty() {
                self.at(
                    &format!("{p}.exec.command"),
                    format!("{p}.exec.command: empty command"),
                    "an argv list",
                );
            }
        }
        if let Some(a) = &step.apply {
            if a.file.is_some() != a.objects.is_empty() {
                self.at(
                    &format!("{p}.apply"),
                    format!("{p}.apply: give either `file` or `objects`"),
                    "`file: manifests/x.yaml` or `objects: [ {apiVersion: …, kind: …} ]`",
                );
            }
            if let Some(f) = &a.file {
                if !f.contains("{{") && !self.dir.join(f).is_file() {
                    self.at(
                        &format!("{p}.apply.file"),
                        format!(
                            "{p}.apply.file: `{f}` does not exist (resolved to {})",
                            self.dir.join(f).display()
                        ),
                        "a manifest file relative to the scenario file",
                    );
                }
            }
        }
        if let Some(d) = &step.delete {
            if d.name.is_some() == d.selector.is_some() {
                self.at(
                    &format!("{p}.delete"),
                    format!("{p}.delete: give `name` or `selector`"),
                    "one of `name` or `selector`",
                );
            }
        }
        if let Some(w) = &step.wait {
            if w.jsonpath.is_some() != w.value.is_some()
                || (w.until == "jsonpath" && w.jsonpath.is_none())
            {
                self.at(
                    &format!("{p}.wait"),
                    format!("{p}.wait: `jsonpath` and `value` go together"),
                    "`for: jsonpath` with `jsonpath: .status.phase` and `value: Running`",
                );
            }
            if w.name.is_some() && w.selector.is_some() {
                self.at(
                    &format!("{p}.wait"),
                    format!("{p}.wait: give `name` or `selector`, not both"),
                    "one of `name` or `selector`",
                );
            }
            if let Some(jp) = &w.jsonpath {
                if let Err(e) = jsonpath::validate(jp) {
                    self.at(
                        &format!("{p}.wait.jsonpath"),
                        format!("{p}.wait.jsonpath: {e}"),
                        "a JSONPath such as `.status.phase`",
                    );
                }
            }
        }
        for (a, key) in [(&step.assert, "assert"), (&step.error, "error")] {
            if let Some(a) = a {
                if a.name.is_some() && a.selector.is_some() {
                    self.at(
                        &format!("{p}.{key}"),
                        format!("{p}.{key}: give `name` or `selector`, not both"),
                        "one of `name` or `selector`",
                    );
                }
            }
        }
    }
}

/// Every string scalar of a YAML tree (values and keys).
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        Value::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in README.md's "Scenarios" section is a valid scenario file.
    #[test]
    fn readme_example_loads() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme
            .find("## Scenarios")
            .expect("README has ## Scenarios")..];
        let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
        let yaml = &section[start..start + section[start..].find("```").expect("closed")];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.yaml");
        std::fs::write(&path, yaml).unwrap();
        let known = Known {
            dependencies: [("app".into(), vec![8080]), ("postgres".into(), vec![5432])].into(),
        };
        let loaded = load_file(&path, &known).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].scenario.name, "order-is-stored");
        assert_eq!(loaded[0].scenario.steps.len(), 5);
        let forward = loaded[0].scenario.steps[3].http.as_ref().unwrap();
        assert_eq!(
            forward
                .forward
                .as_ref()
                .map(|f| (f.service.as_deref(), f.port)),
            Some((Some("worker"), 80))
        );
        assert_eq!(loaded[0].scenario.cleanup.len(), 1);
    }
}

//! Reading scenario files: every `*.yaml`/`*.yml` of the scenario directory, in name order,
//! with errors located like the config's (file, line, column, what was expected).

use super::jsonpath;
use super::model::{Scenario, Step};
use super::template;
use crate::config::k8s_names;
use crate::config::limits::{self, DurationRange};
use crate::config::{
    did_you_mean, parse_tree, read_text, read_tree, without_bom, ConfigError, Duration,
    LocationIndex, Parsed, Problem,
};
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
    /// What the dependencies of a config offer: each one's container ports.
    pub fn of_dependencies<'a>(
        deps: impl IntoIterator<Item = (&'a str, &'a crate::config::DependencySpec)>,
    ) -> Self {
        Self {
            dependencies: deps
                .into_iter()
                .map(|(name, spec)| {
                    (
                        name.to_owned(),
                        spec.ports.iter().map(|p| p.container).collect(),
                    )
                })
                .collect(),
        }
    }

    /// The template variables every scenario has.
    pub fn variables(&self) -> BTreeSet<String> {
        let mut v: BTreeSet<String> = [
            "namespace",
            "environment",
            "kubeconfig",
            "run_id",
            "run_suffix",
        ]
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
    load_text(&read_text(path, "scenario")?, path, known)
}

/// Load the text of scenario file `path` (which names it in messages and anchors `apply.file`).
pub fn load_text(
    text: &str,
    path: &Path,
    known: &Known,
) -> Result<Vec<LoadedScenario>, ConfigError> {
    let text = without_bom(text);
    let mut tree = parse_tree(text, path)?;
    let root = match tree.root.take() {
        Some(root) if !root.is_null() => root,
        _ => {
            return Err(ConfigError::single(
                path,
                Problem::new(
                    Some(crate::config::Location::START),
                    "the scenario file is empty",
                )
                .expected("a scenario (`name:` and `steps:`) or a list of scenarios"),
            )
            .with_source(text))
        }
    };
    // The tree as plain values, for the template strings of each step.
    let raw = read_tree::<Value>(&tree, &root, text, path)
        .ok()
        .map(|p| p.value);
    let prefix = root.is_seq();
    let (scenarios, mut parsed): (Vec<Scenario>, Parsed<()>) = if prefix {
        let p = read_tree::<Vec<Scenario>>(&tree, &root, text, path)?;
        p.split()
    } else {
        let p = read_tree::<Scenario>(&tree, &root, text, path)?;
        let (s, rest) = p.split();
        (vec![s], rest)
    };
    let index = std::mem::take(&mut parsed.index);
    let raw_list: Vec<Value> = match raw {
        Some(Value::Sequence(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let mut problems = Vec::new();
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
    parsed.add_checks(problems);
    parsed.finish(text, path).map(|()| loaded)
}

/// Check steps written outside a scenario file — the config's `setup:` — with the same checks
/// as a scenario's steps, located at `base[i]` of the file `idx` indexes; relative paths
/// (`apply.file`) are relative to `dir`.
pub fn check_steps(
    base: &str,
    steps: &[Step],
    idx: &LocationIndex,
    dir: &Path,
    known: &Known,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut v = Checker {
        idx,
        base: "",
        problems: &mut problems,
        dir,
    };
    let mut names = known.variables();
    for (i, step) in steps.iter().enumerate() {
        // The step as a YAML tree: its strings are the file's, so templates are located.
        let raw = serde_yaml::to_value(step).ok();
        v.step(&format!("{base}[{i}]"), step, raw.as_ref(), &names, known);
        names.extend(step.capture.keys().cloned());
    }
    problems
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

    /// A duration outside the range its use accepts.
    fn duration(&mut self, rel: &str, d: Duration, range: DurationRange) {
        if let Some(expected) = range.check(d) {
            self.at(
                rel,
                format!("{rel}: {} is out of range", limits::shown(d)),
                &expected,
            );
        }
    }

    /// A port or status code outside the range its use accepts.
    fn number(&mut self, rel: &str, n: u16, range: &std::ops::RangeInclusive<u16>, what: &str) {
        if let Some(expected) = limits::check_number(n, range, what) {
            self.at(rel, format!("{rel}: {n} is out of range"), &expected);
        }
    }

    /// Kubernetes names, namespaces and selectors; a templated value is checked when it runs.
    fn k8s(
        &mut self,
        rel: &str,
        namespace: Option<&String>,
        name: Option<(&str, &String)>,
        selector: Option<&String>,
    ) {
        let literal = |v: Option<&String>| v.filter(|v| !v.contains("{{")).cloned();
        let key = |k: &str| {
            if rel.is_empty() {
                k.to_owned()
            } else {
                format!("{rel}.{k}")
            }
        };
        if let Some(ns) = literal(namespace).filter(|n| !k8s_names::is_dns1123_label(n)) {
            self.at(
                &key("namespace"),
                format!("{}: invalid namespace `{ns}`", key("namespace")),
                k8s_names::LABEL_SHAPE,
            );
        }
        let name = name.and_then(|(k, n)| Some((k, literal(Some(n))?)));
        if let Some((k, n)) = name.filter(|(_, n)| !k8s_names::is_dns1123_subdomain(n)) {
            self.at(
                &key(k),
                format!("{}: invalid object name `{n}`", key(k)),
                k8s_names::SUBDOMAIN_SHAPE,
            );
        }
        if let Some(sel) = literal(selector) {
            if let Some(why) = k8s_names::selector_problem(&sel) {
                self.at(
                    &key("selector"),
                    format!("{}: invalid label selector: {why}", key("selector")),
                    k8s_names::SELECTOR_SHAPE,
                );
            }
        }
    }

    fn scenario(&mut self, s: &Scenario, raw: Option<&Value>, known: &Known) {
        self.duration("timeout", s.timeout, limits::TIMEOUT);
        self.k8s("", s.namespace.as_ref(), None, None);
        if s.name.trim().is_empty() || s.name.chars().any(char::is_control) || s.name.len() > 200 {
            self.at(
                "name",
                format!("invalid scenario name `{}`", s.name.escape_debug()),
                "a name on one line, at most 200 characters (a sentence is fine; its slug names the namespace)",
            );
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
        self.duration(&format!("{p}.timeout"), step.timeout, limits::TIMEOUT);
        self.duration(
            &format!("{p}.interval"),
            step.interval,
            limits::RETRY_INTERVAL,
        );
        if let Some(d) = step.eventually {
            self.duration(&format!("{p}.eventually"), d, limits::WAIT_OR_SLEEP);
        }
        if let Some(d) = step.sleep {
            self.duration(&format!("{p}.sleep"), d, limits::WAIT_OR_SLEEP);
        }
        let actions = step.actions();
        if actions.len() != 1 {
            self.at(
                p,
                format!("{p}: {} given", if actions.is_empty() { "no action".to_owned() } else { format!("several actions ({})", actions.join(", ")) }),
                "exactly one of `http`, `run`, `exec`, `sleep`, `apply`, `delete`, `wait`, `assert`, `error`, `tcp`",
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
            if let Some(status) = h.expect.status {
                self.number(
                    &format!("{p}.http.expect.status"),
                    status,
                    &limits::HTTP_STATUS,
                    "an HTTP status",
                );
            }
            if let Some(f) = &h.forward {
                self.number(
                    &format!("{p}.http.forward.port"),
                    f.port,
                    &limits::PORTS,
                    "a port",
                );
                let fp = format!("{p}.http.forward");
                self.k8s(
                    &fp,
                    f.namespace.as_ref(),
                    f.service
                        .as_ref()
                        .map(|n| ("service", n))
                        .or(f.pod.as_ref().map(|n| ("pod", n))),
                    f.selector.as_ref(),
                );
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
        if let Some(t) = &step.tcp {
            use crate::scenario::model::PortText;
            let bad = match &t.port {
                PortText::Number(n) => (*n == 0).then(|| n.to_string()),
                PortText::Text(x) if x.contains("{{") => None,
                PortText::Text(x) => {
                    (x.trim().parse::<u16>().map_or(true, |n| n == 0)).then(|| x.clone())
                }
            };
            if let Some(bad) = bad {
                self.at(
                    &format!("{p}.tcp.port"),
                    format!("{p}.tcp.port: invalid port `{bad}`"),
                    "a port 1–65535, or a template such as \"{{ deps.redis.port.6379 }}\"",
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
            self.k8s(
                &format!("{p}.exec"),
                e.namespace.as_ref(),
                e.pod.as_ref().map(|n| ("pod", n)),
                e.selector.as_ref(),
            );
            // A pod's container names are DNS-1123 labels (Container.name in the Pod API).
            if let Some(c) = e
                .container
                .as_ref()
                .filter(|c| !c.contains("{{") && !k8s_names::is_dns1123_label(c))
            {
                self.at(
                    &format!("{p}.exec.container"),
                    format!("{p}.exec.container: invalid container name `{c}`"),
                    k8s_names::LABEL_SHAPE,
                );
            }
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
            self.k8s(
                &format!("{p}.delete"),
                d.namespace.as_ref(),
                d.name.as_ref().map(|n| ("name", n)),
                d.selector.as_ref(),
            );
            if d.name.is_some() == d.selector.is_some() {
                self.at(
                    &format!("{p}.delete"),
                    format!("{p}.delete: give `name` or `selector`"),
                    "one of `name` or `selector`",
                );
            }
        }
        if let Some(w) = &step.wait {
            self.k8s(
                &format!("{p}.wait"),
                w.namespace.as_ref(),
                w.name.as_ref().map(|n| ("name", n)),
                w.selector.as_ref(),
            );
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
                self.k8s(
                    &format!("{p}.{key}"),
                    a.namespace.as_ref(),
                    a.name.as_ref().map(|n| ("name", n)),
                    a.selector.as_ref(),
                );
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
        assert_eq!(loaded[0].scenario.name, "An order is stored");
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

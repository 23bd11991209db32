//! Converting a Compose file's services into kubetest `dependencies` (and `images` for services
//! that `build:`), listing everything that has no kubetest equivalent.
//!
//! Semantics follow the Compose specification, "Services top-level elements"
//! (<https://github.com/compose-spec/compose-spec/blob/main/05-services.md>,
//! <https://docs.docker.com/reference/compose-file/services/>).

pub mod duration;
pub mod envfile;
pub mod interpolate;
mod service;

use super::{DepDraft, ImageDraft, InitError};
use interpolate::{Resolution, Use};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a compose file became.
#[derive(Debug, Default)]
pub struct Converted {
    /// The top-level `name:` (the compose project name), when given.
    pub project_name: Option<String>,
    pub dependencies: Vec<DepDraft>,
    pub images: Vec<ImageDraft>,
    pub not_converted: Vec<String>,
    pub remarks: Vec<String>,
}

/// Where paths of the compose file are resolved and written relative to.
pub(crate) struct Ctx<'a> {
    /// Absolute directory of the compose file (its relative paths start there).
    pub compose_dir: PathBuf,
    /// Absolute directory of the generated kubetest.yaml.
    pub root: &'a Path,
    /// Default project name (for names of built images).
    pub project: String,
    pub home: Option<PathBuf>,
    /// Variables of the `.env` file beside the compose file (the project environment `init`
    /// knows: the shell's is not read).
    pub dot_env: BTreeMap<String, String>,
}

impl Ctx<'_> {
    /// A compose path (relative to the compose file) as the kubetest config writes it:
    /// relative to the config's directory when inside it, else absolute.
    pub fn config_path(&self, compose_relative: &str) -> (PathBuf, String) {
        let abs = crate::config::mounts::normalise(&self.compose_dir.join(compose_relative));
        let shown = match abs.strip_prefix(self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => abs.display().to_string(),
        };
        (abs, shown)
    }
}

/// One `depends_on` entry of a service.
#[derive(Debug, Clone)]
pub(crate) struct DependsOn {
    pub target: String,
    pub condition: String,
    pub required: bool,
    pub restart: bool,
}

/// Read `file` (a path as given on the command line) and convert it for a config in `root`.
pub fn convert(file: &Path, root: &Path, project: &str) -> Result<Converted, InitError> {
    let text = std::fs::read_to_string(file).map_err(|source| InitError::ReadCompose {
        path: file.to_owned(),
        source,
    })?;
    let bad = |message: String| InitError::BadCompose {
        path: file.to_owned(),
        message,
    };
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    // `<<: *anchor` merge keys, as Compose applies them (Compose spec "Fragments").
    doc.apply_merge().map_err(|e| bad(e.to_string()))?;
    let abs = std::path::absolute(file).map_err(|source| InitError::ReadCompose {
        path: file.to_owned(),
        source,
    })?;
    let compose_dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let ctx = Ctx {
        compose_dir,
        root,
        project: project.to_owned(),
        home: std::env::var_os("HOME").map(PathBuf::from),
        dot_env: BTreeMap::new(),
    };
    convert_value(doc, &ctx, file).map_err(bad)
}

fn convert_value(mut doc: Value, ctx: &Ctx<'_>, file: &Path) -> Result<Converted, String> {
    let dot_env_path = ctx.compose_dir.join(".env");
    let dot_env = std::fs::read_to_string(&dot_env_path)
        .map(|t| envfile::parse(&t))
        .unwrap_or_default();
    let ctx = &Ctx {
        compose_dir: ctx.compose_dir.clone(),
        root: ctx.root,
        project: ctx.project.clone(),
        home: ctx.home.clone(),
        dot_env: dot_env.vars.clone(),
    };
    let Value::Mapping(top) = &mut doc else {
        return Err("the top level is not a mapping".into());
    };
    let mut out = Converted::default();
    let shown_file = file.display().to_string();

    // Interpolation first, as Compose does, from the `.env` file beside the compose file.
    let mut uses: Vec<(String, Use)> = Vec::new();
    for (k, v) in top.iter_mut() {
        if let Some(key) = k.as_str() {
            if key == "name" || key == "services" {
                interpolate_tree(v, key.to_owned(), &dot_env.vars, &mut uses);
            }
        }
    }
    variable_notes(&uses, &mut out);

    for (k, v) in top.iter() {
        let Some(key) = k.as_str() else { continue };
        match key {
            "services" | "version" => {}
            "name" => out.project_name = v.as_str().map(str::to_owned),
            k if k.starts_with("x-") => {}
            "networks" => out.not_converted.push(
                "networks: kubetest puts all dependencies on one private network per environment, where they reach each other by service name".into(),
            ),
            "volumes" => out.not_converted.push(format!(
                "volumes ({}): named volumes are not created; mounts of them are left out, so their data is not kept between `up`s",
                keys_of(v)
            )),
            "secrets" | "configs" => out.not_converted.push(format!(
                "{key} ({}): not supported; mount the file under `volumes:` of the dependency instead",
                keys_of(v)
            )),
            "include" => out.not_converted.push(
                "include: the included compose files are not read; convert each with `--from-compose`".into(),
            ),
            other => out
                .not_converted
                .push(format!("{other}: top-level key with no kubetest equivalent")),
        }
    }

    let Some(Value::Mapping(services)) = top.get("services") else {
        return Err(format!("{shown_file} has no `services:` mapping"));
    };

    // Service names become dependency names: labels, unique.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut converted: Vec<(String, service::Service)> = Vec::new();
    for (k, v) in services {
        let Some(compose_name) = k.as_str() else {
            continue;
        };
        let Value::Mapping(svc) = v else {
            out.not_converted
                .push(format!("services.{compose_name}: not a mapping; left out"));
            continue;
        };
        if let Some(p) = svc.get("profiles") {
            out.not_converted.push(format!(
                "services.{compose_name}: only started with profile {} (compose `--profile`); left out",
                service::scalars(p).join(", ")
            ));
            continue;
        }
        let mut name = super::label(compose_name, 40);
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name = super::label(&format!("svc-{name}"), 40);
        }
        let base = name.clone();
        let mut n = 2;
        while names.values().any(|v| *v == name) {
            name = format!("{}-{n}", super::label(&base, 37));
            n += 1;
        }
        if name != compose_name {
            out.remarks.push(format!(
                "service `{compose_name}` is the dependency `{name}` (dependency names are lowercase letters, digits and `-`)"
            ));
        }
        names.insert(compose_name.to_owned(), name.clone());
        let svc = service::convert(compose_name, &name, svc, ctx, &mut out.not_converted);
        if let Some(s) = svc {
            converted.push((compose_name.to_owned(), s));
        }
    }

    // `depends_on` → `needs`; `service_completed_successfully` targets → `once: true`.
    // Compose spec, depends_on long syntax: service_started, service_healthy,
    // service_completed_successfully; `required: false` only warns when the service is absent.
    let present: Vec<String> = converted.iter().map(|(c, _)| c.clone()).collect();
    let edges: BTreeMap<&str, Vec<&str>> = converted
        .iter()
        .map(|(c, s)| {
            let targets = s.depends_on.iter().map(|d| d.target.as_str());
            (
                c.as_str(),
                targets.filter(|t| present.iter().any(|p| p == t)).collect(),
            )
        })
        .collect();
    if let Some(cycle) = find_cycle(&edges) {
        // Compose refuses it too ("dependency cycle detected"); it is the file's problem.
        return Err(format!(
            "services.{}.depends_on: dependency cycle {}; remove one of these `depends_on` entries",
            cycle[0],
            cycle.join(" → ")
        ));
    }
    let mut once: Vec<String> = Vec::new();
    for (_, s) in &converted {
        for d in &s.depends_on {
            if d.condition == "service_completed_successfully" && present.contains(&d.target) {
                once.push(d.target.clone());
            }
        }
    }
    let has_health: BTreeMap<String, bool> = converted
        .iter()
        .map(|(c, s)| (c.clone(), s.dep.spec.health.is_some()))
        .collect();
    for (compose_name, s) in &mut converted {
        for d in &s.depends_on {
            let p = format!("services.{compose_name}.depends_on.{}", d.target);
            let Some(target) = names.get(&d.target).filter(|_| present.contains(&d.target)) else {
                out.not_converted.push(format!(
                    "{p}: `{}` is not converted (see above){}; not needed",
                    d.target,
                    if d.required {
                        ""
                    } else {
                        " and `required: false`"
                    }
                ));
                continue;
            };
            let target_health = has_health.get(&d.target).copied().unwrap_or(false);
            match d.condition.as_str() {
                "service_healthy" if !target_health && !once.contains(&d.target) => {
                    out.not_converted.push(format!(
                        "{p}: waits for `{}` to be healthy, but kubetest has no health check for it; `up` waits only for it to start",
                        d.target
                    ))
                }
                "service_started" if target_health => out.remarks.push(format!(
                    "{p}: compose waits for `{}` to start; kubetest waits until its health check passes",
                    d.target
                )),
                "service_started" | "service_healthy" | "service_completed_successfully" => {}
                other => out.not_converted.push(format!(
                    "{p}: unknown condition `{other}`; treated as service_started"
                )),
            }
            if !d.required {
                out.remarks.push(format!(
                    "{p}: `required: false`; kubetest always starts `{}` first",
                    d.target
                ));
            }
            if d.restart {
                out.not_converted.push(format!(
                    "{p}.restart: kubetest does not restart `{}` when `{}` restarts",
                    s.dep.name, target
                ));
            }
            if !s.dep.spec.needs.contains(target) {
                s.dep.spec.needs.push(target.clone());
            }
        }
    }
    for (compose_name, s) in &mut converted {
        if once.contains(compose_name) {
            s.dep.spec.once = true;
            if s.dep.spec.health.take().is_some() {
                s.dep.health_comment = None;
                out.not_converted.push(format!(
                    "services.{compose_name}.healthcheck: dropped, `{}` is a one-shot job (others wait for it to complete successfully)",
                    s.dep.name
                ));
            }
            if !s.dep.spec.ports.is_empty() {
                out.remarks.push(format!(
                    "services.{compose_name}: one-shot job with published ports"
                ));
            }
        }
    }
    // Compose can publish one host port twice on different host addresses; kubetest publishes
    // on one address, so a later publisher gets a free port instead.
    let mut taken: BTreeMap<(u16, String), String> = BTreeMap::new();
    for (compose_name, s) in &mut converted {
        for port in &mut s.dep.spec.ports {
            let Some(h) = port.host else { continue };
            if let Some(first) = taken.get(&(h, port.protocol.to_string())) {
                out.not_converted.push(format!(
                    "services.{compose_name}.ports: host port {h} is also published by `{first}`; `{}` gets a free host port instead",
                    s.dep.name
                ));
                port.host = None;
            } else {
                taken.insert((h, port.protocol.to_string()), s.dep.name.clone());
            }
        }
    }
    for (_, s) in converted {
        out.dependencies.push(s.dep);
        out.images.extend(s.image);
    }
    Ok(out)
}

fn keys_of(v: &Value) -> String {
    match v {
        Value::Mapping(m) => m
            .keys()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Interpolate every string of `v` (not keys), recording the variables met at `path`.
fn interpolate_tree(
    v: &mut Value,
    path: String,
    vars: &BTreeMap<String, String>,
    uses: &mut Vec<(String, Use)>,
) {
    match v {
        Value::String(s) => {
            let (new, met) = interpolate::interpolate(s, vars);
            *s = new;
            uses.extend(met.into_iter().map(|u| (path.clone(), u)));
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, format!("{path}[{i}]"), vars, uses);
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let key = k.as_str().map_or_else(|| "?".to_owned(), str::to_owned);
                interpolate_tree(item, format!("{path}.{key}"), vars, uses);
            }
        }
        Value::Tagged(t) => interpolate_tree(&mut t.value, path, vars, uses),
        _ => {}
    }
}

/// One note per variable: unresolved ones are losses, the rest remarks.
fn variable_notes(uses: &[(String, Use)], out: &mut Converted) {
    let mut by_var: BTreeMap<&str, (&Resolution, Vec<&str>)> = BTreeMap::new();
    for (path, u) in uses {
        let e = by_var
            .entry(u.name.as_str())
            .or_insert((&u.resolution, Vec::new()));
        // An unresolved use outranks a resolved one of the same variable.
        if matches!(u.resolution, Resolution::Empty | Resolution::Required(_)) {
            e.0 = &u.resolution;
        }
        if !e.1.contains(&path.as_str()) {
            e.1.push(path);
        }
    }
    let mut defaults = Vec::new();
    let mut from_env = Vec::new();
    for (name, (res, paths)) in by_var {
        let at = if paths.len() > 2 {
            format!("{}, {} and {} more", paths[0], paths[1], paths.len() - 2)
        } else {
            paths.join(", ")
        };
        match res {
            Resolution::Empty => out.not_converted.push(format!(
                "${{{name}}} is not set in .env and has no default: replaced by an empty string, as compose does (in {at}); write the value here"
            )),
            Resolution::Required(msg) => out.not_converted.push(format!(
                "${{{name}}} is required (\"{msg}\") but not set in .env: compose would stop; replaced by an empty string (in {at})"
            )),
            Resolution::Default => defaults.push(name),
            Resolution::FromEnvFile => from_env.push(name),
        }
    }
    if !defaults.is_empty() {
        out.remarks.push(format!(
            "variables not set in .env, their defaults written in: {}",
            defaults.join(", ")
        ));
    }
    if !from_env.is_empty() {
        out.remarks.push(format!(
            "variables taken from .env: {}",
            from_env.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests;

/// A cycle in `depends_on` (its first service repeated at the end), searched from the services in name order.
fn find_cycle<'a>(edges: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if done.contains(&node) {
            return None;
        }
        path.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.push(node);
        None
    }
    let mut done = Vec::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

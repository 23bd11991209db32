//! One compose service → one kubetest dependency (and an image when it has `build:`).

use super::{duration, envfile, Ctx, DependsOn};
use crate::config::{mounts, DependencySpec, Duration, HealthSpec, PortMapping, VolumeMount};
use crate::init::{DepDraft, ImageDraft};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) struct Service {
    pub dep: DepDraft,
    pub image: Option<ImageDraft>,
    pub depends_on: Vec<DependsOn>,
}

/// Compose healthcheck defaults (Compose spec "healthcheck", same as Dockerfile HEALTHCHECK):
/// interval 30s, timeout 30s, retries 3, start_period 0s.
const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

/// What a key that has no kubetest equivalent becomes in the notes.
fn unsupported(key: &str) -> &'static str {
    match key {
        "networks" | "network_mode" | "links" | "external_links" | "hostname" | "domainname"
        | "extra_hosts" | "dns" | "dns_search" | "mac_address" => {
            "dependencies share one private network and reach each other by dependency name"
        }
        "container_name" => "kubetest names containers `kubetest-<environment>-<dependency>`",
        "expose" => "not needed: dependencies reach each other's ports on the private network",
        "deploy" | "scale" | "cpus" | "cpu_shares" | "mem_limit" | "memswap_limit"
        | "mem_reservation" | "shm_size" | "ulimits" | "pids_limit" | "oom_score_adj" => {
            "resource limits, replicas and placement are not supported"
        }
        "secrets" | "configs" => "mount the file under `volumes:` instead",
        "extends" => "not resolved: copy the keys of the extended service into this one",
        "labels" | "annotations" => "kubetest sets its own labels",
        "logging" => "kubetest reads the container's output through the engine",
        "cap_add" | "cap_drop" | "privileged" | "security_opt" | "devices" | "sysctls"
        | "userns_mode" | "ipc" | "pid" | "cgroup_parent" | "init" | "read_only" | "tmpfs"
        | "stop_signal" | "stop_grace_period" | "tty" | "stdin_open" | "platform"
        | "pull_policy" | "volumes_from" | "group_add" | "runtime" | "isolation" => {
            "no kubetest equivalent"
        }
        _ => "unknown to kubetest",
    }
}

/// A scalar as text (`5432`, `true`, `x`); a list of scalars as its items.
pub(crate) fn scalars(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(t) => scalar(&t.value),
        _ => None,
    }
}

/// `command:`/`entrypoint:`: a list as is; a string split as a shell would (Compose spec:
/// "The value can also be a list, in a manner similar to Dockerfile"; a string is split into
/// words by Compose, e.g. `bundle exec puma -C config/puma.rb`).
fn argv(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Sequence(_) => Ok(scalars(v)),
        Value::String(s) => shlex::split(s)
            .ok_or_else(|| format!("cannot split `{s}` into words (unbalanced quotes)")),
        other => Err(format!("unexpected value {other:?}")),
    }
}

fn kt_duration(d: std::time::Duration) -> Duration {
    // Whole milliseconds: what kubetest's duration syntax writes back exactly.
    Duration(std::time::Duration::from_millis(
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    ))
}

pub(crate) fn convert(
    compose_name: &str,
    name: &str,
    svc: &Mapping,
    ctx: &Ctx<'_>,
    notes: &mut Vec<String>,
) -> Option<Service> {
    let p = format!("services.{compose_name}");
    let mut note = |key: &str, text: String| notes.push(format!("{p}.{key}: {text}"));
    let mut spec = DependencySpec {
        image: String::new(),
        env: BTreeMap::new(),
        ports: Vec::new(),
        command: None,
        entrypoint: None,
        volumes: Vec::new(),
        unsafe_mounts: false,
        workdir: None,
        user: None,
        needs: Vec::new(),
        once: false,
        health: None,
    };
    let mut dep_comments = vec![format!("compose service `{compose_name}`")];
    let mut disabled_volumes = Vec::new();
    let mut health_comment = None;
    let mut image = None;
    let mut depends_on = Vec::new();
    let mut env_from_files: BTreeMap<String, String> = BTreeMap::new();
    let mut env_from_service: BTreeMap<String, String> = BTreeMap::new();
    // `KEY` without a value: taken from the project environment (Compose spec "environment").
    let mut bare: Vec<String> = Vec::new();

    if let Some(i) = svc.get("image").and_then(scalar) {
        spec.image = i;
    }
    for (k, v) in svc {
        let Some(key) = k.as_str() else { continue };
        match key {
            "image" => {}
            "build" => match build(compose_name, v, &spec.image, ctx) {
                Ok(img) => {
                    if let Some(why) = &img.disabled {
                        note("build", why.clone());
                    }
                    spec.image = img.name.clone();
                    image = Some(img);
                }
                Err(why) => note("build", why),
            },
            "ports" => {
                for item in v.as_sequence().into_iter().flatten() {
                    match ports(item) {
                        Ok((list, ip)) => {
                            if let Some(ip) = ip {
                                note(
                                    "ports",
                                    format!("host address {ip} dropped: kubetest publishes on the loopback address"),
                                );
                            }
                            spec.ports.extend(list);
                        }
                        Err(why) => note("ports", why),
                    }
                }
            }
            "environment" => {
                for (k, val) in env_entries(v) {
                    match val {
                        Some(val) => {
                            env_from_service.insert(k, val);
                        }
                        None => bare.push(k),
                    }
                }
            }
            "env_file" => {
                for (file, required) in env_files(v) {
                    let (abs, shown) = ctx.config_path(&file);
                    match std::fs::read_to_string(&abs) {
                        Ok(text) => {
                            let f = envfile::parse(&text);
                            for b in &f.bare {
                                note("env_file", format!("`{b}` in {shown} takes its value from the shell; not set here"));
                            }
                            if !f.vars.is_empty() {
                                dep_comments.push(format!(
                                    "env: includes the variables of {shown} (compose `env_file`); keep this file private if they are secrets"
                                ));
                            }
                            env_from_files.extend(f.vars);
                        }
                        Err(_) if !required => {}
                        Err(e) => note(
                            "env_file",
                            format!("{shown} cannot be read ({e}); its variables are missing"),
                        ),
                    }
                }
            }
            "volumes" => {
                for item in v.as_sequence().into_iter().flatten() {
                    match volume(item, ctx, name) {
                        VolumeResult::Mount(m) => spec.volumes.push(m),
                        VolumeResult::Disabled(entry, why) => disabled_volumes.push((entry, why)),
                        VolumeResult::Lost(why) => note("volumes", why),
                    }
                }
            }
            "command" | "entrypoint" => {
                if v.is_null() {
                    continue;
                }
                match argv(v) {
                    Ok(a) if key == "command" => spec.command = Some(a),
                    Ok(a) => spec.entrypoint = Some(a),
                    Err(why) => note(key, why),
                }
            }
            "healthcheck" => match health(v) {
                Ok(Some((h, comment))) => {
                    spec.health = Some(h);
                    health_comment = Some(comment);
                }
                Ok(None) => {}
                Err(why) => note("healthcheck", why),
            },
            "depends_on" => depends_on = depends(v),
            "restart" => note(
                "restart",
                format!(
                    "`{}` dropped: kubetest does not restart dependencies; a crash fails `up` with the container's last log lines",
                    scalar(v).unwrap_or_default()
                ),
            ),
            "working_dir" => match scalar(v) {
                Some(w) if w.starts_with('/') => spec.workdir = Some(w),
                Some(w) => note("working_dir", format!("`{w}` is not absolute; left out")),
                None => {}
            },
            "user" => spec.user = scalar(v),
            other => note(other, unsupported(other).to_owned()),
        }
    }
    for k in bare {
        if let Some(v) = ctx.dot_env.get(&k) {
            env_from_service.insert(k, v.clone());
        } else if !env_from_files.contains_key(&k) {
            notes.push(format!(
                "{p}.environment: `{k}` takes its value from the shell running compose; not set here"
            ));
        }
    }
    // Compose spec "environment": values set with `environment` take precedence over `env_file`.
    spec.env = env_from_files;
    spec.env.extend(env_from_service);
    if spec.image.is_empty() {
        notes.push(if svc.contains_key("image") {
            format!("{p}.image: empty (after interpolation); service left out")
        } else {
            format!("{p}: has neither `image` nor `build`; left out")
        });
        return None;
    }
    Some(Service {
        dep: DepDraft {
            name: name.to_owned(),
            spec,
            health_comment,
            disabled_volumes,
            comments: dep_comments,
        },
        image,
        depends_on,
    })
}

/// `environment:` as a mapping (`KEY: value`, `KEY:` for "from the shell") or a list
/// (`KEY=value`, `KEY` alone for "from the shell").
fn env_entries(v: &Value) -> Vec<(String, Option<String>)> {
    match v {
        Value::Mapping(m) => m
            .iter()
            .filter_map(|(k, val)| Some((scalar(k)?, scalar(val))))
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(scalar)
            .map(|s| match s.split_once('=') {
                Some((k, val)) => (k.to_owned(), Some(val.to_owned())),
                None => (s, None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `env_file:` as a string, a list of strings, or a list of `{path, required}`.
fn env_files(v: &Value) -> Vec<(String, bool)> {
    let one = |item: &Value| match item {
        Value::Mapping(m) => Some((
            m.get("path").and_then(scalar)?,
            m.get("required").and_then(Value::as_bool).unwrap_or(true),
        )),
        other => scalar(other).map(|s| (s, true)),
    };
    match v {
        Value::Sequence(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// `build:` as a context path or a mapping; the image is tagged with `image:` when given
/// (Compose spec "build": "Compose names the built image with `image`").
fn build(compose_name: &str, v: &Value, image: &str, ctx: &Ctx<'_>) -> Result<ImageDraft, String> {
    let (context, m) = match v {
        Value::Mapping(m) => (
            m.get("context")
                .and_then(scalar)
                .unwrap_or_else(|| ".".to_owned()),
            Some(m),
        ),
        other => (scalar(other).ok_or("unexpected value")?, None),
    };
    if context.contains("://") || context.starts_with("git@") {
        return Err(format!("remote context `{context}` is not supported; clone it and point `images[].context` at it"));
    }
    let (abs, shown) = ctx.config_path(&context);
    let file = m.and_then(|m| m.get("dockerfile")).and_then(scalar);
    let mut args = BTreeMap::new();
    if let Some(a) = m.and_then(|m| m.get("args")) {
        for (k, val) in env_entries(a) {
            args.insert(k, val.unwrap_or_default());
        }
    }
    let target = m.and_then(|m| m.get("target")).and_then(scalar);
    let name = if image.is_empty() {
        format!(
            "localhost/{}-{}:dev",
            ctx.project,
            crate::init::label(compose_name, 40)
        )
    } else {
        image.to_owned()
    };
    let disabled = if !abs.is_dir() {
        Some(format!(
            "build context `{shown}` does not exist here; its `images:` entry is commented out"
        ))
    } else {
        // Compose's default is `Dockerfile`; kubetest's is `Containerfile`, then `Dockerfile`,
        // and kubetest is what builds it.
        let candidates = match &file {
            Some(f) => vec![f.clone()],
            None => vec!["Containerfile".to_owned(), "Dockerfile".to_owned()],
        };
        (!candidates.iter().any(|f| abs.join(f).is_file())).then(|| {
            format!(
                "{} not found in the build context `{shown}`; its `images:` entry is commented out",
                candidates.join(" or ")
            )
        })
    };
    Ok(ImageDraft {
        name,
        context: PathBuf::from(shown),
        file: file.map(PathBuf::from),
        args,
        target,
        origin: format!("compose service `{compose_name}`"),
        disabled,
    })
}

/// One `ports:` entry: short syntax `[[HOST_IP:][HOST_PORT[-RANGE]]:]CONTAINER_PORT[-RANGE][/PROTO]`
/// or long syntax `{target, published, host_ip, protocol}` (Compose spec "ports").
/// Returns the mappings and a host address kubetest cannot honour.
fn ports(item: &Value) -> Result<(Vec<PortMapping>, Option<String>), String> {
    let (host_ip, host, container, proto) = match item {
        Value::Mapping(m) => (
            m.get("host_ip").and_then(scalar),
            m.get("published").and_then(scalar).unwrap_or_default(),
            m.get("target")
                .and_then(scalar)
                .ok_or("long syntax without `target`")?,
            m.get("protocol")
                .and_then(scalar)
                .unwrap_or_else(|| "tcp".into()),
        ),
        other => {
            let s = scalar(other).ok_or("unexpected value")?;
            let (rest, proto) = match s.rsplit_once('/') {
                Some((r, p)) => (r.to_owned(), p.to_owned()),
                None => (s.clone(), "tcp".to_owned()),
            };
            let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
                let (ip, after) = r.split_once(']').ok_or(format!("bad address in `{s}`"))?;
                (
                    Some(ip.to_owned()),
                    after.trim_start_matches(':').to_owned(),
                )
            } else {
                (None, rest)
            };
            let parts: Vec<&str> = rest.split(':').collect();
            match (ip, parts.as_slice()) {
                (ip, [c]) => (ip, String::new(), (*c).to_owned(), proto),
                (None, [h, c]) => (None, (*h).to_owned(), (*c).to_owned(), proto),
                (Some(ip), [h, c]) => (Some(ip), (*h).to_owned(), (*c).to_owned(), proto),
                (None, [ip, h, c]) => (
                    Some((*ip).to_owned()),
                    (*h).to_owned(),
                    (*c).to_owned(),
                    proto,
                ),
                _ => return Err(format!("`{s}` is not a port mapping compose accepts")),
            }
        }
    };
    let range = |r: &str| -> Result<Vec<u16>, String> {
        let bad = || format!("`{r}` is not a port or port range");
        match r.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u16, u16) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 100 {
                    return Err(bad());
                }
                Ok((a..=b).collect())
            }
            None => Ok(vec![r.parse().map_err(|_| bad())?]),
        }
    };
    let cs = range(&container)?;
    let hs = if host.is_empty() {
        Vec::new()
    } else {
        range(&host)?
    };
    if !hs.is_empty() && hs.len() != cs.len() && hs.len() != 1 {
        return Err(format!(
            "host range `{host}` and container range `{container}` differ in length"
        ));
    }
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let h = match hs.len() {
            0 => String::new(),
            1 if cs.len() > 1 => String::new(), // compose picks one of a range: let kubetest pick
            _ => format!("{}:", hs[i]),
        };
        let text = format!("{h}{c}/{proto}");
        out.push(text.parse::<PortMapping>()?);
    }
    let ip = host_ip.filter(|ip| !ip.is_empty() && ip != "127.0.0.1" && ip != "0.0.0.0");
    Ok((out, ip))
}

enum VolumeResult {
    Mount(VolumeMount),
    /// Written commented out: the entry and why.
    Disabled(String, String),
    /// Not written at all, with the note.
    Lost(String),
}

/// One `volumes:` entry: short syntax `SOURCE:TARGET[:MODE]` or `TARGET`, or long syntax
/// `{type, source, target, read_only}` (Compose spec "volumes"). Only bind mounts convert.
fn volume(item: &Value, ctx: &Ctx<'_>, dep: &str) -> VolumeResult {
    let (kind, source, target, read_only, shown) = match item {
        Value::Mapping(m) => {
            let kind = m
                .get("type")
                .and_then(scalar)
                .unwrap_or_else(|| "volume".into());
            let source = m.get("source").and_then(scalar).unwrap_or_default();
            let target = m.get("target").and_then(scalar).unwrap_or_default();
            let ro = m.get("read_only").and_then(Value::as_bool).unwrap_or(false);
            let shown = format!("{{type: {kind}, source: {source}, target: {target}}}");
            (kind, source, target, ro, shown)
        }
        other => {
            let Some(s) = scalar(other) else {
                return VolumeResult::Lost("unexpected value".into());
            };
            let parts: Vec<&str> = s.split(':').collect();
            let (src, dst, mode) = match parts.as_slice() {
                [t] => (String::new(), (*t).to_owned(), ""),
                [a, b] => ((*a).to_owned(), (*b).to_owned(), ""),
                [a, b, m] => ((*a).to_owned(), (*b).to_owned(), *m),
                _ => return VolumeResult::Lost(format!("`{s}` is not a volume compose accepts")),
            };
            let ro = mode.split(',').any(|m| m == "ro");
            // Compose spec: a source that is a path (absolute or starting with `.`/`~`) is a
            // bind mount; anything else names a volume.
            let kind = if src.is_empty() {
                "anonymous"
            } else if src.starts_with(['/', '.', '~']) {
                "bind"
            } else {
                "volume"
            };
            (kind.to_owned(), src, dst, ro, s)
        }
    };
    match kind.as_str() {
        "bind" => {}
        "anonymous" => {
            return VolumeResult::Lost(format!(
                "`{shown}`: anonymous volume left out (the container's own filesystem holds {target})"
            ))
        }
        "volume" => {
            return VolumeResult::Lost(format!(
                "`{shown}`: named volume `{source}` left out; data in {target} is not kept between `up`s"
            ))
        }
        other => return VolumeResult::Lost(format!("`{shown}`: {other} mounts are not supported")),
    }
    if source.starts_with('~') {
        return VolumeResult::Lost(format!(
            "`{shown}`: a path under the home directory is left out; write it out"
        ));
    }
    let (abs, host) = ctx.config_path(&source);
    let host = if host.starts_with('/') || host == "." {
        host
    } else {
        format!("./{host}")
    };
    let mode = if read_only { "ro" } else { "rw" };
    let entry = format!("{host}:{target}:{mode}");
    let Ok(mount) = entry.parse::<VolumeMount>() else {
        return VolumeResult::Lost(format!("`{shown}`: not a mount kubetest accepts"));
    };
    if !abs.exists() {
        return VolumeResult::Disabled(
            entry,
            format!(
                "{} does not exist (compose would create it); create it, then uncomment",
                abs.strip_prefix(ctx.root)
                    .map_or(abs.display().to_string(), |r| r.display().to_string())
            ),
        );
    }
    let resolved = mounts::resolve(&mount.host, ctx.root);
    if let Some(risk) = mounts::risk(&resolved, mount.read_only, ctx.root, ctx.home.as_deref()) {
        let why = match risk {
            mounts::MountRisk::Sensitive { what, path } => format!(
                "mounts {} ({what}): kubetest needs `unsafe_mounts: true` on `{dep}` to allow it",
                path.display()
            ),
            mounts::MountRisk::WritableOutside { .. } => format!(
                "read-write outside the config's directory: make it `:ro`, or set `unsafe_mounts: true` on `{dep}`"
            ),
        };
        return VolumeResult::Disabled(entry, why);
    }
    VolumeResult::Mount(mount)
}

/// `healthcheck:` → `health:` and the comment explaining its timeout; `None` when disabled.
/// Compose spec "healthcheck": `test` is a string (= `CMD-SHELL` + string) or a list starting
/// with `NONE`, `CMD` or `CMD-SHELL`; `disable: true` = `test: ["NONE"]`.
fn health(v: &Value) -> Result<Option<(HealthSpec, String)>, String> {
    let Value::Mapping(m) = v else {
        return Err("not a mapping".into());
    };
    if m.get("disable").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let exec = match m.get("test") {
        None => return Err("no `test`: it runs the image's own HEALTHCHECK, which kubetest cannot read; add `health:` by hand".into()),
        Some(Value::String(s)) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        Some(t @ Value::Sequence(_)) => {
            let items = scalars(t);
            match items.split_first() {
                Some((first, _)) if first == "NONE" => return Ok(None),
                Some((first, rest)) if first == "CMD" && !rest.is_empty() => rest.to_vec(),
                // Docker runs CMD-SHELL with the container's default shell, `/bin/sh -c` on Linux.
                Some((first, rest)) if first == "CMD-SHELL" && !rest.is_empty() => {
                    vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
                }
                _ => return Err(format!("test {items:?} does not start with NONE, CMD or CMD-SHELL")),
            }
        }
        Some(other) => return Err(format!("unexpected test {other:?}")),
    };
    let dur = |key: &str| -> Result<Option<std::time::Duration>, String> {
        m.get(key)
            .and_then(scalar)
            .map(|s| duration::parse(&s).map_err(|e| format!("{key}: {e}")))
            .transpose()
    };
    let interval = dur("interval")?;
    let timeout = dur("timeout")?;
    let start_period = dur("start_period")?;
    let start_interval = dur("start_interval")?;
    let retries = match m.get("retries").and_then(scalar) {
        Some(r) => r
            .parse::<u32>()
            .map_err(|_| format!("retries: `{r}` is not a count"))?,
        None => DEFAULT_RETRIES,
    };
    // Compose marks the container unhealthy after `retries` consecutive failed checks, each
    // `interval` apart and taking up to `timeout`, once `start_period` is over: kubetest waits
    // that long (after its own `start_period`) before it gives up.
    let i = interval.unwrap_or(DEFAULT_INTERVAL);
    let t = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let total = (i + t) * retries.max(1);
    let comment = format!(
        "timeout = retries × (interval + timeout) = {} × ({} + {}), when compose gives up",
        retries.max(1),
        kt_duration(i),
        kt_duration(t)
    );
    let poll = start_interval.or(interval).map(|d| {
        d.clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(600),
        )
    });
    let mut h = HealthSpec {
        exec: Some(exec),
        tcp: None,
        http: None,
        log: None,
        interval: Duration::from_millis(500),
        timeout: kt_duration(total.min(std::time::Duration::from_secs(86_400))),
        start_period: Duration::from_millis(0),
    };
    if let Some(p) = poll {
        h.interval = kt_duration(p);
    }
    if let Some(s) = start_period {
        h.start_period = kt_duration(s.min(std::time::Duration::from_secs(86_400)));
    }
    Ok(Some((h, comment)))
}

/// `depends_on:` as a list of names or a mapping of name → `{condition, required, restart}`.
fn depends(v: &Value) -> Vec<DependsOn> {
    let started = |t: String| DependsOn {
        target: t,
        condition: "service_started".into(),
        required: true,
        restart: false,
    };
    match v {
        Value::Sequence(_) => scalars(v).into_iter().map(started).collect(),
        Value::Mapping(m) => m
            .iter()
            .filter_map(|(k, val)| {
                let mut d = started(scalar(k)?);
                if let Value::Mapping(o) = val {
                    if let Some(c) = o.get("condition").and_then(scalar) {
                        d.condition = c;
                    }
                    d.required = o.get("required").and_then(Value::as_bool).unwrap_or(true);
                    d.restart = o.get("restart").and_then(Value::as_bool).unwrap_or(false);
                }
                Some(d)
            })
            .collect(),
        _ => Vec::new(),
    }
}

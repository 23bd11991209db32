//! Checks that need the whole config: names, references, cycles, paths. Each problem is located.

use super::error::{did_you_mean, Problem};
use super::k8s_names;
use super::limits::{self, DurationRange};
use super::locate::LocationIndex;
use super::model::{Config, DependencySpec, Provider};
use super::mounts::{self, MountRisk};
use super::values::Duration;
use std::collections::HashMap;
use std::path::Path;

const LABEL_SHAPE: &str =
    "lowercase letters, digits and `-`, starting and ending with a letter or digit";

/// Every semantic problem of `config`, in document order.
pub fn validate(config: &Config, idx: &LocationIndex, dir: &Path) -> Vec<Problem> {
    let mut v = Validator {
        idx,
        dir,
        problems: Vec::new(),
    };
    v.name(config);
    v.images(config);
    v.build(config);
    v.cluster(config);
    v.dependencies(config);
    v.deploy(config);
    let known = crate::scenario::load::Known::of_dependencies(
        config.dependencies.iter().map(|(n, d)| (n.as_str(), d)),
    );
    v.problems.extend(crate::scenario::load::check_steps(
        "setup",
        &config.setup,
        idx,
        dir,
        &known,
    ));
    v.problems
        .extend(super::validate_collect::validate(config, idx));
    if let Some(s) = &config.scenarios {
        v.dir_exists("scenarios", s, "a directory of scenario files");
    }
    v.problems.sort_by_key(|p| p.location);
    v.problems
}

struct Validator<'a> {
    idx: &'a LocationIndex,
    dir: &'a Path,
    problems: Vec<Problem>,
}

fn is_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl Validator<'_> {
    fn at(&mut self, path: &str, message: String, expected: &str) {
        let loc = self.idx.value(path);
        self.problems
            .push(Problem::new(Some(loc), message).expected(expected));
    }

    /// A duration outside the range its use accepts.
    fn duration(&mut self, path: &str, d: Duration, range: DurationRange) {
        if let Some(expected) = range.check(d) {
            self.at(
                path,
                format!("{path}: {} is out of range", limits::shown(d)),
                &expected,
            );
        }
    }

    /// A port or status code outside the range its use accepts.
    fn number(&mut self, path: &str, n: u16, range: &std::ops::RangeInclusive<u16>, what: &str) {
        if let Some(expected) = limits::check_number(n, range, what) {
            self.at(path, format!("{path}: {n} is out of range"), &expected);
        }
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn path_exists(&mut self, path: &str, rel: &Path, what: &str, want_dir: bool) {
        let full: std::path::PathBuf = self
            .dir
            .join(rel)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        let ok = if want_dir {
            full.is_dir()
        } else {
            full.exists()
        };
        if !ok {
            let why = if full.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            self.at(
                path,
                format!(
                    "{path}: `{}` {why} (resolved to {})",
                    rel.display(),
                    full.display()
                ),
                &format!("{what}, relative to the config file's directory"),
            );
        }
    }

    fn dir_exists(&mut self, path: &str, rel: &Path, what: &str) {
        self.path_exists(path, rel, what, true);
    }

    fn name(&mut self, c: &Config) {
        if !is_label(&c.name, 40) {
            self.at(
                "name",
                format!("invalid environment name `{}`", c.name),
                &format!(
                    "{LABEL_SHAPE}, at most 40 characters (it names the cluster and containers)"
                ),
            );
        }
    }

    fn images(&mut self, c: &Config) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, img) in c.images.iter().enumerate() {
            let p = format!("images[{i}]");
            let name = img.name.as_str();
            if name.is_empty()
                || name
                    .chars()
                    .any(|ch| ch.is_whitespace() || ch.is_ascii_uppercase())
            {
                self.at(
                    &format!("{p}.name"),
                    format!("{p}.name: invalid image name `{name}`"),
                    "a lowercase image reference such as `localhost/demo-app:dev`",
                );
            }
            if let Some(first) = seen.insert(name, i) {
                let line = self.idx.value(&format!("images[{first}].name")).line;
                self.at(
                    &format!("{p}.name"),
                    format!("{p}.name: duplicate image `{name}` (first defined at line {line})"),
                    "each image name once",
                );
            }
            let ctx = self.dir.join(&img.context);
            if !ctx.is_dir() {
                self.dir_exists(
                    &format!("{p}.context"),
                    &img.context,
                    "a build context directory",
                );
                continue;
            }
            match &img.file {
                Some(f) if !ctx.join(f).is_file() => self.at(
                    &format!("{p}.file"),
                    format!(
                        "{p}.file: `{}` not found in the context {}",
                        f.display(),
                        ctx.display()
                    ),
                    "a Containerfile/Dockerfile path relative to the context directory",
                ),
                None if !ctx.join("Containerfile").is_file()
                    && !ctx.join("Dockerfile").is_file() =>
                {
                    self.at(
                        &format!("{p}.context"),
                        format!(
                            "{p}.context: no Containerfile or Dockerfile in {}",
                            ctx.display()
                        ),
                        "a context holding a Containerfile or Dockerfile, or `file:` naming one",
                    )
                }
                _ => {}
            }
        }
    }

    fn build(&mut self, c: &Config) {
        if c.build.jobs == Some(0) {
            self.at(
                "build.jobs",
                "build.jobs: must be at least 1".into(),
                "a number of concurrent builds ≥ 1",
            );
        }
    }

    /// `cluster:` and every `clusters.NAME` target, with the same rules (src/config/targets.rs).
    fn cluster(&mut self, c: &Config) {
        self.cluster_spec(c, "cluster", &c.cluster);
        for (name, spec) in &c.clusters {
            let p = format!("clusters.{name}");
            if !is_label(name, 40) {
                let loc = self.idx.key(&p);
                self.push(
                    Problem::new(Some(loc), format!("invalid cluster target name `{name}`"))
                        .expected(format!("{LABEL_SHAPE} (it is given as `--cluster NAME`)")),
                );
            }
            self.cluster_spec(c, &p, spec);
        }
    }

    fn cluster_spec(&mut self, c: &Config, at: &str, cl: &crate::config::ClusterSpec) {
        if let Some(n) = &cl.name {
            if !is_label(n, 40) {
                self.at(
                    &format!("{at}.name"),
                    format!("{at}.name: invalid cluster name `{n}`"),
                    LABEL_SHAPE,
                );
            }
        }
        self.duration(&format!("{at}.wait"), cl.wait, limits::WAIT_OR_SLEEP);
        if let Some(f) = &cl.config {
            self.path_exists(&format!("{at}.config"), f, "a kind config file", false);
        }
        if let Some(k) = &cl.kubeconfig {
            self.path_exists(&format!("{at}.kubeconfig"), k, "a kubeconfig file", false);
        }
        let kind_only = [
            ("config", cl.config.is_some()),
            ("image", cl.image.is_some()),
            ("kind_binary", cl.kind_binary.is_some()),
        ];
        if cl.provider != Provider::Kind {
            for (key, set) in kind_only {
                if set {
                    self.at(
                        &format!("{at}.{key}"),
                        format!("{at}.{key}: only used with `provider: kind`"),
                        "this key removed, or `provider: kind`",
                    );
                }
            }
        }
        if cl.provider != Provider::Existing {
            for (key, set) in [
                ("kubeconfig", cl.kubeconfig.is_some()),
                ("context", cl.context.is_some()),
                ("registry", cl.registry.is_some()),
            ] {
                if set {
                    self.at(
                        &format!("{at}.{key}"),
                        format!("{at}.{key}: only used with `provider: existing`"),
                        "this key removed, or `provider: existing`",
                    );
                }
            }
        }
        self.load_mode(at, cl);
        if cl.provider == Provider::None {
            if !c.deploy.manifests.is_empty() || !c.deploy.wait.is_empty() {
                self.at(
                    "deploy",
                    format!("deploy: needs a cluster, but `{at}.provider` is `none`"),
                    "`cluster.provider: kind` or `existing`, or no `deploy:` section",
                );
            }
            if !cl.preload.is_empty() {
                self.at(
                    &format!("{at}.preload"),
                    format!("{at}.preload: needs a cluster, but `{at}.provider` is `none`"),
                    "`cluster.provider: kind`",
                );
            }
        }
    }

    /// `cluster.load` and `cluster.local_registry` (src/config/local_registry.rs).
    fn load_mode(&mut self, at: &str, cl: &crate::config::ClusterSpec) {
        use crate::config::{LoadMode, LocalRegistrySpec};
        if cl.load != LoadMode::Archive && cl.provider != Provider::Kind {
            self.at(
                &format!("{at}.load"),
                format!(
                    "{at}.load: `{}` loads into kind nodes; `provider: {}` does not have them",
                    cl.load.as_str(),
                    match cl.provider {
                        Provider::Existing => "existing",
                        _ => "none",
                    }
                ),
                "`provider: kind`, or no `cluster.load` (`provider: existing` pushes to `cluster.registry`)",
            );
        }
        if cl.local_registry != LocalRegistrySpec::default() && cl.load == LoadMode::Archive {
            self.at(
                &format!("{at}.local_registry"),
                format!("{at}.local_registry: only used with `{at}.load: registry` or `auto`"),
                "`cluster.load: registry` (or `auto`), or no `cluster.local_registry`",
            );
        }
        if cl.local_registry.port == Some(0) {
            self.at(
                &format!("{at}.local_registry.port"),
                format!("{at}.local_registry.port: 0 is not a port"),
                "a port 1–65535 on 127.0.0.1, or no `port` (a free one is picked)",
            );
        }
        if cl.local_registry.image.trim().is_empty() {
            self.at(
                &format!("{at}.local_registry.image"),
                format!("{at}.local_registry.image: empty"),
                "an image serving the registry API on port 5000, e.g. `registry:2`",
            );
        }
    }

    fn dependencies(&mut self, c: &Config) {
        let names: Vec<&str> = c.dependencies.keys().map(String::as_str).collect();
        let mut host_ports: HashMap<(u16, String), String> = HashMap::new();
        for (name, dep) in &c.dependencies {
            let p = format!("dependencies.{name}");
            if !is_label(name, 40) {
                let loc = self.idx.key(&p);
                self.push(
                    Problem::new(Some(loc), format!("invalid dependency name `{name}`")).expected(
                        format!("{LABEL_SHAPE} (it becomes a container and DNS name)"),
                    ),
                );
            }
            if c.cluster.provider == Provider::Kind && !dep.once && is_label(name, 40) {
                self.service_name(c, &p, name);
            }
            for (i, need) in dep.needs.iter().enumerate() {
                let np = format!("{p}.needs[{i}]");
                if need == name {
                    self.at(
                        &np,
                        format!("{p}: needs itself"),
                        "the names of other dependencies",
                    );
                } else if !c.dependencies.contains_key(need) {
                    let loc = self.idx.value(&np);
                    let others: Vec<&str> = names.iter().copied().filter(|n| n != name).collect();
                    self.push(
                        Problem::new(Some(loc), format!("{p}.needs: unknown dependency `{need}`"))
                            .expected(format!(
                                "the name of another entry under `dependencies` ({})",
                                if others.is_empty() {
                                    "there are none".to_owned()
                                } else {
                                    others.join(", ")
                                }
                            ))
                            .hint(did_you_mean(need, others.iter().copied())),
                    );
                }
            }
            self.health(&p, dep);
            if let Some(w) = &dep.workdir {
                // Docker refuses a relative working directory ("the working directory '…' is
                // invalid, it needs to be an absolute path"); an empty one means none at all.
                if !w.starts_with('/') {
                    self.at(
                        &format!("{p}.workdir"),
                        if w.is_empty() {
                            format!("{p}.workdir: empty")
                        } else {
                            format!("{p}.workdir: `{w}` is not an absolute path")
                        },
                        "an absolute path inside the container, such as /app",
                    );
                }
            }
            for (i, port) in dep.ports.iter().enumerate() {
                if let Some(h) = port.host {
                    let key = (h, port.protocol.to_string());
                    if let Some(other) = host_ports.insert(key, name.clone()) {
                        self.at(
                            &format!("{p}.ports[{i}]"),
                            format!(
                                "{p}.ports: host port {h}/{} is also published by `{other}`",
                                port.protocol
                            ),
                            "each host port published once (or `0:PORT` to pick a free one)",
                        );
                    }
                }
            }
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            for (i, vol) in dep.volumes.iter().enumerate() {
                let vp = format!("{p}.volumes[{i}]");
                self.path_exists(&vp, Path::new(&vol.host), "a host path to mount", false);
                if dep.unsafe_mounts {
                    continue;
                }
                let host = mounts::resolve(&vol.host, self.dir);
                let mode = if vol.read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                match mounts::risk(&host, vol.read_only, self.dir, home.as_deref()) {
                    None => {}
                    Some(MountRisk::Sensitive { path, what }) => self.at(
                        &vp,
                        format!(
                            "{vp}: `{}` mounts {} ({what}) {mode} into the container",
                            vol.host,
                            path.display()
                        ),
                        &format!("a path of the project, or `unsafe_mounts: true` on `{name}` to allow it"),
                    ),
                    Some(MountRisk::WritableOutside { path }) => self.at(
                        &vp,
                        format!(
                            "{vp}: `{}` lets the container write to {}, outside the config's directory",
                            vol.host,
                            path.display()
                        ),
                        &format!("a path inside the config's directory, `:ro`, or `unsafe_mounts: true` on `{name}` to allow it"),
                    ),
                }
            }
        }
        self.cycles(c);
    }

    /// With `provider: kind` a dependency becomes a Service of its name in the deploy
    /// namespace: a DNS-1035 label (starts with a letter), and not the API server's own
    /// `kubernetes` Service of `default`.
    fn service_name(&mut self, c: &Config, p: &str, name: &str) {
        let (problem, expected) = if !name.starts_with(|ch: char| ch.is_ascii_lowercase()) {
            (
                format!("invalid dependency name `{name}`: pods reach it as the Service `{name}`, and a Service name starts with a letter"),
                "a DNS-1035 label: a lowercase letter, then lowercase letters, digits and `-` (it becomes the Service name pods use)",
            )
        } else if name == "kubernetes" && c.deploy.namespace == "default" {
            (
                format!("dependency name `{name}` is taken: the Service `kubernetes` in namespace `default` is the API server's"),
                "another name, or another `deploy.namespace`",
            )
        } else {
            return;
        };
        let loc = self.idx.key(p);
        self.push(Problem::new(Some(loc), problem).expected(expected));
    }

    fn health(&mut self, p: &str, dep: &DependencySpec) {
        let Some(h) = &dep.health else { return };
        let hp = format!("{p}.health");
        let kinds = [
            h.exec.is_some(),
            h.tcp.is_some(),
            h.http.is_some(),
            h.log.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            self.at(
                &hp,
                format!("{hp}: {} probes given", if count == 0 { "no" } else { "several" }),
                "exactly one of `exec: [cmd, ...]`, `tcp: PORT`, `http: {port, path}` or `log: REGEX`",
            );
        }
        if dep.once {
            self.at(
                &hp,
                format!("{p}: a `once: true` job has no health check; it is done when it exits 0"),
                "either `once: true` or `health:`, not both",
            );
        }
        self.duration(
            &format!("{hp}.interval"),
            h.interval,
            limits::HEALTH_INTERVAL,
        );
        self.duration(&format!("{hp}.timeout"), h.timeout, limits::TIMEOUT);
        self.duration(
            &format!("{hp}.start_period"),
            h.start_period,
            limits::WAIT_OR_SLEEP,
        );
        if let Some(port) = h.tcp {
            self.number(&format!("{hp}.tcp"), port, &limits::PORTS, "a port");
        }
        if let Some(http) = &h.http {
            if let Some(port) = http.port {
                self.number(&format!("{hp}.http.port"), port, &limits::PORTS, "a port");
            }
            self.number(
                &format!("{hp}.http.status"),
                http.status,
                &limits::HTTP_STATUS,
                "an HTTP status",
            );
            if http.url.is_none() == http.port.is_none() {
                self.at(
                    &format!("{hp}.http"),
                    format!("{hp}.http: give either `url` or `port`"),
                    "`url: http://…` or `port: N` (with optional `path:`)",
                );
            }
        }
        if let Some(exec) = &h.exec {
            if exec.is_empty() {
                self.at(
                    &format!("{hp}.exec"),
                    format!("{hp}.exec: empty command"),
                    "a command as a list, e.g. [pg_isready, -U, postgres]",
                );
            }
        }
    }

    /// Depth-first search over `needs`; each cycle is reported once, named in full.
    fn cycles(&mut self, c: &Config) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let names: Vec<&String> = c.dependencies.keys().collect();
        let pos: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut mark = vec![Mark::New; names.len()];
        let mut found: Vec<(String, String)> = Vec::new(); // (cycle text, path of closing needs entry)

        fn visit(
            i: usize,
            c: &Config,
            names: &[&String],
            pos: &HashMap<&str, usize>,
            mark: &mut Vec<Mark>,
            stack: &mut Vec<usize>,
            found: &mut Vec<(String, String)>,
        ) {
            mark[i] = Mark::Active;
            stack.push(i);
            let dep = &c.dependencies[names[i].as_str()];
            for (k, need) in dep.needs.iter().enumerate() {
                let Some(&j) = pos.get(need.as_str()) else {
                    continue;
                };
                if j == i {
                    continue; // reported as "needs itself"
                }
                match mark[j] {
                    Mark::Active => {
                        let from = stack.iter().position(|s| *s == j).unwrap_or(0);
                        let mut cyc: Vec<&str> =
                            stack[from..].iter().map(|s| names[*s].as_str()).collect();
                        cyc.push(names[j].as_str());
                        found.push((
                            cyc.join(" -> "),
                            format!("dependencies.{}.needs[{k}]", names[i]),
                        ));
                    }
                    Mark::New => visit(j, c, names, pos, mark, stack, found),
                    Mark::Done => {}
                }
            }
            stack.pop();
            mark[i] = Mark::Done;
        }

        for i in 0..names.len() {
            if mark[i] == Mark::New {
                visit(i, c, &names, &pos, &mut mark, &mut Vec::new(), &mut found);
            }
        }
        for (cycle, path) in found {
            self.at(
                &path,
                format!("dependency cycle: {cycle}"),
                "`needs:` to form a graph without cycles (one of these must not need the other)",
            );
        }
    }

    fn deploy(&mut self, c: &Config) {
        if !is_label(&c.deploy.namespace, 63) {
            self.at(
                "deploy.namespace",
                format!(
                    "deploy.namespace: invalid namespace `{}`",
                    c.deploy.namespace
                ),
                LABEL_SHAPE,
            );
        }
        for (i, m) in c.deploy.manifests.iter().enumerate() {
            self.path_exists(
                &format!("deploy.manifests[{i}]"),
                m,
                "a manifest file or directory",
                false,
            );
        }
        for (i, w) in c.deploy.wait.iter().enumerate() {
            let p = format!("deploy.wait[{i}]");
            let targets = [
                w.selector.is_some(),
                w.deployment.is_some(),
                w.statefulset.is_some(),
                w.daemonset.is_some(),
                w.job.is_some(),
            ];
            if targets.iter().filter(|t| **t).count() != 1 {
                self.at(
                    &p,
                    format!("{p}: name exactly one thing to wait for"),
                    "one of `selector: app=x`, `deployment: NAME`, `statefulset: NAME`, `daemonset: NAME`, `job: NAME`",
                );
            }
            self.duration(&format!("{p}.timeout"), w.timeout, limits::TIMEOUT);
            if let Some(ns) = &w.namespace {
                if !k8s_names::is_dns1123_label(ns) {
                    self.at(
                        &format!("{p}.namespace"),
                        format!("{p}.namespace: invalid namespace `{ns}`"),
                        k8s_names::LABEL_SHAPE,
                    );
                }
            }
            if let Some(sel) = &w.selector {
                if let Some(why) = k8s_names::selector_problem(sel) {
                    self.at(
                        &format!("{p}.selector"),
                        format!("{p}.selector: invalid label selector: {why}"),
                        k8s_names::SELECTOR_SHAPE,
                    );
                }
            }
            for (key, name) in [
                ("deployment", &w.deployment),
                ("statefulset", &w.statefulset),
                ("daemonset", &w.daemonset),
                ("job", &w.job),
            ] {
                if let Some(n) = name
                    .as_ref()
                    .filter(|n| !k8s_names::is_dns1123_subdomain(n))
                {
                    self.at(
                        &format!("{p}.{key}"),
                        format!("{p}.{key}: invalid {key} name `{n}`"),
                        k8s_names::SUBDOMAIN_SHAPE,
                    );
                }
            }
            if w.min == 0 {
                self.at(
                    &format!("{p}.min"),
                    format!("{p}.min: must be at least 1"),
                    "a number of pods ≥ 1",
                );
            }
        }
    }
}

/// Keys given twice in one mapping (serde_yaml keeps the last silently); only the outermost
/// of nested repeats is reported.
pub(crate) fn duplicate_keys(idx: &LocationIndex) -> Vec<Problem> {
    let dups = idx.duplicate_keys();
    dups.iter()
        .filter(|(path, ..)| {
            !dups
                .iter()
                .any(|(other, ..)| path.len() > other.len() && path.starts_with(other.as_str()))
        })
        .map(|(path, again, first)| {
            let key = path.rsplit('.').next().unwrap_or(path);
            Problem::new(
                Some(*again),
                format!("duplicate key `{key}` (first at line {})", first.line),
            )
            .expected("each key once in a mapping")
        })
        .collect()
}

//! The draft as commented YAML text: `kubetest.yaml` and the example scenario.

use super::{DepDraft, Draft, ImageDraft, Layout};
use std::fmt::Write;

/// Words YAML 1.1 or 1.2 would read as something other than a string.
const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

/// `s` as a YAML scalar: plain when that reads back as the same string, else double-quoted
/// (JSON string syntax, which YAML reads the same way).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./@+-".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '_' || c == '.')
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && !s.starts_with("..");
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", inner.join(", "))
}

/// Comment lines, wrapped at about 100 columns, each prefixed with `indent` + `# `.
fn comment(out: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + word.len() > 96 {
            let _ = writeln!(out, "{indent}# {line}");
            line = format!("  {word}");
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    let _ = writeln!(out, "{indent}# {}", line.trim_end());
}

pub fn config(d: &Draft) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Written by `{}`.", d.made_by);
    o.push_str("# Review it, then: kubetest up && kubetest run && kubetest down\n");
    if !d.not_converted.is_empty() {
        o.push_str(
            "#\n# Not converted (kubetest has no equivalent, or the value was not available):\n",
        );
        for n in &d.not_converted {
            comment(&mut o, "", &format!("- {n}"));
        }
    }
    if !d.remarks.is_empty() {
        o.push_str("#\n# Good to know:\n");
        for n in &d.remarks {
            comment(&mut o, "", &format!("- {n}"));
        }
    }
    let _ = writeln!(o, "\nname: {}", scalar(&d.name));
    o.push_str("engine: auto   # or docker, podman\n");
    images(&mut o, &d.images);
    cluster(&mut o, d);
    dependencies(&mut o, &d.dependencies);
    deploy(&mut o, d);
    o.push_str("\n# Scenario files: every *.yaml in this directory.\nscenarios: scenarios/\n");
    o
}

fn images(o: &mut String, images: &[ImageDraft]) {
    if images.is_empty() {
        o.push_str("\n# No Containerfile or Dockerfile found; images `up` builds go here:\n# images:\n#   - { name: localhost/app:dev, context: ./app }\n");
        return;
    }
    o.push_str("\n# Images `up` builds (and loads into the cluster).\n");
    // A key whose entries are all commented out would read as null.
    o.push_str(if images.iter().all(|i| i.disabled.is_some()) {
        "# images:\n"
    } else {
        "images:\n"
    });
    for i in images {
        let _ = writeln!(o, "  # from {}", i.origin);
        let prefix = match &i.disabled {
            Some(why) => {
                comment(o, "  ", why);
                "  # "
            }
            None => "  ",
        };
        let _ = writeln!(o, "{prefix}- name: {}", scalar(&i.name));
        let _ = writeln!(
            o,
            "{prefix}  context: {}",
            scalar(&i.context.display().to_string())
        );
        if let Some(f) = &i.file {
            let _ = writeln!(o, "{prefix}  file: {}", scalar(&f.display().to_string()));
        }
        if !i.args.is_empty() {
            let _ = writeln!(o, "{prefix}  args:");
            for (k, v) in &i.args {
                let _ = writeln!(o, "{prefix}    {}: {}", scalar(k), scalar(v));
            }
        }
        if let Some(t) = &i.target {
            let _ = writeln!(o, "{prefix}  target: {}", scalar(t));
        }
    }
}

fn cluster(o: &mut String, d: &Draft) {
    let has_cluster_things =
        d.kind_config.is_some() || !d.manifests.is_empty() || !d.layouts.is_empty();
    if !has_cluster_things {
        o.push_str("\n# No manifests or kind config found: dependencies only, no cluster.\n# With manifests, use `provider: kind` and list them under `deploy.manifests`.\ncluster:\n  provider: none\n");
        return;
    }
    o.push_str("\ncluster:\n  provider: kind\n");
    match &d.kind_config {
        Some(c) => {
            let _ = writeln!(o, "  config: {}", scalar(&c.display().to_string()));
        }
        None => o.push_str(
            "  # config: ./kind-config.yaml   # none found; kind's default single node\n",
        ),
    }
    for c in &d.other_kind_configs {
        let _ = writeln!(o, "  # also a kind config: {}", c.display());
    }
}

fn dependencies(o: &mut String, deps: &[DepDraft]) {
    if deps.is_empty() {
        o.push_str("\n# Containers `up` starts on the engine before deploying, e.g.:\n# dependencies:\n#   postgres:\n#     image: postgres:16\n#     env: { POSTGRES_PASSWORD: test }\n#     ports: [\"5432\"]\n#     health: { exec: [pg_isready, -U, postgres], timeout: 30s }\n");
        return;
    }
    o.push_str("\n# Containers `up` starts on the engine, in `needs` order, each waiting for its health check.\ndependencies:\n");
    for dep in deps {
        let s = &dep.spec;
        let _ = writeln!(o, "  {}:", dep.name);
        for c in &dep.comments {
            comment(o, "    ", c);
        }
        let _ = writeln!(o, "    image: {}", scalar(&s.image));
        if s.once {
            o.push_str(
                "    once: true   # one-shot job: must exit 0 before its dependants start\n",
            );
        }
        if !s.needs.is_empty() {
            let _ = writeln!(o, "    needs: {}", list(&s.needs));
        }
        if let Some(e) = &s.entrypoint {
            let _ = writeln!(o, "    entrypoint: {}", list(e));
        }
        if let Some(c) = &s.command {
            let _ = writeln!(o, "    command: {}", list(c));
        }
        if let Some(w) = &s.workdir {
            let _ = writeln!(o, "    workdir: {}", scalar(w));
        }
        if let Some(u) = &s.user {
            let _ = writeln!(o, "    user: {}", scalar(u));
        }
        if !s.env.is_empty() {
            o.push_str("    env:\n");
            for (k, v) in &s.env {
                let _ = writeln!(o, "      {}: {}", scalar(k), scalar(v));
            }
        }
        if !s.ports.is_empty() {
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| match p.host {
                    Some(h) => format!("{h}:{}{}", p.container, proto(p.protocol)),
                    None => format!("{}{}", p.container, proto(p.protocol)),
                })
                .collect();
            let _ = writeln!(o, "    ports: {}", list(&ports));
        }
        if !s.volumes.is_empty() || !dep.disabled_volumes.is_empty() {
            // A key whose entries are all commented out would read as null.
            o.push_str(if s.volumes.is_empty() {
                "    # volumes:\n"
            } else {
                "    volumes:\n"
            });
            for v in &s.volumes {
                let mode = if v.read_only { "ro" } else { "rw" };
                let _ = writeln!(
                    o,
                    "      - {}",
                    scalar(&format!("{}:{}:{mode}", v.host, v.container))
                );
            }
            for (entry, why) in &dep.disabled_volumes {
                comment(o, "      ", why);
                let _ = writeln!(o, "      # - {}", scalar(entry));
            }
        }
        if let Some(h) = &s.health {
            o.push_str("    health:\n");
            if let Some(e) = &h.exec {
                let _ = writeln!(o, "      exec: {}", list(e));
            }
            let _ = writeln!(o, "      interval: {}", kt(h.interval));
            match &dep.health_comment {
                Some(c) => {
                    let _ = writeln!(o, "      timeout: {}   # {c}", kt(h.timeout));
                }
                None => {
                    let _ = writeln!(o, "      timeout: {}", kt(h.timeout));
                }
            }
            if !h.start_period.get().is_zero() {
                let _ = writeln!(o, "      start_period: {}", kt(h.start_period));
            }
        }
    }
}

fn proto(p: crate::config::Protocol) -> &'static str {
    match p {
        crate::config::Protocol::Tcp => "",
        crate::config::Protocol::Udp => "/udp",
        crate::config::Protocol::Sctp => "/sctp",
    }
}

/// A duration in kubetest's syntax without spaces (`1m30s`, `500ms`).
fn kt(d: crate::config::Duration) -> String {
    d.to_string().replace(' ', "")
}

fn deploy(o: &mut String, d: &Draft) {
    if d.manifests.is_empty() && d.layouts.is_empty() {
        return;
    }
    o.push_str("\ndeploy:\n  namespace: default\n");
    if d.manifests.is_empty() {
        o.push_str("  manifests: []\n");
    } else {
        o.push_str("  # Applied with server-side apply, in this order (directories recursively, files in name order).\n  manifests:\n");
        for m in &d.manifests {
            let _ = writeln!(o, "    - {}", scalar(&m.display().to_string()));
        }
    }
    for l in &d.layouts {
        let text = match l {
            Layout::Kustomize(p) => format!(
                "kustomize layout at {0}: kubetest applies plain manifests only, not kustomize; render it (`kubectl kustomize {0} > manifests/{1}.yaml`) and list the output above",
                p.display(),
                super::label(&p.display().to_string(), 40)
            ),
            Layout::Helm(p) => format!(
                "Helm chart at {0}: kubetest does not run Helm; render it (`helm template {1} {0} > manifests/{1}.yaml`) and list the output above",
                p.display(),
                super::label(&p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), 40)
            ),
        };
        comment(o, "  ", &text);
    }
    o.push_str("  # wait:\n  #   - { selector: app=web, timeout: 3m }   # pods that must be Ready before `run`\n");
}

/// The example scenario: exec the first dependency's health command when there is one, else
/// a placeholder step, with the other step kinds shown in comments.
pub fn example_scenario(d: &Draft) -> String {
    let mut o = String::from("# An example scenario written by `kubetest init`: rename it, then replace its steps.\n# `kubetest run` runs every scenario of this directory against the environment `up` made.\nname: example\ntags: [smoke]\nsteps:\n");
    let probe = d.dependencies.iter().find_map(|dep| {
        dep.spec
            .health
            .as_ref()
            .and_then(|h| h.exec.clone())
            .map(|e| (dep, e))
    });
    match probe {
        Some((dep, exec)) => {
            let _ = writeln!(o, "  - name: {} answers its health check", dep.name);
            o.push_str("    exec:\n");
            let _ = writeln!(o, "      dependency: {}", dep.name);
            let _ = writeln!(o, "      command: {}", list(&exec));
            o.push_str("      expect: { exit_code: 0 }\n    eventually: 30s\n");
        }
        None => o.push_str("  - name: replace me with a real step\n    sleep: 100ms\n"),
    }
    o.push_str("  # Other steps:\n  # - name: the app answers\n  #   http: { url: \"http://127.0.0.1:8080/healthz\", expect: { status: 200 } }\n  #   eventually: 30s\n  # - name: the deployment is available\n  #   assert: { apiVersion: apps/v1, kind: Deployment, name: web, expect: { status: { availableReplicas: 1 } } }\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_string() {
        for s in [
            "postgres",
            "postgres:16",
            "yes",
            "No",
            "5432",
            "",
            "a b",
            "${X}",
            "-c",
            "..",
            "~",
            "x#y",
            "'q'",
            "line\nbreak",
            "/bin/sh",
            "ON_ERROR_STOP=1",
        ] {
            let yaml = format!("v: {}\n", scalar(s));
            let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(v["v"].as_str(), Some(s), "{yaml}");
        }
        assert_eq!(scalar("postgres"), "postgres");
        assert_eq!(scalar("yes"), "\"yes\"");
    }
}

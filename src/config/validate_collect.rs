//! Checks of the `collect:` entries: one source each, a dependency that exists, an absolute
//! source path, a `to` that stays under the artifacts, and `stop_first` only where it means
//! something. Each problem is located.

use super::error::{did_you_mean, Problem};
use super::k8s_names;
use super::limits;
use super::locate::LocationIndex;
use super::model::{CollectSpec, Config, Provider};
use std::path::{Component, Path};

struct Checks<'a> {
    idx: &'a LocationIndex,
    out: Vec<Problem>,
}

impl Checks<'_> {
    fn at(&mut self, path: &str, message: String, expected: &str) {
        let loc = self.idx.value(path);
        self.out
            .push(Problem::new(Some(loc), message).expected(expected));
    }
}

/// Every problem of `config.collect`.
pub fn validate(config: &Config, idx: &LocationIndex) -> Vec<Problem> {
    let mut c = Checks {
        idx,
        out: Vec::new(),
    };
    for (i, e) in config.collect.iter().enumerate() {
        entry(&mut c, config, &format!("collect[{i}]"), e);
    }
    c.out
}

fn entry(c: &mut Checks<'_>, config: &Config, p: &str, e: &CollectSpec) {
    let f = &e.from;
    let sources = [f.dependency.is_some(), f.pods.is_some(), f.nodes.is_some()];
    if sources.iter().filter(|s| **s).count() != 1 {
        c.at(
            &format!("{p}.from"),
            format!("{p}.from: name exactly one source"),
            "one of `dependency: NAME`, `pods: {selector|deployment|statefulset: …}`, `nodes: all|control-plane`",
        );
    }
    if let Some(d) = &f.dependency {
        if !config.dependencies.contains_key(d) {
            let names: Vec<&str> = config.dependencies.keys().map(String::as_str).collect();
            let dp = format!("{p}.from.dependency");
            let loc = c.idx.value(&dp);
            c.out.push(
                Problem::new(Some(loc), format!("{dp}: unknown dependency `{d}`"))
                    .expected(format!(
                        "the name of an entry under `dependencies` ({})",
                        if names.is_empty() {
                            "there are none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ))
                    .hint(did_you_mean(d, names.iter().copied())),
            );
        }
    }
    if let Some(pods) = &f.pods {
        let pp = format!("{p}.from.pods");
        let targets = [
            pods.selector.is_some(),
            pods.deployment.is_some(),
            pods.statefulset.is_some(),
        ];
        if targets.iter().filter(|t| **t).count() != 1 {
            c.at(
                &pp,
                format!("{pp}: name exactly one set of pods"),
                "one of `selector: app=x`, `deployment: NAME`, `statefulset: NAME`",
            );
        }
        if let Some(sel) = &pods.selector {
            if let Some(why) = k8s_names::selector_problem(sel) {
                c.at(
                    &format!("{pp}.selector"),
                    format!("{pp}.selector: invalid label selector: {why}"),
                    k8s_names::SELECTOR_SHAPE,
                );
            }
        }
        for (key, v) in [
            ("namespace", &pods.namespace),
            ("deployment", &pods.deployment),
            ("statefulset", &pods.statefulset),
        ] {
            if let Some(n) = v {
                let ok = if key == "namespace" {
                    k8s_names::is_dns1123_label(n)
                } else {
                    k8s_names::is_dns1123_subdomain(n)
                };
                if !ok {
                    c.at(
                        &format!("{pp}.{key}"),
                        format!("{pp}.{key}: invalid name `{n}`"),
                        k8s_names::LABEL_SHAPE,
                    );
                }
            }
        }
    }
    if f.nodes.is_some() {
        if config.cluster.provider != Provider::Kind {
            c.at(
                &format!("{p}.from.nodes"),
                format!("{p}.from.nodes: the cluster's nodes are containers only with `cluster.provider: kind`"),
                "`pods:` (read through the API server) with this provider",
            );
        }
        if e.stop_first {
            c.at(
                &format!("{p}.stop_first"),
                format!(
                    "{p}.stop_first: kind's nodes are the cluster itself and are never stopped"
                ),
                "`stop_first` with `dependency:` or `pods:` sources",
            );
        }
    }
    if !e.path.starts_with('/') || e.path.trim_end_matches('/').is_empty() {
        c.at(
            &format!("{p}.path"),
            format!("{p}.path: `{}` is not an absolute path below `/`", e.path),
            "the absolute path of a file or directory inside the source, such as /tmp/coverage",
        );
    }
    if !stays_inside(&e.to) {
        c.at(
            &format!("{p}.to"),
            format!(
                "{p}.to: `{}` does not stay inside the collection directory",
                e.to.display()
            ),
            "a relative directory without `..`, such as coverage/app",
        );
    }
    if let Some(expected) = limits::TIMEOUT.check(e.timeout) {
        c.at(
            &format!("{p}.timeout"),
            format!("{p}.timeout: {} is out of range", limits::shown(e.timeout)),
            &expected,
        );
    }
}

/// Whether `to` names a directory inside the one it is joined to.
pub fn stays_inside(to: &Path) -> bool {
    !to.as_os_str().is_empty()
        && to
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn problems(yaml: &str) -> String {
        match crate::config::load_str(yaml, Path::new("kubetest.yaml"), Path::new("/tmp")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    const HEAD: &str = "name: demo\ndependencies:\n  postgres: {image: postgres:16}\n";

    #[test]
    fn a_good_section_loads() {
        let yaml = format!(
            "{HEAD}collect:\n  - from: {{dependency: postgres}}\n    path: /var/lib/dumps\n    to: db\n    when: on-failure\n    stop_first: true\n  - from: {{pods: {{deployment: app, namespace: demo, container: app}}}}\n    path: /tmp/cover\n    to: coverage\n  - from: {{nodes: control-plane}}\n    path: /var/log/pods\n    to: nodes\n"
        );
        let c =
            crate::config::load_str(&yaml, Path::new("kubetest.yaml"), Path::new("/tmp")).unwrap();
        assert_eq!(c.collect.len(), 3);
        assert_eq!(c.collect[0].when, crate::config::CollectWhen::OnFailure);
        assert!(c.collect[0].stop_first);
        assert_eq!(
            c.collect[2].from.nodes,
            Some(crate::config::NodeChoice::ControlPlane)
        );
    }

    #[test]
    fn each_problem_is_located() {
        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{dependency: postgre}}\n    path: /x\n    to: a\n"
        ));
        assert!(e.contains("kubetest.yaml:5:"), "{e}");
        assert!(e.contains("unknown dependency `postgre`"), "{e}");
        assert!(e.contains("postgres"), "did you mean: {e}");

        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{dependency: postgres, nodes: all}}\n    path: relative\n    to: ../out\n"
        ));
        assert!(e.contains("exactly one source"), "{e}");
        assert!(
            e.contains("kubetest.yaml:6:") && e.contains("not an absolute path"),
            "{e}"
        );
        assert!(
            e.contains("kubetest.yaml:7:") && e.contains("does not stay inside"),
            "{e}"
        );

        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{nodes: all}}\n    path: /x\n    to: n\n    stop_first: true\n    wen: always\n"
        ));
        assert!(e.contains("wen"), "unknown key: {e}");
        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{nodes: all}}\n    path: /x\n    to: n\n    stop_first: true\n"
        ));
        assert!(e.contains("never stopped"), "{e}");
        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{nodes: some}}\n    path: /x\n    to: n\n"
        ));
        assert!(e.contains("control-plane"), "{e}");
        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{pods: {{selector: 'app in (', deployment: x}}}}\n    path: /x\n    to: n\n    when: sometimes\n"
        ));
        assert!(e.contains("on-failure"), "{e}");
        let e = problems(&format!(
            "{HEAD}collect:\n  - from: {{pods: {{selector: 'app=x', deployment: x}}}}\n    path: /x\n    to: n\n"
        ));
        assert!(e.contains("exactly one set of pods"), "{e}");
    }
}

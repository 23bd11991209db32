//! Run identity: which run of kubetest on a shared cluster made an object, so runs that share a
//! cluster cannot see or remove each other's namespaces.
//!
//! Active when `--id`/`KUBETEST_RUN_ID` is given or `cluster.shared: true`. The id is, in
//! order: the one given; the one `up` recorded in the state file (so `run`/`down` find it);
//! the CI job's (`GITHUB_RUN_ID`+`GITHUB_JOB`, GitLab's `CI_JOB_ID`, Jenkins' `BUILD_ID`); a
//! random one. Every namespace the manifests use becomes `<namespace>-<id>` (system
//! namespaces excepted) and carries [`RUN_LABEL`]; references to those namespaces inside
//! objects follow (src/k8s/run_refs.rs). Cluster-scoped objects that refer to the run become
//! its own (renamed, deleted by its `down`); the others are applied with a field manager of the
//! run and a label of their own per run ([`cluster_label`]), and deleted with the last run's
//! label (src/k8s/run_cluster.rs).

use std::hash::{BuildHasher, Hasher};

/// Namespaces made for a run carry `kubetest.io/run=<id>`.
pub const RUN_LABEL: &str = "kubetest.io/run";

/// Longest id kept as given (a namespace name is at most 63 characters).
pub const MAX_LEN: usize = 20;

/// Namespaces never renamed: they exist in every cluster and are shared by design.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// The label each run sets on a cluster-scoped object it applies: `run.kubetest.io/<id>`.
pub fn cluster_label(id: &str) -> String {
    format!("run.kubetest.io/{id}")
}

/// The field manager of a run's server-side applies: each run owns its own label.
pub fn field_manager(id: &str) -> String {
    format!("kubetest-{id}")
}

/// `raw` as a DNS label fragment: lowercase letters, digits and `-`, at most [`MAX_LEN`]
/// characters (a longer id keeps its start and a hash of the whole).
pub fn sanitize(raw: &str) -> Option<String> {
    let mut s: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() {
        return None;
    }
    if s.len() <= MAX_LEN {
        return Some(s);
    }
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(raw.as_bytes()));
    Some(format!(
        "{}-{}",
        s[..MAX_LEN - 9].trim_end_matches('-'),
        &hash[..8]
    ))
}

/// The CI job's id, where a CI system sets one.
pub fn from_ci(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if let (Some(run), Some(job)) = (var("GITHUB_RUN_ID"), var("GITHUB_JOB")) {
        let attempt = var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        return sanitize(&format!("gh-{run}-{attempt}-{job}"));
    }
    if let Some(id) = var("CI_JOB_ID") {
        return sanitize(&format!("gl-{id}"));
    }
    if let Some(id) = var("BUILD_ID") {
        return sanitize(&format!("b-{id}"));
    }
    None
}

/// Eight random hex digits.
pub fn random() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

/// The run id to use, or `None` when runs are not isolated (see the module docs).
pub fn resolve(
    given: Option<&str>,
    recorded: Option<&str>,
    shared: bool,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if let Some(g) = given.and_then(sanitize) {
        return Some(g);
    }
    if let Some(r) = recorded {
        return Some(r.to_owned());
    }
    if !shared {
        return None;
    }
    Some(from_ci(var).unwrap_or_else(random))
}

/// `namespace` as the run sees it: `<namespace>-<id>`, system namespaces unchanged.
pub fn namespace(namespace: &str, id: Option<&str>) -> String {
    match id {
        Some(id) if !SYSTEM_NAMESPACES.contains(&namespace) => format!("{namespace}-{id}"),
        _ => namespace.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn ids_from_ci_systems() {
        assert_eq!(
            from_ci(env(&[
                ("GITHUB_RUN_ID", "9876"),
                ("GITHUB_JOB", "e2e_Tests")
            ]))
            .as_deref(),
            Some("gh-9876-1-e2e-tests")
        );
        assert_eq!(
            from_ci(env(&[("CI_JOB_ID", "42")])).as_deref(),
            Some("gl-42")
        );
        assert_eq!(from_ci(env(&[("BUILD_ID", "7")])).as_deref(), Some("b-7"));
        assert_eq!(from_ci(env(&[])), None);
    }

    #[test]
    fn precedence_and_shape() {
        let ci = env(&[("CI_JOB_ID", "42")]);
        assert_eq!(
            resolve(Some("PR 17"), Some("old"), false, &ci).as_deref(),
            Some("pr-17")
        );
        assert_eq!(
            resolve(None, Some("old"), true, &ci).as_deref(),
            Some("old")
        );
        assert_eq!(resolve(None, None, true, &ci).as_deref(), Some("gl-42"));
        assert_eq!(
            resolve(None, None, false, &ci),
            None,
            "not shared, not given: off"
        );
        let r = resolve(None, None, true, env(&[])).unwrap();
        assert_eq!(r.len(), 8);
        let long = sanitize("a-very-long-branch-name-for-a-pull-request").unwrap();
        assert!(
            long.len() <= MAX_LEN && long.starts_with("a-very-long"),
            "{long}"
        );
        assert_eq!(sanitize("--"), None);
        assert_eq!(namespace("demo", Some("r1")), "demo-r1");
        assert_eq!(namespace("kube-system", Some("r1")), "kube-system");
        assert_eq!(namespace("demo", None), "demo");
    }
}

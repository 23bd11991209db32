//! Named cluster targets: `clusters:` beside `cluster:`, one chosen with `--cluster NAME`.
//!
//! One `kubetest.yaml` serves kind on a laptop (`cluster:`, the default target) and, say, a
//! shared CI cluster (`clusters: {ci: {provider: existing, …}}`). The chosen spec replaces
//! `cluster:` before the plan is made, so every phase reads it as before. `up` records the
//! target in the state file; later commands take it from there (src/app.rs).

use super::model::Config;

/// Environment variable of `--cluster`.
pub const ENV_VAR: &str = "KUBETEST_CLUSTER";

/// A target as messages name it: `None` is the `cluster:` block.
pub fn shown(target: Option<&str>) -> String {
    match target {
        Some(n) => format!("`{n}`"),
        None => "the default (`cluster:`)".to_owned(),
    }
}

/// Choosing a target went wrong; both are usage errors (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("--cluster {name}: no such cluster target; {}", known_list(.known))]
    Unknown { name: String, known: Vec<String> },
    #[error(
        "--cluster {requested}: this environment was brought up on cluster target {recorded}; \
         run `kubetest down` first (it uses the recorded target), or leave out --cluster"
    )]
    Mismatch { requested: String, recorded: String },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "the config has no `clusters:` (only the default `cluster:` block)".to_owned()
    } else {
        format!(
            "the config's `clusters:` are: {}",
            known
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Which target to use. `recorded` is `Some(target)` when the state file records an
/// environment (`Some(None)`: it was made with the `cluster:` block), `None` when there is none.
pub fn resolve(
    requested: Option<&str>,
    recorded: Option<Option<&str>>,
) -> Result<Option<String>, TargetError> {
    match (requested, recorded) {
        (None, None) => Ok(None),
        (None, Some(r)) => Ok(r.map(str::to_owned)),
        (Some(q), None) => Ok(Some(q.to_owned())),
        (Some(q), Some(r)) if Some(q) == r => Ok(Some(q.to_owned())),
        (Some(q), Some(r)) => Err(TargetError::Mismatch {
            requested: q.to_owned(),
            recorded: shown(r),
        }),
    }
}

/// Make `target` the config's `cluster:` (nothing changes for `None`), and remember its name.
pub fn select(config: &mut Config, target: Option<&str>) -> Result<(), TargetError> {
    let Some(name) = target else {
        config.cluster_target = None;
        return Ok(());
    };
    let Some(spec) = config.clusters.get(name) else {
        return Err(TargetError::Unknown {
            name: name.to_owned(),
            known: config.clusters.keys().cloned().collect(),
        });
    };
    let run_id = config.cluster.run_id.take();
    config.cluster = spec.clone();
    config.cluster.run_id = run_id;
    config.cluster_target = Some(name.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Provider};
    use std::path::Path;

    const ONE_FILE: &str = "name: demo\ncluster: {provider: kind, load: registry}\nclusters:\n  ci: {provider: existing, context: ci, registry: reg.example:5000/team, shared: true}\n  other: {provider: kind, name: other}\n";

    fn config(text: &str) -> Config {
        load_str(text, Path::new("kubetest.yaml"), Path::new("/")).unwrap()
    }

    #[test]
    fn clusters_parse_as_cluster_specs_and_keep_their_order() {
        let c = config(ONE_FILE);
        assert_eq!(c.cluster.provider, Provider::Kind);
        assert_eq!(c.clusters.keys().collect::<Vec<_>>(), vec!["ci", "other"]);
        let ci = &c.clusters["ci"];
        assert_eq!(ci.provider, Provider::Existing);
        assert_eq!(ci.context.as_deref(), Some("ci"));
        assert!(ci.shared);
        assert_eq!(
            ci.registry.as_ref().map(|r| r.url.as_str()),
            Some("reg.example:5000/team")
        );
    }

    #[test]
    fn selecting_a_target_replaces_cluster_and_keeps_the_run_id() {
        let mut c = config(ONE_FILE);
        c.cluster.run_id = Some("job-7".into());
        select(&mut c, Some("ci")).unwrap();
        assert_eq!(c.cluster.provider, Provider::Existing);
        assert_eq!(c.cluster.run_id.as_deref(), Some("job-7"));
        assert_eq!(c.cluster_target.as_deref(), Some("ci"));
        let mut d = config(ONE_FILE);
        select(&mut d, None).unwrap();
        assert_eq!(d.cluster.provider, Provider::Kind);
        assert_eq!(d.cluster_target, None);
    }

    #[test]
    fn the_plan_is_made_from_the_chosen_target() {
        let plan = |target: Option<&str>| {
            let mut config = config(ONE_FILE);
            select(&mut config, target).unwrap();
            crate::plan::Plan::from_config(&crate::config::LoadedConfig {
                path: "kubetest.yaml".into(),
                dir: "/p".into(),
                config,
            })
        };
        let kind = plan(None);
        assert_eq!(kind.cluster.provider, Provider::Kind);
        assert_eq!(kind.cluster.load, crate::config::LoadMode::Registry);
        assert_eq!(kind.cluster.run_id, None);
        let ci = plan(Some("ci"));
        assert_eq!(ci.cluster.provider, Provider::Existing);
        assert_eq!(ci.cluster.context.as_deref(), Some("ci"));
        assert_eq!(ci.cluster.load, crate::config::LoadMode::Archive);
        assert!(ci.cluster.registry.is_some());
        assert!(
            ci.cluster.run_id.is_some(),
            "shared: the run gets an identity"
        );
        assert_eq!(
            ci.state_dir, kind.state_dir,
            "one environment, one state file"
        );
    }

    #[test]
    fn an_unknown_target_lists_the_names() {
        let mut c = config(ONE_FILE);
        let e = select(&mut c, Some("prod")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("--cluster prod"), "{text}");
        assert!(text.contains("`ci`, `other`"), "{text}");
        let mut bare = config("name: demo\n");
        let text = select(&mut bare, Some("ci")).unwrap_err().to_string();
        assert!(text.contains("no `clusters:`"), "{text}");
    }

    #[test]
    fn the_recorded_target_wins_when_none_is_given_and_a_different_one_is_refused() {
        assert_eq!(resolve(None, None), Ok(None));
        assert_eq!(resolve(Some("ci"), None), Ok(Some("ci".into())));
        assert_eq!(resolve(None, Some(Some("ci"))), Ok(Some("ci".into())));
        assert_eq!(resolve(None, Some(None)), Ok(None));
        assert_eq!(resolve(Some("ci"), Some(Some("ci"))), Ok(Some("ci".into())));
        let e = resolve(Some("ci"), Some(None)).unwrap_err().to_string();
        assert!(
            e.contains("--cluster ci") && e.contains("the default (`cluster:`)"),
            "{e}"
        );
        let e = resolve(Some("a"), Some(Some("b"))).unwrap_err().to_string();
        assert!(e.contains("--cluster a") && e.contains("`b`"), "{e}");
    }

    #[test]
    fn every_target_is_validated_with_located_errors() {
        let text = "name: demo\ncluster: {provider: kind}\nclusters:\n  ci:\n    provider: existing\n    image: kindest/node\n  Bad_Name: {provider: kind}\n  k: {provider: kind, context: x, load: archive}\n";
        let e = load_str(text, Path::new("kubetest.yaml"), Path::new("/")).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("kubetest.yaml:6:12")
                && shown.contains("clusters.ci.image: only used with `provider: kind`"),
            "{shown}"
        );
        assert!(
            shown.contains("kubetest.yaml:7:3")
                && shown.contains("invalid cluster target name `Bad_Name`"),
            "{shown}"
        );
        assert!(
            shown.contains("clusters.k.context: only used with `provider: existing`"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_keys_in_a_target_are_located_like_in_cluster() {
        let text = "name: demo\nclusters:\n  ci: {provider: existing, contxt: x}\n";
        let e = load_str(text, Path::new("kubetest.yaml"), Path::new("/")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("kubetest.yaml:3:"), "{shown}");
        assert!(shown.contains("contxt"), "{shown}");
    }
}

//! Cluster-scoped objects of runs sharing a cluster: a run's own ones (they refer to its
//! namespaces, src/k8s/run_scope.rs renamed them) are deleted by its `down`; shared ones
//! (CRDs, ClusterRoles…) are reference-counted through labels.
//!
//! Every run that applies a shared object sets its own label `run.kubetest.io/<id>` on it
//! (server-side apply with the run's field manager keeps the labels of other managers).
//! [`SHARED_LABEL`] marks an object kubetest runs made: it is set when the object did not exist
//! yet, and kept by every later run. An object that existed without it (installed by someone
//! else) is never deleted. `down` removes its run's label with a merge patch carrying the
//! resourceVersion it read, and deletes the object instead when its label is the last one and
//! the object is marked, with a resourceVersion precondition: a concurrent `up` or `down`
//! changes the resourceVersion, the server answers 409 Conflict, and `down` reads again
//! (optimistic concurrency, kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).

use crate::k8s::apply::server_message;
use crate::k8s::kinds::{self, Kinds};
use crate::run_id;
use crate::state::RunClusterObject;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use std::collections::BTreeMap;

/// On shared cluster-scoped objects kubetest runs created: delete with the last run's label.
pub const SHARED_LABEL: &str = "kubetest.io/shared";

/// Prefix of the per-run labels on shared objects.
pub const RUN_LABEL_PREFIX: &str = "run.kubetest.io/";

/// Attempts at releasing one object while others change it.
const RELEASE_ATTEMPTS: usize = 20;

/// The labels a run applies on a shared cluster-scoped object, given what the cluster has now
/// (`None`: it does not exist yet).
pub fn shared_labels(
    id: &str,
    existing: Option<&BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let mut out = vec![(run_id::cluster_label(id), "true".to_owned())];
    let made_by_runs = match existing {
        None => true,
        Some(labels) => labels.get(SHARED_LABEL).is_some_and(|v| v == "true"),
    };
    if made_by_runs {
        out.push((SHARED_LABEL.to_owned(), "true".to_owned()));
    }
    out
}

/// What releasing a shared object decides from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The run's label is not there (released before, or never set): nothing to do.
    NotOurs,
    /// Other runs still use it: remove only this run's label.
    Unlabel { others: usize },
    /// The last run made by kubetest runs: delete it.
    Delete,
    /// The last run, but kubetest did not make it: remove the label, leave the object.
    Keep,
}

/// Decide from the labels the object has now.
pub fn decide(id: &str, labels: &BTreeMap<String, String>) -> Decision {
    let ours = run_id::cluster_label(id);
    if !labels.contains_key(&ours) {
        return Decision::NotOurs;
    }
    let others = labels
        .keys()
        .filter(|k| k.starts_with(RUN_LABEL_PREFIX) && **k != ours)
        .count();
    if others > 0 {
        Decision::Unlabel { others }
    } else if labels.get(SHARED_LABEL).is_some_and(|v| v == "true") {
        Decision::Delete
    } else {
        Decision::Keep
    }
}

/// What `down` did with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    Deleted,
    /// Label removed; this many other runs still use it.
    StillUsed(usize),
    /// Label removed; kubetest did not make it, so it stays.
    Kept,
    /// Already gone or not labelled by this run.
    Gone,
}

impl Released {
    pub fn describe(&self) -> String {
        match self {
            Released::Deleted => "deleted".into(),
            Released::StillUsed(n) => format!("label removed; {n} other run(s) still use it"),
            Released::Kept => "label removed; not made by kubetest, so kept".into(),
            Released::Gone => "already gone".into(),
        }
    }
}

async fn api_for(
    client: &kube::Client,
    kinds: &Kinds,
    o: &RunClusterObject,
) -> Result<Option<Api<DynamicObject>>, String> {
    match kinds
        .resolve(client, &kinds::gvk(&o.api_version, &o.kind))
        .await
    {
        Ok((ar, _)) => Ok(Some(Api::all_with(client.clone(), &ar))),
        // The kind is no longer served (its CRD went): nothing of it is left.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(kube::Error::Discovery(_)) => Ok(None),
        Err(e) => Err(kinds::explain(&e, &o.api_version, &o.kind)),
    }
}

/// `down` of run `id` for one recorded object: delete the run's own, release a shared one.
pub async fn remove(
    client: &kube::Client,
    kinds: &Kinds,
    id: &str,
    o: &RunClusterObject,
) -> Result<Released, String> {
    let what = format!("{} {}", o.kind, o.name);
    let Some(api) = api_for(client, kinds, o)
        .await
        .map_err(|e| format!("cannot remove {what}: {e}"))?
    else {
        return Ok(Released::Gone);
    };
    if !o.shared {
        return match api.delete(&o.name, &DeleteParams::background()).await {
            Ok(_) => Ok(Released::Deleted),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Released::Gone),
            Err(e) => Err(format!("cannot delete {what}: {}", server_message(&e))),
        };
    }
    for _ in 0..RELEASE_ATTEMPTS {
        let obj = match api.get_opt(&o.name).await {
            Ok(Some(obj)) => obj,
            Ok(None) => return Ok(Released::Gone),
            Err(e) => return Err(format!("cannot read {what}: {}", server_message(&e))),
        };
        let labels = obj.metadata.labels.clone().unwrap_or_default();
        let rv = obj.metadata.resource_version.clone().unwrap_or_default();
        let result = match decide(id, &labels) {
            Decision::NotOurs => return Ok(Released::Gone),
            Decision::Delete => {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        resource_version: Some(rv),
                        uid: None,
                    }),
                    ..DeleteParams::background()
                };
                api.delete(&o.name, &dp).await.map(|_| Released::Deleted)
            }
            d @ (Decision::Unlabel { .. } | Decision::Keep) => {
                let patch = serde_json::json!({
                    "metadata": {
                        "resourceVersion": rv,
                        "labels": { run_id::cluster_label(id): null },
                    }
                });
                api.patch(&o.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| match d {
                        Decision::Unlabel { others } => Released::StillUsed(others),
                        _ => Released::Kept,
                    })
            }
        };
        match result {
            Ok(r) => return Ok(r),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Released::Gone),
            // Another run changed it since we read it: read again and decide again.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(format!("cannot release {what}: {}", server_message(&e))),
        }
    }
    Err(format!(
        "cannot release {what}: it kept changing under {RELEASE_ATTEMPTS} attempts (409 Conflict each time); run `kubetest down` again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_last_run_deletes_only_what_runs_made() {
        let made = labels(&[
            ("run.kubetest.io/a", "true"),
            ("run.kubetest.io/b", "true"),
            (SHARED_LABEL, "true"),
        ]);
        assert_eq!(decide("a", &made), Decision::Unlabel { others: 1 });
        assert_eq!(decide("c", &made), Decision::NotOurs);
        let last = labels(&[
            ("run.kubetest.io/b", "true"),
            (SHARED_LABEL, "true"),
            ("app", "x"),
        ]);
        assert_eq!(decide("b", &last), Decision::Delete);
        let foreign = labels(&[("run.kubetest.io/b", "true"), ("kubetest.io/run", "b")]);
        assert_eq!(
            decide("b", &foreign),
            Decision::Keep,
            "installed by someone else"
        );
    }

    #[test]
    fn marked_when_runs_make_it_and_kept_marked() {
        let l = shared_labels("a", None);
        assert!(l.contains(&(SHARED_LABEL.to_owned(), "true".to_owned())));
        assert!(l.contains(&("run.kubetest.io/a".to_owned(), "true".to_owned())));
        let marked = labels(&[(SHARED_LABEL, "true"), ("run.kubetest.io/b", "true")]);
        assert_eq!(shared_labels("a", Some(&marked)).len(), 2);
        let foreign = labels(&[("app", "x")]);
        assert_eq!(
            shared_labels("a", Some(&foreign)),
            [("run.kubetest.io/a".to_owned(), "true".to_owned())],
            "never marks what someone else installed"
        );
    }
}

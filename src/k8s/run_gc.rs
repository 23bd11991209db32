//! Runs whose state file is lost (a cancelled CI job's workspace): found by their labels through
//! the API and released as `down` releases a recorded run (`down --id`, `gc --older-than`).

use crate::k8s::apply::server_message;
use crate::k8s::kinds::Kinds;
use crate::k8s::run_cluster::{self, RUN_LABEL_PREFIX, SHARED_LABEL};
use crate::run_id::{self, RUN_LABEL};
use crate::scenario::cluster::ENVIRONMENT_LABEL;
use crate::state::RunClusterObject;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::discovery::{verbs, Discovery, Scope};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One run found through its namespaces' `kubetest.io/run` label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFound {
    pub id: String,
    pub namespaces: Vec<String>,
    /// The newest `creationTimestamp` of its namespaces (Unix seconds); `None` when one of them
    /// has none, so its age is unknown.
    pub created: Option<i64>,
}

/// Group namespaces `(name, run id, creationTimestamp in Unix seconds)` by run.
pub fn group_runs(namespaces: &[(String, String, Option<i64>)]) -> Vec<RunFound> {
    let mut runs: BTreeMap<&str, RunFound> = BTreeMap::new();
    for (name, id, created) in namespaces {
        let run = runs.entry(id).or_insert_with(|| RunFound {
            id: id.clone(),
            namespaces: Vec::new(),
            created: Some(i64::MIN),
        });
        run.namespaces.push(name.clone());
        run.created = match (run.created, created) {
            (Some(a), Some(b)) => Some(a.max(*b)),
            _ => None,
        };
    }
    runs.into_values().collect()
}

/// Which runs `gc --older-than` releases, and which it leaves and why.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Older than the limit: released.
    pub stale: Vec<RunFound>,
    /// Younger than the limit.
    pub fresh: Vec<RunFound>,
    /// This machine's runs (the one the local state file records, the `--id` given): never
    /// released by gc.
    pub local: Vec<RunFound>,
    /// A namespace without a creationTimestamp: its age is unknown, so it is left.
    pub unknown_age: Vec<RunFound>,
}

/// Sort `runs` by age at `now` (Unix seconds) against `older_than`; a `local` one is never stale.
pub fn select(runs: Vec<RunFound>, now: i64, older_than: Duration, local: &[String]) -> Selection {
    let limit = i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
    let mut out = Selection::default();
    for run in runs {
        if local.contains(&run.id) {
            out.local.push(run);
            continue;
        }
        match run.created {
            None => out.unknown_age.push(run),
            Some(created) if now.saturating_sub(created) > limit => out.stale.push(run),
            Some(_) => out.fresh.push(run),
        }
    }
    out
}

/// The run ids of the `run.kubetest.io/<id>` labels of one object.
pub fn run_ids_in(labels: &BTreeMap<String, String>) -> impl Iterator<Item = &str> {
    labels
        .keys()
        .filter_map(|k| k.strip_prefix(RUN_LABEL_PREFIX))
}

/// Runs holding shared objects that have no namespace anywhere on the cluster (their age is
/// unknown): reported by gc, released only by an explicit `down --id`.
pub fn orphans(
    holders: &BTreeSet<String>,
    with_namespaces: &BTreeSet<String>,
    local: &[String],
) -> Vec<String> {
    holders
        .iter()
        .filter(|id| !with_namespaces.contains(*id) && !local.contains(id))
        .cloned()
        .collect()
}

fn unix(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_second()
}

/// The runs that have namespaces on the cluster; with `environment`, only that environment's
/// (namespaces carry [`ENVIRONMENT_LABEL`], set by `up` and by scenarios).
pub async fn list_runs(
    client: &kube::Client,
    environment: Option<&str>,
) -> Result<Vec<RunFound>, String> {
    let selector = match environment {
        Some(env) => format!("{RUN_LABEL},{ENVIRONMENT_LABEL}={env}"),
        None => RUN_LABEL.to_owned(),
    };
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            format!(
                "cannot list the namespaces of runs ({selector}): {}",
                server_message(&e)
            )
        })?;
    let found: Vec<(String, String, Option<i64>)> = list
        .items
        .into_iter()
        .filter_map(|ns| {
            let id = ns.metadata.labels.as_ref()?.get(RUN_LABEL)?.clone();
            let created = ns.metadata.creation_timestamp.as_ref().map(unix);
            Some((ns.metadata.name?, id, created))
        })
        .collect();
    Ok(group_runs(&found))
}

/// The cluster-scoped kinds the server lists (API discovery), Namespaces excepted: a run's
/// namespaces are deleted on their own.
pub async fn cluster_scoped_kinds(client: &kube::Client) -> Result<Vec<ApiResource>, String> {
    let discovery = Discovery::new(client.clone()).run().await.map_err(|e| {
        format!(
            "cannot discover the cluster's kinds: {}",
            server_message(&e)
        )
    })?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope == Scope::Cluster
                && caps.supports_operation(verbs::LIST)
                && !(ar.group.is_empty() && ar.kind == "Namespace")
            {
                out.push(ar);
            }
        }
    }
    Ok(out)
}

/// Objects of `kinds` matching `selector`; a kind the server refuses to list (403, 404, 405)
/// is skipped with a line in `skipped`.
async fn list_kind(
    client: &kube::Client,
    ar: &ApiResource,
    selector: &str,
    skipped: &mut Vec<String>,
) -> Result<Vec<DynamicObject>, String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    match api.list(&ListParams::default().labels(selector)).await {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(s)) if matches!(s.code, 403..=405) => {
            skipped.push(format!(
                "{} {}: not listed ({})",
                ar.api_version, ar.plural, s.message
            ));
            Ok(Vec::new())
        }
        Err(e) => Err(format!(
            "cannot list {} ({selector}): {}",
            ar.plural,
            server_message(&e)
        )),
    }
}

/// What run `id` holds on the cluster besides its namespaces.
#[derive(Debug, Default, Clone)]
pub struct Held {
    /// Its own cluster-scoped objects (`kubetest.io/run=<id>`, deleted) and the shared ones
    /// it holds a label on (`run.kubetest.io/<id>`, released), as `down` records them.
    pub objects: Vec<RunClusterObject>,
    /// Kinds the server would not list.
    pub skipped: Vec<String>,
}

/// Find run `id`'s cluster-scoped objects by label, over every listable cluster-scoped kind.
pub async fn held_by(
    client: &kube::Client,
    kinds: &[ApiResource],
    id: &str,
) -> Result<Held, String> {
    let mut held = Held::default();
    let own = format!("{RUN_LABEL}={id}");
    let shared = run_id::cluster_label(id);
    for ar in kinds {
        let mut owned = BTreeSet::new();
        for o in list_kind(client, ar, &own, &mut held.skipped).await? {
            let Some(name) = o.metadata.name else {
                continue;
            };
            owned.insert(name.clone());
            held.objects.push(record(ar, name, false));
        }
        for o in list_kind(client, ar, &shared, &mut held.skipped).await? {
            match o.metadata.name {
                Some(name) if !owned.contains(&name) => held.objects.push(record(ar, name, true)),
                _ => {}
            }
        }
    }
    Ok(held)
}

fn record(ar: &ApiResource, name: String, shared: bool) -> RunClusterObject {
    RunClusterObject {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
        name,
        shared,
    }
}

/// The run ids that hold a label on a shared object kubetest runs made ([`SHARED_LABEL`]).
pub async fn shared_holders(
    client: &kube::Client,
    kinds: &[ApiResource],
) -> Result<(BTreeSet<String>, Vec<String>), String> {
    let mut ids = BTreeSet::new();
    let mut skipped = Vec::new();
    for ar in kinds {
        for o in list_kind(client, ar, SHARED_LABEL, &mut skipped).await? {
            if let Some(labels) = &o.metadata.labels {
                ids.extend(run_ids_in(labels).map(str::to_owned));
            }
        }
    }
    Ok((ids, skipped))
}

/// What releasing one run did.
#[derive(Debug, Default, Clone)]
pub struct Release {
    pub namespaces: Vec<String>,
    /// `Kind name: what happened` per cluster-scoped object.
    pub objects: Vec<String>,
    pub skipped: Vec<String>,
}

/// Release run `id` as its `down` would: delete its namespaces, delete its own cluster-scoped
/// objects and remove its label from shared ones (src/k8s/run_cluster.rs decides per object).
pub async fn release(
    client: &kube::Client,
    kinds: &[ApiResource],
    id: &str,
) -> Result<Release, String> {
    let namespaces = crate::k8s::run_scope::delete_namespaces(client, id).await?;
    let held = held_by(client, kinds, id).await?;
    let cache = Kinds::new();
    let mut objects = Vec::new();
    for o in &held.objects {
        let done = run_cluster::remove(client, &cache, id, o).await?;
        objects.push(format!("{} {}: {}", o.kind, o.name, done.describe()));
    }
    Ok(Release {
        namespaces,
        objects,
        skipped: held.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, id: &str, created: Option<i64>) -> (String, String, Option<i64>) {
        (name.into(), id.into(), created)
    }

    #[test]
    fn a_run_is_as_old_as_its_newest_namespace() {
        let runs = group_runs(&[
            ns("demo-a", "a", Some(100)),
            ns("cache-a", "a", Some(300)),
            ns("demo-b", "b", Some(50)),
            ns("demo-c", "c", Some(10)),
            ns("cache-c", "c", None),
        ]);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].id, "a");
        assert_eq!(runs[0].created, Some(300));
        assert_eq!(runs[0].namespaces, ["demo-a", "cache-a"]);
        assert_eq!(runs[1].created, Some(50));
        assert_eq!(runs[2].created, None, "one namespace without a timestamp");
    }

    #[test]
    fn only_stale_runs_of_known_age_that_are_not_local_are_selected() {
        let runs = group_runs(&[
            ns("demo-old", "old", Some(1_000)),
            ns("demo-new", "new", Some(9_000)),
            ns("demo-mine", "mine", Some(10)),
            ns("demo-what", "what", None),
        ]);
        let s = select(runs, 10_000, Duration::from_secs(7200), &["mine".into()]);
        let ids = |v: &[RunFound]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&s.stale), ["old"]);
        assert_eq!(ids(&s.fresh), ["new"]);
        assert_eq!(ids(&s.local), ["mine"], "old but local");
        assert_eq!(ids(&s.unknown_age), ["what"]);
        let exactly = select(
            group_runs(&[ns("d", "x", Some(2_800))]),
            10_000,
            Duration::from_secs(7200),
            &[],
        );
        assert_eq!(exactly.fresh.len(), 1, "exactly the limit is not older");
    }

    #[test]
    fn holders_without_namespaces_are_orphans_but_never_the_local_run() {
        let labels: BTreeMap<String, String> = [
            ("run.kubetest.io/a", "true"),
            ("run.kubetest.io/gone", "true"),
            ("run.kubetest.io/mine", "true"),
            (SHARED_LABEL, "true"),
            ("app", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let holders: BTreeSet<String> = run_ids_in(&labels).map(str::to_owned).collect();
        assert_eq!(holders.len(), 3);
        let with_ns = BTreeSet::from(["a".to_owned()]);
        assert_eq!(orphans(&holders, &with_ns, &["mine".into()]), ["gone"]);
    }
}

//! Releasing runs no state file records (`down --id ID`, `gc --older-than`): found by label
//! through the API, released as `down` releases a recorded run (src/k8s/run_gc.rs).

use super::PhaseCtx;
use crate::config::Provider;
use crate::events::{Outcome, Phase};
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::run_gc::{self, RunFound};
use kube::api::ApiResource;
use std::time::Duration;

fn access(ctx: &PhaseCtx) -> ClusterAccess {
    ClusterAccess::from_state_or_plan(&ctx.state.snapshot(), &ctx.plan.cluster)
}

/// How long `down --id` waits for a kind cluster to answer before deciding it is gone.
const KIND_PROBE_LIMIT: Duration = Duration::from_secs(10);

/// `down --id ID` with no recorded run: release run `id` by its labels. On a kind cluster that
/// does not answer (deleted with its runs, or never made) there is nothing to release: a note,
/// not a failure. A shared (`provider: existing`) cluster that does not answer is an error.
pub async fn release_by_id(ctx: &PhaseCtx, id: &str) -> anyhow::Result<()> {
    let task = ctx
        .events
        .task(Phase::Teardown, format!("run {id} (found by label)"));
    let client = connect(&access(ctx)).await.map_err(|e| format!("{e:#}"));
    if ctx.plan.cluster.provider == Provider::Kind {
        let probe = async {
            let client = client.as_ref().map_err(Clone::clone)?;
            client
                .apiserver_version()
                .await
                .map(|_| ())
                .map_err(|e| crate::k8s::apply::server_message(&e))
        };
        let answered = tokio::time::timeout(KIND_PROBE_LIMIT, probe)
            .await
            .unwrap_or_else(|_| Err("no answer within 10s".into()));
        if let Err(why) = answered {
            task.finish(
                Outcome::Skipped,
                Some(format!(
                    "kind cluster {} does not answer ({why}): nothing of run {id} to release",
                    ctx.plan.cluster.name
                )),
            );
            return Ok(());
        }
    }
    let result = async {
        let client = client?;
        let kinds = run_gc::cluster_scoped_kinds(&client).await?;
        run_gc::release(&client, &kinds, id).await
    }
    .await;
    finish_release(task, id, result).map_err(|e| {
        anyhow::anyhow!("{e}; run `kubetest down --id {id}` again once the cluster answers")
    })
}

fn finish_release(
    task: crate::events::TaskEvents,
    id: &str,
    result: Result<run_gc::Release, String>,
) -> Result<(), String> {
    match result {
        Ok(r) => {
            for line in r.objects.iter().chain(&r.skipped) {
                task.log(line.clone());
            }
            let detail = if r.namespaces.is_empty() && r.objects.is_empty() {
                format!("nothing of run {id} left on the cluster")
            } else {
                format!(
                    "deleted namespace(s) [{}]; released {} cluster-scoped object(s)",
                    r.namespaces.join(", "),
                    r.objects.len()
                )
            };
            task.finish(Outcome::Ok, Some(detail));
            Ok(())
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(e.clone()));
            Err(format!("releasing run {id}: {e}"))
        }
    }
}

/// What `gc` was asked.
#[derive(Debug, Clone, Copy)]
pub struct GcRequest {
    pub older_than: Duration,
    pub dry_run: bool,
}

fn age(now: i64, run: &RunFound) -> String {
    match run.created {
        Some(c) => humantime::format_duration(Duration::from_secs(
            u64::try_from(now.saturating_sub(c)).unwrap_or(0),
        ))
        .to_string(),
        None => "unknown".into(),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `gc`: release this environment's runs older than the limit; never the local run, never a
/// run of unknown age. A dry run reports each stale run as a skipped task naming what would go.
pub async fn gc(ctx: &PhaseCtx, req: GcRequest, local: &[String]) -> anyhow::Result<Outcome> {
    let env = ctx.plan.environment.as_str();
    let unreachable = |e: String| {
        anyhow::anyhow!(
            "{e}; check that the cluster answers (`kubetest doctor`), then rerun `kubetest gc`"
        )
    };
    let client = connect(&access(ctx)).await?;
    let mine = run_gc::list_runs(&client, Some(env))
        .await
        .map_err(unreachable)?;
    let now = now_unix();
    let sel = run_gc::select(mine, now, req.older_than, local);
    let limit = humantime::format_duration(req.older_than);
    for run in &sel.local {
        ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "run {} is this machine's (the local state file records it, or --id/KUBETEST_RUN_ID names it; age {}): left; `kubetest down` removes it",
                run.id,
                age(now, run)
            ),
        );
    }
    if !sel.fresh.is_empty() {
        let list: Vec<String> = sel
            .fresh
            .iter()
            .map(|r| format!("{} (age {})", r.id, age(now, r)))
            .collect();
        ctx.events.note(
            Some(Phase::Teardown),
            format!(
                "left {} run(s) younger than {limit}: {}",
                list.len(),
                list.join(", ")
            ),
        );
    }
    if !sel.unknown_age.is_empty() {
        let ids: Vec<&str> = sel.unknown_age.iter().map(|r| r.id.as_str()).collect();
        ctx.events.warn(
            Some(Phase::Teardown),
            format!(
                "left run(s) {} of unknown age (a namespace without creationTimestamp); `kubetest down --id ID` releases one",
                ids.join(", ")
            ),
        );
    }
    let kinds = run_gc::cluster_scoped_kinds(&client)
        .await
        .map_err(unreachable)?;
    let mut failed = Vec::new();
    for run in &sel.stale {
        let task = ctx.events.task(
            Phase::Teardown,
            format!("run {} (age {})", run.id, age(now, run)),
        );
        if req.dry_run {
            match dry_run(&client, &kinds, run).await {
                Ok(detail) => task.finish(Outcome::Skipped, Some(detail)),
                Err(e) => {
                    task.finish(Outcome::Failed, Some(e.clone()));
                    failed.push(e);
                }
            }
            continue;
        }
        let result = run_gc::release(&client, &kinds, &run.id).await;
        if let Err(e) = finish_release(task, &run.id, result) {
            failed.push(e);
        }
    }
    report_orphans(ctx, &client, &kinds, local).await;
    if !failed.is_empty() {
        anyhow::bail!(
            "{}; run `kubetest gc` again once the cluster answers",
            failed.join("; ")
        );
    }
    if sel.stale.is_empty() {
        ctx.events.note(
            Some(Phase::Teardown),
            format!("no run of environment {env} is older than {limit}"),
        );
        return Ok(Outcome::Skipped);
    }
    Ok(Outcome::Ok)
}

async fn dry_run(
    client: &kube::Client,
    kinds: &[ApiResource],
    run: &RunFound,
) -> Result<String, String> {
    let held = run_gc::held_by(client, kinds, &run.id).await?;
    let objects: Vec<String> = held
        .objects
        .iter()
        .map(|o| {
            let how = if o.shared {
                "label removed or deleted with the last run's"
            } else {
                "deleted"
            };
            format!("{} {} ({how})", o.kind, o.name)
        })
        .collect();
    Ok(format!(
        "dry run, would release: namespace(s) [{}]; cluster-scoped [{}]",
        run.namespaces.join(", "),
        objects.join(", ")
    ))
}

/// Runs that hold labels on shared objects but have no namespace anywhere: their age is
/// unknown, so they are only reported.
async fn report_orphans(
    ctx: &PhaseCtx,
    client: &kube::Client,
    kinds: &[ApiResource],
    local: &[String],
) {
    let found = async {
        let everywhere = run_gc::list_runs(client, None).await?;
        let with_ns = everywhere.into_iter().map(|r| r.id).collect();
        let (holders, _) = run_gc::shared_holders(client, kinds).await?;
        Ok::<_, String>(run_gc::orphans(&holders, &with_ns, local))
    }
    .await;
    match found {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => ctx.events.warn(
            Some(Phase::Teardown),
            format!(
                "run(s) {} hold labels on shared cluster-scoped objects but have no namespace, so their age is unknown: left; `kubetest down --id ID` releases one",
                ids.join(", ")
            ),
        ),
        Err(e) => ctx.events.warn(
            Some(Phase::Teardown),
            format!("did not look for runs that hold shared objects without namespaces: {e}"),
        ),
    }
}

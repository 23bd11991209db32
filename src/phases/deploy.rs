//! Deploy: server-side apply of the manifests (namespaces, then CRDs, then the rest).

use super::PhaseCtx;
use crate::config::Provider;
use crate::events::{Outcome, Phase};
use crate::k8s::apply::Applier;
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::{image_ids, image_rewrite, manifests, run_scope};
use anyhow::Context;

pub async fn run(ctx: &PhaseCtx) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.deploy.manifests.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let paths = plan.deploy.manifests.clone();
    let mut objects = tokio::task::spawn_blocking(move || manifests::load(&paths))
        .await
        .context("reading the manifests stopped")??;
    let state = ctx.state.snapshot();
    // Built images become what the cluster runs: pushed digests, or kind's loaded names.
    let map = match plan.cluster.provider {
        Provider::Existing => image_rewrite::ImageMap::pushed(&state),
        Provider::Kind => image_rewrite::ImageMap::kind(&state),
        Provider::None => image_rewrite::ImageMap::default(),
    };
    let mut rewritten = Vec::new();
    for m in &mut objects {
        for r in image_rewrite::rewrite(m, &map) {
            rewritten.push(format!(
                "{}/{} {}: {} → {}",
                m.kind().to_lowercase(),
                m.name(),
                r.container,
                r.from,
                r.to
            ));
        }
    }
    if !rewritten.is_empty() {
        ctx.events.note(
            Some(Phase::Deploy),
            format!("image references of built images: {}", rewritten.join("; ")),
        );
    }
    // Templates now pinned by digest roll out by themselves and match no built name here;
    // tags that stay the same across builds (kind) still get the image-ID annotation.
    let ids = image_ids::ImageIds::built(&state);
    let mut stamped = Vec::new();
    for m in &mut objects {
        if let Some(value) = image_ids::stamp(m, &ids) {
            stamped.push(format!("{}/{}: {value}", m.kind().to_lowercase(), m.name()));
        }
    }
    if !stamped.is_empty() {
        ctx.events.note(
            Some(Phase::Deploy),
            format!(
                "pod templates get the IDs of the images built (annotation {}; a new build rolls the pods): {}",
                image_ids::ANNOTATION,
                stamped.join("; ")
            ),
        );
    }
    let run_id = plan.cluster.run_id.as_deref();
    if let Some(id) = run_id {
        let iso = run_scope::isolate(&mut objects, id, &plan.deploy.namespace);
        objects.splice(0..0, iso.made);
        run_scope::label_environment(&mut objects, &plan.environment);
        // Recorded before anything is applied, so `down` finds this run's namespaces even
        // after a failed apply, and `run` maps scenarios' namespaces.
        ctx.state.update(|s| {
            s.run_id = Some(id.to_owned());
            s.run_namespaces = iso.namespaces.names().map(str::to_owned).collect();
        })?;
        ctx.events.note(
            Some(Phase::Deploy),
            format!(
                "run {id} on a shared cluster: namespaces get the suffix -{id} and the label {}={id}",
                crate::run_id::RUN_LABEL
            ),
        );
        if !iso.mapped.is_empty() {
            ctx.events.note(
                Some(Phase::Deploy),
                format!(
                    "references to this run's namespaces follow them: {}",
                    iso.mapped.join("; ")
                ),
            );
        }
        if !iso.owned.is_empty() {
            let names: Vec<String> = iso
                .owned
                .iter()
                .map(|(_, k, n)| format!("{k} {n}"))
                .collect();
            ctx.events.note(
                Some(Phase::Deploy),
                format!(
                    "cluster-scoped objects that refer to this run's namespaces are its own (renamed with -{id}, deleted by `down`): {}",
                    names.join(", ")
                ),
            );
        }
        for w in &iso.warnings {
            ctx.events
                .warn(Some(Phase::Deploy), format!("left as written: {w}"));
        }
    }
    let access = ClusterAccess::from_state_or_plan(&state, &plan.cluster);
    let client = connect(&access).await?;
    ctx.events.note(
        Some(Phase::Deploy),
        format!(
            "applying {} objects to {} (server-side apply, field manager `{}`)",
            objects.len(),
            access.describe(),
            run_id
                .map(crate::run_id::field_manager)
                .unwrap_or_else(|| crate::k8s::apply::FIELD_MANAGER.to_owned())
        ),
    );
    let task = ctx.events.task(Phase::Deploy, "manifests");
    let mut applier = Applier::new(client, &plan.deploy.namespace).for_run(run_id);
    let mut unrecorded = None;
    let result = applier
        .apply_all(&objects, |a| {
            task.progress(&a.object);
            task.log(format!("applied {}", a.object));
            // Recorded as soon as applied, so `down` removes or releases it even when this
            // `up` fails or is killed later.
            if let Some(o) = &a.run_cluster_object {
                let recorded = ctx.state.update(|s| {
                    if !s.run_cluster_objects.contains(o) {
                        s.run_cluster_objects.push(o.clone());
                    }
                });
                if let Err(e) = recorded {
                    unrecorded.get_or_insert(e);
                }
            }
        })
        .await;
    if let Some(e) = unrecorded {
        return Err(e.context("cannot record the run's cluster-scoped objects in the state file"));
    }
    match result {
        Ok(()) => {
            task.finish(
                Outcome::Ok,
                Some(format!("{} objects applied", objects.len())),
            );
            Ok(Outcome::Ok)
        }
        Err(e) => {
            task.finish(Outcome::Failed, Some(e.object.clone()));
            Err(e.into())
        }
    }
}

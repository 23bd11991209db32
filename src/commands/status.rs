//! `kubetest status`: what the state file records, and whether each thing still exists.

use crate::config::LoadedConfig;
use crate::engine::images::{self, short_id as short};
use crate::engine::{self, Endpoint, Engine};
use crate::events::{Events, Phase};
use crate::plan::Plan;
use crate::state::{State, StateStore};
use crate::Session;

const PHASE: Option<Phase> = Some(Phase::Checks);

pub async fn status(session: &Session, loaded: &LoadedConfig) -> anyhow::Result<()> {
    let plan = Plan::from_config(loaded);
    let store = StateStore::new(&plan.state_dir);
    let ev = &session.events;
    let Some(state) = store.load()? else {
        ev.note(
            PHASE,
            format!(
                "environment `{}`: not up (no {})",
                plan.environment,
                store.path().display()
            ),
        );
        return Ok(());
    };
    ev.note(
        PHASE,
        format!(
            "environment `{}`: state {}",
            state.environment,
            store.path().display()
        ),
    );
    let engine = check_engine(ev, &state).await;
    check_images(ev, &state, engine.as_ref()).await;
    if let Some(c) = &state.cluster {
        let origin = if c.created {
            "created by kubetest"
        } else {
            "reused"
        };
        ev.note(
            PHASE,
            format!("cluster {} ({}, {origin})", c.name, c.provider),
        );
        if let Some(k) = &c.kubeconfig {
            if k.is_file() {
                ev.note(PHASE, format!("kubeconfig {}", k.display()));
            } else {
                ev.warn(
                    PHASE,
                    format!("kubeconfig {} is recorded but missing", k.display()),
                );
            }
        }
    }
    for n in &state.networks {
        ev.note(PHASE, format!("network {} {}", n.name, short(&n.id)));
    }
    for c in &state.containers {
        let ports: Vec<String> = c.ports.iter().map(|(k, v)| format!("{v}->{k}")).collect();
        ev.note(
            PHASE,
            format!(
                "container {} ({}) {}",
                c.name,
                c.dependency,
                ports.join(" ")
            ),
        );
    }
    for a in &state.attachments {
        ev.note(
            PHASE,
            format!("node {} attached to network {}", a.container, a.network),
        );
    }
    for o in &state.cluster_objects {
        ev.note(PHASE, format!("in the cluster: {}", o.describe()));
    }
    if state.is_empty() {
        ev.note(PHASE, "nothing recorded");
    }
    Ok(())
}

/// The engine `up` recorded, if it still answers.
async fn check_engine(ev: &Events, state: &State) -> Option<Engine> {
    let rec = state.engine.as_ref()?;
    let ep = Endpoint {
        url: rec.endpoint.clone(),
        source: "recorded by `kubetest up`".into(),
    };
    match engine::connect_endpoint(&ep, Some(rec)).await {
        Ok(live) => {
            ev.note(PHASE, format!("engine: {} (answers)", live.describe()));
            Some(live)
        }
        Err(why) => {
            ev.warn(
                PHASE,
                format!(
                    "engine: {} {} at {} does not answer: {why}",
                    rec.kind, rec.version, rec.endpoint
                ),
            );
            None
        }
    }
}

async fn check_images(ev: &Events, state: &State, engine: Option<&Engine>) {
    for i in &state.images {
        let what = format!(
            "image {} {} (inputs {})",
            i.name,
            short(&i.id),
            short(&i.input_hash)
        );
        let Some(live) = engine else {
            ev.note(PHASE, format!("{what}: not checked (engine unreachable)"));
            continue;
        };
        match images::inspect(&live.docker, &i.name).await {
            Ok(Some(local)) if local.id == i.id => ev.note(PHASE, format!("{what}: present")),
            Ok(Some(local)) => ev.warn(
                PHASE,
                format!("{what}: the tag now points at {}", short(&local.id)),
            ),
            Ok(None) => ev.warn(
                PHASE,
                format!("{what}: missing (the next `up` rebuilds it)"),
            ),
            Err(e) => ev.warn(PHASE, format!("{what}: {e:#}")),
        }
    }
}

//! `kubetest status`: what the state file records, and whether each thing still exists.

use crate::config::LoadedConfig;
use crate::engine::images::short_id as short;
use crate::events::Phase;
use crate::plan::Plan;
use crate::state::StateStore;
use crate::Session;

pub async fn status(session: &Session, loaded: &LoadedConfig) -> anyhow::Result<()> {
    let plan = Plan::from_config(loaded);
    let store = StateStore::new(&plan.state_dir);
    let ev = &session.events;
    let phase = Some(Phase::Checks);
    let Some(state) = store.load()? else {
        ev.note(
            phase,
            format!(
                "environment `{}`: not up (no {})",
                plan.environment,
                store.path().display()
            ),
        );
        return Ok(());
    };
    ev.note(
        phase,
        format!(
            "environment `{}`: state {}",
            state.environment,
            store.path().display()
        ),
    );
    if let Some(e) = &state.engine {
        ev.note(
            phase,
            format!("engine: {} {} at {}", e.kind, e.version, e.endpoint),
        );
    }
    for i in &state.images {
        ev.note(
            phase,
            format!(
                "image {} {} (inputs {})",
                i.name,
                short(&i.id),
                short(&i.input_hash)
            ),
        );
    }
    if let Some(c) = &state.cluster {
        let origin = if c.created {
            "created by kubetest"
        } else {
            "reused"
        };
        ev.note(
            phase,
            format!("cluster {} ({}, {origin})", c.name, c.provider),
        );
        if let Some(k) = &c.kubeconfig {
            if k.is_file() {
                ev.note(phase, format!("kubeconfig {}", k.display()));
            } else {
                ev.warn(
                    phase,
                    format!("kubeconfig {} is recorded but missing", k.display()),
                );
            }
        }
    }
    for n in &state.networks {
        ev.note(phase, format!("network {} {}", n.name, short(&n.id)));
    }
    for c in &state.containers {
        let ports: Vec<String> = c.ports.iter().map(|(k, v)| format!("{v}->{k}")).collect();
        ev.note(
            phase,
            format!(
                "container {} ({}) {}",
                c.name,
                c.dependency,
                ports.join(" ")
            ),
        );
    }
    if state.is_empty() {
        ev.note(phase, "nothing recorded");
    }
    Ok(())
}

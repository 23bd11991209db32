//! Settling a container name whose create may still be running in the engine.
//!
//! A create that a killed `up` sent goes on in the engine after `up` died: Podman 4.3 and
//! Docker 20.10 finish a create whose client went away, and until it is finished the
//! container is in no list and `DELETE` by its name answers 404 (measured here on an idle
//! Podman: listed ~95 ms after the client closed; docs/engine-facts.md, "A create outlives
//! its client"). So list-then-remove can miss it, and it appears after `down` ended.
//!
//! The name is the engine's own lock: both engines reserve it at the start of a create
//! (Docker's name registrar; Podman's container storage) and refuse a second create of that
//! name, naming the holder's id (Docker: 409 "…is already in use by container \"<id>\"";
//! Podman: 500 "…is already in use by <id>"). [`settle_name`] claims the name with a
//! placeholder create: refused means a create holds it, which is removed as soon as the
//! engine lets it be; accepted means nothing holds it, and the placeholder is removed.

use super::containers::{is_conflict, remove, ENV_LABEL};
use super::images::is_not_found;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, EventsOptions, RemoveContainerOptions};
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// Label on a placeholder, so a `down` killed while it held a name finds it by label too.
pub const CLAIM_LABEL: &str = "dev.kubetest.claim";

/// Longest wait between two attempts to remove a holder the engine is still creating; the
/// holder's `create` event ends a wait sooner.
const RECHECK: Duration = Duration::from_millis(200);

/// How a name was settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Ids of containers that held the name (created by a create still running) and were
    /// removed; empty when nothing held it.
    pub removed: Vec<String>,
    /// The image to claim with is gone: no create of it can finish either, so nothing can
    /// hold the name for it; the name was not claimed.
    pub image_missing: bool,
}

/// Make sure no container named `name` exists or is being created, removing what does.
/// `image` is a local image to create the placeholder from (the one the create that may be
/// running uses); `env` labels the placeholder. A holder the engine has not finished
/// creating within `limit` is an error naming it.
pub async fn settle_name(
    docker: &Docker,
    name: &str,
    image: &str,
    env: &str,
    limit: Duration,
) -> anyhow::Result<Settled> {
    let started = tokio::time::Instant::now();
    let mut settled = Settled::default();
    loop {
        let holder = match claim(docker, name, image, env).await {
            Ok(placeholder) => {
                remove(docker, &placeholder).await?;
                return Ok(settled);
            }
            Err(e) if is_conflict(&e) => {
                holder_id(&e.to_string()).unwrap_or_else(|| name.to_owned())
            }
            Err(e) if is_not_found(&e) => {
                settled.image_missing = true;
                return Ok(settled);
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot claim the container name {name}")));
            }
        };
        if try_remove(docker, &holder).await? {
            settled.removed.push(holder);
            continue;
        }
        if started.elapsed() >= limit {
            anyhow::bail!(
                "the container name {name} is held by {holder}, which the engine has not finished creating after {} s; once `docker ps -a` / `podman ps -a` lists it, remove it (`rm -f {name}`) or rerun `kubetest down`",
                limit.as_secs()
            );
        }
        // Still being created (or its create failed and freed the name, which the next
        // claim finds): wait for its `create` event, or [`RECHECK`] when none comes.
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("container".to_owned(), vec![holder.clone()]),
        ]);
        let mut events = docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }));
        let _ = tokio::time::timeout(RECHECK, events.next()).await;
    }
}

/// Create the placeholder `name` (not started, no network); its id.
async fn claim(
    docker: &Docker,
    name: &str,
    image: &str,
    env: &str,
) -> Result<String, BollardError> {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        labels: Some(HashMap::from([
            (ENV_LABEL.to_owned(), env.to_owned()),
            (CLAIM_LABEL.to_owned(), "1".to_owned()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    docker
        .create_container(Some(opts), body)
        .await
        .map(|r| r.id)
}

/// Remove `holder`; false when the engine does not know it yet (404: still being created).
async fn try_remove(docker: &Docker, holder: &str) -> anyhow::Result<bool> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(holder, Some(opts)).await {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) if e.to_string().contains("already in progress") => Ok(true),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove container {holder}"))),
    }
}

/// The id a name-in-use refusal names: Docker `…in use by container "<id>". You have…`,
/// Podman `…is already in use by <id>. You have…`.
pub fn holder_id(message: &str) -> Option<String> {
    let rest = &message[message.find("in use by")? + "in use by".len()..];
    let rest = rest
        .trim_start()
        .trim_start_matches("container")
        .trim_start();
    let rest = rest.trim_start_matches(['"', '\\']);
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (id.len() >= 12).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::holder_id;

    #[test]
    fn holder_ids_as_each_engine_words_them() {
        // Both texts as the engines answered a claim of a name a running create held
        // (recorded here, Podman 4.3.1 and Docker 20.10.24).
        let podman = r#"container create: creating container storage: the container name "racetest2" is already in use by d4a12861cf7fb191ea2cd5249556d6cd3d158ad02e2aa8d8a48162d224f17271. You have to remove that container to be able to reuse that name: that name is already in use"#;
        let docker = r#"Conflict. The container name "/racetest2" is already in use by container "26926048bc2b285fe1c769a12c95b754bdb1702178e459efd1ccd28036d96255". You have to remove (or rename) that container to be able to reuse that name."#;
        // bollard's Display of the error escapes the quotes.
        let escaped = docker.replace('"', "\\\"");
        assert_eq!(
            holder_id(podman).as_deref(),
            Some("d4a12861cf7fb191ea2cd5249556d6cd3d158ad02e2aa8d8a48162d224f17271")
        );
        for text in [docker, escaped.as_str()] {
            assert_eq!(
                holder_id(text).as_deref(),
                Some("26926048bc2b285fe1c769a12c95b754bdb1702178e459efd1ccd28036d96255"),
                "{text}"
            );
        }
        assert_eq!(holder_id("network name x already exists"), None);
        assert_eq!(holder_id("already in use by abc"), None);
    }
}

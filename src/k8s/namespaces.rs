//! Deleting the namespaces that carry a label selector (scenario leftovers, a run's own).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams};

/// Delete every namespace matching `selector` that is not already terminating and return their
/// names; `what` names them in errors ("scenario namespaces", "the namespaces of run ci-7").
pub async fn delete_labelled(
    client: &kube::Client,
    selector: &str,
    what: &str,
) -> Result<Vec<String>, String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| {
            format!(
                "cannot list {what} ({selector}): {}",
                crate::k8s::apply::server_message(&e)
            )
        })?;
    let mut deleted = Vec::new();
    for ns in list.items {
        let Some(name) = ns.metadata.name else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(format!(
                    "cannot delete {what}: namespace {name}: {}",
                    crate::k8s::apply::server_message(&e)
                ))
            }
        }
    }
    Ok(deleted)
}

//! Kinds resolved by discovery (`apiVersion` + `kind` → resource and scope), cached and shared:
//! one resolution per kind for a whole run, however many steps and scenarios ask at once.

use kube::api::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Resolved = (ApiResource, ApiCapabilities);

/// A cheap-to-clone cache of discovered kinds. Failures are not cached: a kind whose CRD is
/// applied later resolves on the next ask.
#[derive(Clone, Default)]
pub struct Kinds {
    cells: Arc<Mutex<HashMap<GroupVersionKind, Arc<OnceCell<Resolved>>>>>,
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

impl Kinds {
    pub fn new() -> Self {
        Self::default()
    }

    /// The resource serving `gvk`, discovered once; concurrent askers share one request.
    pub async fn resolve(
        &self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
    ) -> Result<Resolved, kube::Error> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            cells.entry(gvk.clone()).or_default().clone()
        };
        cell.get_or_try_init(|| discovery::pinned_kind(client, gvk))
            .await
            .cloned()
    }

    /// Kinds resolved so far.
    pub fn len(&self) -> usize {
        let cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        cells.values().filter(|c| c.initialized()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a kind could not be resolved, in words a person can act on.
pub fn explain(e: &kube::Error, api_version: &str, kind: &str) -> String {
    match e {
        kube::Error::Discovery(_) => format!(
            "the cluster does not serve kind {kind} in {api_version}: {}",
            super::apply::server_message(e)
        ),
        kube::Error::Api(s) if s.code == 404 => format!(
            "the cluster does not serve {api_version} (is its CustomResourceDefinition applied?)"
        ),
        _ => format!(
            "discovering {api_version}: {}",
            super::apply::server_message(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_version() {
        assert_eq!(gvk("apps/v1", "Deployment").group, "apps");
        assert_eq!(gvk("v1", "Pod").group, "");
        assert_eq!(gvk("v1", "Pod").version, "v1");
    }
}

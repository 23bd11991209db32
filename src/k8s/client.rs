//! A kube-rs client from a kubeconfig file and context (what `up` recorded for the cluster).

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// Where the cluster is: a kubeconfig file (or the user's default) and a context in it.
#[derive(Debug, Clone, Default)]
pub struct ClusterAccess {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
}

impl ClusterAccess {
    /// The access the state file recorded, else the plan's `cluster.kubeconfig`/`context`.
    pub fn from_state_or_plan(
        state: &crate::state::State,
        plan: &crate::plan::ClusterPlan,
    ) -> Self {
        match &state.cluster {
            Some(c) => Self {
                kubeconfig: c.kubeconfig.clone().or_else(|| plan.kubeconfig.clone()),
                context: c.context.clone().or_else(|| plan.context.clone()),
            },
            None => Self {
                kubeconfig: plan.kubeconfig.clone(),
                context: plan.context.clone(),
            },
        }
    }

    pub fn describe(&self) -> String {
        let file = self
            .kubeconfig
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the default kubeconfig".into());
        match &self.context {
            Some(c) => format!("context `{c}` of {file}"),
            None => format!("the current context of {file}"),
        }
    }
}

/// Connect to the cluster named by `access`. No request is made yet.
pub async fn connect(access: &ClusterAccess) -> anyhow::Result<kube::Client> {
    let opts = KubeConfigOptions {
        context: access.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &access.kubeconfig {
        Some(path) => {
            let kc = read(path)?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .with_context(|| format!("using {}", access.describe()))?
        }
        None => kube::Config::from_kubeconfig(&opts)
            .await
            .with_context(|| format!("using {}", access.describe()))?,
    };
    kube::Client::try_from(config).with_context(|| format!("a client for {}", access.describe()))
}

fn read(path: &Path) -> anyhow::Result<Kubeconfig> {
    Kubeconfig::read_from(path).with_context(|| {
        format!(
            "reading the kubeconfig {} (written by the cluster phase; `kubetest up` again recreates it)",
            path.display()
        )
    })
}

//! `kubetest run`: run the scenarios against the environment recorded by `up`.

use crate::cli::RunArgs;
use crate::config::LoadedConfig;
use crate::exit::Stop;
use crate::plan::Plan;
use crate::state::StateStore;
use crate::Session;
use anyhow::bail;

pub async fn run(_session: &Session, loaded: &LoadedConfig, _args: &RunArgs) -> anyhow::Result<()> {
    let plan = Plan::from_config(loaded);
    let state = StateStore::new(&plan.state_dir).load()?;
    if state.is_none() {
        bail!(
            "no environment `{}` is up (no state file in {}); run `kubetest up` first",
            plan.environment,
            plan.state_dir.display()
        );
    }
    Err(Stop::NotImplemented {
        what: "running scenarios",
        issue: 7,
    }
    .into())
}

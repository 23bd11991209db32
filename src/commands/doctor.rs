//! `kubetest doctor`: named checks of the infrastructure, or `--explain` of a raw error.

use crate::cli::DoctorArgs;
use crate::exit::Stop;
use crate::Session;

pub async fn doctor(_session: &Session, _args: &DoctorArgs) -> anyhow::Result<()> {
    Err(Stop::NotImplemented {
        what: "doctor checks",
        issue: 8,
    }
    .into())
}

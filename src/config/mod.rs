//! `kubetest.yaml`: the model, loading with located errors, and validation.

mod error;
pub mod k8s_names;
pub mod limits;
mod load;
mod locate;
mod model;
mod validate;
pub(crate) use validate::duplicate_keys;
mod values;

pub use error::{did_you_mean, ConfigError, Problem};
pub(crate) use load::from_yaml;
pub use load::{load, load_str, LoadedConfig};
pub use locate::{Location, LocationIndex};
pub use model::*;
pub use values::{Duration, PortMapping, Protocol, VolumeMount};

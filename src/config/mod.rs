//! `kubetest.yaml`: the model, loading with located errors, and validation.

mod error;
mod load;
mod locate;
mod model;
pub mod mounts;
mod validate;
pub(crate) use validate::duplicate_keys;
mod values;

pub use error::{did_you_mean, ConfigError, Problem};
pub(crate) use load::from_yaml;
pub use load::{load, load_str, LoadedConfig};
pub use locate::{Location, LocationIndex};
pub use model::*;
pub use values::{Duration, PortMapping, Protocol, VolumeMount};

//! `kubetest.yaml`: the model, loading with located errors, and validation.

mod error;
mod load;
mod locate;
mod model;
mod validate;
mod values;

pub use error::ConfigError;
pub use load::{load, load_str, LoadedConfig};
pub use locate::{Location, LocationIndex};
pub use model::*;
pub use values::{Duration, PortMapping, Protocol, VolumeMount};

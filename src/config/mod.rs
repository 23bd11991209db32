//! `kubetest.yaml`: the model, loading with located errors, and validation.

mod de;
pub mod discover;
mod error;
pub mod k8s_names;
pub mod limits;
mod load;
mod local_registry;
mod locate;
mod model;
pub mod mounts;
mod registry;
pub mod targets;
mod tree;
mod validate;
mod validate_collect;
mod values;

pub use error::{did_you_mean, ConfigError, Problem};
pub use load::{load, load_str, LoadedConfig};
pub(crate) use load::{parse_tree, read_text, read_tree, without_bom, Parsed};
pub use local_registry::{LoadMode, LocalRegistrySpec, AUTO_REGISTRY_BYTES};
pub use locate::{Location, LocationIndex};
pub use model::*;
pub use registry::{RegistryAuthEnv, RegistrySpec};
pub use values::{Duration, PortMapping, Protocol, VolumeMount};

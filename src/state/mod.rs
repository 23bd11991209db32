//! The state file `.kubetest/state.json`: what `up` made, written atomically, guarded by a lock.

mod lock;
mod model;
pub mod private;
mod recorder;
mod store;

pub use lock::{EnvLock, LockBusy};
pub use model::{
    AttachmentRecord, ClusterObjectRecord, ClusterRecord, ContainerRecord, CreateIntent,
    EngineRecord, HealthCheckRecord, ImageRecord, LocalRegistryRecord, NetworkRecord,
    RunClusterObject, SetupRecord, State, HEALTH_HISTORY, STATE_VERSION,
};
pub use recorder::Recorder;
pub use store::StateStore;

//! The state file `.kubetest/state.json`: what `up` made, written atomically, guarded by a lock.

mod lock;
mod model;
mod recorder;
mod store;

pub use lock::{EnvLock, LockBusy};
pub use model::{
    ClusterRecord, ContainerRecord, EngineRecord, HealthCheckRecord, ImageRecord, NetworkRecord,
    State, HEALTH_HISTORY,
};
pub use recorder::Recorder;
pub use store::StateStore;

//! The state file `.kubetest/state.json`: what `up` made, written atomically, guarded by a lock.

mod lock;
mod model;
mod recorder;
mod store;

pub use lock::{EnvLock, LockBusy};
pub use model::{
    AttachmentRecord, ClusterObjectRecord, ClusterRecord, ContainerRecord, EngineRecord,
    ImageRecord, NetworkRecord, State,
};
pub use recorder::Recorder;
pub use store::StateStore;

//! The container engine (Docker or Podman) through its API: discovery, build contexts,
//! builds, images.

pub mod attach;
pub mod build;
pub mod claim;
pub mod containers;
pub mod context;
pub mod discover;
pub mod ignore;
pub mod images;
pub mod patience;
pub mod push;
pub mod raw_api;
pub mod registry_auth;

pub use discover::{
    connect, connect_endpoint, connect_endpoint_for, connect_recorded, reconnect, ConnectError,
    Endpoint, EndpointError, Engine, EngineKind, ExplicitUnanswered, NoEngine, Wanted,
};
pub use patience::{BusyProgress, EngineBusy, Patience};

//! The container engine (Docker or Podman) through its API: discovery, build contexts,
//! builds, images.

pub mod build;
pub mod containers;
pub mod context;
pub mod discover;
pub mod ignore;
pub mod images;
pub mod raw_api;

pub use discover::{connect, connect_endpoint, connect_recorded, Endpoint, Engine, EngineKind};

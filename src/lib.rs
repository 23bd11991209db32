//! kubetest: bring up an end-to-end test environment for a Kubernetes application, run
//! scenarios against it, tear it down, and diagnose the container infrastructure.

pub mod app;
pub mod bundle;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod collect;
pub mod commands;
pub mod config;
pub mod deadline;
pub mod deps;
pub mod doctor;
pub mod engine;
pub mod events;
pub mod exit;
pub mod init;
pub mod k8s;
pub mod phases;
pub mod plan;
pub mod report;
pub mod run_id;
pub mod scenario;
pub mod secrets;
pub mod sizes;
pub mod state;
pub mod timeline;

mod session;

pub use session::Session;

//! Kubernetes through kube-rs: the client, server-side apply, readiness judgement and waits,
//! and the diagnostics gathered when a pod does not become ready.

pub mod apply;
pub mod client;
pub mod dep_services;
pub mod diagnose;
pub mod forward;
pub mod image_ids;
pub mod image_rewrite;
pub mod kinds;
pub mod manifest_check;
pub mod manifests;
pub mod namespace_report;
pub mod namespaces;
pub mod outage;
pub mod ready;
pub mod run_cluster;
pub mod run_gc;
pub mod run_refs;
pub mod run_scope;
pub mod wait;
pub mod workload_status;

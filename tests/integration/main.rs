//! All integration tests, compiled into one test binary.

mod api_outage;
mod apidouble;
mod bundles;
mod busy_engine;
mod cli;
mod config_fixtures;
mod config_fuzz;
mod connect;
mod connect_k8s;
mod deps;
mod discover;
mod doctor;
mod doctor_corpus;
mod engines;
mod events_schema;
mod fake_kind;
mod k8s_apply;
mod k8s_ready;
mod k8s_support;
mod kind;
mod load;
mod registry;
mod registry_support;
mod reporter_frames;
mod reporters;
mod scenarios;
mod scenarios_deps;
mod scenarios_k8s;
mod security;
mod setup_steps;
mod shared_cluster;
mod state_lock;
mod support;
mod teardown_faults;
#[path = "../common/test_engines.rs"]
mod test_engines;

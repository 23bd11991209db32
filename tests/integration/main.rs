//! All integration tests, compiled into one test binary.

mod apidouble;
mod bundles;
mod cli;
mod config_fixtures;
mod deps;
mod discover;
mod doctor;
mod engines;
mod fake_kind;
mod k8s_apply;
mod k8s_ready;
mod k8s_support;
mod kind;
mod load;
mod reporters;
mod scenarios;
mod scenarios_deps;
mod scenarios_k8s;
mod state_lock;
mod support;
#[path = "../common/test_engines.rs"]
mod test_engines;

//! All integration tests, compiled into one test binary.

mod cli;
mod config_fixtures;
mod deps;
mod engines;
mod reporters;
mod state_lock;
mod support;

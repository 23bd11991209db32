//! All integration tests, compiled into one test binary.

mod cli;
mod config_fixtures;
mod engines;
mod reporters;
mod scenarios;
mod state_lock;
mod support;

//! All integration tests, compiled into one test binary.

mod cli;
mod config_fixtures;
mod engines;
mod fake_kind;
mod kind;
mod load;
mod reporters;
mod state_lock;
mod support;

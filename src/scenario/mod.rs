//! Scenarios: the file model, loading with located errors, templates, matching, sharding,
//! and the runner that executes steps and produces results for the reports.

pub mod artifacts;
pub mod cluster;
pub mod env;
pub mod jsonpath;
pub mod load;
pub mod matcher;
pub mod model;
pub mod results;
pub mod runner;
pub mod shard;
pub mod slug;
pub mod steps;
pub mod template;
pub mod vars;

//! Dependency containers: start order as a DAG, health probes, config hashes for reuse,
//! the outputs later phases read, and the failures a person must see.

pub mod failure;
pub mod hash;
pub mod health;
pub mod outputs;
pub mod schedule;

//! Diagnosis: classify raw error messages into causes and fixes (`doctor --explain`).

pub mod classify;
pub mod rules;

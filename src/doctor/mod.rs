//! Diagnosis: live checks of the infrastructure (`doctor`) and classification of raw error
//! messages into causes and fixes (`doctor --explain`).

pub mod checks;
pub mod classify;
pub mod decide;
pub mod failure;
pub mod rules;

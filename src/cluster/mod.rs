//! The Kubernetes cluster outside the engine: the kind CLI, kubeconfigs, image names as the
//! nodes see them, the node image listing, image archives and pull-policy checks.

pub mod archive;
pub mod image_ref;
pub mod kind;
pub mod kind_config;
pub mod kubeconfig;
pub mod local_registry;
pub mod nodes;
pub mod pull_policy;

//! Readiness judgement from Pod objects: ready, still waiting (and why), or failed with a
//! reason a person can act on. Pure functions over `k8s_openapi` Pods.

use super::image_ids::ImageIds;
use crate::cluster::image_ref::{normalize, ImageRef};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::fmt;

/// What a judgement needs besides the pod.
#[derive(Debug, Clone, Default)]
pub struct JudgeOptions {
    /// Restarts tolerated before a CrashLoopBackOff fails the wait.
    pub restarts_allowed: u32,
    /// The pods belong to a Job: done means `Succeeded`, a container error fails at once.
    pub job: bool,
    /// Images kubetest built or preloaded and loaded into the cluster nodes.
    pub loaded_images: Vec<String>,
    /// The current builds of kubetest's images: a pod stamped with an older one is being
    /// replaced by a rollout (see [`super::image_ids`]).
    pub images: ImageIds,
}

/// Why a pod will not become ready without someone changing something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    CrashLoop {
        container: String,
        restarts: i32,
        last_exit: Option<String>,
    },
    ImagePull {
        container: String,
        image: String,
        reason: String,
        message: String,
        /// kubetest loaded this image into the cluster.
        loaded: bool,
        /// The effective pull policy is `Always` (explicit, or `:latest`/no tag).
        pulls_always: bool,
    },
    ContainerConfig {
        container: String,
        message: String,
        /// `ConfigMap demo/app-config` or `Secret demo/db`, read from the message.
        missing: Option<String>,
    },
    InvalidImageName {
        container: String,
        image: String,
        message: String,
    },
    Unschedulable {
        message: String,
    },
    JobContainerFailed {
        container: String,
        exit_code: i32,
        reason: String,
        message: String,
    },
    PodFailed {
        reason: String,
        message: String,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::CrashLoop {
                container,
                restarts,
                last_exit,
            } => {
                write!(
                    f,
                    "container `{container}` is in CrashLoopBackOff after {restarts} restart{}",
                    if *restarts == 1 { "" } else { "s" }
                )?;
                if let Some(exit) = last_exit {
                    write!(f, " (last exit: {exit})")?;
                }
                write!(f, "; its previous logs below say why it exits")
            }
            FailReason::ImagePull {
                container,
                image,
                reason,
                message,
                loaded,
                pulls_always,
            } => {
                write!(
                    f,
                    "container `{container}` cannot get image `{image}`: {reason}"
                )?;
                if !message.is_empty() {
                    write!(f, " ({message})")?;
                }
                if *loaded && *pulls_always {
                    write!(f, "; kubetest loaded `{image}` into the cluster, but the pull policy is Always (explicit, or a `:latest`/missing tag): set `imagePullPolicy: IfNotPresent` in the manifest")
                } else if *loaded {
                    write!(f, "; kubetest loaded `{image}` into the cluster, yet the node does not have it under this name: check that the manifest names it exactly as in `images:` (containerd stores `x:tag` as `docker.io/library/x:tag`)")
                } else {
                    write!(f, "; the image was probably not loaded into the cluster: kubetest did not build or load `{image}` and no registry may be reachable; add it to `images:` or `cluster.preload`")
                }
            }
            FailReason::ContainerConfig {
                container,
                message,
                missing,
            } => {
                write!(f, "container `{container}` cannot be created: {message}")?;
                if let Some(m) = missing {
                    write!(
                        f,
                        "; {m} is missing: apply it before the pod (or fix the reference)"
                    )?;
                }
                Ok(())
            }
            FailReason::InvalidImageName {
                container,
                image,
                message,
            } => write!(
                f,
                "container `{container}` has an invalid image name `{image}`: {message}"
            ),
            FailReason::Unschedulable { message } => {
                write!(f, "the pod cannot be scheduled: {message}")
            }
            FailReason::JobContainerFailed {
                container,
                exit_code,
                reason,
                message,
            } => {
                write!(
                    f,
                    "container `{container}` of the Job terminated with exit code {exit_code} ({reason})"
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            FailReason::PodFailed { reason, message } => {
                write!(f, "the pod failed: {reason}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

/// The judgement of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Ready (or, for a Job, Succeeded).
    pub ready: bool,
    /// One line: `Running, 0/1 ready (CrashLoopBackOff, 3 restarts)`.
    pub summary: String,
    pub failure: Option<FailReason>,
}

/// Judge one pod.
pub fn judge(pod: &Pod, opts: &JudgeOptions) -> Judgement {
    let summary = summary(pod);
    let failure = failure(pod, opts);
    let ready = failure.is_none()
        && if opts.job {
            phase(pod) == "Succeeded"
        } else {
            is_ready(pod)
        };
    Judgement {
        ready,
        summary,
        failure,
    }
}

/// Phase Running and condition Ready=True.
pub fn is_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// When the Ready condition last became True (second precision, as the API server records it).
pub fn ready_since(pod: &Pod) -> Option<&Time> {
    condition(pod, "Ready")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

fn condition<'a>(pod: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let s = pod.status.as_ref();
    let init = s
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[]);
    let main = s
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    init.iter().chain(main)
}

fn spec_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .find(|c| c.name == name)
}

fn waiting(cs: &ContainerStatus) -> Option<(&str, &str)> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.as_deref().unwrap_or(""),
        w.message.as_deref().unwrap_or(""),
    ))
}

fn failure(pod: &Pod, opts: &JudgeOptions) -> Option<FailReason> {
    if is_terminating(pod) {
        return None;
    }
    if let Some(c) = condition(pod, "PodScheduled") {
        if c.status == "False" && c.reason.as_deref() == Some("Unschedulable") {
            return Some(FailReason::Unschedulable {
                message: c.message.clone().unwrap_or_default(),
            });
        }
    }
    for cs in statuses(pod) {
        let image = spec_container(pod, &cs.name)
            .and_then(|c| c.image.clone())
            .unwrap_or_else(|| cs.image.clone());
        if let Some((reason, message)) = waiting(cs) {
            match reason {
                "CrashLoopBackOff" if cs.restart_count > opts.restarts_allowed as i32 => {
                    return Some(FailReason::CrashLoop {
                        container: cs.name.clone(),
                        restarts: cs.restart_count,
                        last_exit: last_exit(cs),
                    });
                }
                "ImagePullBackOff" | "ErrImagePull" | "ErrImageNeverPull" => {
                    return Some(FailReason::ImagePull {
                        container: cs.name.clone(),
                        loaded: is_loaded(&image, &opts.loaded_images),
                        pulls_always: pulls_always(pod, &cs.name, &image),
                        image,
                        reason: reason.to_owned(),
                        message: message.to_owned(),
                    });
                }
                "CreateContainerConfigError" => {
                    return Some(FailReason::ContainerConfig {
                        container: cs.name.clone(),
                        message: message.to_owned(),
                        missing: missing_reference(
                            message,
                            pod.metadata.namespace.as_deref().unwrap_or("default"),
                        ),
                    });
                }
                "InvalidImageName" => {
                    return Some(FailReason::InvalidImageName {
                        container: cs.name.clone(),
                        image,
                        message: message.to_owned(),
                    });
                }
                _ => {}
            }
        }
        if opts.job {
            let s = cs.state.as_ref();
            let terminated = s
                .and_then(|s| s.terminated.as_ref())
                .or_else(|| cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()));
            if let Some(t) = terminated.filter(|t| t.exit_code != 0) {
                return Some(FailReason::JobContainerFailed {
                    container: cs.name.clone(),
                    exit_code: t.exit_code,
                    reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
                    message: t.message.clone().unwrap_or_default(),
                });
            }
        }
    }
    if phase(pod) == "Failed" {
        let s = pod.status.as_ref();
        return Some(FailReason::PodFailed {
            reason: s
                .and_then(|s| s.reason.clone())
                .unwrap_or_else(|| "a container exited with an error".into()),
            message: s.and_then(|s| s.message.clone()).unwrap_or_default(),
        });
    }
    None
}

fn last_exit(cs: &ContainerStatus) -> Option<String> {
    let t = cs.last_state.as_ref()?.terminated.as_ref()?;
    Some(format!(
        "code {}, {}",
        t.exit_code,
        t.reason.as_deref().unwrap_or("Error")
    ))
}

fn pulls_always(pod: &Pod, container: &str, image: &str) -> bool {
    match spec_container(pod, container).and_then(|c| c.image_pull_policy.as_deref()) {
        Some(p) => p == "Always",
        None => ImageRef::parse(image).is_latest(),
    }
}

fn is_loaded(image: &str, loaded: &[String]) -> bool {
    let want = normalize(image);
    loaded.iter().any(|l| normalize(l) == want)
}

/// `configmap "app-config" not found` → `ConfigMap demo/app-config`.
fn missing_reference(message: &str, namespace: &str) -> Option<String> {
    for (needle, kind) in [("configmap \"", "ConfigMap"), ("secret \"", "Secret")] {
        if let Some(start) = message.find(needle) {
            let rest = &message[start + needle.len()..];
            if let Some(end) = rest.find("\" not found") {
                return Some(format!("{kind} {namespace}/{}", &rest[..end]));
            }
        }
    }
    // `couldn't find key PASSWORD in Secret demo/db`
    let idx = message.find("couldn't find key ")?;
    let words: Vec<&str> = message[idx..].split_whitespace().collect();
    match words.as_slice() {
        [_, _, _, key, "in", kind, obj, ..] => Some(format!("key `{key}` of {kind} {obj}")),
        _ => None,
    }
}

/// One line describing where the pod is.
pub fn summary(pod: &Pod) -> String {
    if is_terminating(pod) {
        return "Terminating".into();
    }
    let phase = phase(pod);
    let mut reasons: Vec<String> = Vec::new();
    if let Some(c) = condition(pod, "PodScheduled").filter(|c| c.status == "False") {
        reasons.push(c.reason.clone().unwrap_or_else(|| "not scheduled".into()));
    }
    let mut restarts = 0;
    for cs in statuses(pod) {
        restarts += cs.restart_count;
        if let Some((reason, _)) = waiting(cs) {
            if !reason.is_empty() && !reasons.iter().any(|r| r == reason) {
                reasons.push(reason.to_owned());
            }
        }
    }
    if restarts > 0 {
        reasons.push(format!(
            "{restarts} restart{}",
            if restarts == 1 { "" } else { "s" }
        ));
    }
    let mut s = phase.to_owned();
    if phase == "Running" {
        let main = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[]);
        let ready = main.iter().filter(|c| c.ready).count();
        if is_ready(pod) {
            s.push_str(", ready");
        } else {
            s.push_str(&format!(", {ready}/{} ready", main.len()));
        }
    }
    if !reasons.is_empty() {
        s.push_str(&format!(" ({})", reasons.join(", ")));
    }
    s
}

#[cfg(test)]
#[path = "ready_cases.rs"]
mod cases;

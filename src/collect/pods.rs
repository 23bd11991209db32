//! Copying out of pods like `kubectl cp`: exec `tar cf - -C PARENT NAME` in the container
//! through the API server (WebSocket exec, v5/v4.channel.k8s.io) and unpack stdout as it
//! arrives. `kubectl cp` does the same (`tar cf - <path>` on stdout, kubectl/pkg/cmd/cp);
//! an image without `tar` cannot be copied from this way, and the error says where the
//! files are on the node instead. `stop_first` deletes the pods (or scales their workload
//! to zero), waits until they are gone, then reads the files from the node.

use super::unpack::{unpack, UnpackError, Unpacked};
use crate::config::PodSource;
use crate::k8s::apply::server_message;
use crate::scenario::steps::exec::exit_code;
use anyhow::{anyhow, bail, Context};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Where kind's kubelet keeps a pod's `emptyDir` volumes (kubelet's default root directory,
/// `--root-dir=/var/lib/kubelet`, and its `kubernetes.io~empty-dir` plugin directory).
pub const KUBELET_PODS: &str = "/var/lib/kubelet/pods";

/// Most stderr kept from `tar` for an error message.
const STDERR_TAIL: usize = 4096;

/// A pod to copy from, as listed before anything was stopped.
#[derive(Debug, Clone)]
pub struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The node it runs on (in kind, the node container's name).
    pub node: Option<String>,
    pub container: Option<String>,
    /// Where the path lives on the node, when it is on a hostPath or emptyDir volume.
    pub node_path: Option<String>,
}

impl PodTarget {
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The label selector of the entry's pods: the selector itself, or the workload's
/// `spec.selector.matchLabels`.
async fn selector(client: &kube::Client, ns: &str, src: &PodSource) -> anyhow::Result<String> {
    if let Some(s) = &src.selector {
        return Ok(s.clone());
    }
    let (kind, name, labels) = if let Some(d) = &src.deployment {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let obj = api
            .get(d)
            .await
            .map_err(|e| anyhow!("deployment {ns}/{d}: {}", server_message(&e)))?;
        ("deployment", d, obj.spec.selector.match_labels)
    } else if let Some(s) = &src.statefulset {
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
        let obj = api
            .get(s)
            .await
            .map_err(|e| anyhow!("statefulset {ns}/{s}: {}", server_message(&e)))?;
        ("statefulset", s, obj.spec.selector.match_labels)
    } else {
        bail!("name a selector, a deployment or a statefulset");
    };
    let labels = labels.unwrap_or_default();
    if labels.is_empty() {
        bail!("{kind} {ns}/{name} selects its pods by expressions only; use `selector:`");
    }
    Ok(labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// The running, not terminating pods of the entry, sorted by name.
pub async fn targets(
    client: &kube::Client,
    ns: &str,
    src: &PodSource,
    path: &str,
) -> anyhow::Result<Vec<PodTarget>> {
    let sel = selector(client, ns, src).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| anyhow!("listing pods {sel} in {ns}: {}", server_message(&e)))?;
    let mut out: Vec<PodTarget> = list
        .items
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .map(|p| {
            let container = src.container.clone().or_else(|| {
                let cs = &p.spec.as_ref()?.containers;
                (cs.len() == 1).then(|| cs[0].name.clone())
            });
            PodTarget {
                namespace: ns.to_owned(),
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
                node_path: container.as_deref().and_then(|c| node_path(p, c, path)),
                container,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `path` with `base` as a leading component-wise prefix removed (`None` when it is not one).
fn below<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

/// Where `path` of `container` lives on the pod's node: under a hostPath volume, its host
/// path; under an emptyDir, the kubelet's directory of that volume. `None` for anything else
/// (the container's own filesystem, other volume types).
pub fn node_path(pod: &Pod, container: &str, path: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| c.name == container)?;
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| below(path, &m.mount_path).is_some())
        .max_by_key(|m| m.mount_path.len())?;
    let rest = below(path, &mount.mount_path)?;
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)?;
    let base = if let Some(h) = &volume.host_path {
        h.path.trim_end_matches('/').to_owned()
    } else if volume.empty_dir.is_some() {
        format!(
            "{KUBELET_PODS}/{}/volumes/kubernetes.io~empty-dir/{}",
            pod.metadata.uid.as_deref()?,
            volume.name
        )
    } else {
        return None;
    };
    let mut out = base;
    for part in [mount.sub_path.as_deref().unwrap_or(""), rest] {
        let part = part.trim_matches('/');
        if !part.is_empty() {
            out.push('/');
            out.push_str(part);
        }
    }
    Some(out)
}

/// Why an exec of `tar` failed.
#[derive(Debug, thiserror::Error)]
pub enum PodCopyError {
    #[error("the image of container `{container}` in pod {pod} has no `tar`, which kubetest runs to copy {path} out of a pod (as `kubectl cp` does){}", offer(.node, .node_path))]
    NoTar {
        pod: String,
        container: String,
        path: String,
        node: Option<String>,
        node_path: Option<String>,
    },
    #[error("pod {pod}, container `{container}`: cannot read {path}: {message}")]
    Tar {
        pod: String,
        container: String,
        path: String,
        message: String,
    },
    #[error("copying {path} out of pod {pod}: {source}")]
    Unpack {
        pod: String,
        path: String,
        #[source]
        source: UnpackError,
    },
}

fn offer(node: &Option<String>, node_path: &Option<String>) -> String {
    match (node, node_path) {
        (Some(n), Some(p)) => format!(
            "; read it from the node instead: `from: {{nodes: all}}` with `path: {p}` (the pod runs on node {n}), or `stop_first: true`, which reads it there"
        ),
        (node, _) => format!(
            "; put the path on an emptyDir or hostPath volume and kubetest can read it from the node{} (kind keeps emptyDir volumes under {KUBELET_PODS}/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>), or add `tar` to the image",
            node.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        ),
    }
}

/// Whether an exec failure means the command does not exist in the image: the runtime's
/// message (runc: `exec: "tar": executable file not found in $PATH`), or a shell's 127.
fn missing_command(code: Result<i32, &str>, stderr: &str) -> bool {
    match code {
        Ok(127) => true,
        Ok(126) => stderr.contains("not found"),
        Ok(_) => false,
        Err(m) => {
            m.contains("executable file not found") || m.contains("no such file or directory")
        }
    }
}

/// Exec `tar` in the pod and unpack its stdout into `dest` as it arrives.
pub async fn copy(
    client: &kube::Client,
    target: &PodTarget,
    path: &str,
    dest: &Path,
) -> Result<Unpacked, PodCopyError> {
    let pod = target.describe();
    let container_shown = target.container.clone().unwrap_or_default();
    let tar_err = |message: String| PodCopyError::Tar {
        pod: pod.clone(),
        container: container_shown.clone(),
        path: path.to_owned(),
        message,
    };
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((p, n)) => (p, n),
        None => ("/", trimmed),
    };
    let argv = ["tar", "cf", "-", "-C", parent, name].map(str::to_owned);
    let mut params = AttachParams::default().stdout(true).stderr(true);
    if let Some(c) = &target.container {
        params = params.container(c.clone());
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let mut proc = api
        .exec(&target.name, argv.to_vec(), &params)
        .await
        .map_err(|e| tar_err(format!("exec failed: {}", server_message(&e))))?;
    let status = proc.take_status();
    let stdout = proc.stdout();
    let stderr = proc.stderr();
    let dest_owned = dest.to_path_buf();
    let unpacking = async move {
        let Some(out) = stdout else {
            return Ok(Unpacked::default());
        };
        tokio::task::spawn_blocking(move || {
            let mut reader = tokio_util::io::SyncIoBridge::new(out);
            let unpacked = unpack(&mut reader, &dest_owned)?;
            // tar pads the archive to its record size after the end marker: read it out, or
            // the exec's output pipe stays full and its status never comes.
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(UnpackError::Read)?;
            Ok(unpacked)
        })
        .await
        .unwrap_or_else(|e| Err(UnpackError::Read(std::io::Error::other(e))))
    };
    let reading_stderr = async move {
        let mut tail = Vec::new();
        if let Some(mut r) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
        }
        String::from_utf8_lossy(&tail).trim().to_owned()
    };
    // A refused archive ends the copy at once: the exec is dropped (closing its stream)
    // rather than read to the end.
    let joined = tokio::try_join!(unpacking, async { Ok(reading_stderr.await) }, async {
        Ok(match status {
            Some(s) => s.await,
            None => None,
        })
    },);
    drop(proc);
    let (unpacked, err_text, status) = match joined {
        Ok(all) => all,
        Err(source) => {
            return Err(PodCopyError::Unpack {
                pod: target.describe(),
                path: path.to_owned(),
                source,
            })
        }
    };
    let code = status.as_ref().map(exit_code);
    if let Some(code) = &code {
        let code_ref = code.as_ref().map(|c| *c).map_err(String::as_str);
        if missing_command(code_ref, &err_text) {
            return Err(PodCopyError::NoTar {
                pod,
                container: container_shown,
                path: path.to_owned(),
                node: target.node.clone(),
                node_path: target.node_path.clone(),
            });
        }
        match code {
            Ok(0) => {}
            Ok(c) => {
                return Err(tar_err(format!(
                    "tar exited with {c}: {}",
                    if err_text.is_empty() {
                        "no message"
                    } else {
                        &err_text
                    }
                )))
            }
            Err(m) => return Err(tar_err(m.clone())),
        }
    }
    Ok(unpacked)
}

/// How `stop_first` stopped the pods: what it did, for the progress line.
pub async fn stop(
    client: &kube::Client,
    ns: &str,
    src: &PodSource,
    pods: &[PodTarget],
    limit: Duration,
) -> anyhow::Result<String> {
    let did = if let Some(d) = &src.deployment {
        scale_to_zero::<Deployment>(client, ns, d).await?;
        format!("scaled deployment {ns}/{d} to 0")
    } else if let Some(s) = &src.statefulset {
        scale_to_zero::<StatefulSet>(client, ns, s).await?;
        format!("scaled statefulset {ns}/{s} to 0")
    } else {
        // Each pod's own grace period (terminationGracePeriodSeconds): SIGTERM, then SIGKILL.
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        for p in pods {
            match api.delete(&p.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => bail!("cannot delete pod {}: {}", p.describe(), server_message(&e)),
            }
        }
        format!("deleted {} pod(s) with their grace period", pods.len())
    };
    wait_gone(client, ns, pods, limit).await?;
    Ok(did)
}

async fn scale_to_zero<K>(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let patch = serde_json::json!({"spec": {"replicas": 0}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| anyhow!("cannot scale {name} in {ns} to 0: {}", server_message(&e)))?;
    Ok(())
}

/// Wait until none of `pods` exists any more (same name and uid), at most `limit`.
async fn wait_gone(
    client: &kube::Client,
    ns: &str,
    pods: &[PodTarget],
    limit: Duration,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut left = Vec::new();
        for p in pods {
            match api.get_opt(&p.name).await {
                Ok(Some(obj)) if obj.metadata.uid.as_deref() == Some(p.uid.as_str()) => {
                    left.push(p.name.clone())
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(anyhow!("{}", server_message(&e))).with_context(|| {
                        format!("cannot see whether pod {}/{} is gone", ns, p.name)
                    })
                }
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "pod(s) {} in {ns} still exist {} after they were stopped",
                left.join(", "),
                humantime::format_duration(limit)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app-1", "namespace": "demo", "uid": "u-1"},
            "spec": {
                "containers": [{"name": "app", "image": "x", "volumeMounts": [
                    {"name": "cover", "mountPath": "/tmp/cover"},
                    {"name": "host", "mountPath": "/data", "subPath": "app"},
                    {"name": "cm", "mountPath": "/etc/app"},
                ]}],
                "volumes": [
                    {"name": "cover", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": "/var/local/kt/"}},
                    {"name": "cm", "configMap": {"name": "x"}},
                ],
            },
        }))
        .unwrap()
    }

    #[test]
    fn node_paths_of_volumes() {
        let p = pod();
        assert_eq!(
            node_path(&p, "app", "/tmp/cover").as_deref(),
            Some("/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/cover")
        );
        assert_eq!(
            node_path(&p, "app", "/tmp/cover/sub/").as_deref(),
            Some("/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/cover/sub")
        );
        assert_eq!(
            node_path(&p, "app", "/data/x").as_deref(),
            Some("/var/local/kt/app/x")
        );
        assert_eq!(
            node_path(&p, "app", "/tmp/coverage"),
            None,
            "not below the mount"
        );
        assert_eq!(node_path(&p, "app", "/etc/app"), None, "configMap");
        assert_eq!(node_path(&p, "other", "/tmp/cover"), None);
    }

    #[test]
    fn a_missing_tar_is_told_apart_from_a_failing_one() {
        assert!(missing_command(Ok(127), "sh: tar: not found"));
        assert!(missing_command(
            Err("OCI runtime exec failed: exec failed: unable to start container process: exec: \"tar\": executable file not found in $PATH: unknown"),
            ""
        ));
        assert!(!missing_command(
            Ok(2),
            "tar: x: Cannot stat: No such file or directory"
        ));
        assert!(!missing_command(Ok(0), ""));
    }
}

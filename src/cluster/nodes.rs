//! What images the nodes of a kind cluster already hold: `crictl images -o json` run in each
//! node container (labelled `io.x-k8s.kind.cluster=N`) through the engine's exec API.

use super::image_ref::normalize;
use anyhow::Context;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

/// The label kind puts on every node container.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

/// The images one node holds: fully qualified tag → image id (`sha256:…` stripped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeImages {
    pub node: String,
    pub images: BTreeMap<String, String>,
}

/// Where the node listing comes from (the engine in kubetest; recorded JSON in tests).
pub trait NodeImageSource {
    fn node_images(&self, cluster: &str) -> impl Future<Output = anyhow::Result<Vec<NodeImages>>>;
}

#[derive(Deserialize)]
struct CrictlImages {
    #[serde(default)]
    images: Vec<CrictlImage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CrictlImage {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
}

/// Parse `crictl images -o json` into tag → id. Tags are normalised again in case a
/// runtime lists short names.
pub fn parse_crictl_images(json: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let parsed: CrictlImages =
        serde_json::from_str(json).context("`crictl images -o json` printed something else")?;
    let mut out = BTreeMap::new();
    for img in parsed.images {
        let id = bare_id(&img.id).to_owned();
        for tag in img.repo_tags.unwrap_or_default() {
            out.insert(normalize(&tag), id.clone());
        }
    }
    Ok(out)
}

/// An image id without its `sha256:` prefix.
pub fn bare_id(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// Is `name` with image id `id` on every node? (kind loads into every node.)
pub fn present_everywhere(nodes: &[NodeImages], name: &str, id: &str) -> bool {
    let tag = normalize(name);
    let id = bare_id(id);
    !nodes.is_empty()
        && nodes
            .iter()
            .all(|n| n.images.get(&tag).is_some_and(|have| have == id))
}

/// Node listing through the engine API.
pub struct EngineNodes<'a> {
    pub docker: &'a Docker,
}

impl NodeImageSource for EngineNodes<'_> {
    async fn node_images(&self, cluster: &str) -> anyhow::Result<Vec<NodeImages>> {
        let filters: HashMap<&str, Vec<String>> =
            HashMap::from([("label", vec![format!("{CLUSTER_LABEL}={cluster}")])]);
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .with_context(|| {
                format!("cannot list the node containers of cluster {cluster} (label {CLUSTER_LABEL}={cluster})")
            })?;
        let names: Vec<String> = containers
            .into_iter()
            .filter_map(|c| {
                c.names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .or(c.id)
            })
            .collect();
        if names.is_empty() {
            anyhow::bail!(
                "no running node containers of kind cluster {cluster} (label {CLUSTER_LABEL}={cluster}); \
                 `kind get nodes --name {cluster}` lists them, `kind delete cluster --name {cluster}` \
                 removes a broken cluster"
            );
        }
        let lists = futures::future::try_join_all(names.iter().map(|node| async move {
            let json = exec_stdout(self.docker, node, &["crictl", "images", "-o", "json"]).await?;
            let images = parse_crictl_images(&json)
                .with_context(|| format!("node {node}: cannot read its image list"))?;
            Ok::<_, anyhow::Error>(NodeImages {
                node: node.clone(),
                images,
            })
        }))
        .await?;
        Ok(lists)
    }
}

/// Run `cmd` in `container` and return its stdout; a non-zero exit is an error with stderr.
async fn exec_stdout(docker: &Docker, container: &str, cmd: &[&str]) -> anyhow::Result<String> {
    let line = cmd.join(" ");
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot exec `{line}` in node {container}"))?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    match docker
        .start_exec(&exec.id, None)
        .await
        .with_context(|| format!("cannot start `{line}` in node {container}"))?
    {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                match chunk.with_context(|| format!("`{line}` in node {container}"))? {
                    bollard::container::LogOutput::StdOut { message } => {
                        stdout.extend_from_slice(&message)
                    }
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.extend_from_slice(&message)
                    }
                    _ => {}
                }
            }
        }
        StartExecResults::Detached => anyhow::bail!("`{line}` in node {container} detached"),
    }
    let code = docker
        .inspect_exec(&exec.id)
        .await
        .with_context(|| format!("cannot inspect `{line}` in node {container}"))?
        .exit_code;
    if code != Some(0) {
        anyhow::bail!(
            "`{line}` in node {container} exited with {}: {}",
            code.map_or("unknown status".to_owned(), |c| format!("code {c}")),
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    String::from_utf8(stdout)
        .with_context(|| format!("`{line}` in node {container} printed non-UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("../../fixtures/kind/crictl-images.json");

    #[test]
    fn crictl_listing_by_full_name() {
        let images = parse_crictl_images(RECORDED).unwrap();
        assert_eq!(
            images.get("registry.k8s.io/pause:3.9").map(String::as_str),
            Some("e6f1816883972d4be47bd48879a08919b96afcd344132622e4d444987919323c")
        );
        assert!(images.contains_key("localhost/demo-app:dev"));
        assert!(images.contains_key("docker.io/library/redis:7"));
        assert!(parse_crictl_images("{\"images\": null}").is_err());
        assert!(parse_crictl_images("{}").unwrap().is_empty());
    }

    struct Recorded(Vec<(&'static str, &'static str)>);

    impl NodeImageSource for Recorded {
        async fn node_images(&self, _cluster: &str) -> anyhow::Result<Vec<NodeImages>> {
            self.0
                .iter()
                .map(|(node, json)| {
                    Ok(NodeImages {
                        node: (*node).to_owned(),
                        images: parse_crictl_images(json)?,
                    })
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn present_only_when_every_node_has_the_same_id() {
        let id = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
        let one = Recorded(vec![("demo-control-plane", RECORDED)])
            .node_images("demo")
            .await
            .unwrap();
        assert!(present_everywhere(&one, "localhost/demo-app:dev", id));
        assert!(
            present_everywhere(&one, "redis:7", id),
            "short name normalised"
        );
        assert!(
            !present_everywhere(&one, "localhost/demo-app:dev", "sha256:ffff"),
            "rebuilt under the same tag: load again"
        );
        assert!(!present_everywhere(&one, "localhost/other:dev", id));
        let two = Recorded(vec![
            ("demo-control-plane", RECORDED),
            ("demo-worker", "{\"images\": []}"),
        ])
        .node_images("demo")
        .await
        .unwrap();
        assert!(!present_everywhere(&two, "localhost/demo-app:dev", id));
        assert!(!present_everywhere(&[], "localhost/demo-app:dev", id));
    }
}

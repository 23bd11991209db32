//! Manifests follow the images: at apply time every container image that names an image
//! kubetest built is replaced by the reference the cluster can run.
//!
//! - `provider: existing` with `cluster.registry`: the pushed image pinned by digest,
//!   `registry/app@sha256:…`. A new build pushes a new digest, the pod template changes and
//!   the controller rolls the pods by itself, so no image-ID annotation is needed there.
//! - kind: the name the image was loaded under, as containerd in the node lists it
//!   (`app:dev` → `docker.io/library/app:dev`); the tag does not change between builds, so the
//!   image-ID annotation (src/k8s/image_ids.rs) still rolls the pods.
//! - kind with `cluster.load: registry`: the push to the local registry pinned by digest,
//!   `localhost:<port>/app@sha256:…`, which the nodes pull through their hosts.toml
//!   (src/cluster/local_registry.rs); like a shared cluster's, it rolls out by itself.
//!
//! The same manifests, naming the images as `images[].name` does, thus serve both clusters.

use crate::cluster::image_ref::normalize;
use crate::k8s::manifests::Manifest;
use crate::state::State;
use serde_json::Value;
use std::collections::BTreeMap;

/// Built image (normalised) → the reference the cluster runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap(BTreeMap<String, String>);

impl ImageMap {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(from, to)| (normalize(from), to))
                .collect(),
        )
    }

    /// Registry push: each built image that was pushed, to its `repo@digest`.
    pub fn pushed(state: &State) -> Self {
        Self::new(
            state
                .images
                .iter()
                .filter_map(|i| Some((i.name.as_str(), i.pushed.clone()?))),
        )
    }

    /// kind: each built image to the name containerd loaded it under.
    pub fn loaded(state: &State) -> Self {
        Self::new(
            state
                .images
                .iter()
                .map(|i| (i.name.as_str(), normalize(&i.name))),
        )
    }

    /// kind: each built image to the pinned push of `cluster.load: registry`
    /// (`localhost:<port>/app@sha256:…`) where the last load pushed it, else to its loaded name.
    pub fn kind(state: &State) -> Self {
        Self::new(state.images.iter().map(|i| {
            (
                i.name.as_str(),
                i.pushed.clone().unwrap_or_else(|| normalize(&i.name)),
            )
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn get(&self, image: &str) -> Option<&String> {
        self.0.get(&normalize(image))
    }
}

/// Where a kind keeps its pod spec.
fn pod_spec_pointer(api_version: &str, kind: &str) -> Option<&'static str> {
    match (api_version, kind) {
        ("v1", "Pod") => Some("/spec"),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => Some("/spec/template/spec"),
        ("batch/v1", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// One replaced reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub container: String,
    pub from: String,
    pub to: String,
}

/// Replace the images of `m`'s containers, init and ephemeral containers found in `map`.
pub fn rewrite(m: &mut Manifest, map: &ImageMap) -> Vec<Rewrite> {
    let mut out = Vec::new();
    if map.is_empty() {
        return out;
    }
    let Some(pointer) = pod_spec_pointer(m.api_version(), m.kind()) else {
        return out;
    };
    let Some(spec) = m.object.data.pointer_mut(pointer) else {
        return out;
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for c in containers {
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            let Some(to) = map.get(image) else {
                continue;
            };
            if to == image {
                continue;
            }
            out.push(Rewrite {
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                from: image.to_owned(),
                to: to.clone(),
            });
            c["image"] = Value::String(to.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(yaml: &str) -> Manifest {
        Manifest::from_test_yaml(yaml)
    }

    const DIGEST: &str = "sha256:41385f3c68c0ebd9d4504450ed7419a2fd1168b13e0ef8d43be97d96b87654bb";

    #[test]
    fn every_container_list_of_every_workload_kind() {
        let map = ImageMap::new([
            ("localhost/app:dev", format!("127.0.0.1:5000/app@{DIGEST}")),
            ("migrate:1", format!("127.0.0.1:5000/migrate@{DIGEST}")),
        ]);
        let mut d = manifest(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      initContainers: [{name: m, image: docker.io/library/migrate:1}]\n      containers:\n      - {name: app, image: localhost/app:dev}\n      - {name: side, image: envoyproxy/envoy:v1}\n",
        );
        let r = rewrite(&mut d, &map);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            d.object
                .data
                .pointer("/spec/template/spec/containers/0/image")
                .unwrap(),
            &Value::String(format!("127.0.0.1:5000/app@{DIGEST}"))
        );
        assert_eq!(
            d.object
                .data
                .pointer("/spec/template/spec/initContainers/0/image")
                .unwrap(),
            &Value::String(format!("127.0.0.1:5000/migrate@{DIGEST}"))
        );
        assert_eq!(
            d.object
                .data
                .pointer("/spec/template/spec/containers/1/image")
                .unwrap(),
            "envoyproxy/envoy:v1",
            "not ours: left alone"
        );
        let mut pod = manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: localhost/app:dev}]\n");
        assert_eq!(rewrite(&mut pod, &map)[0].container, "a");
        let mut cron = manifest("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: a, image: localhost/app:dev}]\n");
        assert_eq!(rewrite(&mut cron, &map).len(), 1);
        let mut cm = manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {image: localhost/app:dev}\n");
        assert!(rewrite(&mut cm, &map).is_empty());
    }

    #[test]
    fn kind_names_the_loaded_image() {
        let mut state = State::new("e");
        state.images.push(crate::state::ImageRecord {
            name: "app:dev".into(),
            id: "sha256:1".into(),
            input_hash: "0".into(),
            pushed: None,
        });
        assert!(ImageMap::pushed(&state).is_empty(), "nothing pushed");
        let mut d = manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: app:dev}]\n");
        let r = rewrite(&mut d, &ImageMap::loaded(&state));
        assert_eq!(r[0].to, "docker.io/library/app:dev");
        assert_eq!(ImageMap::kind(&state), ImageMap::loaded(&state));
    }

    #[test]
    fn kind_with_the_local_registry_names_the_pinned_push() {
        let mut state = State::new("e");
        for (name, pushed) in [
            (
                "localhost/app:dev",
                Some(format!("localhost:5001/app@{DIGEST}")),
            ),
            ("worker:1", None),
        ] {
            state.images.push(crate::state::ImageRecord {
                name: name.into(),
                id: "sha256:1".into(),
                input_hash: "0".into(),
                pushed,
            });
        }
        let mut d = manifest("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: app, image: localhost/app:dev}\n      - {name: w, image: worker:1}\n");
        let r = rewrite(&mut d, &ImageMap::kind(&state));
        assert_eq!(r[0].to, format!("localhost:5001/app@{DIGEST}"));
        assert_eq!(
            r[1].to, "docker.io/library/worker:1",
            "archive-loaded: by name"
        );
    }
}

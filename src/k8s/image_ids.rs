//! Rolling out rebuilt images that keep their tag.
//!
//! `up` rebuilds `app:dev` and loads it into the nodes under the same name, but a Deployment
//! that says `image: app:dev` is unchanged, so its pods keep running the old build. kubetest
//! therefore writes the IDs of the images it built into the pod template of each workload
//! that uses them (annotation [`ANNOTATION`], like `kubectl rollout restart` writes
//! `restartedAt`): a new build changes the template and the controller rolls the pods; an
//! unchanged build applies the same value and nothing moves. The readiness wait then counts
//! a pod that still carries an older ID as being replaced, not as ready.

use crate::cluster::image_ref::normalize;
use crate::k8s::manifests::Manifest;
use crate::state::State;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Pod-template annotation: `<image>=<short id>` pairs, comma-separated, sorted.
pub const ANNOTATION: &str = "kubetest.io/image-ids";

/// The current ID of each image kubetest built, by the name containerd lists it under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageIds(BTreeMap<String, String>);

impl ImageIds {
    /// `(name as configured, engine image ID)` pairs.
    pub fn new<'a>(images: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            images
                .into_iter()
                .filter(|(_, id)| !id.is_empty())
                .map(|(name, id)| (normalize(name), short_id(id)))
                .collect(),
        )
    }

    /// The images `up` built, as the state file records them.
    pub fn built(state: &State) -> Self {
        Self::new(
            state
                .images
                .iter()
                .map(|i| (i.name.as_str(), i.id.as_str())),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The annotation value for a template whose containers use `images`; `None` when
    /// none of them is an image kubetest built.
    pub fn value_for<'a>(&self, images: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let used: BTreeSet<String> = images.into_iter().map(normalize).collect();
        let pairs: Vec<String> = used
            .iter()
            .filter_map(|name| self.0.get(name).map(|id| format!("{name}={id}")))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join(","))
    }

    /// The pod was made from a template that named another build of one of our images.
    pub fn is_stale(&self, pod: &Pod) -> bool {
        let Some(value) = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION))
        else {
            return false;
        };
        value
            .split(',')
            .filter_map(|pair| pair.rsplit_once('='))
            .any(|(name, id)| self.0.get(name).is_some_and(|current| current != id))
    }
}

/// `sha256:0123456789abcdef…` → `0123456789ab`, as `docker images` shows it.
fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Where the pod template of a kind lives, for kinds whose template may change in place and
/// whose controller then replaces the pods. Jobs are left alone: their template is immutable.
fn template_pointer(api_version: &str, kind: &str) -> Option<&'static str> {
    match (api_version, kind) {
        ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet") => Some("/spec/template"),
        ("batch/v1", "CronJob") => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// Write the IDs of the images the manifest's pod template uses into its annotations.
/// Returns the value written, `None` when the object has no template or uses none of ours.
pub fn stamp(m: &mut Manifest, ids: &ImageIds) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let pointer = template_pointer(m.api_version(), m.kind())?;
    let template = m.object.data.pointer_mut(pointer)?;
    let images: Vec<String> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| template.pointer(&format!("/spec/{list}"))?.as_array())
        .flatten()
        .filter_map(|c| c.get("image")?.as_str().map(str::to_owned))
        .collect();
    let value = ids.value_for(images.iter().map(String::as_str))?;
    let template = template.as_object_mut()?;
    let metadata = template
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let metadata = metadata.as_object_mut()?;
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    annotations
        .as_object_mut()?
        .insert(ANNOTATION.to_owned(), Value::String(value.clone()));
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const MIGRATE: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn ids() -> ImageIds {
        ImageIds::new([("app:dev", APP), ("localhost/migrate:dev", MIGRATE)])
    }

    fn manifest(yaml: &str) -> Manifest {
        Manifest::from_test_yaml(yaml)
    }

    fn annotation(m: &Manifest, pointer: &str) -> Option<String> {
        m.object
            .data
            .pointer(&format!("{pointer}/metadata/annotations"))?
            .get(ANNOTATION)?
            .as_str()
            .map(str::to_owned)
    }

    const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {team: core}
    spec:
      initContainers: [{name: migrate, image: localhost/migrate:dev}]
      containers:
      - {name: app, image: docker.io/library/app:dev}
      - {name: proxy, image: envoyproxy/envoy:v1.30}
";

    #[test]
    fn workload_templates_get_the_ids_of_our_images_only() {
        let mut m = manifest(DEPLOYMENT);
        let value = stamp(&mut m, &ids()).expect("stamped");
        assert_eq!(
            value,
            "docker.io/library/app:dev=0123456789ab,localhost/migrate:dev=fedcba987654"
        );
        assert_eq!(annotation(&m, "/spec/template"), Some(value));
        assert_eq!(
            m.object
                .data
                .pointer("/spec/template/metadata/annotations/team"),
            Some(&Value::String("core".into())),
            "other annotations kept"
        );
    }

    #[test]
    fn a_template_without_metadata_gets_one() {
        let mut m = manifest(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: app:dev}]\n",
        );
        assert_eq!(
            stamp(&mut m, &ids()).as_deref(),
            Some("docker.io/library/app:dev=0123456789ab")
        );
        let mut cron = manifest(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: a, image: app:dev}]\n",
        );
        assert!(stamp(&mut cron, &ids()).is_some());
        assert!(annotation(&cron, "/spec/jobTemplate/spec/template").is_some());
    }

    #[test]
    fn left_alone_jobs_pods_foreign_images_and_no_builds() {
        for yaml in [
            // A Job's template is immutable: changing it would make the apply fail.
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: app:dev}]\n",
            // A Pod's annotations do not restart it.
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: app:dev}]\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: redis:7}]\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
        ] {
            let mut m = manifest(yaml);
            let before = m.object.data.clone();
            assert_eq!(stamp(&mut m, &ids()), None, "{yaml}");
            assert_eq!(m.object.data, before);
        }
        let mut m = manifest(DEPLOYMENT);
        assert_eq!(stamp(&mut m, &ImageIds::default()), None);
    }

    fn pod(annotation: Option<&str>) -> Pod {
        let mut pod = Pod::default();
        if let Some(a) = annotation {
            pod.metadata.annotations = Some([(ANNOTATION.to_owned(), a.to_owned())].into());
        }
        pod
    }

    #[test]
    fn a_pod_of_an_older_build_is_stale() {
        let ids = ids();
        assert!(!ids.is_stale(&pod(None)), "not stamped: not ours to judge");
        assert!(!ids.is_stale(&pod(Some(
            "docker.io/library/app:dev=0123456789ab,localhost/migrate:dev=fedcba987654"
        ))));
        assert!(ids.is_stale(&pod(Some(
            "docker.io/library/app:dev=0123456789ab,localhost/migrate:dev=000000000000"
        ))));
        assert!(
            !ids.is_stale(&pod(Some("docker.io/library/gone:dev=111111111111"))),
            "an image no longer built says nothing"
        );
        assert!(!ImageIds::default().is_stale(&pod(Some("docker.io/library/app:dev=1"))));
    }
}

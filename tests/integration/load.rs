//! Loading images into a kind cluster on real engines: a real export through the engine
//! API, "node" containers labelled like kind's that answer `crictl images -o json` with
//! recorded output, and the fake kind CLI that records what each archive held.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::fake_kind::{binary, FakeKind};
use crate::support::{unique, Run};
use bollard::models::{ContainerCreateBody, HostConfig};
use kubetest::cluster::archive;
use kubetest::cluster::image_ref::normalize;
use kubetest::cluster::nodes::bare_id;
use kubetest::engine::{connect_endpoint, Endpoint, Engine};
use std::collections::HashMap;
use std::path::Path;

const RECORDED: &str = include_str!("../../fixtures/kind/crictl-images.json");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn connect(rt: &tokio::runtime::Runtime, engine: &TestEngine) -> Engine {
    rt.block_on(connect_endpoint(
        &Endpoint {
            url: engine.url.clone(),
            source: "test".into(),
        },
        None,
    ))
    .unwrap()
}

/// Build `images` busybox images with kubetest (`provider: none`) in `dir`.
pub fn build(engine: &TestEngine, dir: &Path, env: &str, images: &[(&str, &str)]) -> Run {
    let mut yaml = format!(
        "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n",
        engine.name
    );
    for (name, context) in images {
        yaml.push_str(&format!("  - {{ name: {name}, context: {context} }}\n"));
    }
    std::fs::write(dir.join("kubetest.yaml"), yaml).unwrap();
    let run = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
    assert_eq!(run.code, 0, "{}: {}", engine.name, run.stderr);
    run
}

fn down_images(engine: &TestEngine, dir: &Path, fake: Option<&FakeKind>) {
    let mut c = engine.kubetest(dir);
    if let Some(f) = fake {
        f.apply(&mut c);
    }
    let run = Run::new(c.args(["down", "--images", "--output", "json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn archive_lists_every_image_with_normalised_tags() {
    let rt = runtime();
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let names = [
            format!(
                "localhost/{}:1",
                unique(&format!("kt-i5-arch-{}-a", engine.name))
            ),
            format!(
                "localhost/{}:1",
                unique(&format!("kt-i5-arch-{}-b", engine.name))
            ),
        ];
        busybox_context(&tmp.path().join("a"), "arch-a", None);
        busybox_context(&tmp.path().join("b"), "arch-b", None);
        build(
            &engine,
            tmp.path(),
            &unique(&format!("kt-i5-arch-{}", engine.name)),
            &[(&names[0], "a"), (&names[1], "b")],
        );
        let e = connect(&rt, &engine);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (file, size) = rt
            .block_on(archive::export(&e.docker, &refs, tmp.path()))
            .unwrap();
        assert_eq!(size, std::fs::metadata(file.path()).unwrap().len());
        let manifest = archive::manifest(file.path()).unwrap();
        assert_eq!(manifest.len(), 2, "{}: {manifest:?}", engine.name);
        assert!(archive::missing_from(&manifest, &refs).is_empty());
        for name in &names {
            let id = rt
                .block_on(kubetest::engine::images::inspect(&e.docker, name))
                .unwrap()
                .unwrap()
                .id;
            let entry = manifest
                .iter()
                .find(|m| m.tags().contains(&normalize(name)))
                .unwrap_or_else(|| panic!("{}: {name} not in {manifest:?}", engine.name));
            // containerd lists the config digest as the image id: it must be the engine's id,
            // or the "already present" check would never match.
            assert_eq!(entry.id(), bare_id(&id), "{}: {name}", engine.name);
        }
        drop(file);
        down_images(&engine, tmp.path(), None);
    }
}

/// A "node": a busybox container labelled like kind's, whose `crictl` prints /kt/images.json.
pub struct Node {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    name: String,
    dir: tempfile::TempDir,
}

impl Node {
    pub fn start(engine: &TestEngine, cluster: &str, image: &str) -> Self {
        let rt = runtime();
        let e = connect(&rt, engine);
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{cluster}-control-plane");
        let labels = HashMap::from([
            ("io.x-k8s.kind.cluster".to_owned(), cluster.to_owned()),
            ("io.x-k8s.kind.role".to_owned(), "control-plane".to_owned()),
        ]);
        rt.block_on(async {
            e.docker
                .create_container(
                    Some(
                        bollard::query_parameters::CreateContainerOptionsBuilder::default()
                            .name(&name)
                            .build(),
                    ),
                    ContainerCreateBody {
                        image: Some(image.to_owned()),
                        labels: Some(labels),
                        cmd: Some(vec!["/bin/busybox".into(), "sleep".into(), "3600".into()]),
                        host_config: Some(HostConfig {
                            binds: Some(vec![format!("{}:/kt", dir.path().display())]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            e.docker
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .unwrap();
        });
        Self {
            rt,
            engine: e,
            name,
            dir,
        }
    }

    /// What `crictl images -o json` prints: the recorded listing plus `extra` (tag, id).
    pub fn holds(&self, extra: &[(&str, &str)]) {
        let mut v: serde_json::Value = serde_json::from_str(RECORDED).unwrap();
        for (tag, id) in extra {
            v["images"].as_array_mut().unwrap().push(serde_json::json!({
                "id": id, "repoTags": [normalize(tag)], "repoDigests": [], "size": "1",
                "uid": null, "username": "", "spec": null, "pinned": false
            }));
        }
        std::fs::write(self.dir.path().join("images.json"), v.to_string()).unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.rt.block_on(
            self.engine.docker.remove_container(
                &self.name,
                Some(
                    bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .build(),
                ),
            ),
        );
    }
}

pub fn node_image_context(dir: &Path) {
    busybox_context(dir, "node", None);
    std::fs::write(dir.join("crictl"), "#!/bin/sh\ncat /kt/images.json\n").unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY crictl /usr/local/bin/crictl\nRUN [\"/bin/busybox\", \"chmod\", \"755\", \"/usr/local/bin/crictl\"]\n",
    )
    .unwrap();
}

fn load_calls(fake: &FakeKind) -> Vec<Vec<String>> {
    fake.calls()
        .iter()
        .filter(|c| c["argv"][0] == "load")
        .map(|c| {
            let mut tags: Vec<String> = c["archive_tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| normalize(t.as_str().unwrap()))
                .collect();
            tags.sort();
            tags
        })
        .collect()
}

#[test]
fn loads_only_what_the_nodes_lack() {
    for engine in engines() {
        let e = engine.name;
        let node_dir = tempfile::tempdir().unwrap();
        let node_image = format!("localhost/{}:1", unique(&format!("kt-i5-node-{e}")));
        node_image_context(&node_dir.path().join("node"));
        build(
            &engine,
            node_dir.path(),
            &unique(&format!("kt-i5-node-{e}")),
            &[(&node_image, "node")],
        );

        let cluster = unique(&format!("kt-i5-load-{e}"));
        let node = Node::start(&engine, &cluster, &node_image);
        node.holds(&[]);

        let fake = FakeKind::new();
        assert!(fake
            .run(&["create", "cluster", "--name", &cluster])
            .status
            .success());
        let tmp = tempfile::tempdir().unwrap();
        let a = format!("localhost/{}:1", unique(&format!("kt-i5-load-{e}-a")));
        let b = format!("localhost/{}:1", unique(&format!("kt-i5-load-{e}-b")));
        busybox_context(&tmp.path().join("a"), &format!("load-{e}-a"), None);
        busybox_context(&tmp.path().join("b"), &format!("load-{e}-b"), None);
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: {cluster}\nengine: {e}\nimages:\n  - {{ name: {a}, context: a }}\n  - {{ name: {b}, context: b }}\ncluster: {{ provider: kind, kind_binary: {} }}\n",
                binary().display()
            ),
        )
        .unwrap();
        let up = || {
            let mut c = engine.kubetest(tmp.path());
            fake.apply(&mut c);
            Run::new(c.args(["up", "--reuse", "--output", "json"]))
        };

        let first = up();
        assert_eq!(first.code, 0, "{e}: {}", first.stderr);
        let mut both = vec![normalize(&a), normalize(&b)];
        both.sort();
        // Each image is loaded as soon as it is built: one archive, or one per build when
        // the builds end apart; every image once.
        let first_loads = load_calls(&fake);
        let mut each: Vec<String> = first_loads.concat();
        each.sort();
        assert_eq!(each, both, "{e}: both, each once: {first_loads:?}");
        let n = first_loads.len();
        let mut outcomes = first.task_outcomes("load");
        outcomes.sort();
        assert_eq!(
            outcomes,
            [(a.clone(), "ok".to_owned()), (b.clone(), "ok".to_owned())],
            "{e}"
        );

        // The node now holds A (same id): only B is exported and loaded.
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap();
        let id_of = |name: &str| {
            state["images"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == name)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (id_a, id_b) = (id_of(&a), id_of(&b));
        node.holds(&[
            (&a, &id_a),
            (
                &b,
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ]);
        let second = up();
        assert_eq!(second.code, 0, "{e}: {}", second.stderr);
        assert_eq!(
            load_calls(&fake)[n],
            [normalize(&b)],
            "{e}: B's id differs: reload"
        );
        let details: Vec<(String, String)> = second
            .events
            .iter()
            .filter(|ev| ev["event"] == "task_finished" && ev["phase"] == "load")
            .map(|ev| {
                (
                    ev["task"].as_str().unwrap().to_owned(),
                    ev["detail"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert!(
            details.contains(&(a.clone(), "already present".to_owned())),
            "{details:?}"
        );
        assert!(
            details.contains(&(b.clone(), "loaded".to_owned())),
            "{details:?}"
        );

        // Everything present: the phase does nothing.
        node.holds(&[(&a, &id_a), (&b, &id_b)]);
        let third = up();
        assert_eq!(third.code, 0, "{e}: {}", third.stderr);
        assert_eq!(third.phase_outcome("load").as_deref(), Some("cached"));
        assert_eq!(load_calls(&fake).len(), n + 1, "{e}: no third load");

        drop(node);
        down_images(&engine, tmp.path(), Some(&fake));
        down_images(&engine, node_dir.path(), None);
    }
}

//! `cluster.load: registry` for kind, on real engines: the fake kind CLI and the Kubernetes API
//! double stand in for kind and its API server, "node" containers labelled as kind labels its
//! nodes sit on a network of the test's own (named to kubetest as kind's provider variable
//! KIND_EXPERIMENTAL_{DOCKER,PODMAN}_NETWORK names kind's), and the registry container runs a
//! registry image built here from Debian's /usr/bin/docker-registry (nothing can be pulled).
//! The registry's own HTTP API and access log say what arrived.

use crate::apidouble::ApiDouble;
use crate::engines::{busybox_context, engines, TestEngine};
use crate::fake_kind::FakeKind;
use crate::registry::{build_images, connect, untag};
use crate::registry_support::available;
use crate::support::{unique, Run};
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use kubetest::engine::containers;
use kubetest::engine::Engine;
use serde_json::Value;
use std::path::Path;

/// A FROM-scratch image that runs Debian's docker-registry as `registry:2` does: config at
/// /etc/docker/registry/config.yml, listening on :5000, storage in /var/lib/registry, access
/// log on. The binary is dynamically linked: it goes in with the libraries `ldd` names.
fn registry_context(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let bin = "/usr/bin/docker-registry";
    std::fs::copy(bin, dir.join("registry")).unwrap();
    let ldd = std::process::Command::new("ldd").arg(bin).output().unwrap();
    let mut file = String::from("FROM scratch\nCOPY registry /bin/registry\n");
    for (i, lib) in String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(str::to_owned)
        })
        .enumerate()
    {
        std::fs::copy(&lib, dir.join(format!("lib{i}"))).unwrap();
        file.push_str(&format!("COPY lib{i} {lib}\n"));
    }
    std::fs::write(
        dir.join("config.yml"),
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n",
    )
    .unwrap();
    file.push_str("COPY config.yml /etc/docker/registry/config.yml\nEXPOSE 5000\nENTRYPOINT [\"/bin/registry\"]\nCMD [\"serve\", \"/etc/docker/registry/config.yml\"]\n");
    std::fs::write(dir.join("Containerfile"), file).unwrap();
}

/// The node image of the kind "nodes": busybox whose `crictl images -o json` lists nothing
/// (kind's archive path asks it).
fn node_context(dir: &Path) {
    busybox_context(dir, "node", None);
    std::fs::write(
        dir.join("crictl"),
        "#!/bin/busybox sh\necho '{\"images\":[]}'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY crictl /usr/local/bin/crictl\nRUN [\"/bin/busybox\", \"chmod\", \"755\", \"/usr/local/bin/crictl\"]\n",
    )
    .unwrap();
}

/// What every test here starts from on one engine, named per test (`test`) and test process:
/// the support images built with kubetest (`provider: none`), kind's network and nodes, and
/// the name of the app image; `left` removes all of it at the end.
struct KindSetup {
    e: Engine,
    env: String,
    cluster: String,
    network: String,
    /// The registry image (`None`: the node image, plain busybox then, stands in for one).
    registry_image: Option<String>,
    node_image: String,
    nodes: Vec<String>,
    app: String,
    left: Leftovers,
    _support: tempfile::TempDir,
}

impl KindSetup {
    async fn new(engine: &TestEngine, test: &str, with_registry: bool) -> Self {
        let e = connect(engine).await;
        let support = tempfile::tempdir().unwrap();
        let dir = support.path();
        let name = |what: &str| unique(&format!("kt-{test}-{what}-{}", engine.name));
        let node_image = format!("localhost/{}:1", name("node"));
        if with_registry {
            node_context(&dir.join("node"));
        } else {
            // Plain busybox, with a command: the node image then stands in for a registry.
            busybox_context(&dir.join("node"), "node", None);
        }
        let mut images = vec![(node_image.clone(), "node")];
        let registry_image = with_registry.then(|| {
            let image = format!("localhost/{}:1", name("registry"));
            registry_context(&dir.join("registry"));
            images.insert(0, (image.clone(), "registry"));
            image
        });
        let list: Vec<(&str, &str)> = images.iter().map(|(i, c)| (i.as_str(), *c)).collect();
        build_images(engine, dir, &format!("kt-{test}-support"), &list).await;
        let env = unique(&format!("kt-{test}-{}", engine.name));
        let cluster = unique(&format!("kt{test}-{}", engine.name));
        let network = name("kindnet");
        let built: Vec<&str> = images.iter().map(|(i, _)| i.as_str()).collect();
        let mut left = Leftovers::new(engine, &cluster, &env, &network, &built);
        let nodes = kind_nodes(&e, &cluster, &network, &node_image).await;
        let app = format!("localhost/{}:1", name("app"));
        left.images.push(app.clone());
        Self {
            e,
            env,
            cluster,
            network,
            registry_image,
            node_image,
            nodes,
            app,
            left,
            _support: support,
        }
    }
}

/// The repository of `localhost/<repo>:1`.
fn repo_of(app: &str) -> String {
    app.trim_start_matches("localhost/")
        .trim_end_matches(":1")
        .to_owned()
}

/// `kubetest <args> --output json` in `dir`, kind being the fake kind serving `double`, kind's
/// network `network` (its provider variables), and HOME `home`.
fn kind_cli(
    engine: &TestEngine,
    dir: &Path,
    fake: &FakeKind,
    double: &ApiDouble,
    home: &Path,
    network: &str,
    args: &[&str],
) -> tokio::task::JoinHandle<Run> {
    let mut c = engine.kubetest(dir);
    fake.apply(&mut c);
    c.env("FAKE_KIND_SERVER", double.url())
        .env("HOME", home)
        .env("KIND_EXPERIMENTAL_DOCKER_NETWORK", network)
        .env("KIND_EXPERIMENTAL_PODMAN_NETWORK", network)
        .args(args)
        .args(["--output", "json"]);
    tokio::task::spawn_blocking(move || Run::new(&mut c))
}

/// What kind would have made: a network and node containers labelled for `cluster`, running.
async fn kind_nodes(e: &Engine, cluster: &str, network: &str, image: &str) -> Vec<String> {
    e.docker
        .create_network(NetworkCreateRequest {
            name: network.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    start_nodes(e, cluster, network, image).await
}

/// (Re)create the node containers of `cluster` on `network` (`down` of a kind environment
/// removes them, as it removes what kind leaves behind).
async fn start_nodes(e: &Engine, cluster: &str, network: &str, image: &str) -> Vec<String> {
    let mut nodes = Vec::new();
    for role in ["control-plane", "worker"] {
        let name = format!("{cluster}-{role}");
        // `down` of the previous run removed the nodes; an engine still finishing a removal
        // (Podman under load) refuses the name for a moment.
        let _ = containers::remove(&e.docker, &name).await;
        for _ in 0..100 {
            if containers::inspect(&e.docker, &name, "")
                .await
                .unwrap()
                .is_none()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(vec!["/bin/busybox".into(), "sleep".into(), "3600".into()]),
            labels: Some(
                [
                    ("io.x-k8s.kind.cluster".to_owned(), cluster.to_owned()),
                    ("io.x-k8s.kind.role".to_owned(), role.to_owned()),
                ]
                .into(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let id = e
            .docker
            .create_container(Some(opts), body)
            .await
            .unwrap_or_else(|err| panic!("create node {name}: {err}"))
            .id;
        containers::start(&e.docker, &id).await.unwrap();
        nodes.push(name);
    }
    nodes
}

/// What a test made on an engine, removed when dropped — also when the test panics — in the
/// order the engines require: containers, then networks, then image tags.
struct Leftovers {
    engine: TestEngine,
    containers: Vec<String>,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Leftovers {
    /// The kind nodes of `cluster`, the registry container of `env`, `network` and `images`.
    fn new(engine: &TestEngine, cluster: &str, env: &str, network: &str, images: &[&str]) -> Self {
        Self {
            engine: TestEngine {
                name: engine.name,
                url: engine.url.clone(),
            },
            containers: vec![
                format!("{cluster}-control-plane"),
                format!("{cluster}-worker"),
                format!("kubetest-{env}-registry"),
            ],
            networks: vec![network.to_owned()],
            images: images.iter().map(|i| (*i).to_owned()).collect(),
        }
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let engine = TestEngine {
            name: self.engine.name,
            url: self.engine.url.clone(),
        };
        let (containers, networks, images) = (
            std::mem::take(&mut self.containers),
            std::mem::take(&mut self.networks),
            std::mem::take(&mut self.images),
        );
        // A runtime of its own on a thread of its own: drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let e = connect(&engine).await;
                for c in &containers {
                    let _ = containers::remove(&e.docker, c).await;
                }
                for n in &networks {
                    let _ = containers::remove_network(&e.docker, n).await;
                }
                untag(&e, &images).await;
            });
        })
        .join();
    }
}

/// `GET http://127.0.0.1:PORT{path}`.
async fn registry_get(port: u16, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap()
}

/// The manifest of `repo:tag` in the registry: its digest and its layers' digests.
async fn manifest(port: u16, repo: &str, tag: &str) -> (String, Vec<String>) {
    let r = registry_get(port, &format!("/v2/{repo}/manifests/{tag}")).await;
    assert_eq!(r.status(), 200, "manifest {repo}:{tag}");
    let digest = r.headers()["Docker-Content-Digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let layers = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (digest, layers)
}

/// Digests of the blobs uploaded so far, read from the registry's access log
/// (`PUT /v2/<repo>/blobs/uploads/<id>?digest=sha256:…` ends each upload).
async fn uploaded_blobs(e: &Engine, container: &str) -> Vec<String> {
    let log = containers::logs_text(&e.docker, container, None)
        .await
        .unwrap();
    log.lines()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
        .filter_map(|l| {
            let at = l.find("digest=")? + "digest=".len();
            Some(l[at..].split([' ', '&', '"']).next()?.replace("%3A", ":"))
        })
        .collect()
}

/// Size of blob `digest` of `repo` (`HEAD /v2/<repo>/blobs/<digest>`).
async fn blob_size(port: u16, repo: &str, digest: &str) -> u64 {
    let r = reqwest::Client::new()
        .head(format!("http://127.0.0.1:{port}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "blob {digest}");
    r.headers()["Content-Length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".kubetest/state.json")).unwrap())
        .unwrap()
}

const MANIFEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: demo }\nspec:\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec:\n      containers:\n        - { name: app, image: \"IMAGE\" }\n";

/// The API double as kind's cluster is here: the deploy namespace, and kube-public for the
/// KEP-1755 ConfigMap.
async fn cluster_double() -> ApiDouble {
    let double = ApiDouble::start().await;
    double.put_namespace("demo");
    double.put_namespace("kube-public");
    double
}

fn applied_image(double: &ApiDouble) -> String {
    double
        .get("apps", "deployments", Some("demo"), "web")
        .expect("deployment applied")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kind_loads_through_a_local_registry_on_both_engines() {
    if !available() {
        return;
    }
    for engine in engines() {
        // Every field bound: what is not bound would be dropped (and removed) at once.
        let KindSetup {
            e,
            env,
            cluster,
            network,
            registry_image,
            node_image: _,
            nodes,
            app,
            mut left,
            _support,
        } = KindSetup::new(&engine, "lr", true).await;
        let registry_image = registry_image.unwrap();
        let repo = repo_of(&app);
        let double = cluster_double().await;
        let fake = FakeKind::new();
        let home = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_owned();
        busybox_context(&d.join("app"), "one", None);
        std::fs::create_dir(d.join("manifests")).unwrap();
        std::fs::write(
            d.join("manifests/web.yaml"),
            MANIFEST.replace("IMAGE", &app),
        )
        .unwrap();
        std::fs::write(
            d.join("kubetest.yaml"),
            format!(
                "name: {env}\nengine: {}\nimages:\n  - {{ name: {app}, context: app }}\ncluster:\n  provider: kind\n  name: {cluster}\n  kind_binary: {}\n  config: kind.yaml\n  load: registry\n  local_registry: {{ image: {registry_image} }}\ndeploy:\n  namespace: demo\n  manifests: [manifests/]\n",
                engine.name,
                crate::fake_kind::binary().display()
            ),
        )
        .unwrap();
        // The user's own kind config, with a containerd patch of its own.
        std::fs::write(
            d.join("kind.yaml"),
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\ncontainerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n    snapshotter = \"overlayfs\"\n",
        )
        .unwrap();
        let cli =
            |args: &[&str]| kind_cli(&engine, &d, &fake, &double, home.path(), &network, args);

        let up = cli(&["up"]).await.unwrap();
        assert_eq!(up.code, 0, "{}: {}\n{}", engine.name, up.stderr, up.stdout);
        let rec = state(&d)["local_registry"].clone();
        let port = rec["port"].as_u64().unwrap() as u16;
        let reg_name = rec["name"].as_str().unwrap().to_owned();
        assert_eq!(reg_name, format!("kubetest-{env}-registry"));
        let mut made_tags = vec![format!("localhost:{port}/{repo}:1")];
        left.images.insert(0, made_tags[0].clone());
        let status = cli(&["status"]).await.unwrap();
        let report: Value = serde_json::from_str(status.stdout.trim()).unwrap();
        let item = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "local registry")
            .cloned()
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!(
            (item["name"].as_str(), item["health"].as_str()),
            (Some(reg_name.as_str()), Some("ok")),
            "{item}"
        );

        // kind was given the containerd patch of kind's guide.
        let create = fake
            .calls()
            .into_iter()
            .find(|c| c["argv"][0] == "create")
            .unwrap();
        let config: serde_yaml::Value =
            serde_yaml::from_str(create["config_text"].as_str().expect("kind got --config"))
                .unwrap();
        let patches = config["containerdConfigPatches"].as_sequence().unwrap();
        assert_eq!(patches.len(), 2, "{config:?}");
        assert!(patches[0]
            .as_str()
            .unwrap()
            .contains("snapshotter = \"overlayfs\""));
        assert!(patches[1]
            .as_str()
            .unwrap()
            .contains("config_path = \"/etc/containerd/certs.d\""));
        assert_eq!(
            config["nodes"].as_sequence().unwrap().len(),
            2,
            "the user's nodes stay"
        );

        // The registry container runs, on kind's network, published on 127.0.0.1.
        let info = containers::inspect(&e.docker, &reg_name, &network)
            .await
            .unwrap()
            .unwrap();
        assert!(info.running, "{}: {info:?}", engine.name);
        assert!(info.address.is_some(), "{}: not on {network}", engine.name);
        assert_eq!(info.ports.get("5000/tcp"), Some(&port));

        // Each node has hosts.toml pointing at the container by name, then by address.
        let addr = info.address.clone().unwrap();
        for n in &nodes {
            let out = containers::exec(
                &e.docker,
                n,
                &[
                    "/bin/busybox".into(),
                    "cat".into(),
                    format!("/etc/containerd/certs.d/localhost:{port}/hosts.toml"),
                ],
            )
            .await
            .unwrap();
            assert_eq!(
                out.stdout,
                format!("[host.\"http://{reg_name}:5000\"]\n[host.\"http://{addr}:5000\"]\n"),
                "{}: {n}",
                engine.name
            );
        }
        // From a node, the registry answers at both.
        let from_node = containers::exec(
            &e.docker,
            &nodes[1],
            &[
                "/bin/busybox".into(),
                "wget".into(),
                "-q".into(),
                "-O".into(),
                "-".into(),
                format!("http://{addr}:5000/v2/_catalog"),
            ],
        )
        .await
        .unwrap();
        assert!(
            from_node.stdout.contains(&repo),
            "{}: {from_node:?}",
            engine.name
        );

        let by_name = containers::exec(
            &e.docker,
            &nodes[1],
            &[
                "/bin/busybox".into(),
                "wget".into(),
                "-q".into(),
                "-O".into(),
                "-".into(),
                format!("http://{reg_name}:5000/v2/_catalog"),
            ],
        )
        .await
        .unwrap();
        // Docker's user-defined networks resolve container names; Podman 4.3 with CNI and no
        // dnsname plugin (here) does not, which is why hosts.toml also names the address.
        if engine.name == "docker" {
            assert!(by_name.stdout.contains(&repo), "{by_name:?}");
        }

        // The registry holds what the engine pushed, and the manifests run it pinned.
        let catalog: Value = serde_json::from_str(
            &registry_get(port, "/v2/_catalog")
                .await
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(
            catalog["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == repo.as_str()),
            "{catalog}"
        );
        let (digest1, layers1) = manifest(port, &repo, "1").await;
        let pinned1 = format!("localhost:{port}/{repo}@{digest1}");
        assert_eq!(state(&d)["images"][0]["pushed"], pinned1.as_str());
        assert_eq!(applied_image(&double), pinned1, "{}", engine.name);
        let hosting = double
            .get(
                "",
                "configmaps",
                Some("kube-public"),
                "local-registry-hosting",
            )
            .expect("KEP-1755 ConfigMap");
        assert!(hosting["data"]["localRegistryHosting.v1"]
            .as_str()
            .unwrap()
            .contains(&format!("host: \"localhost:{port}\"")));
        let first_uploads = uploaded_blobs(&e, &reg_name).await;
        let mut first_bytes = 0;
        for b in &first_uploads {
            first_bytes += blob_size(port, &repo, b).await;
        }

        // The control-plane node now runs a containerd that does not read certs.d (a cluster
        // made before the registry, reused): up says so for that node only.
        let mut tar = tar::Builder::new(Vec::new());
        let body = b"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, "etc/containerd/config.toml", &body[..])
            .unwrap();
        e.docker
            .upload_to_container(
                &nodes[0],
                Some(
                    bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                        .path("/")
                        .build(),
                ),
                bollard::body_full(tar.into_inner().unwrap().into()),
            )
            .await
            .unwrap();

        // One file changes: only its layer (and the image config) move, and the pods roll.
        std::fs::write(d.join("app/marker.txt"), "two").unwrap();
        let again = cli(&["up"]).await.unwrap();
        assert_eq!(again.code, 0, "{}: {}", engine.name, again.stderr);
        let warnings: Vec<&str> = again
            .events
            .iter()
            .filter(|e| e["event"] == "warning")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("does not read /etc/containerd/certs.d"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}: {warnings:?}", engine.name);
        assert!(
            warnings[0].contains(&nodes[0]) && warnings[0].contains("--recreate"),
            "{}",
            warnings[0]
        );
        assert!(
            !up.events.iter().any(|e| e["event"] == "warning"
                && e["message"].as_str().unwrap_or("").contains("certs.d")),
            "no containerd config, nothing to say"
        );
        let (digest2, layers2) = manifest(port, &repo, "1").await;
        assert_ne!(digest1, digest2);
        assert_eq!(
            applied_image(&double),
            format!("localhost:{port}/{repo}@{digest2}")
        );
        let all_uploads = uploaded_blobs(&e, &reg_name).await;
        let second: Vec<&String> = all_uploads[first_uploads.len()..].iter().collect();
        let mut second_bytes = 0;
        for b in &second {
            second_bytes += blob_size(port, &repo, b).await;
        }
        let shared = layers2.iter().filter(|l| layers1.contains(l)).count();
        assert!(shared >= 1, "{}: the busybox layer stays", engine.name);
        assert!(
            second.iter().all(|b| !layers1.contains(b)),
            "{}: a layer the registry had was pushed again: {second:?}",
            engine.name
        );
        assert!(
            second_bytes * 10 < first_bytes,
            "{}: second push moved {second_bytes} bytes, first {first_bytes}",
            engine.name
        );
        eprintln!(
            "{}: first push {} blobs / {first_bytes} bytes, after a one-file change {} blobs / {second_bytes} bytes",
            engine.name,
            first_uploads.len(),
            second.len()
        );
        made_tags.push(app.clone());

        // Another port in the config: the container is replaced and the references follow.
        let new_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text = std::fs::read_to_string(d.join("kubetest.yaml")).unwrap();
        std::fs::write(
            d.join("kubetest.yaml"),
            text.replace(
                &format!("local_registry: {{ image: {registry_image} }}"),
                &format!("local_registry: {{ image: {registry_image}, port: {new_port} }}"),
            ),
        )
        .unwrap();
        let moved = cli(&["up"]).await.unwrap();
        assert_eq!(moved.code, 0, "{}: {}", engine.name, moved.stderr);
        let info = containers::inspect(&e.docker, &reg_name, &network)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.ports.get("5000/tcp"), Some(&new_port), "{info:?}");
        let (digest3, _) = manifest(new_port, &repo, "1").await;
        assert_eq!(digest3, digest2, "the same image, pushed again");
        assert_eq!(
            applied_image(&double),
            format!("localhost:{new_port}/{repo}@{digest3}")
        );
        made_tags.push(format!("localhost:{new_port}/{repo}:1"));
        left.images
            .insert(0, format!("localhost:{new_port}/{repo}:1"));

        let down = cli(&["down", "--images"]).await.unwrap();
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_none());
        assert!(state(&d).get("local_registry").is_none());
        for tag in &made_tags {
            assert!(
                kubetest::engine::images::inspect(&e.docker, tag)
                    .await
                    .unwrap()
                    .is_none(),
                "{}: down --images left {tag}",
                engine.name
            );
        }
    }
}

/// The one config body and the one manifest of an app, whatever the cluster: only the
/// `cluster:` block is the cluster's.
pub(crate) fn app_environment(dir: &Path, env: &str, engine: &str, app: &str, cluster_block: &str) {
    busybox_context(&dir.join("app"), "both", None);
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(
        dir.join("manifests/web.yaml"),
        MANIFEST.replace("IMAGE", app),
    )
    .unwrap();
    std::fs::write(
        dir.join("kubetest.yaml"),
        format!("name: {env}\nengine: {engine}\nimages:\n  - {{ name: {app}, context: app }}\ndeploy:\n  namespace: demo\n  manifests: [manifests/]\n{cluster_block}"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_config_and_manifests_run_on_kind_and_on_a_shared_cluster() {
    if !available() {
        return;
    }
    let shared_registry = crate::registry_support::Registry::plain();
    for engine in engines() {
        let KindSetup {
            e,
            env,
            cluster,
            network,
            registry_image,
            node_image,
            nodes: _,
            app,
            mut left,
            _support,
        } = KindSetup::new(&engine, "lr2", true).await;
        let registry_image = registry_image.unwrap();
        let path = repo_of(&app);
        let fake = crate::fake_kind::binary().display().to_string();
        let blocks = [
            (
                "existing",
                format!(
                    "cluster:\n  provider: existing\n  kubeconfig: kubeconfig\n  context: kind-kt-i6\n  registry: {{ url: {}/team, tls_verify: false }}\n",
                    shared_registry.host
                ),
            ),
            (
                "kind-registry",
                format!("cluster:\n  provider: kind\n  name: {cluster}\n  kind_binary: {fake}\n  load: registry\n  local_registry: {{ image: {registry_image} }}\n"),
            ),
            (
                "kind-auto",
                format!("cluster:\n  provider: kind\n  name: {cluster}\n  kind_binary: {fake}\n  load: auto\n"),
            ),
        ];
        left.images
            .insert(0, format!("{}/team/{path}:1", shared_registry.host));
        let mut texts = Vec::new();
        for (way, block) in &blocks {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path().to_owned();
            app_environment(&d, &env, engine.name, &app, block);
            texts.push((
                std::fs::read_to_string(d.join("kubetest.yaml"))
                    .unwrap()
                    .replace(block.as_str(), ""),
                std::fs::read_to_string(d.join("manifests/web.yaml")).unwrap(),
            ));
            let double = cluster_double().await;
            double.write_kubeconfig(&d);
            let kind = FakeKind::new();
            let home = tempfile::tempdir().unwrap();
            let cli =
                |args: &[&str]| kind_cli(&engine, &d, &kind, &double, home.path(), &network, args);
            if way.starts_with("kind") {
                start_nodes(&e, &cluster, &network, &node_image).await;
            }
            let up = cli(&["up"]).await.unwrap();
            assert_eq!(
                up.code, 0,
                "{} {way}: {}\n{}",
                engine.name, up.stderr, up.stdout
            );
            let image = applied_image(&double);
            match *way {
                "existing" => {
                    let digest = shared_registry
                        .manifest_digest(&format!("team/{path}"), "1")
                        .await
                        .unwrap();
                    assert_eq!(
                        image,
                        format!("{}/team/{path}@{digest}", shared_registry.host)
                    );
                }
                "kind-registry" => {
                    let port = state(&d)["local_registry"]["port"].as_u64().unwrap() as u16;
                    let (digest, _) = manifest(port, &path, "1").await;
                    assert_eq!(image, format!("localhost:{port}/{path}@{digest}"));
                    left.images.insert(0, format!("localhost:{port}/{path}:1"));
                }
                _ => {
                    // A 2 MB image is below auto's threshold: one archive, loaded by name.
                    assert!(
                        up.stdout.contains("threshold: archive"),
                        "{}: {}",
                        engine.name,
                        up.stdout
                    );
                    let loads: Vec<Value> = kind
                        .calls()
                        .into_iter()
                        .filter(|c| c["argv"][0] == "load")
                        .collect();
                    assert_eq!(loads.len(), 1, "{loads:?}");
                    assert_eq!(image, app, "containerd keeps `localhost/` names");
                    assert!(state(&d).get("local_registry").is_none());
                }
            }
            let down = cli(&["down"]).await.unwrap();
            assert_eq!(down.code, 0, "{} {way}: {}", engine.name, down.stderr);
        }
        assert!(
            texts.windows(2).all(|w| w[0] == w[1]),
            "the same config (but its cluster block) and manifests: {texts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_faults_are_named_and_down_still_removes_the_container() {
    for engine in engines() {
        // The node image stands in for a registry: these runs fail before anything is pushed.
        let KindSetup {
            e,
            env,
            cluster,
            network,
            registry_image: _,
            node_image,
            nodes: _,
            app,
            left: _left,
            _support,
        } = KindSetup::new(&engine, "lr3", false).await;
        let fake = FakeKind::new();
        let double = ApiDouble::start().await;
        let home = tempfile::tempdir().unwrap();
        let run = |d: std::path::PathBuf, net: String, args: &[&str]| {
            kind_cli(&engine, &d, &fake, &double, home.path(), &net, args)
        };
        let block = |image: &str| {
            format!(
                "cluster:\n  provider: kind\n  name: {cluster}\n  kind_binary: {}\n  load: registry\n  local_registry: {{ image: {image} }}\n",
                crate::fake_kind::binary().display()
            )
        };

        // 1. kind's network is missing (here: the provider variable names one that is not
        // there): up fails naming it, after recording the container; down removes it.
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_owned();
        app_environment(&d, &env, engine.name, &app, &block(&node_image));
        let missing = format!("{network}-missing");
        let up = run(d.clone(), missing.clone(), &["up"]).await.unwrap();
        assert_ne!(up.code, 0, "{}", engine.name);
        assert!(
            up.stderr.contains(&missing) && up.stderr.contains("KIND_EXPERIMENTAL_DOCKER_NETWORK"),
            "{}: {}",
            engine.name,
            up.stderr
        );
        let reg_name = format!("kubetest-{env}-registry");
        assert_eq!(state(&d)["local_registry"]["name"], reg_name.as_str());
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_some());
        let down = run(d.clone(), missing.clone(), &["down"]).await.unwrap();
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_none());
        assert!(state(&d).get("local_registry").is_none());

        // 2. A registry image the engine does not have: up says to pull it or pick another.
        start_nodes(&e, &cluster, &network, &node_image).await;
        let tmp2 = tempfile::tempdir().unwrap();
        let d2 = tmp2.path().to_owned();
        let absent = format!("localhost/{}:1", unique("kt-lr3-no-such-registry"));
        app_environment(&d2, &env, engine.name, &app, &block(&absent));
        let up = run(d2.clone(), network.clone(), &["up"]).await.unwrap();
        assert_ne!(up.code, 0);
        assert!(
            up.stderr.contains(&absent) && up.stderr.contains("cluster.local_registry.image"),
            "{}: {}",
            engine.name,
            up.stderr
        );
        let down = run(d2.clone(), network.clone(), &["down"]).await.unwrap();
        assert_eq!(down.code, 0, "{}", down.stderr);

        // 3. `up` was killed between recording the container and the engine's answer to the
        // create (the state has its name, no id), and the engine finished the create: down
        // removes it by name.
        let tmp3 = tempfile::tempdir().unwrap();
        let d3 = tmp3.path().to_owned();
        app_environment(&d3, &env, engine.name, &app, &block(&node_image));
        std::fs::create_dir_all(d3.join(".kubetest")).unwrap();
        std::fs::write(
            d3.join(".kubetest/state.json"),
            serde_json::json!({
                "version": 1,
                "environment": env,
                "local_registry": { "name": reg_name, "id": "", "port": 1, "image": node_image }
            })
            .to_string(),
        )
        .unwrap();
        let body = ContainerCreateBody {
            image: Some(node_image.clone()),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptions {
            name: Some(reg_name.clone()),
            ..Default::default()
        };
        e.docker.create_container(Some(opts), body).await.unwrap();
        let down = run(d3.clone(), network.clone(), &["down"]).await.unwrap();
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_none());
    }
}

/// `cluster.load: auto` weighs the built images against the documented 100 MB threshold
/// (src/config/local_registry.rs, measured in benches/load_registry.rs): a ~1 MB app goes by
/// archive and no registry container is made; the same app with a 101 MB layer goes through
/// the local registry, pinned by digest; `down` removes the registry container.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_load_picks_archive_for_a_small_app_and_the_registry_for_a_large_one() {
    if !available() {
        return;
    }
    for engine in engines() {
        let KindSetup {
            e,
            env,
            cluster,
            network,
            registry_image,
            node_image: _,
            nodes: _,
            app,
            mut left,
            _support,
        } = KindSetup::new(&engine, "lra", true).await;
        let registry_image = registry_image.unwrap();
        let double = cluster_double().await;
        let fake = FakeKind::new();
        let home = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_owned();
        let block = format!(
            "cluster:\n  provider: kind\n  name: {cluster}\n  kind_binary: {}\n  load: auto\n  local_registry: {{ image: {registry_image} }}\n",
            crate::fake_kind::binary().display()
        );
        app_environment(&d, &env, engine.name, &app, &block);
        let cli =
            |args: &[&str]| kind_cli(&engine, &d, &fake, &double, home.path(), &network, args);
        let auto_note = |run: &Run| -> String {
            run.events
                .iter()
                .filter_map(|ev| ev["message"].as_str())
                .find(|m| m.starts_with("cluster.load: auto") && m.contains("threshold"))
                .unwrap_or_else(|| panic!("no auto note: {:?}", run.events))
                .to_owned()
        };
        let reg_name = format!("kubetest-{env}-registry");

        // Small: by archive, through kind's `load image-archive`; no registry container.
        let up = cli(&["up"]).await.unwrap();
        assert_eq!(up.code, 0, "{}: {}", engine.name, up.stderr);
        let note = auto_note(&up);
        assert!(
            note.contains("within the 100 MB threshold: archive"),
            "{note}"
        );
        assert!(
            fake.calls()
                .iter()
                .any(|c| c["argv"][0] == "load" && c["argv"][1] == "image-archive"),
            "{:?}",
            fake.calls()
        );
        assert!(state(&d).get("local_registry").is_none());
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_none());
        assert_eq!(applied_image(&double), app, "kind runs the loaded name");

        // Large: a 101 MB layer (zeros: the push compresses them, so the test stays quick).
        busybox_context(&d.join("app"), "large", Some("COPY pad.bin /pad.bin"));
        std::fs::write(d.join("app/pad.bin"), vec![0u8; 101_000_000]).unwrap();
        let loads_before = fake
            .calls()
            .iter()
            .filter(|c| c["argv"][0] == "load")
            .count();
        let up = cli(&["up"]).await.unwrap();
        assert_eq!(up.code, 0, "{}: {}", engine.name, up.stderr);
        let note = auto_note(&up);
        assert!(
            note.contains("above the 100 MB threshold: registry"),
            "{note}"
        );
        let rec = state(&d)["local_registry"].clone();
        assert_eq!(rec["name"], reg_name.as_str(), "{rec}");
        let port = rec["port"].as_u64().unwrap();
        let repo = repo_of(&app);
        left.images.insert(0, format!("localhost:{port}/{repo}:1"));
        let pinned = applied_image(&double);
        assert!(
            pinned.starts_with(&format!("localhost:{port}/{repo}@sha256:")),
            "{}: {pinned}",
            engine.name
        );
        assert_eq!(
            fake.calls()
                .iter()
                .filter(|c| c["argv"][0] == "load")
                .count(),
            loads_before,
            "no archive load beside the registry"
        );

        let down = cli(&["down", "--images"]).await.unwrap();
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
        assert!(containers::inspect(&e.docker, &reg_name, "")
            .await
            .unwrap()
            .is_none());
    }
}

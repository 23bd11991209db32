//! `collect:` against real Podman and Docker through the archive API: a dependency's tree with
//! a 100 MB file arrives byte for byte with the kubetest process's peak RSS measured;
//! `stop_first` stops the dependency (its SIGTERM handler writes a file) before copying; a
//! missing path fails its own source and names it; a container labelled like a kind node
//! is read as a node.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::support::{unique, Run};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// Run `cmd` to the end and return it with the peak resident set of the kubetest process in
/// KiB: its `VmHWM` (the high-water mark of its own address space, which starts anew at
/// exec), read from /proc every 20 ms while it runs. `ru_maxrss` from `wait4` would not do:
/// Linux carries the forking test process's own peak into the child's at exec.
fn run_measured(cmd: &mut Command) -> (Run, i64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubetest");
    let status_file = format!("/proc/{}/status", child.id());
    let watcher = std::thread::spawn(move || {
        let mut peak = 0i64;
        // A zombie's status has no VmHWM line: the process has ended.
        while let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        }) {
            peak = peak.max(kib);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let stderr = errs.join().unwrap();
    let peak = watcher.join().unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for e in events.iter().filter(|e| e.get("event").is_some()) {
        crate::events_schema::assert_valid(e);
    }
    (
        Run {
            code,
            stdout,
            stderr,
            events,
        },
        peak,
    )
}

fn sha256_file(p: &Path) -> String {
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

fn collected<'a>(run: &'a Run, path: &str) -> &'a serde_json::Value {
    run.events
        .iter()
        .find(|e| e["event"] == "collected" && e["path"] == path)
        .unwrap_or_else(|| panic!("no collected event for {path}: {}", run.stdout))
}

/// The dependency writes its tree, then waits; on SIGTERM it writes `flushed` and exits 0,
/// like a Go binary built with `-cover` writing GOCOVERDIR on a clean exit.
const SCRIPT: &str = "B=/bin/busybox; $B mkdir -p /out/sub/deep && \
$B head -c 104857600 /dev/urandom > /out/big.bin && \
$B sha256sum /out/big.bin > /out/big.sha256 && \
echo small > /out/sub/deep/small.txt && $B ln -s small.txt /out/sub/deep/link && \
$B touch /out/ready; trap 'echo flushed-on-term > /out/flushed; exit 0' TERM; \
while true; do $B sleep 1 & wait $!; done";

fn dependency_env(engine: &TestEngine) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let tag = unique(&format!("kt-it-collect-{}", engine.name));
    let image = format!("localhost/{tag}:1");
    busybox_context(&tmp.path().join("app"), "collect", None);
    let script = SCRIPT.replace('\'', "''");
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        format!(
            "name: it-col-{e}\nengine: {e}\ncluster: {{ provider: none }}\n\
             images:\n  - {{ name: {image}, context: app }}\n\
             dependencies:\n  box:\n    image: {image}\n    command: [/bin/busybox, sh, -c, '{script}']\n\
             \x20   health: {{ exec: [/bin/busybox, test, -f, /out/ready], timeout: 3m }}\n\
             collect:\n\
             \x20 - {{ from: {{ dependency: box }}, path: /out, to: data, stop_first: true }}\n\
             \x20 - {{ from: {{ dependency: box }}, path: /nope/missing, to: missing }}\n\
             \x20 - {{ from: {{ dependency: box }}, path: /out/sub, to: failed-only, when: on-failure }}\n",
            e = engine.name
        ),
    )
    .unwrap();
    (tmp, image)
}

#[test]
fn a_dependency_tree_with_100_mb_arrives_byte_for_byte_after_stop_with_flat_memory() {
    for engine in engines() {
        let (tmp, _image) = dependency_env(&engine);
        let dir = tmp.path();
        let up = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{}: up: {}", engine.name, up.stderr);

        // The same binary asking the same engine about the environment, for comparison.
        let (_, baseline_kib) =
            run_measured(engine.kubetest(dir).args(["status", "--output", "json"]));
        let (down, rss_kib) = run_measured(
            engine
                .kubetest(dir)
                .args(["down", "--images", "--output", "json"]),
        );
        eprintln!(
            "{}: kubetest down collected 100 MiB with peak RSS {rss_kib} KiB (kubetest status: {baseline_kib} KiB)",
            engine.name
        );
        // One source failed (the missing path): exit 3, after the rest was collected and
        // everything torn down.
        assert_eq!(
            down.code, 3,
            "{}: {}\n{}",
            engine.name, down.stdout, down.stderr
        );
        assert_eq!(down.phase_outcome("teardown").as_deref(), Some("ok"));

        let data = collected(&down, "/out");
        assert_eq!(data["outcome"], "ok", "{}: {data}", engine.name);
        assert_eq!(data["source"], "dependency box");
        assert!(data["bytes"].as_u64().unwrap() > 104_857_600, "{data}");
        let to = Path::new(data["to"].as_str().unwrap());
        let out = to.join("out");
        let want = std::fs::read_to_string(out.join("big.sha256")).unwrap();
        let want = want.split_whitespace().next().unwrap().to_owned();
        assert_eq!(
            sha256_file(&out.join("big.bin")),
            want,
            "{}: byte for byte",
            engine.name
        );
        assert_eq!(
            std::fs::metadata(out.join("big.bin")).unwrap().len(),
            104_857_600
        );
        assert_eq!(
            std::fs::read_to_string(out.join("sub/deep/link")).unwrap(),
            "small\n",
            "the link inside the tree is kept"
        );
        let progress: Vec<&str> = down
            .events
            .iter()
            .filter(|e| e["event"] == "task_progress" && e["task"] == "dependency box")
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert!(
            progress[0].starts_with("stopping"),
            "{}: {progress:?}",
            engine.name
        );
        assert!(
            progress[1].starts_with("stopped (exit code 0); copying /out"),
            "{}: {progress:?}",
            engine.name
        );
        // stop → wait → copy: the file the process wrote on SIGTERM was collected.
        assert_eq!(
            std::fs::read_to_string(out.join("flushed")).unwrap(),
            "flushed-on-term\n",
            "{}: copied before the process had exited",
            engine.name
        );
        let copied_at = down
            .events
            .iter()
            .position(|e| e["event"] == "collected" && e["path"] == "/out")
            .unwrap();
        let teardown_at = down.positions("phase_started", "teardown")[0];
        assert!(
            copied_at < teardown_at,
            "collected before anything is removed"
        );

        let missing = collected(&down, "/nope/missing");
        assert_eq!(missing["outcome"], "failed");
        let e = missing["error"].as_str().unwrap();
        assert!(
            e.contains("dependency box") && e.contains("/nope/missing"),
            "{}: names source and path: {e}",
            engine.name
        );
        assert!(
            !down
                .events
                .iter()
                .any(|e| e["event"] == "collected" && e["path"] == "/out/sub"),
            "on-failure entry skipped: no run failed"
        );
        let index =
            std::fs::read_to_string(to.parent().unwrap().parent().unwrap().join("README.txt"))
                .unwrap();
        assert!(
            index.contains("dependency box: /out → data/box/"),
            "{index}"
        );
        assert!(
            index.contains("FAILED dependency box: cannot collect /nope/missing"),
            "{index}"
        );
        // Flat: the 100 MiB file never sits in memory; a copy that buffered it would peak
        // above 100 MiB on top of the process's own ~50 MiB (debug build).
        assert!(
            rss_kib < 100 * 1024,
            "{}: peak RSS {rss_kib} KiB while collecting 100 MiB",
            engine.name
        );
    }
}

#[test]
fn a_container_labelled_as_a_kind_node_is_read_through_the_archive_api() {
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let tag = unique(&format!("kt-it-colnode-{}", engine.name));
        let image = format!("localhost/{tag}:1");
        let cluster = tag.clone();
        busybox_context(&dir.join("app"), "node", None);
        let head = format!(
            "name: it-coln-{e}\nengine: {e}\nimages:\n  - {{ name: {image}, context: app }}\n",
            e = engine.name
        );
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!("{head}cluster: {{ provider: none }}\n"),
        )
        .unwrap();
        let up = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{}: up: {}", engine.name, up.stderr);

        let rt = tokio::runtime::Runtime::new().unwrap();
        let docker = bollard::Docker::connect_with_unix(
            engine.url.strip_prefix("unix://").unwrap(),
            60,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let vol = "/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/cover";
        let nodes = ["control-plane", "worker"].map(|role| format!("{cluster}-{role}"));
        for (node, role) in nodes.iter().zip(["control-plane", "worker"]) {
            let cmd = vec![
                "/bin/busybox".into(),
                "sh".into(),
                "-c".into(),
                format!("/bin/busybox mkdir -p {vol} && echo {role} > {vol}/covmeta.1 && /bin/busybox sleep 600"),
            ];
            crate::fake_kind::create_node_container(
                &rt,
                &docker,
                (node, &cluster, role),
                &image,
                cmd,
            )
            .unwrap_or_else(|e| panic!("{}: create {node}: {e}", engine.name));
            rt.block_on(docker.start_container(
                node,
                None::<bollard::query_parameters::StartContainerOptions>,
            ))
            .unwrap();
        }
        // The nodes write their files as they start.
        std::thread::sleep(std::time::Duration::from_secs(2));
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!(
                "{head}cluster: {{ provider: kind, name: {cluster} }}\ncollect:\n\
                 \x20 - {{ from: {{ nodes: control-plane }}, path: /var/lib/kubelet/pods, to: nodes }}\n"
            ),
        )
        .unwrap();
        let down = Run::new(engine.kubetest(dir).args(["down", "--output", "json"]));
        for node in &nodes {
            let _ = rt.block_on(docker.remove_container(
                node,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            ));
        }
        let _ = rt.block_on(docker.remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        ));
        assert_eq!(
            down.code, 0,
            "{}: {}\n{}",
            engine.name, down.stdout, down.stderr
        );
        let c: Vec<&serde_json::Value> = down
            .events
            .iter()
            .filter(|e| e["event"] == "collected")
            .collect();
        assert_eq!(c.len(), 1, "control-plane only: {c:#?}");
        assert_eq!(c[0]["source"], format!("node {cluster}-control-plane"));
        let to = Path::new(c[0]["to"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(
                to.join("pods/u-1/volumes/kubernetes.io~empty-dir/cover/covmeta.1")
            )
            .unwrap(),
            "control-plane\n"
        );
    }
}

/// `stop_first` on pods: a selector's pods are deleted with their grace period (the API
/// double's DELETE), a deployment is scaled to 0 (a merge patch; the test plays the
/// ReplicaSet controller and deletes its pod); kubetest waits until they are gone, then reads
/// the path's hostPath volume from the node the pod ran on — a real container on each
/// engine, named as the pod's `nodeName`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_first_pods_are_deleted_then_read_from_their_node() {
    use crate::apidouble::{pods, ApiDouble};
    use serde_json::json;
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let tag = unique(&format!("kt-it-colstop-{}", engine.name));
        let image = format!("localhost/{tag}:1");
        let node = format!("{tag}-control-plane");
        busybox_context(&dir.join("app"), "stop", None);
        let head = format!(
            "name: it-cols-{e}\nengine: {e}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: app }}\n",
            e = engine.name
        );
        std::fs::write(dir.join("kubetest.yaml"), &head).unwrap();
        let mut cmd = engine.kubetest(&dir);
        let up =
            tokio::task::spawn_blocking(move || Run::new(cmd.args(["up", "--output", "json"])))
                .await
                .unwrap();
        assert_eq!(up.code, 0, "{}: up: {}", engine.name, up.stderr);

        let docker = bollard::Docker::connect_with_unix(
            engine.url.strip_prefix("unix://").unwrap(),
            60,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec![
                "/bin/busybox".into(),
                "sh".into(),
                "-c".into(),
                "/bin/busybox mkdir -p /var/local/kt-cover && echo counters > /var/local/kt-cover/covcounters.1 && /bin/busybox sleep 600".into(),
            ]),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptions {
            name: Some(node.clone()),
            ..Default::default()
        };
        docker.create_container(Some(opts), body).await.unwrap();
        docker
            .start_container(
                &node,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();

        let double = ApiDouble::start().await;
        let mut pod = pods::ready(pods::deployment_pod("demo", "cov", "a1b2c", &image));
        pod["spec"]["nodeName"] = json!(node);
        pod["spec"]["volumes"] = json!([{"name": "cover", "hostPath": {"path": "/var/local/kt-cover", "type": "DirectoryOrCreate"}}]);
        pod["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "cover", "mountPath": "/cover"}]);
        double.set_pod(pod.clone());
        let mut owned = pods::ready(pods::deployment_pod("demo", "covd", "d1e2f", &image));
        owned["spec"] = pod["spec"].clone();
        double.set_pod(owned);
        double.put(
            "apps",
            "deployments",
            crate::apidouble::workloads::stuck_deployment("demo", "covd", &image, 1),
        );
        // The ReplicaSet controller: once the deployment wants 0 replicas, its pod goes.
        let controller = {
            let double = double.clone();
            tokio::spawn(async move {
                loop {
                    let d = double.get("apps", "deployments", Some("demo"), "covd");
                    if d.is_some_and(|d| d["spec"]["replicas"] == 0) {
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        double.delete_pod("demo", "covd-7d4b9c6f5-d1e2f");
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            })
        };
        let kubeconfig = double.write_kubeconfig(&dir);
        let store = kubetest::state::StateStore::new(dir.join(".kubetest"));
        let mut state = store.load().unwrap().unwrap();
        let mut cluster = crate::k8s_support::double_cluster(kubeconfig);
        cluster.created = false;
        state.cluster = Some(cluster);
        store.save(&state).unwrap();
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        std::fs::write(
            dir.join("scenarios/ok.yaml"),
            "name: ok\nsteps:\n  - name: nothing\n    run: { command: [\"true\"] }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!(
                "{head}scenarios: scenarios/\ncollect:\n\
                 \x20 - {{ from: {{ pods: {{ selector: app=cov, namespace: demo }} }}, path: /cover, to: cov, stop_first: true, timeout: 1m }}\n\
                 \x20 - {{ from: {{ pods: {{ deployment: covd, namespace: demo }} }}, path: /cover, to: covd, stop_first: true, timeout: 1m }}\n"
            ),
        )
        .unwrap();
        let run = crate::support::kubetest_in(&dir, &["run", "--output", "json"]).await;
        let _ = docker
            .remove_container(
                &node,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        let mut cmd = engine.kubetest(&dir);
        let down = tokio::task::spawn_blocking(move || {
            Run::new(cmd.args(["down", "--images", "--output", "json"]))
        })
        .await
        .unwrap();
        assert_eq!(
            run.code, 0,
            "{}: {}\n{}",
            engine.name, run.stdout, run.stderr
        );
        assert_eq!(down.code, 0, "{}: down: {}", engine.name, down.stderr);

        let pod_name = "cov-7d4b9c6f5-a1b2c";
        let c = run
            .events
            .iter()
            .find(|e| e["event"] == "collected")
            .unwrap();
        assert_eq!(
            run.events
                .iter()
                .filter(|e| e["event"] == "collected")
                .count(),
            2,
            "{}",
            run.stdout
        );
        assert_eq!(c["source"], format!("pod demo/{pod_name}"));
        assert_eq!(c["outcome"], "ok", "{c}");
        let to = Path::new(c["to"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(to.join("kt-cover/covcounters.1")).unwrap(),
            "counters\n",
            "{}: read from node {node}",
            engine.name
        );
        // Order: the pod was deleted, seen gone, then copied (after the stop task ended).
        let reqs = double.requests();
        assert!(
            reqs.iter()
                .any(|r| r.starts_with(&format!("DELETE /api/v1/namespaces/demo/pods/{pod_name}"))),
            "{reqs:#?}"
        );
        let stop_done = run
            .events
            .iter()
            .position(|e| {
                e["event"] == "task_finished"
                    && e["task"] == "stop pods app=cov"
                    && e["outcome"] == "ok"
            })
            .expect("stop task");
        let copied = run
            .events
            .iter()
            .position(|e| e["event"] == "collected")
            .unwrap();
        assert!(stop_done < copied);
        assert!(double.get("", "pods", Some("demo"), pod_name).is_none());
        controller.await.unwrap();
        let scaled = run
            .events
            .iter()
            .find(|e| e["event"] == "task_finished" && e["task"] == "stop deployment covd")
            .expect("deployment stop task");
        assert_eq!(scaled["outcome"], "ok", "{scaled}");
        assert!(
            scaled["detail"]
                .as_str()
                .unwrap()
                .starts_with("scaled deployment demo/covd to 0"),
            "{scaled}"
        );
        let d = run
            .events
            .iter()
            .find(|e| e["event"] == "collected" && e["source"] == "pod demo/covd-7d4b9c6f5-d1e2f")
            .expect("deployment's pod collected");
        assert_eq!(d["outcome"], "ok", "{d}");
        assert!(
            reqs.iter()
                .any(|r| r.starts_with("PATCH /apis/apps/v1/namespaces/demo/deployments/covd")),
            "{reqs:#?}"
        );
    }
}

//! `collect:` from pods through the API double: `tar cf -` exec'd over the WebSocket exec
//! protocol, its stdout streamed in 32 KiB frames and unpacked; an image without `tar`, a
//! missing path and a hostile archive each fail their own source with a message naming the
//! pod and path, and the rest is still collected.

use crate::apidouble::exec::ExecReply;
use crate::apidouble::{pods, ApiDouble};
use crate::k8s_support::double_cluster;
use crate::support::kubetest_in;
use kubetest::plan::Plan;
use kubetest::state::{State, StateStore};
use serde_json::{json, Value};
use std::path::Path;

/// A ready pod of `app` in `demo` with an emptyDir at /tmp/cover.
fn pod(app: &str) -> Value {
    let mut p = pods::ready(pods::deployment_pod(
        "demo",
        app,
        "x2k8p",
        "localhost/app:1",
    ));
    p["spec"]["volumes"] = json!([{"name": "cover", "emptyDir": {}}]);
    p["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "cover", "mountPath": "/tmp/cover"}]);
    p
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// 300 KB that differ byte by byte (ten frames of the stream).
fn counters() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_copied_with_tar_over_exec_and_each_fault_is_named() {
    let double = ApiDouble::start().await;
    double.set_pod(pod("web"));
    let notar = double.set_pod(pod("notar"));
    double.set_pod(pod("evil"));
    let good = tar_of(&[
        ("cover/covmeta.a1", b"meta"),
        ("cover/covcounters.a1.1", &counters()),
    ]);
    let evil = tar_of(&[("../escape", b"x")]);
    double.on_exec(move |call| {
        let cmd: Vec<&str> = call.command.iter().map(String::as_str).collect();
        let app = call.pod.split('-').next().unwrap_or("");
        match (app, cmd.as_slice()) {
            (_, ["tar", "cf", "-", "-C", "/", "nope"]) => ExecReply {
                // GNU tar's words and exit status for a missing operand.
                stderr: "tar: nope: Cannot stat: No such file or directory\ntar: Exiting with failure status due to previous errors\n".into(),
                exit_code: 2,
                ..ExecReply::default()
            },
            ("web", ["tar", "cf", "-", "-C", "/tmp", "cover"]) => ExecReply {
                stdout_bytes: good.clone(),
                ..ExecReply::default()
            },
            ("evil", ["tar", "cf", "-", "-C", "/tmp", "cover"]) => ExecReply {
                stdout_bytes: evil.clone(),
                ..ExecReply::default()
            },
            // containerd + runc, for an image without tar (what `kubectl cp` shows).
            ("notar", ["tar", ..]) => ExecReply {
                start_error: Some("error executing command in container: failed to exec in container: failed to start exec \"5f1c\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"tar\": executable file not found in $PATH: unknown".into()),
                ..ExecReply::default()
            },
            _ => ExecReply {
                stderr: format!("unexpected {cmd:?}"),
                exit_code: 99,
                ..ExecReply::default()
            },
        }
    });

    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("scenarios")).unwrap();
    std::fs::write(
        tmp.path().join("scenarios/ok.yaml"),
        "name: ok\nsteps:\n  - name: nothing\n    run: { command: [\"true\"] }\n",
    )
    .unwrap();
    let config = tmp.path().join("kubetest.yaml");
    std::fs::write(
        &config,
        "name: kt-collect\ncluster: { provider: none }\nscenarios: scenarios/\ncollect:\n\
         \x20 - { from: { pods: { selector: app=web, namespace: demo } }, path: /tmp/cover, to: cover }\n\
         \x20 - { from: { pods: { selector: app=notar, namespace: demo } }, path: /tmp/cover, to: cover }\n\
         \x20 - { from: { pods: { selector: app=evil, namespace: demo } }, path: /tmp/cover, to: cover }\n\
         \x20 - { from: { pods: { selector: app=web, namespace: demo } }, path: /nope, to: missing }\n\
         \x20 - { from: { pods: { selector: app=web, namespace: demo } }, path: /tmp/cover, to: failed-only, when: on-failure }\n",
    )
    .unwrap();
    let kubeconfig = double.write_kubeconfig(tmp.path());
    let plan = Plan::from_config(&kubetest::config::load(&config).unwrap());
    let mut state = State::new(&plan.environment);
    state.cluster = Some(double_cluster(kubeconfig));
    StateStore::new(&plan.state_dir).save(&state).unwrap();

    let run = kubetest_in(tmp.path(), &["run", "--output", "json"]).await;
    // The scenario passed; the collection failed for three sources: exit 3, after all of it.
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let collected: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["event"] == "collected")
        .collect();
    assert_eq!(collected.len(), 4, "{collected:#?}");
    let web = collected
        .iter()
        .find(|e| e["path"] == "/tmp/cover" && e["outcome"] == "ok")
        .expect("web collected");
    assert_eq!(web["source"], "pod demo/web-7d4b9c6f5-x2k8p");
    assert_eq!(web["files"], 2);
    assert_eq!(web["bytes"], 4 + 300_000);
    let to = Path::new(web["to"].as_str().unwrap());
    assert_eq!(
        std::fs::read(to.join("cover/covcounters.a1.1")).unwrap(),
        counters(),
        "byte for byte through ten 32 KiB frames"
    );
    assert!(
        to.ends_with("cover/web-7d4b9c6f5-x2k8p"),
        "{}",
        to.display()
    );

    let error_of = |pod: &str, path: &str| -> String {
        collected
            .iter()
            .find(|e| e["source"].as_str().unwrap().contains(pod) && e["path"] == path)
            .and_then(|e| e["error"].as_str())
            .unwrap_or_else(|| panic!("no error for {pod} {path}: {collected:#?}"))
            .to_owned()
    };
    let e = error_of("notar", "/tmp/cover");
    let uid = notar["metadata"]["uid"].as_str().unwrap();
    assert!(
        e.contains("pod demo/notar-7d4b9c6f5-x2k8p") && e.contains("has no `tar`"),
        "{e}"
    );
    assert!(e.contains("container `app`"), "{e}");
    assert!(
        e.contains(&format!(
            "/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~empty-dir/cover"
        )) && e.contains("node kt-i6-control-plane"),
        "offers the node path: {e}"
    );
    let e = error_of("web", "/nope");
    assert!(
        e.contains("cannot read /nope") && e.contains("Cannot stat"),
        "{e}"
    );
    let e = error_of("evil", "/tmp/cover");
    assert!(e.contains("refused archive entry `../escape`"), "{e}");
    assert!(!tmp
        .path()
        .join(".kubetest/artifacts")
        .join("escape")
        .exists());

    // The index of the collection names what came from where, and every failure.
    let dir = to.ancestors().nth(2).unwrap();
    let index = std::fs::read_to_string(dir.join("README.txt")).unwrap();
    assert!(
        index.contains("pod demo/web-7d4b9c6f5-x2k8p: /tmp/cover"),
        "{index}"
    );
    assert!(index.contains("FAILED pod demo/notar"), "{index}");
    let files = std::fs::read_to_string(dir.join("files.txt")).unwrap();
    assert!(
        files.contains("300000  cover/web-7d4b9c6f5-x2k8p/cover/covcounters.a1.1"),
        "{files}"
    );
    assert!(
        !dir.join("failed-only").exists(),
        "on-failure entries wait for a failure"
    );
    assert_eq!(run.phase_outcome("collect").as_deref(), Some("failed"));
    let tars = double
        .exec_calls()
        .iter()
        .filter(|c| c.command[0] == "tar")
        .count();
    assert_eq!(tars, 4);
}

#[test]
fn the_coverage_example_loads_with_its_scenarios() {
    let root = crate::support::root().join("examples/coverage");
    let loaded = kubetest::config::load(&root.join("kubetest.yaml")).unwrap();
    assert_eq!(loaded.config.collect.len(), 2);
    assert!(loaded.config.collect[0].stop_first);
    let known = kubetest::scenario::load::Known::of_dependencies(std::iter::empty());
    let scenarios = kubetest::scenario::load::load_dir(&root.join("scenarios"), &known)
        .unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    assert_eq!(scenarios.len(), 1);
}

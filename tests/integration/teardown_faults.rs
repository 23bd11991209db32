//! `down` after faults, against real Podman and Docker: SIGKILLs at random points of `up`,
//! kind node containers left behind, a corrupt state file; and `run` refusing to run beside
//! an `up` that holds the environment.

use crate::deps::{labelled, CHAIN};
use crate::engines::{busybox_context, engines, TestEngine};
use crate::fake_kind::{binary as fake_kind, FakeKind};
use crate::support::{kubetest, unique, Run};
use kubetest::state::EnvLock;
use std::path::Path;
use std::time::{Duration, Instant};

/// Kills of `up` per engine.
const KILLS: usize = 20;

/// A small deterministic generator (xorshift), so a failing kill can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// An environment of the dependency chain of the deps tests, its busybox image built by `up`.
fn chain_environment(engine: &TestEngine, env: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let image = format!("localhost/kt-kill-bb-{}:1", engine.name);
    busybox_context(&tmp.path().join("bb"), "kill", None);
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let yaml = format!(
        "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\ndependencies:\n{}",
        engine.name,
        CHAIN.replace("IMAGE", &image)
    );
    std::fs::write(tmp.path().join("kubetest.yaml"), yaml).unwrap();
    tmp
}

/// The chain environment `<tag>-<engine>` after one whole `up` (which builds its image), and
/// how long that `up` took.
fn chain_up(engine: &TestEngine, tag: &str) -> (String, tempfile::TempDir, u64) {
    let env = unique(&format!("{tag}-{}", engine.name));
    let tmp = chain_environment(engine, &env);
    let started = Instant::now();
    let full = Run::new(engine.kubetest(tmp.path()).args(["up", "--output", "json"]));
    assert_eq!(full.code, 0, "{}: {}", engine.name, full.stderr);
    (env, tmp, started.elapsed().as_millis() as u64)
}

fn down(engine: &TestEngine, dir: &Path, extra: &[&str]) -> Run {
    Run::new(
        engine
            .kubetest(dir)
            .args(["down", "--output", "json"])
            .args(extra),
    )
}

#[test]
fn sigkill_at_random_points_of_up_then_down_leaves_nothing() {
    for engine in engines() {
        // One whole `up` first: builds the image and says how long an `up` takes here.
        let (env, tmp, full_ms) = chain_up(&engine, "kill");
        let dir = tmp.path();
        assert_eq!(down(&engine, dir, &[]).code, 0);

        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ engine.name.len() as u64);
        let (mut alive_at_kill, mut settled, mut down_ms) = (0, 0, Vec::new());
        for k in 0..KILLS {
            let delay = rng.below(full_ms + 200);
            let mut child = engine
                .kubetest(dir)
                .args(["up", "--output", "json"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            alive_at_kill += labelled(&engine, &env).0.len();

            let t = Instant::now();
            let d = down(&engine, dir, &[]);
            down_ms.push(t.elapsed().as_millis() as u64);
            assert_eq!(
                d.code, 0,
                "{} kill {k} at {delay} ms: down: {}",
                engine.name, d.stderr
            );
            settled += d
                .events
                .iter()
                .filter(|e| e["detail"] == "removed (created while down ran)")
                .count();
            let (containers, networks) = labelled(&engine, &env);
            assert!(
                containers.is_empty() && networks.is_empty(),
                "{} kill {k} at {delay} ms left {containers:?} {networks:?}",
                engine.name
            );
            // The killed `up` took its lock with it.
            EnvLock::acquire(&dir.join(".kubetest"), "test")
                .unwrap_or_else(|e| panic!("{} kill {k}: lock still held: {e}", engine.name));
        }
        down_ms.sort_unstable();
        eprintln!(
            "{}: {KILLS} SIGKILLs of `up` at 0..{} ms: {alive_at_kill} containers existed at the kills, \
             {settled} were still being created when `down` ran and were removed, 0 left; \
             down took median {} ms, max {} ms",
            engine.name,
            full_ms + 200,
            down_ms[down_ms.len() / 2],
            down_ms[down_ms.len() - 1]
        );
    }
}

/// Send a container create and close the connection at once, as a SIGKILLed `up` does while
/// it waits for the answer. Both engines go on with such a create (src/engine/claim.rs).
fn abandoned_create(engine: &TestEngine, name: &str, image: &str, env: &str) {
    use std::io::Write;
    let body = serde_json::json!({
        "Image": image,
        "Labels": { "dev.kubetest.env": env, "dev.kubetest.dep": "web" },
        "HostConfig": { "NetworkMode": "none" },
    })
    .to_string();
    let sock = engine.url.strip_prefix("unix://").unwrap();
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    write!(
        s,
        "POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    drop(s);
}

/// The create a killed `up` left running in the engine, then `down` at once: with the name
/// recorded as a create in flight (what `up` writes before it sends one), `down` settles it
/// and nothing is left. The same fault without the record (what `up` wrote before) is run
/// beside it and its leaks counted: the fault is real on this engine.
#[test]
fn a_create_that_outlives_a_killed_up_is_removed_by_down() {
    const ROUNDS: usize = 6;
    for engine in engines() {
        let (env, tmp, _) = chain_up(&engine, "inflight");
        let dir = tmp.path();
        let state_path = dir.join(".kubetest/state.json");
        let after_up: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
        assert_eq!(down(&engine, dir, &[]).code, 0);

        let name = format!("kubetest-{env}-web");
        let image = format!("localhost/kt-kill-bb-{}:1", engine.name);
        let (mut settled, mut leaked_without, mut down_ms) = (0, 0, Vec::new());
        for round in 0..ROUNDS {
            for recorded in [true, false] {
                let mut state = after_up.clone();
                state["containers"] = serde_json::json!([]);
                state["networks"] = serde_json::json!([]);
                state["creating"] = if recorded {
                    serde_json::json!([{ "name": name, "image": image }])
                } else {
                    serde_json::json!([])
                };
                std::fs::write(&state_path, state.to_string()).unwrap();
                abandoned_create(&engine, &name, &image, &env);
                let t = Instant::now();
                let d = down(&engine, dir, &[]);
                assert_eq!(d.code, 0, "{} round {round}: {}", engine.name, d.stderr);
                if !recorded {
                    // Whatever the engine finished after `down` ended.
                    std::thread::sleep(Duration::from_secs(1));
                    leaked_without += labelled(&engine, &env).0.len();
                    let cleanup = down(&engine, dir, &[]);
                    assert_eq!(cleanup.code, 0, "{}", cleanup.stderr);
                    continue;
                }
                down_ms.push(t.elapsed().as_millis() as u64);
                settled += d
                    .events
                    .iter()
                    .filter(|e| e["detail"] == "removed (created while down ran)")
                    .count();
                // Long enough for any create still running to have shown (~100 ms here).
                std::thread::sleep(Duration::from_secs(1));
                let (containers, networks) = labelled(&engine, &env);
                assert!(
                    containers.is_empty() && networks.is_empty(),
                    "{} round {round}: left {containers:?} {networks:?}; down said {:?}",
                    engine.name,
                    d.events
                );
                let st: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
                assert!(st.get("creating").is_none(), "{st}");
            }
        }
        down_ms.sort_unstable();
        eprintln!(
            "{}: {ROUNDS} creates left running by a killed `up`: recorded, {settled} were caught \
             still being created and removed, 0 left (down median {} ms, max {} ms); \
             unrecorded, {leaked_without} of {ROUNDS} were left behind by `down`",
            engine.name,
            down_ms[down_ms.len() / 2],
            down_ms[down_ms.len() - 1]
        );
    }
}

/// The next `up` after a killed one whose create the engine is still finishing. Here the
/// engine has mostly finished it by the time `up` looks (so `up` replaces it: no config hash);
/// when it has not, `up`'s own create is refused while the other holds the name and `up`
/// settles the name as `down` does (src/engine/claim.rs, exercised by the test above).
/// Either way `up` succeeds and one `web` runs, the one `up` made.
#[test]
fn up_after_a_killed_up_settles_the_create_it_left_running() {
    const ROUNDS: usize = 4;
    for engine in engines() {
        let (env, tmp, _) = chain_up(&engine, "inflight-up");
        let dir = tmp.path();
        let name = format!("kubetest-{env}-web");
        let image = format!("localhost/kt-kill-bb-{}:1", engine.name);
        for round in 0..ROUNDS {
            assert_eq!(down(&engine, dir, &[]).code, 0);
            abandoned_create(&engine, &name, &image, &env);
            let up = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
            assert_eq!(up.code, 0, "{} round {round}: {}", engine.name, up.stderr);
            // The container that runs is the one this `up` made (it carries the config hash
            // the abandoned create did not), and it is the only `web`.
            let web = crate::deps::engine_get(&engine.url, &format!("/containers/{name}/json"));
            assert!(
                web["Config"]["Labels"]["dev.kubetest.config-hash"].is_string(),
                "{} round {round}: {web}",
                engine.name
            );
            assert_eq!(web["State"]["Running"], true, "{web}");
            assert_eq!(labelled(&engine, &env).0.len(), 3, "{}", engine.name);
        }
        assert_eq!(down(&engine, dir, &[]).code, 0);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
    }
}

#[test]
fn down_on_a_corrupt_state_file_cleans_up_by_label() {
    for engine in engines() {
        let env = unique(&format!("corrupt-{}", engine.name));
        let tmp = chain_environment(&engine, &env);
        let dir = tmp.path();
        let up = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{}", up.stderr);
        assert_eq!(labelled(&engine, &env).0.len(), 3);
        std::fs::write(
            dir.join(".kubetest/state.json"),
            "{\"version\": 1, \"containers\": [tru",
        )
        .unwrap();

        let d = down(&engine, dir, &[]);
        assert_eq!(d.code, 0, "{}: {}", engine.name, d.stderr);
        let warning = d
            .events
            .iter()
            .find(|e| e["event"] == "warning")
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            warning.contains("the state file cannot be used")
                && warning.contains("state.json.unreadable-"),
            "{warning}"
        );
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
        let kept = std::fs::read_dir(dir.join(".kubetest"))
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.unreadable-")
            });
        assert!(kept, "the unreadable state is kept for a person to read");
    }
}

#[test]
fn down_removes_kind_nodes_left_behind() {
    for engine in engines() {
        let cluster = unique(&format!("kt-nodes-{}", engine.name));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // An image for the "node" containers, built by kubetest itself (no cluster yet).
        let image = format!("localhost/kt-kill-bb-{}:1", engine.name);
        busybox_context(&dir.join("bb"), "kill", None);
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!(
                "name: {cluster}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\n",
                engine.name
            ),
        )
        .unwrap();
        let built = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
        assert_eq!(built.code, 0, "{}: {}", engine.name, built.stderr);
        // The cluster kubetest creates (through the fake kind), then its nodes.
        std::fs::write(
            dir.join("kubetest.yaml"),
            format!(
                "name: {cluster}\nengine: {}\ncluster: {{ provider: kind, kind_binary: {} }}\n",
                engine.name,
                fake_kind().display()
            ),
        )
        .unwrap();
        let fake = FakeKind::new();
        let mut up = engine.kubetest(dir);
        fake.apply(&mut up);
        let up = Run::new(up.args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{}: {}", engine.name, up.stderr);

        // Node containers as kind labels them, which the fake kind does not know about: as
        // when `kind create` was killed, or kind's provider probe picked the other engine.
        let nodes = ["control-plane", "worker"].map(|role| format!("{cluster}-{role}"));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let docker = bollard::Docker::connect_with_unix(
            engine.url.strip_prefix("unix://").unwrap(),
            60,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        for (node, role) in nodes.iter().zip(["control-plane", "worker"]) {
            let cmd = vec!["/bin/busybox".into(), "sleep".into(), "600".into()];
            crate::fake_kind::create_node_container(
                &rt,
                &docker,
                (node, &cluster, role),
                &image,
                cmd,
            )
            .unwrap_or_else(|e| panic!("{}: create {node}: {e}", engine.name));
        }

        let mut d = engine.kubetest(dir);
        fake.apply(&mut d);
        let d = Run::new(d.args(["down", "--output", "json"]));
        assert_eq!(d.code, 0, "{}: {}", engine.name, d.stderr);
        let left: Vec<&String> = nodes
            .iter()
            .filter(|n| {
                rt.block_on(docker.inspect_container(
                    n,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                ))
                .is_ok()
            })
            .collect();
        assert!(left.is_empty(), "{}: nodes left: {left:?}", engine.name);
        assert!(
            d.stdout.contains("removed node container(s) kind left"),
            "{}",
            d.stdout
        );
    }
}

#[test]
fn run_beside_an_up_exits_4_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("scenarios/s.yaml"),
        "name: s\nsteps:\n  - sleep: 0s\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kubetest.yaml"),
        "name: locked\ncluster: { provider: none }\nscenarios: scenarios/\n",
    )
    .unwrap();
    let up = Run::new(kubetest().current_dir(dir).args(["up", "--output", "json"]));
    assert_eq!(up.code, 0, "{}", up.stderr);

    let held = EnvLock::acquire(&dir.join(".kubetest"), "kubetest up").unwrap();
    let r = Run::new(kubetest().current_dir(dir).args(["run"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("pid {}, `kubetest up`", std::process::id())),
        "{}",
        r.stderr
    );
    drop(held);
    // Two runs share it.
    let a = EnvLock::acquire_shared(&dir.join(".kubetest"), "kubetest run").unwrap();
    let r = Run::new(kubetest().current_dir(dir).args(["run"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(a);
}

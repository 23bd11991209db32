//! The lock (two concurrent `up`s) and the atomic state write (a killed writer).

use crate::support::kubetest;
use kubetest::state::{ContainerRecord, EnvLock, State, StateStore};
use std::time::Duration;

#[test]
fn second_up_fails_at_once_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: locked\ncluster: { provider: none }\n",
    )
    .unwrap();
    let _held = EnvLock::acquire(&tmp.path().join(".kubetest"), "kubetest up").unwrap();
    let started = std::time::Instant::now();
    let out = kubetest()
        .current_dir(tmp.path())
        .args(["up", "--output", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "exit code BUSY");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "in use by another kubetest (pid {}, `kubetest up`)",
            std::process::id()
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails at once, does not wait"
    );
}

#[test]
fn lock_is_released_when_the_holder_exits() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: free\ncluster: { provider: none }\n",
    )
    .unwrap();
    for _ in 0..2 {
        let out = kubetest()
            .current_dir(tmp.path())
            .args(["up", "--output", "json"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One generation of a large state: every container carries the generation number.
fn generation(i: u64) -> State {
    let mut s = State::new("crash");
    for n in 0..3000 {
        s.containers.push(ContainerRecord {
            name: format!("kubetest-crash-dep{n}"),
            id: format!("{i:064}"),
            dependency: format!("dep{n}"),
            config_hash: format!("gen-{i}"),
            ports: Default::default(),
            address: None,
            health: Vec::new(),
        });
    }
    s
}

/// Child side of `killed_writer_leaves_a_complete_state`: rewrites the state until killed.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os("KUBETEST_TEST_WRITER_DIR") else {
        return;
    };
    let store = StateStore::new(dir);
    for i in 1.. {
        store.save(&generation(i)).unwrap();
    }
}

#[test]
fn killed_writer_leaves_a_complete_state() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StateStore::new(tmp.path());
    store.save(&generation(0)).unwrap();
    for round in 0..8u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state_lock::writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KUBETEST_TEST_WRITER_DIR", tmp.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point of the write cycle each round.
        std::thread::sleep(Duration::from_millis(40 + round * 37));
        child.kill().unwrap();
        child.wait().unwrap();
        let state = store.load().unwrap().expect("state file present");
        let gen = &state.containers[0].config_hash;
        assert_eq!(state.containers.len(), 3000, "round {round}: complete");
        assert!(
            state.containers.iter().all(|c| &c.config_hash == gen),
            "round {round}: one generation, not a mix"
        );
    }
}

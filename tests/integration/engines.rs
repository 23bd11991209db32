//! Builds against real Podman and Docker engines (see .ci/engines.sh).
//!
//! Each test runs for every engine that answers. With `KUBETEST_REQUIRE_ENGINES=1` (CI)
//! both engines must answer; otherwise a missing engine skips with a message.

use crate::support::{kubetest, unique, Run};
use std::path::Path;
use std::process::Command;

pub struct TestEngine {
    pub name: &'static str,
    pub url: String,
}

impl TestEngine {
    /// `kubetest` pointed at this engine only.
    pub fn kubetest(&self, dir: &Path) -> Command {
        let mut c = kubetest();
        c.current_dir(dir)
            .env_remove("DOCKER_HOST")
            .env_remove("CONTAINER_HOST");
        match self.name {
            "podman" => c.env("CONTAINER_HOST", &self.url),
            _ => c.env("DOCKER_HOST", &self.url),
        };
        c
    }
}

/// The engines to test against.
pub fn engines() -> Vec<TestEngine> {
    let require = std::env::var("KUBETEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1");
    let mut found = Vec::new();
    for (name, var, url, up) in crate::test_engines::test_engines() {
        if up {
            found.push(TestEngine { name, url });
        } else if require {
            panic!("KUBETEST_REQUIRE_ENGINES=1 but {name} does not answer at {url} (set {var}; see .ci/engines.sh)");
        } else {
            eprintln!(
                "skipping {name}: nothing answers at {url} (run .ci/engines.sh, or set {var})"
            );
        }
    }
    found
}

/// A build context: FROM scratch + busybox, with a RUN step (so isolation is exercised).
pub fn busybox_context(dir: &Path, marker: &str, extra_run: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy("/bin/busybox", dir.join("busybox"))
        .expect("busybox-static installed (.ci/engines.sh)");
    let mut file = format!(
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY marker.txt /marker.txt\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo built {marker}\"]\n"
    );
    if let Some(run) = extra_run {
        file.push_str(run);
        file.push('\n');
    }
    file.push_str("CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\"]\n");
    std::fs::write(dir.join("Containerfile"), file).unwrap();
    std::fs::write(dir.join("marker.txt"), marker).unwrap();
}

/// An environment of `images` busybox images named `localhost/kt-it-<tag>-<run>-<i>:1`.
fn environment(engine: &TestEngine, tag: &str, images: usize) -> (tempfile::TempDir, Vec<String>) {
    let tag = unique(tag);
    let tmp = tempfile::tempdir().unwrap();
    let mut yaml = format!(
        "name: it-{tag}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n",
        engine.name
    );
    let mut names = Vec::new();
    for i in 0..images {
        let name = format!("localhost/kt-it-{tag}-{i}:1");
        busybox_context(
            &tmp.path().join(format!("img{i}")),
            &format!("{tag}-{i}"),
            None,
        );
        yaml.push_str(&format!("  - {{ name: {name}, context: img{i} }}\n"));
        names.push(name);
    }
    std::fs::write(tmp.path().join("kubetest.yaml"), yaml).unwrap();
    (tmp, names)
}

fn up(engine: &TestEngine, dir: &Path, extra: &[&str]) -> Run {
    Run::new(
        engine
            .kubetest(dir)
            .args(["up", "--output", "json"])
            .args(extra),
    )
}

fn down_images(engine: &TestEngine, dir: &Path) {
    let r = Run::new(
        engine
            .kubetest(dir)
            .args(["down", "--images", "--output", "json"]),
    );
    assert_eq!(r.code, 0, "down --images: {}", r.stderr);
}

#[test]
fn parallel_builds_then_everything_cached() {
    for engine in engines() {
        let (tmp, names) = environment(&engine, &format!("par-{}", engine.name), 3);
        let first = up(&engine, tmp.path(), &["--jobs", "3"]);
        assert_eq!(first.code, 0, "{}: {}", engine.name, first.stderr);
        // All three builds start before the first one finishes: they ran concurrently.
        let started = first.positions("task_started", "build");
        let finished = first.positions("task_finished", "build");
        assert_eq!((started.len(), finished.len()), (3, 3), "{}", engine.name);
        assert!(
            started.iter().max() < finished.iter().min(),
            "{}: builds overlapped",
            engine.name
        );
        assert!(
            first.task_outcomes("build").iter().all(|(_, o)| o == "ok"),
            "{:?}",
            first.task_outcomes("build")
        );

        let second = up(&engine, tmp.path(), &[]);
        assert_eq!(second.code, 0, "{}", second.stderr);
        let outcomes = second.task_outcomes("build");
        assert_eq!(outcomes.len(), 3);
        assert!(
            outcomes.iter().all(|(_, o)| o == "cached"),
            "{}: second up builds nothing: {outcomes:?}",
            engine.name
        );
        assert_eq!(second.phase_outcome("build").as_deref(), Some("cached"));

        let forced = up(&engine, tmp.path(), &["--rebuild"]);
        assert!(
            forced.task_outcomes("build").iter().all(|(_, o)| o == "ok"),
            "--rebuild builds again"
        );
        let _ = names;
        down_images(&engine, tmp.path());
    }
}

/// The cache key is recorded in the state file, not as a label on the image (a `LABEL` step
/// costs Docker's legacy builder one layer commit per build): the image carries no kubetest
/// label; a lost state file, or a tag moved to another image, means building again.
#[test]
fn cache_record_lives_in_the_state_not_in_the_image() {
    for engine in engines() {
        let (tmp, names) = environment(&engine, &format!("rec-{}", engine.name), 1);
        assert_eq!(up(&engine, tmp.path(), &[]).code, 0);
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap();
        let rec = &state["images"][0];
        assert_eq!(rec["name"], names[0].as_str());
        assert_eq!(rec["input_hash"].as_str().map(str::len), Some(64), "{rec}");
        let labels = Command::new(if engine.name == "podman" {
            "podman"
        } else {
            "docker"
        })
        .env("DOCKER_HOST", &engine.url)
        .args(if engine.name == "podman" {
            vec!["--remote", "--url", &engine.url]
        } else {
            vec![]
        })
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &names[0],
        ])
        .output()
        .unwrap();
        let labels = String::from_utf8_lossy(&labels.stdout);
        assert!(
            !labels.contains("dev.kubetest"),
            "{}: no kubetest label on the image: {labels}",
            engine.name
        );
        assert_eq!(
            up(&engine, tmp.path(), &[]).task_outcomes("build"),
            vec![(names[0].clone(), "cached".to_owned())]
        );

        // The state is lost: no record, so the image is built again (and recorded again).
        std::fs::remove_file(tmp.path().join(".kubetest/state.json")).unwrap();
        assert_eq!(
            up(&engine, tmp.path(), &[]).task_outcomes("build"),
            vec![(names[0].clone(), "ok".to_owned())],
            "{}: lost state, built again",
            engine.name
        );
        assert_eq!(
            up(&engine, tmp.path(), &[]).task_outcomes("build"),
            vec![(names[0].clone(), "cached".to_owned())]
        );

        // The tag now names another image (a hand-made build): the record no longer holds.
        let mut state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap();
        state["images"][0]["id"] =
            "sha256:0000000000000000000000000000000000000000000000000000000000000000".into();
        std::fs::write(
            tmp.path().join(".kubetest/state.json"),
            serde_json::to_string(&state).unwrap(),
        )
        .unwrap();
        assert_eq!(
            up(&engine, tmp.path(), &[]).task_outcomes("build"),
            vec![(names[0].clone(), "ok".to_owned())],
            "{}: the tag moved, built again",
            engine.name
        );
        down_images(&engine, tmp.path());
    }
}

#[test]
fn changing_one_file_rebuilds_only_its_image() {
    for engine in engines() {
        let (tmp, names) = environment(&engine, &format!("chg-{}", engine.name), 2);
        assert_eq!(up(&engine, tmp.path(), &[]).code, 0);
        std::fs::write(tmp.path().join("img1/marker.txt"), "changed").unwrap();
        let again = up(&engine, tmp.path(), &[]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        let mut outcomes = again.task_outcomes("build");
        outcomes.sort();
        assert_eq!(
            outcomes,
            vec![
                (names[0].clone(), "cached".to_owned()),
                (names[1].clone(), "ok".to_owned())
            ],
            "{}",
            engine.name
        );
        down_images(&engine, tmp.path());
    }
}

#[test]
fn failing_run_step_names_image_step_and_log() {
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let good = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-fail-ok-{}", engine.name))
        );
        let bad = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-fail-bad-{}", engine.name))
        );
        busybox_context(&tmp.path().join("good"), "good", None);
        busybox_context(
            &tmp.path().join("bad"),
            "bad",
            Some("RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail; echo more output; exit 7\"]"),
        );
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: it-fail\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {good}, context: good }}\n  - {{ name: {bad}, context: bad }}\n",
                engine.name
            ),
        )
        .unwrap();
        let r = up(&engine, tmp.path(), &["--rebuild"]);
        assert_eq!(
            r.code, 3,
            "{}: infrastructure failure exit code",
            engine.name
        );
        let err = &r.stderr;
        assert!(
            err.contains(&format!("1 of 2 images failed to build: {bad}")),
            "{err}"
        );
        // Podman counts one more step than Docker (it adds the labels as a step): 5/7 vs 5/6.
        assert!(
            err.contains(&format!("build of {bad} failed at step 5/")),
            "{}: names the step: {err}",
            engine.name
        );
        assert!(
            err.contains("`RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo about to fail"),
            "{}: names the instruction: {err}",
            engine.name
        );
        assert!(
            err.contains("| about to fail"),
            "{}: shows the log: {err}",
            engine.name
        );
        // The other build finished, and the phases after build did not run.
        assert!(
            r.task_outcomes("build")
                .contains(&(good.clone(), "ok".to_owned())),
            "{:?}",
            r.task_outcomes("build")
        );
        assert_eq!(r.phase_outcome("build").as_deref(), Some("failed"));
        // Deps runs beside the builds (here it has nothing to start); nothing after them runs.
        assert_eq!(r.phase_outcome("deps").as_deref(), Some("skipped"));
        assert_eq!(
            r.phase_outcome("connect"),
            None,
            "up stops after the build phase"
        );
        down_images(&engine, tmp.path());
    }
}

#[test]
fn ignored_200mb_directory_is_not_sent() {
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("app");
        busybox_context(
            &ctx,
            "ignored",
            Some("RUN [\"/bin/busybox\", \"sh\", \"-c\", \"test ! -e /ctx/vendor && test -e /ctx/keep.txt\"]"),
        );
        // COPY the whole context; the RUN above fails if vendor/ was sent.
        let cf = std::fs::read_to_string(ctx.join("Containerfile")).unwrap();
        std::fs::write(
            ctx.join("Containerfile"),
            cf.replacen("COPY marker.txt", "COPY . /ctx/\nCOPY marker.txt", 1),
        )
        .unwrap();
        std::fs::write(ctx.join(".dockerignore"), "vendor\n").unwrap();
        std::fs::write(ctx.join("keep.txt"), "kept").unwrap();
        std::fs::create_dir(ctx.join("vendor")).unwrap();
        let big = std::fs::File::create(ctx.join("vendor/blob.bin")).unwrap();
        big.set_len(200 * 1024 * 1024).unwrap();
        let name = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-ignore-{}", engine.name))
        );
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!("name: it-ignore\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {name}, context: app }}\n", engine.name),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let r = up(&engine, tmp.path(), &["--rebuild"]);
        assert_eq!(r.code, 0, "{}: {}", engine.name, r.stderr);
        eprintln!(
            "{}: build with an ignored 200 MB vendor/ took {:?}",
            engine.name,
            started.elapsed()
        );
        down_images(&engine, tmp.path());
    }
}

#[test]
fn down_images_removes_them_and_is_idempotent() {
    for engine in engines() {
        let (tmp, names) = environment(&engine, &format!("down-{}", engine.name), 1);
        assert_eq!(up(&engine, tmp.path(), &[]).code, 0);
        let plain_down = Run::new(
            engine
                .kubetest(tmp.path())
                .args(["down", "--output", "plain"]),
        );
        assert_eq!(plain_down.code, 0);
        assert!(
            plain_down
                .stdout
                .contains("kept 1 built image(s) as build cache"),
            "{}",
            plain_down.stdout
        );
        down_images(&engine, tmp.path());
        down_images(&engine, tmp.path());
        let again = up(&engine, tmp.path(), &[]);
        assert_eq!(
            again.task_outcomes("build"),
            vec![(names[0].clone(), "ok".to_owned())],
            "removed, so rebuilt"
        );
        down_images(&engine, tmp.path());
    }
}

/// With no endpoint named, kubetest searches the usual sockets and lists each when none
/// answers. (A named one that does not answer is the error alone: see busy_engine.rs.)
#[test]
fn no_engine_lists_every_endpoint_tried() {
    if Path::new("/var/run/docker.sock").exists() {
        eprintln!("skipping: /var/run/docker.sock exists here, so an engine may answer");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    busybox_context(&tmp.path().join("app"), "x", None);
    std::fs::write(
        tmp.path().join("kubetest.yaml"),
        "name: it-none\nengine: docker\ncluster: { provider: none }\nimages:\n  - { name: localhost/kt-it-none:1, context: app }\n",
    )
    .unwrap();
    let r = Run::new(
        kubetest()
            .current_dir(tmp.path())
            .env_remove("DOCKER_HOST")
            .env_remove("CONTAINER_HOST")
            .arg("up"),
    );
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .contains("no Docker engine answered (`engine: docker`); tried:"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("unix:///var/run/docker.sock (docker socket): no such socket file"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`kubetest doctor` checks each of these"),
        "{}",
        r.stderr
    );
    // The hint under the failure comes from the error's type (doctor::failure): the
    // verdict of the strongest reason among the endpoints tried, naming its socket.
    assert!(r.stderr.contains("likely cause:"), "{}", r.stderr);
    assert!(r.stderr.contains("then: kubetest doctor"), "{}", r.stderr);
    if !std::path::Path::new("/var/run/docker.sock").exists() {
        // Every endpoint tried is missing: the socket-missing verdict, first socket named.
        assert!(
            r.stderr
                .contains("No engine socket exists where kubetest looked (first: "),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn fail_fast_cancels_the_other_builds() {
    for engine in engines() {
        let tmp = tempfile::tempdir().unwrap();
        let slow = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-ff-slow-{}", engine.name))
        );
        let bad = format!(
            "localhost/{}:1",
            unique(&format!("kt-it-ff-bad-{}", engine.name))
        );
        // The slow build's RUN is its workload, not a wait for something.
        busybox_context(
            &tmp.path().join("slow"),
            "slow",
            Some("RUN [\"/bin/busybox\", \"sleep\", \"60\"]"),
        );
        busybox_context(
            &tmp.path().join("bad"),
            "bad",
            Some("RUN [\"/bin/busybox\", \"false\"]"),
        );
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: it-ff\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {slow}, context: slow }}\n  - {{ name: {bad}, context: bad }}\n",
                engine.name
            ),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let r = up(
            &engine,
            tmp.path(),
            &["--rebuild", "--jobs", "2", "--fail-fast"],
        );
        assert_eq!(r.code, 3, "{}: {}", engine.name, r.stderr);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(50),
            "{}: did not wait for the slow build",
            engine.name
        );
        let outcomes = r.task_outcomes("build");
        assert!(
            outcomes.contains(&(bad.clone(), "failed".to_owned())),
            "{outcomes:?}"
        );
        assert!(
            outcomes.contains(&(slow.clone(), "cancelled".to_owned())),
            "{outcomes:?}"
        );
        assert!(
            r.stderr.contains("(1 cancelled by --fail-fast)"),
            "{}",
            r.stderr
        );
    }
}

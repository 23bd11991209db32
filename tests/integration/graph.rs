//! `up` as a task graph, on real engines: a dependency on a stock image starts while the
//! builds run; one on a built image waits for that build; with kind, each image is loaded as
//! soon as it is built; a failed build stops the rest with everything made recorded.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::fake_kind::{binary, FakeKind};
use crate::support::{unique, Run};
use std::path::Path;

/// `ts_ms` of the first event `kind` of task `task` in `phase`.
fn ts(run: &Run, kind: &str, phase: &str, task: &str) -> u64 {
    run.events
        .iter()
        .find(|e| e["event"] == kind && e["phase"] == phase && e["task"] == task)
        .and_then(|e| e["ts_ms"].as_u64())
        .unwrap_or_else(|| panic!("no {kind} of {phase}/{task}: {}", run.stdout))
}

/// A stock image: built here by a separate `up`, so the graph's own config does not build it.
fn stock_image(engine: &TestEngine, dir: &Path, tag: &str) -> String {
    let name = format!("localhost/kt-graph-stock-{tag}:1");
    busybox_context(&dir.join("ctx"), tag, None);
    std::fs::write(
        dir.join("kubetest.yaml"),
        format!(
            "name: {tag}-stock\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {name}, context: ctx }}\n",
            engine.name
        ),
    )
    .unwrap();
    let r = Run::new(engine.kubetest(dir).args(["up", "--output", "json"]));
    assert_eq!(r.code, 0, "{}: {}", engine.name, r.stderr);
    name
}

fn down(engine: &TestEngine, dir: &Path, fake: Option<&FakeKind>, images: bool) {
    let mut c = engine.kubetest(dir);
    if let Some(f) = fake {
        f.apply(&mut c);
    }
    c.args(["down", "--output", "json"]);
    if images {
        c.arg("--images");
    }
    let r = Run::new(&mut c);
    assert_eq!(r.code, 0, "{}: down: {}", engine.name, r.stderr);
}

const DEP: &str = "    command: [/bin/busybox, sh, -c, \"mkdir -p /www && echo ok > /www/healthz && exec /bin/busybox httpd -f -p 8080 -h /www\"]\n    ports: [\"0:8080\"]\n    health: { http: { port: 8080, path: /healthz }, interval: 100ms, timeout: 30s }\n";

/// `slow_run`: the RUN step of the built image (a sleep, or a failing command).
fn graph_environment(
    engine: &TestEngine,
    dir: &Path,
    env: &str,
    stock: &str,
    slow_run: &str,
) -> String {
    let built = format!("localhost/kt-graph-{env}:1");
    busybox_context(&dir.join("slow"), env, Some(slow_run));
    let yaml = format!(
        "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {built}, context: slow }}\ndependencies:\n  stock:\n    image: {stock}\n{DEP}  onbuilt:\n    image: {built}\n{DEP}",
        engine.name
    );
    std::fs::write(dir.join("kubetest.yaml"), yaml).unwrap();
    built
}

#[test]
fn a_stock_dependency_starts_during_the_build_and_a_built_one_after_it() {
    for engine in engines() {
        let tag = unique(&format!("g-{}", engine.name));
        let stock_dir = tempfile::tempdir().unwrap();
        let stock = stock_image(&engine, stock_dir.path(), &tag);
        let tmp = tempfile::tempdir().unwrap();
        let built = graph_environment(
            &engine,
            tmp.path(),
            &tag,
            &stock,
            "RUN [\"/bin/busybox\", \"sleep\", \"3\"]",
        );
        let r = Run::new(engine.kubetest(tmp.path()).args(["up", "--output", "json"]));
        assert_eq!(r.code, 0, "{}: {}", engine.name, r.stderr);
        let build_done = ts(&r, "task_finished", "build", &built);
        assert!(
            ts(&r, "task_finished", "deps", "stock") < build_done,
            "{}: the stock dependency was healthy before the build ended",
            engine.name
        );
        assert!(
            ts(&r, "task_finished", "deps", "onbuilt") > build_done,
            "{}: the dependency on the built image started after its build",
            engine.name
        );
        assert!(r.events.iter().any(|e| e["phase"] == "deps"
            && e["task"] == "onbuilt"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("waiting for the build of"))));
        assert_eq!(r.phase_outcome("deps").as_deref(), Some("ok"));
        down(&engine, tmp.path(), None, true);
        down(&engine, stock_dir.path(), None, true);
    }
}

#[test]
fn a_failed_build_stops_the_rest_with_what_was_made_recorded() {
    for engine in engines() {
        let tag = unique(&format!("gf-{}", engine.name));
        let stock_dir = tempfile::tempdir().unwrap();
        let stock = stock_image(&engine, stock_dir.path(), &tag);
        let tmp = tempfile::tempdir().unwrap();
        graph_environment(
            &engine,
            tmp.path(),
            &tag,
            &stock,
            "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"sleep 2; exit 3\"]",
        );
        let r = Run::new(engine.kubetest(tmp.path()).args(["up", "--output", "json"]));
        assert_ne!(r.code, 0, "{}: the build fails", engine.name);
        assert_eq!(r.phase_outcome("build").as_deref(), Some("failed"));
        assert_eq!(
            r.phase_outcome("deps").as_deref(),
            Some("cancelled"),
            "{}: {}",
            engine.name,
            r.stdout
        );
        assert!(
            r.stderr.contains("failed to build"),
            "{}: the build's failure is the error: {}",
            engine.name,
            r.stderr
        );
        let outcomes = r.task_outcomes("deps");
        assert!(
            outcomes.contains(&("onbuilt".to_owned(), "cancelled".to_owned())),
            "{outcomes:?}"
        );
        // The stock dependency started (it did not need the build): it is in the state, and
        // `down` removes it.
        let state = std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap();
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        let recorded: Vec<&str> = state["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["dependency"].as_str())
            .collect();
        assert!(
            recorded.contains(&"stock")
                || outcomes.contains(&("stock".to_owned(), "cancelled".to_owned())),
            "{}: stock recorded or stopped: {recorded:?} {outcomes:?}",
            engine.name
        );
        assert!(!recorded.contains(&"onbuilt"), "{recorded:?}");
        down(&engine, tmp.path(), None, true);
        let (containers, _) = crate::deps::labelled(&engine, &tag);
        assert!(
            containers.is_empty(),
            "{}: left {containers:?}",
            engine.name
        );
        down(&engine, stock_dir.path(), None, true);
    }
}

/// With kind, the fast image is loaded while the slow one still builds: two archives, the
/// first holding only the fast image, loaded before the slow build ends.
#[test]
fn each_image_is_loaded_as_soon_as_it_is_built() {
    for engine in engines() {
        let tag = unique(&format!("gl-{}", engine.name));
        let fake = FakeKind::new();
        let tmp = tempfile::tempdir().unwrap();
        // A "node" that answers `crictl images` with no images of ours.
        let node_dir = tempfile::tempdir().unwrap();
        let node_image = format!("localhost/kt-graph-node-{}:1", engine.name);
        crate::load::node_image_context(&node_dir.path().join("node"));
        crate::load::build(
            &engine,
            node_dir.path(),
            &format!("kt-graph-node-{}", engine.name),
            &[(&node_image, "node")],
        );
        let node = crate::load::Node::start(&engine, &tag, &node_image);
        node.holds(&[]);
        let fast = format!("localhost/kt-graph-{tag}-fast:1");
        let slow = format!("localhost/kt-graph-{tag}-slow:1");
        busybox_context(&tmp.path().join("fast"), &format!("{tag}-fast"), None);
        busybox_context(
            &tmp.path().join("slow"),
            &format!("{tag}-slow"),
            Some("RUN [\"/bin/busybox\", \"sleep\", \"4\"]"),
        );
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: {tag}\nengine: {}\nimages:\n  - {{ name: {fast}, context: fast }}\n  - {{ name: {slow}, context: slow }}\ncluster: {{ provider: kind, kind_binary: {} }}\n",
                engine.name,
                binary().display()
            ),
        )
        .unwrap();
        let mut c = engine.kubetest(tmp.path());
        fake.apply(&mut c);
        let r = Run::new(c.args(["up", "--output", "json"]));
        assert_eq!(r.code, 0, "{}: {}", engine.name, r.stderr);
        let loads: Vec<Vec<String>> = fake
            .calls()
            .iter()
            .filter(|c| c["argv"][0] == "load")
            .map(|c| {
                c["archive_tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(loads.len(), 2, "{}: {loads:?}", engine.name);
        assert!(
            loads[0].iter().all(|t| t.contains("-fast"))
                && loads[1].iter().all(|t| t.contains("-slow")),
            "{}: {loads:?}",
            engine.name
        );
        assert!(
            ts(&r, "task_finished", "load", &fast) < ts(&r, "task_finished", "build", &slow),
            "{}: the fast image was loaded while the slow one built",
            engine.name
        );
        drop(node);
        down(&engine, tmp.path(), Some(&fake), true);
        down(&engine, node_dir.path(), None, true);
    }
}

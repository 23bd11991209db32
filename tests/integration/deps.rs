//! Dependency containers against real Podman and Docker: ordering from event timestamps,
//! one-shot jobs, fail-fast crashes, reuse, teardown (checked through the engine API), Ctrl-C.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::support::{unique, Run};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// GET `path` from the engine API at `url` (a unix socket), parsed as JSON.
pub fn engine_get(url: &str, path: &str) -> serde_json::Value {
    let sock = url.strip_prefix("unix://").unwrap_or(url);
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("engine socket");
    write!(
        s,
        "GET /v1.41{path} HTTP/1.0\r\nHost: d\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {raw}"))
}

/// Whether `engine` has every image in `images` (the real PostgreSQL/Redis images that
/// `.ci/images.sh` builds); where one is missing, fail under KUBETEST_REQUIRE_ENGINES=1 and
/// otherwise say the test is skipped on this engine.
pub fn has_real_images(engine: &TestEngine, images: &[&str]) -> bool {
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|i| {
            engine_get(&engine.url, &format!("/images/{i}/json"))
                .get("Id")
                .is_none()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let require = std::env::var("KUBETEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1");
    assert!(
        !require,
        "{}: images {missing:?} missing; run .ci/images.sh",
        engine.name
    );
    eprintln!(
        "skipping {}: images {missing:?} missing (run .ci/images.sh)",
        engine.name
    );
    false
}

/// Names of the containers (all states) and networks labelled with environment `env`.
pub fn labelled(engine: &TestEngine, env: &str) -> (Vec<String>, Vec<String>) {
    let filter = format!("%7B%22label%22%3A%5B%22dev.kubetest.env%3D{env}%22%5D%7D");
    let names = |v: serde_json::Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| match key {
                "Names" => c["Names"][0].as_str().unwrap_or("").to_owned(),
                _ => c["Name"].as_str().unwrap_or("").to_owned(),
            })
            .collect()
    };
    (
        names(
            engine_get(
                &engine.url,
                &format!("/containers/json?all=1&filters={filter}"),
            ),
            "Names",
        ),
        names(
            engine_get(&engine.url, &format!("/networks?filters={filter}")),
            "Name",
        ),
    )
}

/// An environment directory with a busybox image built by `up` itself and `deps` as YAML.
fn environment(engine: &TestEngine, env: &str, deps: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let image = format!("localhost/kt-i4-bb-{}:1", engine.name);
    busybox_context(&tmp.path().join("bb"), "i4", None);
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let yaml = format!(
        "name: {env}\nengine: {}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: {image}, context: bb }}\ndependencies:\n{}",
        engine.name,
        deps.replace("IMAGE", &image)
    );
    std::fs::write(tmp.path().join("kubetest.yaml"), yaml).unwrap();
    // Leftovers of an earlier, interrupted test run: found by label.
    down(engine, tmp.path());
    (tmp, image)
}

fn up(engine: &TestEngine, dir: &Path) -> Run {
    Run::new(engine.kubetest(dir).args(["up", "--output", "json"]))
}

fn down(engine: &TestEngine, dir: &Path) -> Run {
    let r = Run::new(engine.kubetest(dir).args(["down", "--output", "json"]));
    assert_eq!(r.code, 0, "{}: down: {}", engine.name, r.stderr);
    r
}

/// `ts_ms` of the first event of `kind` for dependency `task`.
fn ts(run: &Run, kind: &str, task: &str) -> u64 {
    run.events
        .iter()
        .find(|e| e["event"] == kind && e["phase"] == "deps" && e["task"] == task)
        .and_then(|e| e["ts_ms"].as_u64())
        .unwrap_or_else(|| panic!("no {kind} for {task}: {}", run.stdout))
}

fn note_value(run: &Run, var: &str) -> Option<String> {
    run.events.iter().find_map(|e| {
        let m = e["message"].as_str()?;
        m.strip_prefix(&format!("{var}=")).map(str::to_owned)
    })
}

pub const CHAIN: &str = r#"  web:
    image: IMAGE
    command: [/bin/busybox, sh, -c, "mkdir -p /www && echo ok > /www/healthz && sleep 1 && exec /bin/busybox httpd -f -p 8080 -h /www"]
    ports: ["0:8080"]
    health: { http: { port: 8080, path: /healthz, body_contains: ok }, interval: 100ms, timeout: 30s }
  job:
    image: IMAGE
    needs: [web]
    once: true
    volumes: ["out:/out:rw"]
    command: [/bin/busybox, sh, -c, "/bin/busybox wget -q -O /out/fetched http://web:8080/healthz && echo done > /out/job.txt"]
  echo:
    image: IMAGE
    needs: [job]
    ports: ["7000"]
    command: [/bin/busybox, nc, -ll, -p, "7000", -e, /bin/busybox, echo, hi]
    health: { tcp: 7000, interval: 100ms, timeout: 30s }
"#;

#[test]
fn chain_starts_in_order_is_reused_and_torn_down() {
    for engine in engines() {
        let env = unique(&format!("i4-chain-{}", engine.name));
        let (tmp, _) = environment(&engine, &env, CHAIN);
        let first = up(&engine, tmp.path());
        assert_eq!(first.code, 0, "{}: {}", engine.name, first.stderr);
        // Each starts only after what it needs finished: ordering from the event timestamps.
        assert!(ts(&first, "task_finished", "web") <= ts(&first, "task_started", "job"));
        assert!(ts(&first, "task_finished", "job") <= ts(&first, "task_started", "echo"));
        assert_eq!(
            first.task_outcomes("deps"),
            [
                ("web".to_owned(), "ok".to_owned()),
                ("job".to_owned(), "ok".to_owned()),
                ("echo".to_owned(), "ok".to_owned())
            ],
            "{}",
            engine.name
        );
        // The job reached `web` by name on the network and wrote into its mount.
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("out/job.txt")).unwrap(),
            "done\n"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("out/fetched")).unwrap(),
            "ok\n"
        );
        // Engine-picked host ports are read back, published as outputs and answer.
        let web_port: u16 = note_value(&first, "KUBETEST_DEP_WEB_PORT_8080")
            .expect("web port output")
            .parse()
            .unwrap();
        let echo_port: u16 = note_value(&first, "KUBETEST_DEP_ECHO_PORT_7000")
            .expect("echo port output")
            .parse()
            .unwrap();
        let mut answer = String::new();
        std::net::TcpStream::connect(("127.0.0.1", echo_port))
            .unwrap()
            .read_to_string(&mut answer)
            .unwrap();
        assert_eq!(answer, "hi\n", "{}", engine.name);
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap(),
        )
        .unwrap();
        let web = state["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["dependency"] == "web")
            .unwrap();
        assert_eq!(web["ports"]["8080/tcp"].as_u64(), Some(web_port as u64));
        assert_eq!(web["name"], format!("kubetest-{env}-web"));

        // Second up: everything kept.
        let second = up(&engine, tmp.path());
        assert_eq!(second.code, 0, "{}", second.stderr);
        assert!(
            second
                .task_outcomes("deps")
                .iter()
                .all(|(_, o)| o == "reused"),
            "{}: {:?}",
            engine.name,
            second.task_outcomes("deps")
        );
        assert_eq!(
            note_value(&second, "KUBETEST_DEP_WEB_PORT_8080"),
            Some(web_port.to_string()),
            "a kept container keeps its port"
        );

        // Changing the job recreates it and its dependant, not what it needs.
        let yaml = std::fs::read_to_string(tmp.path().join("kubetest.yaml")).unwrap();
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            yaml.replace("echo done >", "echo done again >"),
        )
        .unwrap();
        let third = up(&engine, tmp.path());
        assert_eq!(third.code, 0, "{}", third.stderr);
        assert_eq!(
            third.task_outcomes("deps"),
            [
                ("web".to_owned(), "reused".to_owned()),
                ("job".to_owned(), "ok".to_owned()),
                ("echo".to_owned(), "ok".to_owned())
            ],
            "{}",
            engine.name
        );

        down(&engine, tmp.path());
        assert_eq!(
            labelled(&engine, &env),
            (vec![], vec![]),
            "{}: nothing labelled is left",
            engine.name
        );
        down(&engine, tmp.path());
    }
}

#[test]
fn crash_during_startup_fails_fast_with_logs() {
    for engine in engines() {
        let env = unique(&format!("i4-crash-{}", engine.name));
        let deps = r#"  bad:
    image: IMAGE
    command: [/bin/busybox, sh, -c, "echo starting; echo 'fatal: no config' >&2; exit 3"]
    ports: ["8080"]
    health: { tcp: 8080, timeout: 60s }
  after:
    image: IMAGE
    needs: [bad]
    command: [/bin/busybox, sleep, "60"]
"#;
        let (tmp, _) = environment(&engine, &env, deps);
        let started = Instant::now();
        let r = up(&engine, tmp.path());
        let took = started.elapsed();
        assert_eq!(r.code, 3, "{}: {}", engine.name, r.stderr);
        assert!(
            took < Duration::from_secs(30),
            "{}: failed fast, not after the 60 s timeout ({took:?})",
            engine.name
        );
        assert!(
            r.stderr.contains(
                "dependency `bad` exited with code 3 while waiting for it to become healthy"
            ),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("  | starting"), "{}", r.stderr);
        assert!(r.stderr.contains("  | fatal: no config"), "{}", r.stderr);
        assert!(
            !r.task_outcomes("deps").iter().any(|(t, _)| t == "after"),
            "its dependant never started"
        );
        down(&engine, tmp.path());
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
    }
}

#[test]
fn missing_image_and_taken_port_are_named() {
    for engine in engines() {
        let env = unique(&format!("i4-bad-{}", engine.name));
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deps = format!(
            "  ghost:\n    image: localhost/kt-i4-does-not-exist:1\n  web:\n    image: IMAGE\n    ports: [\"{port}:8080\"]\n"
        );
        let (tmp, _) = environment(&engine, &env, &deps);
        let r = up(&engine, tmp.path());
        assert_eq!(r.code, 3, "{}", r.stderr);
        let either = r.stderr.contains(&format!(
            "image localhost/kt-i4-does-not-exist:1 is not in the {} engine",
            engine.name
        )) || r
            .stderr
            .contains(&format!("host port {port} is already in use"));
        assert!(either, "{}: {}", engine.name, r.stderr);
        // Both tasks fail on their own (whichever fails first cancels the other).
        let outcomes = r.task_outcomes("deps");
        assert!(outcomes.iter().any(|(_, o)| o == "failed"), "{outcomes:?}");
        // Each error on its own, to see both messages.
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            std::fs::read_to_string(tmp.path().join("kubetest.yaml"))
                .unwrap()
                .replace(
                    "  ghost:\n    image: localhost/kt-i4-does-not-exist:1\n",
                    "",
                ),
        )
        .unwrap();
        let r = up(&engine, tmp.path());
        assert!(
            r.stderr.contains(&format!(
                "host port {port} is already in use by another process"
            )),
            "{}: {}",
            engine.name,
            r.stderr
        );
        drop(listener);
        down(&engine, tmp.path());
    }
}

#[test]
fn ctrl_c_while_waiting_leaves_state_that_down_uses() {
    for engine in engines() {
        let env = unique(&format!("i4-int-{}", engine.name));
        let deps = r#"  slow:
    image: IMAGE
    command: [/bin/busybox, sleep, "300"]
    ports: ["8080"]
    health: { tcp: 8080, interval: 200ms, timeout: 120s }
"#;
        let (tmp, _) = environment(&engine, &env, deps);
        let mut child = engine
            .kubetest(tmp.path())
            .args(["up", "--output", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read events until the first failed health check: the container exists then.
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.contains("\"task_progress\"") && line.contains("health check") {
                break;
            }
        }
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{}", engine.name);
        let state = std::fs::read_to_string(tmp.path().join(".kubetest/state.json")).unwrap();
        assert!(
            state.contains(&format!("kubetest-{env}-slow")),
            "{}: {state}",
            engine.name
        );
        assert_eq!(labelled(&engine, &env).0.len(), 1, "{}", engine.name);
        down(&engine, tmp.path());
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
    }
}

/// Real PostgreSQL → SQL migration job → Redis, from the images `.ci/images.sh` builds.
#[test]
fn postgres_migration_redis_chain() {
    for engine in engines() {
        if !has_real_images(
            &engine,
            &[
                "localhost/kubetest-postgres:15",
                "localhost/kubetest-redis:7",
            ],
        ) {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("sql")).unwrap();
        std::fs::write(
            tmp.path().join("sql/001.sql"),
            "create table items (id serial primary key, name text not null);\ninsert into items (name) values ('first');\n",
        )
        .unwrap();
        let env = unique(&format!("i4-pg-{}", engine.name));
        let yaml = format!(
            r#"name: {env}
engine: {}
cluster: {{ provider: none }}
dependencies:
  postgres:
    image: localhost/kubetest-postgres:15
    ports: ["0:5432"]
    health: {{ exec: [pg_isready, -h, 127.0.0.1, -U, postgres], interval: 200ms, timeout: 60s }}
  migrate:
    image: localhost/kubetest-postgres:15
    needs: [postgres]
    once: true
    volumes: ["sql:/sql"]
    command: [psql, -h, postgres, -U, postgres, -v, ON_ERROR_STOP=1, -f, /sql/001.sql]
  redis:
    image: localhost/kubetest-redis:7
    needs: [migrate]
    ports: ["0:6379"]
    health: {{ exec: [redis-cli, ping], interval: 200ms, timeout: 30s }}
"#,
            engine.name
        );
        std::fs::write(tmp.path().join("kubetest.yaml"), yaml).unwrap();
        down(&engine, tmp.path());
        let started = Instant::now();
        let r = up(&engine, tmp.path());
        assert_eq!(r.code, 0, "{}: {}", engine.name, r.stderr);
        eprintln!(
            "{}: postgres → migrate → redis up in {:?}",
            engine.name,
            started.elapsed()
        );
        assert!(ts(&r, "task_finished", "postgres") <= ts(&r, "task_started", "migrate"));
        assert!(ts(&r, "task_finished", "migrate") <= ts(&r, "task_started", "redis"));
        // The migration ran: query through the published port with the host's psql when
        // present, else inside the container.
        let port = note_value(&r, "KUBETEST_DEP_POSTGRES_PORT_5432").unwrap();
        if let Ok(out) = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-tAc"])
            .arg("select name from items")
            .output()
        {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "first",
                "{}: {}",
                engine.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        down(&engine, tmp.path());
        assert_eq!(labelled(&engine, &env), (vec![], vec![]), "{}", engine.name);
    }
}

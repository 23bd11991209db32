//! A busy engine against real Podman and Docker, through a proxy socket that holds back chosen
//! calls; and endpoints the user names that do not answer.
//!
//! A loaded engine still answers `/_ping` in milliseconds while `/info` or `/containers/json`
//! take seconds to minutes (FACTS.md, "Engines under load"). The proxy reproduces exactly
//! that: it forwards bytes both ways and delays the requests whose path matches, so the real
//! engine answers them late; everything else passes at once.

use crate::engines::{busybox_context, engines, TestEngine};
use crate::support::{kubetest, unique, Run};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Paths (without the `/v1.41` prefix and query) and how long their requests are held back.
type Delays = Arc<Mutex<Vec<(String, Duration)>>>;

/// A unix socket in front of a real engine socket; lives on its own runtime thread.
struct SlowProxy {
    path: PathBuf,
    delays: Delays,
    _rt: tokio::runtime::Runtime,
}

impl SlowProxy {
    fn start(dir: &Path, engine_url: &str) -> Self {
        let upstream = PathBuf::from(engine_url.strip_prefix("unix://").unwrap_or(engine_url));
        let path = dir.join("engine-proxy.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let delays: Delays = Arc::default();
        let listener = {
            let _guard = rt.enter();
            tokio::net::UnixListener::bind(&path).unwrap()
        };
        let d = delays.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let delays = d.clone();
                tokio::spawn(async move {
                    let Ok(engine) = tokio::net::UnixStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut er, mut ew) = engine.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if let Some(wait) = delay_for(&buf[..n], &delays) {
                                tokio::time::sleep(wait).await;
                            }
                            if ew.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = ew.shutdown().await;
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut er, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Self {
            path,
            delays,
            _rt: rt,
        }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Hold back requests for `path` (e.g. `/info`) by `by`; replaces earlier delays.
    fn delay(&self, path: &str, by: Duration) {
        *self.delays.lock().unwrap() = vec![(path.to_owned(), by)];
    }

    fn no_delays(&self) {
        self.delays.lock().unwrap().clear();
    }
}

/// The delay for a chunk that starts a request for a delayed path (`GET /v1.41/info HTTP/1.1`).
fn delay_for(chunk: &[u8], delays: &Delays) -> Option<Duration> {
    let head = std::str::from_utf8(&chunk[..chunk.len().min(512)]).ok()?;
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    if !matches!(method, "GET" | "POST" | "DELETE" | "HEAD" | "PUT") {
        return None;
    }
    let target = parts.next()?;
    let path = target.split('?').next()?;
    // Strip an API version prefix: `/v1.41/info` → `/info`.
    let path = match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            &rest[rest.find('/').unwrap_or(rest.len())..]
        }
        _ => path,
    };
    delays
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, d)| *d)
}

/// `kubetest` pointed at the proxy (in the variable of this engine) only.
fn through(engine: &TestEngine, proxy: &SlowProxy, dir: &Path) -> std::process::Command {
    let mut c = engine.kubetest(dir);
    match engine.name {
        "podman" => c.env("CONTAINER_HOST", proxy.url()),
        _ => c.env("DOCKER_HOST", proxy.url()),
    };
    c
}

fn config(engine: &TestEngine, env: &str, image: &str, timeout: &str) -> String {
    format!(
        "name: {env}\nengine: {{ kind: {}, timeout: {timeout} }}\ncluster: {{ provider: none }}\n\
         images:\n  - {{ name: {image}, context: bb }}\ndependencies:\n  web:\n    image: {image}\n    \
         command: [/bin/busybox, httpd, -f, -p, \"8080\"]\n    health: {{ tcp: 8080, interval: 100ms, timeout: 30s }}\n",
        engine.name
    )
}

fn warnings(r: &Run) -> Vec<String> {
    r.events
        .iter()
        .filter(|e| e["event"] == "warning")
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

fn phase_ms(r: &Run, phase: &str) -> u64 {
    r.events
        .iter()
        .find(|e| e["event"] == "phase_finished" && e["phase"] == phase)
        .and_then(|e| e["elapsed_ms"].as_u64())
        .unwrap_or(0)
}

/// A directory with a busybox context `bb`, the slow proxy in front of `engine`, and the
/// environment and image names of one test (`tag` differs per test: they run at once).
fn behind_a_proxy(
    engine: &TestEngine,
    tag: &str,
) -> (tempfile::TempDir, SlowProxy, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let proxy = SlowProxy::start(tmp.path(), &engine.url);
    let env = unique(&format!("{tag}-{}", engine.name));
    let image = format!(
        "localhost/{}:1",
        unique(&format!("kt-{tag}-bb-{}", engine.name))
    );
    busybox_context(&tmp.path().join("bb"), "busy", None);
    (tmp, proxy, env, image)
}

#[test]
fn a_slow_info_is_waited_for_and_a_slow_down_fails_saying_busy() {
    for engine in engines() {
        let (tmp, proxy, env, image) = behind_a_proxy(&engine, "busy");
        let yaml = tmp.path().join("kubetest.yaml");

        // /info answers after 4 s (KUBETEST_TEST_BUSY_INFO_S overrides it; the limit is
        // 2.5 times that): preflight waits, says so, and deps run.
        let slow: u64 = std::env::var("KUBETEST_TEST_BUSY_INFO_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4);
        std::fs::write(
            &yaml,
            config(&engine, &env, &image, &format!("{}s", slow * 5 / 2)),
        )
        .unwrap();
        proxy.delay("/info", Duration::from_secs(slow));
        let up = Run::new(through(&engine, &proxy, tmp.path()).args(["up", "--output", "json"]));
        assert_eq!(up.code, 0, "{}: {}", engine.name, up.stderr);
        let busy: Vec<String> = warnings(&up)
            .into_iter()
            .filter(|w| w.starts_with("engine busy: GET /info "))
            .collect();
        assert!(
            busy.iter()
                .any(|w| w.starts_with("engine busy: GET /info 2 s so far")),
            "{}: progress shown: {busy:?}",
            engine.name
        );
        assert!(phase_ms(&up, "preflight") >= slow * 1000, "{}", engine.name);
        assert_eq!(
            up.phase_outcome("deps").as_deref(),
            Some("ok"),
            "{}",
            engine.name
        );
        eprintln!(
            "{}: /info delayed {slow} s (limit {} s): up ok, preflight {} ms, warned: {:?}",
            engine.name,
            slow * 5 / 2,
            phase_ms(&up, "preflight"),
            busy
        );

        // `down` on an engine whose container list lags past the limit: busy, exit 3.
        std::fs::write(&yaml, config(&engine, &env, &image, "3s")).unwrap();
        proxy.delay("/containers/json", Duration::from_secs(60));
        let started = Instant::now();
        let down =
            Run::new(through(&engine, &proxy, tmp.path()).args(["down", "--output", "plain"]));
        let took = started.elapsed();
        assert_eq!(
            down.code, 3,
            "{}: {}\n{}",
            engine.name, down.stdout, down.stderr
        );
        assert!(
            down.stderr.contains(
                "is busy: it answers GET /_ping, but GET /containers/json got no answer in 3 s"
            ),
            "{}: {}",
            engine.name,
            down.stderr
        );
        assert!(!down.stderr.contains("start an engine"), "{}", down.stderr);
        assert!(!down.stdout.contains("teardown skipped"), "{}", down.stdout);
        assert!(
            took < Duration::from_secs(20),
            "{}: bounded: {took:?}",
            engine.name
        );
        eprintln!(
            "{}: /containers/json delayed 60 s (limit 3 s): down exit 3 after {took:?}: {}",
            engine.name,
            down.stderr
                .lines()
                .find(|l| l.contains("busy"))
                .unwrap_or("")
        );

        // Unloaded again: down removes everything.
        proxy.no_delays();
        let down = Run::new(
            through(&engine, &proxy, tmp.path()).args(["down", "--images", "--output", "json"]),
        );
        assert_eq!(down.code, 0, "{}: {}", engine.name, down.stderr);
    }
}

#[test]
fn an_info_that_never_answers_is_busy_not_dead() {
    for engine in engines() {
        let (tmp, proxy, env, image) = behind_a_proxy(&engine, "never");
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            config(&engine, &env, &image, "3s"),
        )
        .unwrap();
        proxy.delay("/info", Duration::from_secs(600));
        let started = Instant::now();
        let up = Run::new(through(&engine, &proxy, tmp.path()).args(["up", "--output", "plain"]));
        let took = started.elapsed();
        assert_eq!(up.code, 3, "{}: {}", engine.name, up.stderr);
        let want = format!(
            "the engine at {} ({}) is busy: it answers GET /_ping, but GET /info got no answer in 3 s",
            proxy.url(),
            if engine.name == "podman" { "CONTAINER_HOST" } else { "DOCKER_HOST" }
        );
        assert!(up.stderr.contains(&want), "{}: {}", engine.name, up.stderr);
        assert!(!up.stderr.contains("start an engine"), "{}", up.stderr);
        assert!(
            up.stdout.contains("engine busy: GET /info 2 s so far"),
            "{}: progress shown: {}",
            engine.name,
            up.stdout
        );
        assert!(took < Duration::from_secs(15), "{took:?}");
        eprintln!(
            "{}: /info never answers (limit 3 s): up exit 3 after {took:?}: {}",
            engine.name,
            up.stderr.lines().find(|l| l.contains("busy")).unwrap_or("")
        );
        // As in the report: `down` on that engine with nothing recorded yet. It must not say
        // "nothing to remove" and exit 0: the engine runs and may hold the containers.
        let started = Instant::now();
        let down =
            Run::new(through(&engine, &proxy, tmp.path()).args(["down", "--output", "plain"]));
        let took = started.elapsed();
        assert_eq!(
            down.code, 3,
            "{}: {}\n{}",
            engine.name, down.stdout, down.stderr
        );
        assert!(
            down.stderr.contains("is busy") && down.stderr.contains("GET /info"),
            "{}",
            down.stderr
        );
        assert!(!down.stdout.contains("teardown skipped"), "{}", down.stdout);
        eprintln!(
            "{}: down with nothing recorded, /info never answers: exit 3 after {took:?}",
            engine.name
        );
    }
}

/// A named endpoint that does not answer is the error; kubetest never uses another engine,
/// although rootful Podman answers on this machine.
#[test]
fn a_dead_named_endpoint_is_exit_3_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    busybox_context(&tmp.path().join("bb"), "dead", None);
    let dead = tmp.path().join("dead.sock");
    // A socket file with nothing listening: bind, then drop the listener.
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let missing = tmp.path().join("missing.sock");
    let cases = [
        ("CONTAINER_HOST", &dead, "auto", "connection refused"),
        ("CONTAINER_HOST", &missing, "podman", "no such socket file"),
        ("DOCKER_HOST", &dead, "docker", "connection refused"),
        ("DOCKER_HOST", &missing, "auto", "no such socket file"),
    ];
    for (var, sock, kind, why) in cases {
        std::fs::write(
            tmp.path().join("kubetest.yaml"),
            format!(
                "name: it-dead\nengine: {kind}\ncluster: {{ provider: none }}\nimages:\n  - {{ name: localhost/kt-it-dead:1, context: bb }}\n"
            ),
        )
        .unwrap();
        let url = format!("unix://{}", sock.display());
        let started = Instant::now();
        let r = Run::new(
            kubetest()
                .current_dir(tmp.path())
                .env_remove("CONTAINER_HOST")
                .env_remove("DOCKER_HOST")
                .env(var, &url)
                .args(["up", "--output", "plain"]),
        );
        let took = started.elapsed();
        assert_eq!(r.code, 3, "{var} {kind}: {}", r.stderr);
        let want = format!("the engine endpoint {url} (from {var}) does not answer: {why}");
        assert!(r.stderr.contains(&want), "{var} {kind}: {}", r.stderr);
        assert!(r.stderr.contains("tries no other"), "{}", r.stderr);
        assert!(
            !r.stdout.contains("engine: "),
            "no other engine was used: {}",
            r.stdout
        );
        eprintln!(
            "{var}={} (engine: {kind}): exit 3 after {took:?}: {}",
            sock.display(),
            r.stderr.lines().next().unwrap_or("")
        );
    }
    // `--engine` wins over a variable that points at a live engine, and is not replaced by it.
    if let Some(live) = engines().into_iter().next() {
        let url = format!("unix://{}", dead.display());
        let r = Run::new(
            live.kubetest(tmp.path())
                .args(["--engine", &url, "up", "--output", "plain"]),
        );
        assert_eq!(r.code, 3, "{}", r.stderr);
        let want = format!(
            "the engine endpoint {url} (from --engine) does not answer: connection refused"
        );
        assert!(r.stderr.contains(&want), "{}", r.stderr);
    }
}

/// `doctor` judges as `up` does: busy, with the slow call, and no advice to start an engine.
#[test]
fn doctor_says_busy_not_stopped() {
    let Some(engine) = engines().into_iter().next() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = SlowProxy::start(tmp.path(), &engine.url);
    proxy.delay("/info", Duration::from_secs(600));
    let started = Instant::now();
    let r = Run::new(
        through(&engine, &proxy, tmp.path())
            .env_remove(if engine.name == "podman" {
                "DOCKER_HOST"
            } else {
                "CONTAINER_HOST"
            })
            .args(["doctor", "--json", "--timeout", "4s"]),
    );
    let took = started.elapsed();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("doctor --json");
    let check = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "engine-endpoints")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "fail", "{check:#}");
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.contains("is busy, not stopped")
            && summary.contains("GET /info got no answer in 3 s"),
        "{check:#}"
    );
    let fixes = check["fix"].to_string();
    assert!(!fixes.contains("enable --now"), "{fixes}");
    eprintln!(
        "{}: doctor on a busy engine ({took:?}): {summary}",
        engine.name
    );
}

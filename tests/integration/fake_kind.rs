//! Drives `tests/fake-kind/kind` (a fake kind CLI) and a minimal Kubernetes API double that
//! answers `GET /version`, for the cluster tests.

use crate::support::root;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The fake kind executable.
pub fn binary() -> PathBuf {
    root().join("tests/fake-kind/kind")
}

/// The fake's state: clusters, call log, failure injection.
pub struct FakeKind {
    pub dir: tempfile::TempDir,
    pub api: ApiServer,
}

impl FakeKind {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            api: ApiServer::start(),
        }
    }

    /// Environment for any process that runs the fake (kubetest, or the fake directly).
    pub fn apply(&self, c: &mut Command) {
        c.env("FAKE_KIND_DIR", self.dir.path())
            .env("FAKE_KIND_SERVER", self.api.url())
            .env_remove("KIND_EXPERIMENTAL_PROVIDER")
            .env_remove("KUBECONFIG");
    }

    /// Run the fake directly (to set up a cluster kubetest did not make).
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(binary());
        self.apply(&mut c);
        c.env("HOME", self.dir.path()).args(args).output().unwrap()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The argv of every call, joined with spaces.
    pub fn argvs(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                c["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    pub fn forget_calls(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("calls.jsonl"));
    }

    pub fn has_cluster(&self, name: &str) -> bool {
        self.dir
            .path()
            .join("clusters")
            .join(format!("{name}.json"))
            .exists()
    }

    /// The next `n` creates fail with `stderr`; `leave_nodes` keeps the half-made cluster.
    pub fn fail_creates(&self, n: u32, stderr: &str, leave_nodes: bool) {
        std::fs::write(
            self.dir.path().join("fail-create"),
            serde_json::json!({"remaining": n, "stderr": stderr, "leave_nodes": leave_nodes})
                .to_string(),
        )
        .unwrap();
    }
}

/// A Kubernetes API double that only answers `GET /version` (and counts the requests).
pub struct ApiServer {
    port: u16,
    pub hits: Arc<AtomicUsize>,
}

impl ApiServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let (status, body) = if request_line.starts_with("GET /version ") {
                    counter.fetch_add(1, Ordering::SeqCst);
                    (
                        "200 OK",
                        r#"{"major":"1","minor":"30","gitVersion":"v1.30.0","gitCommit":"7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a","gitTreeState":"clean","buildDate":"2024-04-17T17:27:03Z","goVersion":"go1.22.2","compiler":"gc","platform":"linux/amd64"}"#,
                    )
                } else {
                    (
                        "404 Not Found",
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, hits }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Create a container labelled as kind labels its node containers (`io.x-k8s.kind.cluster`
/// and `io.x-k8s.kind.role`, kind's pkg/cluster/constants) on a real engine, running `cmd`:
/// what `kind create cluster` leaves behind, for tests that read or remove such nodes.
pub fn create_node_container(
    rt: &tokio::runtime::Runtime,
    docker: &bollard::Docker,
    (node, cluster, role): (&str, &str, &str),
    image: &str,
    cmd: Vec<String>,
) -> Result<(), bollard::errors::Error> {
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(cmd),
        labels: Some(
            [
                ("io.x-k8s.kind.cluster".to_owned(), cluster.to_owned()),
                ("io.x-k8s.kind.role".to_owned(), role.to_owned()),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let opts = bollard::query_parameters::CreateContainerOptions {
        name: Some(node.to_owned()),
        ..Default::default()
    };
    rt.block_on(docker.create_container(Some(opts), body))
        .map(|_| ())
}

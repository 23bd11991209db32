//! Drives `tests/fake-kind/kind` (a fake kind CLI) and a minimal Kubernetes API double that
//! answers `GET /version`, for the cluster tests.

use crate::support::root;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
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
///
/// Like kube-apiserver it serves every connection at once: each accepted connection gets its
/// own thread, so a client that connects and is slow to send (or never sends) its request
/// cannot hold up the others, and nothing a connection does can end the accept loop (the
/// listener lives as long as the test process, so its port never starts refusing).
pub struct ApiServer {
    port: u16,
    pub hits: Arc<AtomicUsize>,
}

const VERSION_BODY: &str = r#"{"major":"1","minor":"30","gitVersion":"v1.30.0","gitCommit":"7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a","gitTreeState":"clean","buildDate":"2024-04-17T17:27:03Z","goVersion":"go1.22.2","compiler":"gc","platform":"linux/amd64"}"#;
const NOT_FOUND_BODY: &str =
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;

impl ApiServer {
    fn start() -> Self {
        let listener = crate::apidouble::loopback::listener();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || serve_connection(stream, &counter));
            }
        });
        Self { port, hits }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One connection: read the request line and headers, answer, close (`Connection: close`,
/// which HTTP/1.1 lets a server send; the client opens a new connection for its next request).
fn serve_connection(stream: TcpStream, counter: &AtomicUsize) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers, up to the empty line that ends them.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let (status, body) = if request_line.starts_with("GET /version ") {
        counter.fetch_add(1, Ordering::SeqCst);
        ("200 OK", VERSION_BODY)
    } else {
        ("404 Not Found", NOT_FOUND_BODY)
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
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

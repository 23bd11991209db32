//! A real distribution registry for a test: Debian's `docker-registry` (installed by
//! .ci/registry.sh) started on a free 127.0.0.1 port with a config in a tempdir, plain HTTP or
//! TLS (a test CA and a server certificate made with the openssl CLI) + htpasswd basic auth
//! (bcrypt, `htpasswd -B`, the only hash the registry accepts). It is killed on drop.
//!
//! Engine trust, as the engines really decide it (docs/engine-facts.md): Docker treats
//! 127.0.0.0/8 as an insecure registry (plain HTTP allowed, certificates not verified);
//! Podman verifies unless asked `tlsVerify=false` and reads
//! `/etc/containers/certs.d/<host:port>/ca.crt` on every push. The TLS registry writes its CA
//! there and into `/etc/docker/certs.d/<host:port>/ca.crt` for its own port only, and removes
//! both on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engines' per-registry trust directories.
const CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// (user, password) when it requires basic auth.
    pub login: Option<(String, String)>,
    /// The CA that signed its certificate, when it speaks TLS.
    pub ca: Option<PathBuf>,
    trusted: Vec<PathBuf>,
}

/// Whether the registry binary is here; with `KUBETEST_REQUIRE_ENGINES=1` it must be.
pub fn available() -> bool {
    let found = Path::new("/usr/bin/docker-registry").exists();
    if !found {
        if std::env::var("KUBETEST_REQUIRE_ENGINES").is_ok_and(|v| v == "1") {
            panic!("KUBETEST_REQUIRE_ENGINES=1 but /usr/bin/docker-registry is missing; run .ci/registry.sh");
        }
        eprintln!("skipping: /usr/bin/docker-registry is missing (run .ci/registry.sh)");
    }
    found
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::start(None)
    }

    /// TLS with a test CA the engines are told to trust, and basic auth for `user`.
    pub fn tls_auth(user: &str, password: &str) -> Self {
        Self::start(Some((user, password)))
    }

    fn start(secure: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut extra = String::new();
        let mut ca = None;
        if let Some((user, password)) = secure {
            make_certificates(d);
            let htpasswd = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils, .ci/registry.sh)");
            assert!(htpasswd.status.success());
            std::fs::write(d.join("htpasswd"), htpasswd.stdout).unwrap();
            extra = format!(
                "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\nauth:\n  htpasswd:\n    realm: kubetest\n    path: {0}/htpasswd\n",
                d.display()
            );
            ca = Some(d.join("ca.crt"));
        }
        // A free port can be taken between the probe and the registry's bind: try again.
        for _ in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            std::fs::write(
                d.join("config.yml"),
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{extra}",
                    d.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(d.join("registry.log")).unwrap();
            let mut child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(d.join("config.yml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut up = false;
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(&host).is_ok() {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !up {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let mut trusted = Vec::new();
            if let Some(ca) = &ca {
                for base in CERTS_DIRS {
                    let t = Path::new(base).join(&host);
                    std::fs::create_dir_all(&t).unwrap_or_else(|e| {
                        panic!("cannot write the engines' trust directory {} ({e}); the registry tests run as root", t.display())
                    });
                    std::fs::copy(ca, t.join("ca.crt")).unwrap();
                    trusted.push(t);
                }
            }
            let r = Self {
                child,
                dir,
                host,
                login: secure.map(|(u, p)| (u.to_owned(), p.to_owned())),
                ca,
                trusted,
            };
            r.wait_for_v2();
            return r;
        }
        panic!(
            "docker-registry did not start; its log:\n{}",
            std::fs::read_to_string(d.join("registry.log")).unwrap_or_default()
        );
    }

    /// Poll `GET /v2/` (on a thread of its own: callers may be inside a runtime).
    fn wait_for_v2(&self) {
        let status = std::thread::scope(|s| s.spawn(|| self.poll_v2()).join().unwrap());
        assert!(status == 200 || status == 401, "GET /v2/ answered {status}");
    }

    fn poll_v2(&self) -> u16 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut last = 0;
            for _ in 0..100 {
                match self.client().get(self.url("/v2/")).send().await {
                    Ok(r) => {
                        last = r.status().as_u16();
                        if last == 200 || last == 401 {
                            return last;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            last
        })
    }

    /// `http(s)://host` + `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.host)
    }

    /// A client that trusts the test CA.
    pub fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap();
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let r = self.client().get(self.url(path));
        match &self.login {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// `GET /v2/_catalog`: the repositories it holds.
    pub async fn catalog(&self) -> Vec<String> {
        let r = self.get("/v2/_catalog").send().await.unwrap();
        assert_eq!(r.status(), 200, "catalog");
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }

    /// The digest of `repo:reference`'s manifest (`Docker-Content-Digest` of a HEAD), asked
    /// for in the formats the engines push (Docker schema 2, OCI).
    pub async fn manifest_digest(&self, repo: &str, reference: &str) -> Option<String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let mut r = self.client().head(self.url(&path)).header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        );
        if let Some((u, p)) = &self.login {
            r = r.basic_auth(u, Some(p));
        }
        let r = r.send().await.unwrap();
        if r.status() == 404 {
            return None;
        }
        assert_eq!(r.status(), 200, "HEAD {path}");
        r.headers()
            .get("Docker-Content-Digest")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Status of an unauthenticated `GET /v2/`.
    pub async fn anonymous_status(&self) -> u16 {
        self.client()
            .get(self.url("/v2/"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for t in &self.trusted {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (webpki refuses a CA
/// certificate as the server's own, so the two are separate).
fn make_certificates(d: &Path) {
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(key)
        .args(["-days", "2", "-subj", "/CN=kubetest test CA"])
        .arg("-keyout")
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(d.join("ca.crt")));
    run(Command::new("openssl")
        .arg("req")
        .args(key)
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(d.join("server.key"))
        .arg("-out")
        .arg(d.join("server.csr")));
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(d.join("server.csr"))
        .arg("-CA")
        .arg(d.join("ca.crt"))
        .arg("-CAkey")
        .arg(d.join("ca.key"))
        .arg("-extfile")
        .arg(d.join("ext.cnf"))
        .arg("-out")
        .arg(d.join("server.crt")));
}

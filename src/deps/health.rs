//! Health probes of a dependency: TCP connect, HTTP GET, a command inside the container, a
//! line in its output. One call is one attempt; the phase decides when to try again.

use crate::config::HealthSpec;
use crate::engine::containers;
use bollard::Docker;
use regex::Regex;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most of an HTTP answer that is read.
const MAX_HTTP_BYTES: u64 = 1024 * 1024;
/// How long a TCP check waits to see whether the other side closes at once.
const TCP_SETTLE: Duration = Duration::from_millis(100);
/// Log lines searched by a `log:` check.
const LOG_LINES: usize = 100_000;

/// One way of asking "is it up?", resolved against the container's ports and address.
#[derive(Debug, Clone)]
pub enum Probe {
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
        status: u16,
        body_contains: Option<String>,
    },
    Exec(Vec<String>),
    Log(Regex),
}

impl Probe {
    /// `tcp 127.0.0.1:15432`, `GET http://127.0.0.1:8080/healthz`, `exec pg_isready`, `log /ready/`.
    pub fn describe(&self) -> String {
        match self {
            Probe::Tcp { host, port } => format!("tcp {host}:{port}"),
            Probe::Http {
                host, port, path, ..
            } => format!("GET http://{host}:{port}{path}"),
            Probe::Exec(cmd) => format!("exec {}", cmd.join(" ")),
            Probe::Log(re) => format!("log /{}/", re.as_str()),
        }
    }
}

/// Where the host reaches container port `port`: its published host port, else the container's
/// own address on the network (reachable from the host on Linux only).
fn target(
    port: u16,
    ports: &BTreeMap<String, u16>,
    address: Option<&str>,
) -> Result<(String, u16), String> {
    if let Some(h) = ports.get(&format!("{port}/tcp")) {
        return Ok(("127.0.0.1".to_owned(), *h));
    }
    match address {
        Some(a) => Ok((a.to_owned(), port)),
        None => Err(format!(
            "port {port} is not published (add it under `ports:`) and the container has no network address"
        )),
    }
}

/// The probe a health spec asks for, or `None` when it names none (then running is enough).
pub fn probe_for(
    spec: &HealthSpec,
    ports: &BTreeMap<String, u16>,
    address: Option<&str>,
) -> Result<Option<Probe>, String> {
    if let Some(cmd) = &spec.exec {
        return Ok(Some(Probe::Exec(cmd.clone())));
    }
    if let Some(port) = spec.tcp {
        let (host, port) = target(port, ports, address)?;
        return Ok(Some(Probe::Tcp { host, port }));
    }
    if let Some(http) = &spec.http {
        let (host, port, path) = match (&http.url, http.port) {
            (Some(url), _) => parse_url(url)?,
            (None, Some(p)) => {
                let (host, port) = target(p, ports, address)?;
                (host, port, http.path.clone())
            }
            (None, None) => return Err("an http check needs `url` or `port`".to_owned()),
        };
        return Ok(Some(Probe::Http {
            host,
            port,
            path,
            status: http.status,
            body_contains: http.body_contains.clone(),
        }));
    }
    if let Some(re) = &spec.log {
        let re = Regex::new(re).map_err(|e| format!("invalid `log` regex `{re}`: {e}"))?;
        return Ok(Some(Probe::Log(re)));
    }
    Ok(None)
}

/// One attempt: `Ok(what it saw)` when healthy, `Err(what it saw)` when not (yet).
pub async fn check(
    docker: &Docker,
    container: &str,
    probe: &Probe,
    limit: Duration,
) -> Result<String, String> {
    let attempt = async {
        match probe {
            Probe::Tcp { host, port } => tcp(host, *port).await,
            Probe::Http {
                host,
                port,
                path,
                status,
                body_contains,
            } => {
                let (got, body) = http_get(host, *port, path).await?;
                judge_http(got, &body, *status, body_contains.as_deref())
            }
            Probe::Exec(cmd) => match containers::exec(docker, container, cmd).await {
                Ok(out) if out.code == 0 => Ok(last_line(&out.combined())),
                Ok(out) => Err(format!(
                    "exit code {}: {}",
                    out.code,
                    last_line(&out.combined())
                )),
                Err(e) => Err(format!("{e:#}")),
            },
            Probe::Log(re) => {
                let lines = containers::last_logs(docker, container, LOG_LINES).await;
                lines
                    .iter()
                    .find(|l| re.is_match(l))
                    .map(|l| format!("log line: {l}"))
                    .ok_or_else(|| format!("no log line matches /{}/ yet", re.as_str()))
            }
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        )),
    }
}

/// Connected, and the connection stays open (or the server speaks first). A port proxy
/// (docker-proxy, rootlessport, gvproxy) accepts even when nothing listens behind it, then
/// closes at once: that is not healthy.
async fn tcp(host: &str, port: u16) -> Result<String, String> {
    let mut s = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let mut first = [0u8; 1];
    match tokio::time::timeout(TCP_SETTLE, s.read(&mut first)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Err(format!(
            "{host}:{port} accepted and closed at once (a port proxy answered; nothing listens behind it yet)"
        )),
        Ok(Ok(_)) | Err(_) => Ok(format!("connected to {host}:{port}")),
    }
}

fn last_line(out: &str) -> String {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// `http://host[:port][/path]` → (host, port, path). Only plain HTTP: health endpoints of
/// local containers.
pub fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("health url `{url}` must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("health url `{url}`: bad port `{p}`"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("health url `{url}` has no host"));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

async fn http_get(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: kubetest\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request to {host}:{port}: {e}"))?;
    let mut buf = Vec::new();
    (&mut s)
        .take(MAX_HTTP_BYTES)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("reading the answer of {host}:{port}: {e}"))?;
    parse_response(&buf)
}

/// Status code and body of a raw HTTP/1.x response.
pub fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let status_line = text.lines().next().unwrap_or("");
    let code = status_line
        .split_whitespace()
        .nth(1)
        .filter(|_| status_line.starts_with("HTTP/"))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            if text.is_empty() {
                "the connection closed without an answer".to_owned()
            } else {
                format!(
                    "not an HTTP answer: {}",
                    status_line.chars().take(80).collect::<String>()
                )
            }
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Healthy when the status matches and the body contains what it must.
pub fn judge_http(
    got: u16,
    body: &str,
    want: u16,
    body_contains: Option<&str>,
) -> Result<String, String> {
    if got != want {
        return Err(format!("HTTP {got} (want {want}): {}", last_line(body)));
    }
    match body_contains {
        Some(needle) if !body.contains(needle) => Err(format!(
            "HTTP {got}, but the body does not contain `{needle}`: {}",
            last_line(body)
        )),
        _ => Ok(format!("HTTP {got}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(yaml: &str) -> HealthSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn probes_use_the_published_port_else_the_container_address() {
        let ports = BTreeMap::from([("8080/tcp".to_owned(), 41234u16)]);
        let p = probe_for(&health("tcp: 8080"), &ports, Some("10.88.0.4"))
            .unwrap()
            .unwrap();
        assert_eq!(p.describe(), "tcp 127.0.0.1:41234");
        let p = probe_for(&health("tcp: 6379"), &ports, Some("10.88.0.4"))
            .unwrap()
            .unwrap();
        assert_eq!(p.describe(), "tcp 10.88.0.4:6379");
        assert!(probe_for(&health("tcp: 6379"), &ports, None)
            .unwrap_err()
            .contains("not published"));
        let p = probe_for(&health("http: {port: 8080, path: /healthz}"), &ports, None)
            .unwrap()
            .unwrap();
        assert_eq!(p.describe(), "GET http://127.0.0.1:41234/healthz");
        let p = probe_for(&health("exec: [pg_isready, -h, 127.0.0.1]"), &ports, None)
            .unwrap()
            .unwrap();
        assert_eq!(p.describe(), "exec pg_isready -h 127.0.0.1");
        assert!(probe_for(&health("interval: 1s"), &ports, None)
            .unwrap()
            .is_none());
        assert!(probe_for(&health("log: '(unclosed'"), &ports, None)
            .unwrap_err()
            .contains("invalid `log` regex"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://localhost:8080/healthz?x=1").unwrap(),
            ("localhost".into(), 8080, "/healthz?x=1".into())
        );
        assert_eq!(
            parse_url("http://example").unwrap(),
            ("example".into(), 80, "/".into())
        );
        assert!(parse_url("https://x/").unwrap_err().contains("http://"));
        assert!(parse_url("http://x:port/")
            .unwrap_err()
            .contains("bad port"));
    }

    #[test]
    fn http_answers() {
        // busybox httpd's answer, trimmed.
        let raw = b"HTTP/1.0 200 OK\r\nContent-type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
        let (code, body) = parse_response(raw).unwrap();
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        assert_eq!(
            judge_http(code, &body, 200, Some("ok")).unwrap(),
            "HTTP 200"
        );
        assert!(judge_http(code, &body, 200, Some("ready"))
            .unwrap_err()
            .contains("does not contain `ready`"));
        assert_eq!(
            judge_http(404, "<HTML>404 Not Found</HTML>", 200, None).unwrap_err(),
            "HTTP 404 (want 200): <HTML>404 Not Found</HTML>"
        );
        assert_eq!(
            parse_response(b"").unwrap_err(),
            "the connection closed without an answer"
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n")
            .unwrap_err()
            .starts_with("not an HTTP answer"));
    }

    #[tokio::test]
    async fn tcp_and_http_against_a_local_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\nstarting\n")
                    .await;
            }
        });
        // Never asked: tcp and http probes do not use the engine.
        let docker =
            Docker::connect_with_http("http://127.0.0.1:9", 1, bollard::API_DEFAULT_VERSION)
                .unwrap();
        let limit = Duration::from_secs(5);
        let tcp = Probe::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(check(&docker, "x", &tcp, limit).await.is_ok());
        // Accept-and-close, like docker-proxy with nothing behind it.
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = proxy.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = proxy.accept().await {
                drop(s);
            }
        });
        let closed = Probe::Tcp {
            host: "127.0.0.1".into(),
            port: proxy_port,
        };
        assert!(check(&docker, "x", &closed, limit)
            .await
            .unwrap_err()
            .contains("accepted and closed at once"));
        let http = Probe::Http {
            host: "127.0.0.1".into(),
            port,
            path: "/".into(),
            status: 200,
            body_contains: None,
        };
        assert_eq!(
            check(&docker, "x", &http, limit).await.unwrap_err(),
            "HTTP 503 (want 200): starting"
        );
    }
}

//! Plain GET requests to the engine API: raw JSON for doctor, headers for `/_ping`.
//
// bollard 0.21 models `/system/df` with the fields of API 1.52 (`ImageUsage`, …); Docker
// 20.10 and Podman 4.3 answer with the older `LayersSize`/`Images`/`Containers` shape,
// which bollard's type drops. The checks therefore read the engine's JSON as it is, over
// one HTTP/1.0 request per call (the server closes the connection after the body).
// bollard's `ping()` returns only the body; engine discovery needs the headers
// (`Server`, `Api-Version`, `Libpod-Api-Version`), which identify the engine in a millisecond.

use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The API version every supported engine answers (Docker 20.10, Podman 4.x compat API).
const API: &str = "/v1.41";

/// `GET <path>` on the engine at `url` (`unix://…` or `tcp://…`): HTTP status and JSON body.
pub async fn get(url: &str, path: &str, limit: Duration) -> Result<(u16, Value), String> {
    let fut = async {
        let raw = if let Some(sock) = url.strip_prefix("unix://") {
            let s = tokio::net::UnixStream::connect(sock)
                .await
                .map_err(|e| format!("cannot connect to {sock}: {e}"))?;
            exchange(s, &format!("{API}{path}")).await?
        } else if let Some(addr) = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
        {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            exchange(s, &format!("{API}{path}")).await?
        } else {
            return Err(format!("unsupported endpoint {url}"));
        };
        parse_response(&raw)
    };
    tokio::time::timeout(limit, fut).await.map_err(|_| {
        format!(
            "GET {path} on {url} got no answer within {}",
            humantime::format_duration(limit)
        )
    })?
}

/// Send `GET <path>` (the whole path, version prefix included) and read the answer to its end.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
) -> Result<Vec<u8>, String> {
    let req = format!("GET {path} HTTP/1.0\r\nHost: engine\r\nAccept: application/json\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send GET {path}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("cannot read the answer to GET {path}: {e}"))?;
    Ok(buf)
}

/// An HTTP/1.x response: status, headers (names as sent), body (chunked bodies decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (names compare case-insensitively), trimmed; empty
    /// values count as absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Split a raw HTTP/1.x answer into status, headers and body.
pub fn parse_http(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the engine's answer has no HTTP header")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let status: u16 = first
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {first}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

/// An HTTP/1.x response → status and JSON body (chunked bodies are decoded).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Value), String> {
    let Response { status, body, .. } = parse_http(raw)?;
    let json = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| format!("the engine's answer is not JSON: {e}"))?
    };
    Ok((status, json))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

/// Percent-encode a query value (filters are JSON).
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_responses() {
        let plain = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\n";
        assert_eq!(
            parse_response(plain).unwrap(),
            (200, serde_json::json!({"a": 1}))
        );
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n 2}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (404, serde_json::json!({"a": 2}))
        );
        assert!(parse_response(b"garbage").is_err());
        let ping = parse_http(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nBuilder-Version: \r\nserver: Libpod/4.3.1 (linux)\r\n\r\nOK",
        )
        .unwrap();
        assert_eq!(ping.header("Server"), Some("Libpod/4.3.1 (linux)"));
        assert_eq!(ping.header("api-version"), Some("1.41"));
        assert_eq!(ping.header("Builder-Version"), None, "empty means absent");
        assert_eq!(ping.body, b"OK");
        assert_eq!(
            query_escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }
}

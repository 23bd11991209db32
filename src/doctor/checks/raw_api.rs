//! Plain GET requests to the engine API, answered as raw JSON.
//
// bollard 0.21 models `/system/df` with the fields of API 1.52 (`ImageUsage`, …); Docker
// 20.10 and Podman 4.3 answer with the older `LayersSize`/`Images`/`Containers` shape,
// which bollard's type drops. The checks therefore read the engine's JSON as it is, over
// one HTTP/1.0 request per call (the server closes the connection after the body).

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
            exchange(s, path).await?
        } else if let Some(addr) = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
        {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            exchange(s, path).await?
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

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
) -> Result<Vec<u8>, String> {
    let req =
        format!("GET {API}{path} HTTP/1.0\r\nHost: engine\r\nAccept: application/json\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send GET {path}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("cannot read the answer to GET {path}: {e}"))?;
    Ok(buf)
}

/// An HTTP/1.x response → status and JSON body (chunked bodies are decoded).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Value), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the engine's answer has no HTTP header")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP status line: {}",
                head.lines().next().unwrap_or("")
            )
        })?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
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
        assert_eq!(
            query_escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }
}

//! `tcp:` connect to a host port, send a line, read the reply: checks a dependency's
//! published port (Redis `PING`, an SMTP banner) without `nc` on the host.

use super::{excerpt, StepFailure, StepOutput};
use crate::scenario::model::{PortText, TcpStep};
use crate::scenario::template::{render, Vars};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most bytes of the reply kept (and matched).
const MAX_REPLY: usize = 64 * 1024;

/// One attempt; the runner's per-attempt timeout bounds it (a silent peer is cut off there,
/// and the failure says what was read so far only when the peer closes first).
pub async fn run_tcp(step: &TcpStep, vars: &Vars) -> Result<StepOutput, StepFailure> {
    let fail = |e: crate::scenario::template::TemplateError| StepFailure::new(e.to_string());
    let host = render(&step.host, vars).map_err(fail)?;
    let port: u16 = match &step.port {
        PortText::Number(n) => *n,
        PortText::Text(t) => {
            let text = render(t, vars).map_err(fail)?;
            text.trim().parse().map_err(|_| {
                StepFailure::new(format!(
                    "tcp.port: `{text}` (from `{t}`) is not a port number"
                ))
            })?
        }
    };
    let addr = format!("{host}:{port}");
    let mut conn = TcpStream::connect(&addr)
        .await
        .map_err(|e| StepFailure::new(format!("cannot connect to {addr}: {e}")))?;
    if let Some(send) = &step.send {
        let text = render(send, vars).map_err(fail)?;
        conn.write_all(text.as_bytes())
            .await
            .map_err(|e| StepFailure::new(format!("cannot send to {addr}: {e}")))?;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let got = String::from_utf8_lossy(&reply).into_owned();
        let done = match &step.expect.contains {
            Some(want) => got.contains(want.as_str()),
            None => step.send.is_none() || !reply.is_empty(),
        };
        if done {
            return Ok(StepOutput {
                value: serde_json::json!({ "reply": got }),
                summary: format!("{addr} replied {}", excerpt(got.trim_end(), 80)),
            });
        }
        let n = conn
            .read(&mut buf)
            .await
            .map_err(|e| StepFailure::new(format!("cannot read from {addr}: {e}")))?;
        if n == 0 || reply.len() >= MAX_REPLY {
            let mut f = StepFailure::new(match &step.expect.contains {
                Some(want) => format!("{addr}: the reply does not contain `{want}`"),
                None => format!("{addr} closed the connection without a reply"),
            });
            f.observed = Some(excerpt(&got, 2000));
            return Err(f);
        }
        reply.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::TcpExpect;
    use tokio::net::TcpListener;

    /// A one-connection server answering `+PONG` to `PING` as Redis does (RESP simple string).
    async fn pong_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf).await.unwrap();
            let answer: &[u8] = if buf[..n].starts_with(b"PING") {
                b"+PONG\r\n"
            } else {
                b"-ERR unknown command\r\n"
            };
            c.write_all(answer).await.unwrap();
        });
        port
    }

    fn step(port: &str, send: &str, contains: &str) -> TcpStep {
        TcpStep {
            host: "127.0.0.1".into(),
            port: PortText::Text(port.into()),
            send: Some(send.into()),
            expect: TcpExpect {
                contains: Some(contains.into()),
            },
        }
    }

    #[tokio::test]
    async fn the_port_comes_from_a_variable_and_the_reply_is_matched() {
        let port = pong_server().await;
        let mut vars = Vars::new();
        vars.insert("deps.redis.port.6379".into(), port.to_string());
        let out = run_tcp(
            &step("{{ deps.redis.port.6379 }}", "PING\r\n", "PONG"),
            &vars,
        )
        .await
        .unwrap();
        assert_eq!(out.value["reply"], "+PONG\r\n");
    }

    #[tokio::test]
    async fn a_wrong_reply_fails_with_what_was_read() {
        let port = pong_server().await;
        let f = run_tcp(&step(&port.to_string(), "HELLO\r\n", "PONG"), &Vars::new())
            .await
            .unwrap_err();
        assert!(f.message.contains("does not contain `PONG`"), "{f:?}");
        assert_eq!(f.observed.as_deref(), Some("-ERR unknown command\r\n"));
    }

    #[tokio::test]
    async fn a_closed_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let f = run_tcp(&step(&port.to_string(), "PING\r\n", "PONG"), &Vars::new())
            .await
            .unwrap_err();
        assert!(
            f.message
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
            "{f:?}"
        );
    }
}

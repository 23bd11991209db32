//! The pods/exec subresource as kube-apiserver serves it to WebSocket clients: the upgrade with
//! the `v5.channel.k8s.io`/`v4.channel.k8s.io` subprotocol, then binary frames whose first byte
//! is the channel (1 stdout, 2 stderr, 3 the exit status as a `Status` JSON), then a close.
//! What a command prints and returns comes from the test's [`ExecHandler`].

use super::resources;
use super::store::Shared;
use bytes::Bytes;
use futures::SinkExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role, Message};

/// One exec request as the double received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecCall {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    /// The subprotocol agreed on.
    pub protocol: String,
}

/// What the command did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecReply {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    /// Binary output sent after `stdout` (a `tar cf -` archive), in frames of
    /// [`STREAM_FRAME`] bytes as a long-running command's output arrives.
    pub stdout_bytes: Vec<u8>,
    /// The runtime could not start the command (runc: `exec: "tar": executable file not found
    /// in $PATH`): nothing is printed and the status is an InternalError, not an exit code.
    pub start_error: Option<String>,
}

/// Bytes per stdout frame of a streamed reply. The kubelet copies a command's output into
/// the stream with `io.Copy` (32 KiB buffer), and the WebSocket side
/// (k8s.io/apimachinery/pkg/util/httpstream/wsstream) sends each write as one binary frame
/// prefixed by its channel byte.
pub const STREAM_FRAME: usize = 32 * 1024;

pub type ExecHandler = Arc<dyn Fn(&ExecCall) -> ExecReply + Send + Sync>;

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn empty(code: StatusCode) -> hyper::http::response::Builder {
    Response::builder().status(code)
}

pub fn json_resp(code: u16, v: &Value) -> Response<Body> {
    empty(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(serde_json::to_vec(v).unwrap()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap()
}

/// The Status the kubelet sends on channel 3 when the runtime could not start the command:
/// any error that is not an exit code becomes `apierrors.NewInternalError(err).ErrStatus`
/// (kubelet's cri/streaming/remotecommand, `v4WriteStatusFunc`).
pub fn start_error_status(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

/// The Status the kubelet sends on channel 3 when the command ends.
pub fn exit_status(call: &ExecCall, code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            call.command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

pub fn serve(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Response<Body> {
    let pairs = query_pairs(&req);
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let obj = match pod_or_not_found(&shared, ns, pod) {
        Ok(obj) => obj,
        Err(answer) => return *answer,
    };
    let containers: Vec<String> = obj["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let container = match container {
        Some(c) if containers.contains(&c) => c,
        Some(c) => {
            return json_resp(
                400,
                &resources::status(
                    400,
                    "BadRequest",
                    &format!("container {c} is not valid for pod {pod}"),
                ),
            )
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return json_resp(
                400,
                &resources::status(
                    400,
                    "BadRequest",
                    &format!(
                        "a container name must be specified for pod {pod}, choose one of: [{}]",
                        containers.join(" ")
                    ),
                ),
            )
        }
    };
    if obj["status"]["phase"] != "Running" {
        return json_resp(
            400,
            &resources::status(
                400,
                "BadRequest",
                &format!("unable to upgrade connection: container not found (\"{container}\")"),
            ),
        );
    }
    if command.is_empty() {
        return json_resp(
            400,
            &resources::status(
                400,
                "BadRequest",
                "you must specify at least one command for the container",
            ),
        );
    }
    let (protocol, key) = match websocket_request(&req) {
        Ok(agreed) => agreed,
        Err(refused) => return *refused,
    };
    let call = ExecCall {
        namespace: ns.to_owned(),
        pod: pod.to_owned(),
        container,
        command,
        protocol: protocol.to_owned(),
    };
    let handler = shared.lock().exec_handler.clone();
    shared.lock().exec_calls.push(call.clone());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            hyper_util::rt::TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        let reply = match &handler {
            Some(h) => h(&call),
            None => ExecReply {
                stderr: format!("{}: not found\n", call.command[0]),
                exit_code: 127,
                ..ExecReply::default()
            },
        };
        let frame = |channel: u8, data: &[u8]| {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(channel);
            v.extend_from_slice(data);
            Message::binary(v)
        };
        // The server opens each channel with a frame that holds only its number.
        for ch in [1u8, 2, 3] {
            let _ = ws.send(frame(ch, &[])).await;
        }
        if !reply.stdout.is_empty() {
            let _ = ws.send(frame(1, reply.stdout.as_bytes())).await;
        }
        for chunk in reply.stdout_bytes.chunks(STREAM_FRAME) {
            if ws.send(frame(1, chunk)).await.is_err() {
                // The client went away mid-stream (it refused the archive): like the
                // kubelet, stop writing.
                return;
            }
        }
        if !reply.stderr.is_empty() {
            let _ = ws.send(frame(2, reply.stderr.as_bytes())).await;
        }
        let status = match &reply.start_error {
            Some(m) => start_error_status(m),
            None => exit_status(&call, reply.exit_code),
        };
        let status = serde_json::to_vec(&status).unwrap();
        let _ = ws.send(frame(3, &status)).await;
        let _ = ws.close(None).await;
    });
    switching_protocols(&key, protocol)
}

/// The decoded `key=value` pairs of the request's query, repeated keys kept in order.
pub fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (super::http::decode(k), super::http::decode(v)))
        .collect()
}

/// The pod object, or the 404 the API server answers for a pod that does not exist.
pub fn pod_or_not_found(
    shared: &Shared,
    ns: &str,
    pod: &str,
) -> Result<Value, Box<Response<Body>>> {
    shared.lock().get("", "pods", Some(ns), pod).ok_or_else(|| {
        Box::new(json_resp(
            404,
            &resources::status(404, "NotFound", &format!("pods \"{pod}\" not found")),
        ))
    })
}

/// The subprotocol (`v5.channel.k8s.io` or `v4.channel.k8s.io`) and key of a WebSocket
/// upgrade request, or the 400 the API server answers to anything else.
pub fn websocket_request(
    req: &Request<Incoming>,
) -> Result<(&'static str, String), Box<Response<Body>>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let offered = header("sec-websocket-protocol");
    let protocol = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
        .into_iter()
        .find(|p| offered.split(',').any(|o| o.trim() == *p));
    let key = header("sec-websocket-key");
    match (
        protocol,
        key.is_empty(),
        header("upgrade").eq_ignore_ascii_case("websocket"),
    ) {
        (Some(protocol), false, true) => Ok((protocol, key)),
        _ => Err(Box::new(json_resp(
            400,
            &resources::status(
                400,
                "BadRequest",
                "Upgrade request required (a WebSocket with v5.channel.k8s.io or v4.channel.k8s.io)",
            ),
        ))),
    }
}

/// The 101 answer that completes the upgrade.
pub fn switching_protocols(key: &str, protocol: &str) -> Response<Body> {
    empty(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .header("sec-websocket-protocol", protocol)
        .body(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap()
}

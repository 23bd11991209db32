//! The pods/portforward subresource as kube-apiserver serves it to WebSocket clients
//! (`v4.channel.k8s.io`): port i uses channel 2i for data and 2i+1 for errors; the server
//! opens both with a frame holding the port number (2 bytes, little-endian), then relays the
//! bytes of a connection to that port inside the pod. "Inside the pod" is a TCP address the
//! test names with [`super::ApiDouble::on_portforward`]; a port with nothing behind it gets
//! the kubelet's error on its error channel, as containerd words it, and the stream closes.

use super::exec::{
    json_resp, pod_or_not_found, query_pairs, switching_protocols, websocket_request, Body,
};
use super::resources;
use super::store::Shared;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{protocol::Role, Message};

/// One portforward request as the double received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardCall {
    pub namespace: String,
    pub pod: String,
    pub ports: Vec<u16>,
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

pub fn serve(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Response<Body> {
    let ports: Vec<u16> = query_pairs(&req)
        .into_iter()
        .filter(|(k, _)| k == "ports")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect::<Vec<u16>>()
        })
        .collect();
    let obj = match pod_or_not_found(&shared, ns, pod) {
        Ok(obj) => obj,
        Err(answer) => return *answer,
    };
    if ports.is_empty() {
        return json_resp(
            400,
            &resources::status(400, "BadRequest", "at least one port must be specified"),
        );
    }
    if obj["status"]["phase"] != "Running" {
        return json_resp(
            400,
            &resources::status(
                400,
                "BadRequest",
                &format!(
                    "unable to upgrade connection: pod {pod} is not running (phase {})",
                    obj["status"]["phase"].as_str().unwrap_or("unknown")
                ),
            ),
        );
    }
    let (protocol, key) = match websocket_request(&req) {
        Ok(agreed) => agreed,
        Err(refused) => return *refused,
    };
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let targets: Vec<Option<SocketAddr>> = {
        let mut s = shared.lock();
        s.forward_calls.push(ForwardCall {
            namespace: ns.to_owned(),
            pod: pod.to_owned(),
            ports: ports.clone(),
        });
        ports
            .iter()
            .map(|p| {
                s.forwards
                    .get(&(ns.to_owned(), pod.to_owned(), *p))
                    .copied()
            })
            .collect()
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            hyper_util::rt::TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        relay(ws, &ports, &targets, &uid).await;
    });
    switching_protocols(&key, protocol)
}

async fn relay<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    ports: &[u16],
    targets: &[Option<SocketAddr>],
    uid: &str,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        let ch = 2 * i as u8;
        let _ = sink.send(frame(ch, &port.to_le_bytes())).await;
        let _ = sink.send(frame(ch + 1, &port.to_le_bytes())).await;
    }
    // Each port: connect inside "the pod", then pump its bytes out as frames.
    let (to_ws, mut from_ports) = mpsc::channel::<Option<(u8, Vec<u8>)>>(16);
    let mut writers = Vec::new();
    let mut open = 0;
    for (i, (port, target)) in ports.iter().zip(targets).enumerate() {
        let ch = 2 * i as u8;
        let conn = match target {
            Some(addr) => tokio::net::TcpStream::connect(addr).await.ok(),
            None => None,
        };
        let Some(conn) = conn else {
            let message = format!(
                "error forwarding port {port} to pod {uid}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-3f1c9a2e-8d4b-4c6f-9e7a-1b2c3d4e5f60\": failed to connect to localhost:{port} inside namespace \"{uid}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
            );
            let _ = sink.send(frame(ch + 1, message.as_bytes())).await;
            writers.push(None);
            continue;
        };
        let (mut r, w) = conn.into_split();
        writers.push(Some(w));
        open += 1;
        let tx = to_ws.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Some((ch, buf[..n].to_vec()))).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(None).await;
        });
    }
    drop(to_ws);
    while open > 0 {
        tokio::select! {
            out = from_ports.recv() => match out {
                Some(Some((ch, data))) => {
                    if sink.send(frame(ch, &data)).await.is_err() {
                        return;
                    }
                }
                Some(None) => open -= 1,
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let index = usize::from(b[0] / 2);
                    if let Some(Some(w)) = writers.get_mut(index) {
                        let _ = w.write_all(&b[1..]).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

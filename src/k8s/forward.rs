//! Port-forwarding to a pod (the `pods/portforward` subresource, through kube-rs): a local
//! listener on 127.0.0.1 whose every connection becomes one forwarded stream, so an HTTP
//! client on the host can reach a pod or Service that a kind cluster does not expose.

use super::apply::server_message;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::Api;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running forward; dropping it closes the listener and every forwarded connection.
pub struct PortForward {
    local: SocketAddr,
    /// `namespace/pod:port`.
    target: String,
    last_error: Arc<Mutex<Option<String>>>,
    accept: JoinHandle<()>,
}

impl PortForward {
    /// Listen on a free port of 127.0.0.1 and forward each connection to `pod`'s `port`
    /// (`api` is the Pod API of `namespace`).
    pub async fn start(
        api: Api<Pod>,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?;
        let last_error = Arc::new(Mutex::new(None));
        let errors = last_error.clone();
        let pod_name = pod.to_owned();
        let accept = tokio::spawn(async move {
            // Dropped (aborting every connection) when the accept loop is aborted.
            let mut connections = JoinSet::new();
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (api, pod, errors) = (api.clone(), pod_name.clone(), errors.clone());
                connections.spawn(async move {
                    let note = |e: String| {
                        if let Ok(mut slot) = errors.lock() {
                            *slot = Some(e);
                        }
                    };
                    let mut pf = match api.portforward(&pod, &[port]).await {
                        Ok(pf) => pf,
                        Err(e) => return note(server_message(&e)),
                    };
                    let (Some(mut upstream), Some(error)) =
                        (pf.take_stream(port), pf.take_error(port))
                    else {
                        return note(format!("no stream for port {port}"));
                    };
                    // The kubelet reports a failure inside the pod (nothing listening on the
                    // port, …) on the port's error channel, then closes the stream.
                    let error = async move {
                        if let Some(e) = error.await {
                            note(e);
                        }
                    };
                    let copy = tokio::io::copy_bidirectional(&mut tcp, &mut upstream);
                    // `error` first: kube-rs delivers the error before it ends the stream, so
                    // the error is noted before the client sees its connection close.
                    let _ = tokio::join!(error, copy);
                    drop(upstream);
                    let _ = pf.join().await;
                });
                // Reap finished connections so a long step does not accumulate them.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            local,
            target: format!("{namespace}/{pod}:{port}"),
            last_error,
            accept,
        })
    }

    /// The local address that reaches the pod's port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `namespace/pod:port`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The last error of a forwarded connection (the API server's or the kubelet's words).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A Service's `spec.selector` in the query syntax of `labelSelector=`.
pub fn service_selector(svc: &Service) -> Result<String, String> {
    let name = svc.metadata.name.as_deref().unwrap_or("?");
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("service {name} has no selector: it does not choose pods"))?;
    Ok(selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// The container port behind a Service's `port`, as kube-proxy resolves it: `targetPort` as
/// a number, or as the name of a container port of the chosen pod, or (absent) the same number.
pub fn service_target_port(svc: &Service, pod: &Pod, port: u16) -> Result<u16, String> {
    let name = svc.metadata.name.as_deref().unwrap_or("?");
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .cloned()
        .unwrap_or_default();
    let Some(sp) = ports.iter().find(|p| p.port == i32::from(port)) else {
        let have: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
        return Err(format!(
            "service {name} has no port {port} (its ports: {})",
            if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            }
        ));
    };
    match &sp.target_port {
        None => Ok(port),
        Some(IntOrString::Int(n)) => {
            u16::try_from(*n).map_err(|_| format!("service {name}: targetPort {n} is not a port"))
        }
        Some(IntOrString::String(named)) => {
            let pod_name = pod.metadata.name.as_deref().unwrap_or("?");
            pod.spec
                .iter()
                .flat_map(|s| &s.containers)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(named.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| {
                    format!(
                        "service {name} port {port} targets the port named `{named}`, which no container of pod {pod_name} declares"
                    )
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn pod() -> Pod {
        serde_yaml::from_str(
            "metadata: {name: web-1}\nspec:\n  containers:\n  - name: app\n    image: app:dev\n    ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]\n",
        )
        .unwrap()
    }

    #[test]
    fn target_ports_as_kube_proxy_resolves_them() {
        let svc = service(
            "metadata: {name: web}\nspec:\n  selector: {app: web, tier: front}\n  ports:\n  - {port: 80, targetPort: http}\n  - {port: 9000, targetPort: 9090}\n  - {port: 7000}\n  - {port: 81, targetPort: grpc}\n",
        );
        assert_eq!(service_target_port(&svc, &pod(), 80), Ok(8080));
        assert_eq!(service_target_port(&svc, &pod(), 9000), Ok(9090));
        assert_eq!(service_target_port(&svc, &pod(), 7000), Ok(7000));
        assert_eq!(
            service_target_port(&svc, &pod(), 81).unwrap_err(),
            "service web port 81 targets the port named `grpc`, which no container of pod web-1 declares"
        );
        assert_eq!(
            service_target_port(&svc, &pod(), 443).unwrap_err(),
            "service web has no port 443 (its ports: 80, 9000, 7000, 81)"
        );
        assert_eq!(service_selector(&svc).unwrap(), "app=web,tier=front");
        let headless = service(
            "metadata: {name: ext}\nspec: {type: ExternalName, externalName: example.com}\n",
        );
        assert_eq!(
            service_selector(&headless).unwrap_err(),
            "service ext has no selector: it does not choose pods"
        );
    }
}

//! A Kubernetes API double: a real HTTP server on 127.0.0.1 that behaves like kube-apiserver
//! for what kubetest uses — discovery, list/get with selectors, watch streams (ADDED,
//! MODIFIED, DELETED, BOOKMARK, 410 Gone), server-side apply, CRDs that become Established,
//! field validation of the kinds kubetest makes (Services, EndpointSlices),
//! deletion with finalizers, events, pod logs, exec and port-forward over WebSocket. Tests drive pod status
//! through [`ApiDouble::set_pod`] and what exec'd commands do through [`ApiDouble::on_exec`].
#![allow(dead_code)]

pub mod exec;
mod http;
pub mod loopback;
pub mod pods;
pub mod portforward;
mod resources;
mod selectors;
mod store;
mod time;
mod validation;
pub mod workloads;

pub use store::Msg;

use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A listener with SO_REUSEADDR, so the double can listen again on its address at once.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A running double; it stops when the test's runtime ends.
#[derive(Clone)]
pub struct ApiDouble {
    pub addr: SocketAddr,
    shared: Arc<store::Shared>,
    /// Cancelled by [`ApiDouble::go_away`]: the server stops.
    running: Arc<std::sync::Mutex<tokio_util::sync::CancellationToken>>,
}

impl ApiDouble {
    pub async fn start() -> Self {
        let shared = Arc::new(store::Shared::new());
        // A port this process really receives on (loopback.rs): one the
        // host's NAT forwards elsewhere would refuse kubetest's connections.
        let listener = loopback::listener();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("the API double's listener");
        let addr = listener.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(http::serve(listener, shared.clone(), stop.clone()));
        Self {
            addr,
            shared,
            running: Arc::new(std::sync::Mutex::new(stop)),
        }
    }

    /// The API server goes away, as when kube-apiserver (or the kind node) stops: its port
    /// refuses connections and open connections (watches included) are closed.
    pub fn go_away(&self) {
        self.running.lock().unwrap().cancel();
    }

    /// The API server is back on the same address with the same objects (etcd kept them).
    pub async fn come_back(&self) {
        let listener = listen(self.addr).expect("listen again on the same address");
        let stop = tokio_util::sync::CancellationToken::new();
        *self.running.lock().unwrap() = stop.clone();
        tokio::spawn(http::serve(listener, self.shared.clone(), stop));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context `kind-kt-i6` pointing at the double.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-kt-i6\n  cluster:\n    server: {}\ncontexts:\n- name: kind-kt-i6\n  context:\n    cluster: kind-kt-i6\n    user: kind-kt-i6\ncurrent-context: kind-kt-i6\nusers:\n- name: kind-kt-i6\n  user: {{}}\npreferences: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// How long a new CRD takes to become Established (default 300 ms).
    pub fn set_crd_delay(&self, d: Duration) {
        self.shared.lock().crd_delay = d;
    }

    /// Create or replace a pod (real-shaped, see [`pods`]); emits ADDED or MODIFIED.
    pub fn set_pod(&self, pod: Value) -> Value {
        self.shared.upsert("", "pods", pod)
    }

    pub fn delete_pod(&self, namespace: &str, name: &str) {
        self.shared.remove("", "pods", Some(namespace), name);
    }

    /// What commands run through `pods/exec` print and return.
    pub fn on_exec(
        &self,
        handler: impl Fn(&exec::ExecCall) -> exec::ExecReply + Send + Sync + 'static,
    ) {
        self.shared.lock().exec_handler = Some(std::sync::Arc::new(handler));
    }

    /// Connections to `port` inside pod `namespace/pod` (through `pods/portforward`) reach
    /// `target`, as the kubelet connects inside the pod's network namespace.
    pub fn on_portforward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        target: std::net::SocketAddr,
    ) {
        self.shared
            .lock()
            .forwards
            .insert((namespace.to_owned(), pod.to_owned(), port), target);
    }

    /// Every portforward request received, in order.
    pub fn forward_calls(&self) -> Vec<portforward::ForwardCall> {
        self.shared.lock().forward_calls.clone()
    }

    /// Every exec request received, in order.
    pub fn exec_calls(&self) -> Vec<exec::ExecCall> {
        self.shared.lock().exec_calls.clone()
    }

    /// Create or replace any object of a served resource (`group`, `plural`).
    pub fn put(&self, group: &str, plural: &str, obj: Value) -> Value {
        self.shared.upsert(group, plural, obj)
    }

    /// Create (or replace) namespace `name`, as `kubectl create namespace` leaves it.
    pub fn put_namespace(&self, name: &str) -> Value {
        self.put(
            "",
            "namespaces",
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
    }

    /// Remove an object at once (as after its finalizers ran); emits DELETED.
    pub fn remove(&self, group: &str, plural: &str, namespace: Option<&str>, name: &str) {
        self.shared.remove(group, plural, namespace, name);
    }

    pub fn get(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.shared.lock().get(group, plural, namespace, name)
    }

    /// Make a stored object look created `age` ago. The API server sets
    /// `metadata.creationTimestamp` itself when it creates an object and never changes it
    /// ("Populated by the system. Read-only.", ObjectMeta in
    /// kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/), so a test of
    /// age-based cleanup stands in for the time that passed; no watch event, no new
    /// resourceVersion, as nothing a client could see changed but the clock.
    pub fn age_object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        age: Duration,
    ) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let created = time::format_unix(now - age.as_secs() as i64);
        let key = (
            group.to_owned(),
            plural.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        );
        let mut store = self.shared.lock();
        let obj = store
            .objects
            .get_mut(&key)
            .unwrap_or_else(|| panic!("no {plural} {name} to age"));
        obj["metadata"]["creationTimestamp"] = serde_json::json!(created);
    }

    /// Every stored object, of every resource.
    pub fn objects(&self) -> Vec<Value> {
        self.shared.lock().objects.values().cloned().collect()
    }

    /// An event about `pod`, as the kubelet or scheduler records it.
    pub fn add_pod_event(&self, pod: &Value, kind: &str, reason: &str, message: &str, count: u32) {
        let ev = pods::event_for(pod, kind, reason, message, count);
        self.shared.upsert("", "events", ev);
    }

    /// The log of a container (`previous` = the instance before the last restart).
    pub fn set_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: &str,
    ) {
        self.shared.lock().logs.insert(
            (namespace.into(), pod.into(), container.into(), previous),
            text.into(),
        );
    }

    /// The watch cache forgets everything up to now: a watch from an older
    /// resourceVersion gets `410 Gone` (as after etcd compaction).
    pub fn compact(&self) {
        let mut s = self.shared.lock();
        s.compacted = s.rv + 1;
        s.history.clear();
    }

    /// Open watches get a `410 Gone` ERROR event and end (their resourceVersion expired).
    pub fn expire_watches(&self) {
        self.compact();
        let _ = self.shared.tx.send(Msg::Gone);
    }

    /// Open watch connections are cut (the client sees a reset mid-stream).
    pub fn drop_watches(&self) {
        let _ = self.shared.tx.send(Msg::Drop);
    }

    /// Open watches that asked for bookmarks get one with the current resourceVersion.
    pub fn bookmark(&self) {
        let rv = self.shared.lock().rv;
        let _ = self.shared.tx.send(Msg::Bookmark(rv));
    }

    /// The next `n` list/watch requests on pods answer `500` (a transient server error).
    pub fn fail_next_pod_requests(&self, n: u32) {
        self.shared.lock().fail_pods = n;
    }

    /// Every request as `METHOD path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// Applied objects as `Kind namespace/name` (or `Kind name`), in the order applied.
    pub fn applied(&self) -> Vec<String> {
        self.shared.lock().applied.clone()
    }

    /// Until no watch stream is open.
    pub async fn until_no_watches(&self) {
        let mut rx = self.shared.watching.subscribe();
        let _ = rx.wait_for(|open| *open == 0).await;
    }

    /// Until at least `n` watch streams are open.
    pub async fn until_watching(&self, n: usize) {
        let mut rx = self.shared.watching.subscribe();
        let _ = rx.wait_for(|open| *open >= n).await;
    }
}

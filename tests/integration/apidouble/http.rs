//! The HTTP side of the double: routing, discovery, list/get, watch streams, apply, logs.

use super::resources::{self, ResourceDef};
use super::selectors::{fields_match, labels_match};
use super::store::{Change, Msg, Shared};
use super::time;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Serve until `stop` is cancelled; then every open connection is closed too (as when
/// kube-apiserver exits: the kernel resets its connections and refuses new ones).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else {
            return;
        };
        let stop = stop.clone();
        // Go's net package (so kube-apiserver) sets TCP_NODELAY on every connection; without
        // it Nagle + delayed ACKs hold each small watch event back ~40 ms.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                // Dropping the connection closes its socket mid-stream.
                () = stop.cancelled() => {}
            }
        });
    }
}

fn full(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .header("audit-id", "00000000-0000-0000-0000-000000000000")
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap()
}

fn json_resp(code: u16, v: &Value) -> Response<Body> {
    full(
        StatusCode::from_u16(code).unwrap(),
        "application/json",
        serde_json::to_vec(v).unwrap(),
    )
}

fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    json_resp(code, &resources::status(code, reason, message))
}

fn not_found_path() -> Response<Body> {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri().query().map(url_pairs).unwrap_or_default()
}

fn url_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a resource path points.
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r @ ..] if !r.is_empty() => (Some(ns.to_string()), r),
        r => (None, r),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Target {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: plural.into(),
        name,
        sub,
    })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    shared.lock().requests.push(format!(
        "{} {}{}",
        req.method(),
        path,
        req.uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    ));
    let q = query(&req);
    match (req.method(), path.trim_end_matches('/')) {
        (&Method::GET, "/version") => return json_resp(200, &resources::version()),
        (&Method::GET, "/api") => return json_resp(200, &resources::core_versions()),
        (&Method::GET, "/apis") => {
            return json_resp(200, &resources::group_list(&shared.lock().defs))
        }
        _ => {}
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if req.method() == Method::GET {
        let gv = match segs.as_slice() {
            ["api", v] => Some(("", *v)),
            ["apis", g, v] => Some((*g, *v)),
            _ => None,
        };
        if let Some((g, v)) = gv {
            return match resources::resource_list(&shared.lock().defs, g, v) {
                Some(list) => json_resp(200, &list),
                None => not_found_path(),
            };
        }
    }
    let Some(t) = parse_path(&path) else {
        return not_found_path();
    };
    let Some(def) = shared.lock().def(&t.group, &t.plural).cloned() else {
        return not_found_path();
    };
    if def.version != t.version || (t.namespace.is_some() && !def.namespaced) {
        return not_found_path();
    }
    if def.plural == "pods" && t.name.is_none() {
        let mut s = shared.lock();
        if s.fail_pods > 0 {
            s.fail_pods -= 1;
            return failure(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: leader changed",
            );
        }
    }
    // The WebSocket subresources of a pod.
    if let (&Method::GET, "pods", Some(name), Some(sub @ ("exec" | "portforward")), Some(ns)) = (
        req.method(),
        def.plural.as_str(),
        &t.name,
        t.sub.as_deref(),
        &t.namespace,
    ) {
        let (name, ns) = (name.clone(), ns.clone());
        return match sub {
            "exec" => super::exec::serve(shared, req, &ns, &name),
            _ => super::portforward::serve(shared, req, &ns, &name),
        };
    }
    match (req.method().clone(), &t.name, t.sub.as_deref()) {
        (Method::GET, None, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(&shared, &def, &t, &q)
        }
        (Method::GET, None, None) => list(&shared, &def, &t, &q),
        (Method::GET, Some(name), None) => {
            match shared
                .lock()
                .get(&def.group, &def.plural, t.namespace.as_deref(), name)
            {
                Some(obj) => json_resp(200, &obj),
                None => not_found(&def, name),
            }
        }
        (Method::GET, Some(name), Some("log")) if def.plural == "pods" => {
            logs(&shared, &t, name, &q)
        }
        (Method::PATCH, Some(name), None) => {
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return failure(400, "BadRequest", &e.to_string()),
            };
            if content_type == "application/merge-patch+json" {
                return merge_patch(&shared, &def, &t, name, &body);
            }
            apply(&shared, &def, &t, name, &content_type, &body, &q)
        }
        (Method::DELETE, Some(name), None) => {
            let name = name.clone();
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return failure(400, "BadRequest", &e.to_string()),
            };
            // DeleteOptions.preconditions.resourceVersion: a mismatch is 409 Conflict
            // "Precondition failed: ResourceVersion in precondition: …" (k8s.io/apiserver
            // pkg/storage/interfaces.go Preconditions.Check, turned into a Conflict by the
            // registry's storeerr.InterpretDeleteError; apiextensions' CRD registry Delete
            // returns NewConflict itself).
            let wanted = serde_json::from_slice::<Value>(&body).ok().and_then(|o| {
                o.pointer("/preconditions/resourceVersion")?
                    .as_str()
                    .map(str::to_owned)
            });
            match shared.delete_if(&def.group, &def.plural, t.namespace.as_deref(), &name, wanted.as_deref()) {
                Ok(Some(obj)) => json_resp(200, &obj),
                Ok(None) => not_found(&def, &name),
                Err(actual) => conflict(&def, &name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {actual}",
                    wanted.unwrap_or_default()
                )),
            }
        }
        _ => failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
    }
}

/// A JSON merge patch (RFC 7386, what `kubectl patch --type merge` and `kubectl scale` of a
/// spec send) of an existing object: objects merge key by key, `null` removes a key,
/// anything else replaces. A missing object is a 404, as kube-apiserver answers.
fn merge_patch(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    t: &Target,
    name: &str,
    body: &[u8],
) -> Response<Body> {
    let patch: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return failure(400, "BadRequest", &format!("error decoding patch: {e}")),
    };
    // Read, check and write under one lock, as etcd's compare-and-swap makes an update atomic.
    let mut s = shared.lock();
    let Some(mut obj) = s.get(&def.group, &def.plural, t.namespace.as_deref(), name) else {
        return not_found(def, name);
    };
    // A resourceVersion in the patch is a precondition: the patched object carries it, and
    // the update fails with 409 Conflict when it is not the stored one (k8s.io/apiserver
    // registry/generic/registry/store.go Update: resourceVersion mismatch →
    // NewConflict(…, OptimisticLockErrorMsg), "the object has been modified; please apply your
    // changes to the latest version and try again"; API conventions, "Concurrency Control and
    // Consistency").
    if let Some(want) = patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        if obj["metadata"]["resourceVersion"].as_str() != Some(want) {
            return conflict(
                def,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            );
        }
    }
    fn merge(target: &mut Value, patch: &Value) {
        match (target.as_object_mut(), patch.as_object()) {
            (Some(t), Some(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            _ => *target = patch.clone(),
        }
    }
    let spec_changed = patch.get("spec").is_some();
    merge(&mut obj, &patch);
    if spec_changed {
        let g = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        obj["metadata"]["generation"] = json!(g + 1);
    }
    let out = s.write(&def.group, &def.plural, obj);
    let change = s.history.last().cloned();
    drop(s);
    if let Some(c) = change {
        let _ = shared.tx.send(Msg::Change(Box::new(c)));
    }
    json_resp(200, &out)
}

/// 409 Conflict as kube-apiserver words it: `Operation cannot be fulfilled on <resource> "<name>": …`.
fn conflict(def: &ResourceDef, name: &str, why: &str) -> Response<Body> {
    let gr = if def.group.is_empty() {
        def.plural.clone()
    } else {
        format!("{}.{}", def.plural, def.group)
    };
    let mut st = resources::status(
        409,
        "Conflict",
        &format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"),
    );
    st["details"] = json!({"name": name, "group": def.group, "kind": def.plural});
    json_resp(409, &st)
}

fn not_found(def: &ResourceDef, name: &str) -> Response<Body> {
    let gr = if def.group.is_empty() {
        def.plural.clone()
    } else {
        format!("{}.{}", def.plural, def.group)
    };
    let mut st = resources::status(404, "NotFound", &format!("{gr} \"{name}\" not found"));
    st["details"] = json!({"name": name, "group": def.group, "kind": def.plural});
    json_resp(404, &st)
}

fn matches(obj: &Value, ns: &Option<String>, q: &HashMap<String, String>) -> bool {
    if let Some(ns) = ns {
        if obj["metadata"]["namespace"].as_str() != Some(ns) {
            return false;
        }
    }
    if let Some(sel) = q.get("labelSelector").filter(|s| !s.is_empty()) {
        if !labels_match(sel, obj) {
            return false;
        }
    }
    if let Some(sel) = q.get("fieldSelector").filter(|s| !s.is_empty()) {
        if !fields_match(sel, obj) {
            return false;
        }
    }
    true
}

fn list(
    shared: &Shared,
    def: &ResourceDef,
    t: &Target,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let s = shared.lock();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((g, p, _, _), _)| *g == def.group && *p == def.plural)
        .map(|(_, v)| v)
        .filter(|v| matches(v, &t.namespace, q))
        .map(|v| {
            // A list's items carry no kind/apiVersion (the list says it).
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            v
        })
        .collect();
    json_resp(
        200,
        &json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": {"resourceVersion": s.rv.to_string()},
            "items": items,
        }),
    )
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    v.push(b'\n');
    Bytes::from(v)
}

/// One watch event for `c` as seen through this watch's filter (ADDED/DELETED when an
/// object starts/stops matching, as the API server's watch cache does).
fn view(c: &Change, def: &ResourceDef, t: &Target, q: &HashMap<String, String>) -> Option<Bytes> {
    if c.group != def.group || c.plural != def.plural {
        return None;
    }
    let now = matches(&c.object, &t.namespace, q);
    let before = c
        .previous
        .as_ref()
        .is_some_and(|p| matches(p, &t.namespace, q));
    let kind = match (c.kind, before, now) {
        ("DELETED", _, true) => "DELETED",
        ("MODIFIED", true, true) => "MODIFIED",
        ("MODIFIED", false, true) | ("ADDED", _, true) => "ADDED",
        ("MODIFIED", true, false) => "DELETED",
        _ => return None,
    };
    let mut object = c.object.clone();
    object["kind"] = json!(def.kind);
    object["apiVersion"] = json!(def.api_version());
    Some(watch_line(kind, &object))
}

fn watch(
    shared: &Shared,
    def: &ResourceDef,
    t: &Target,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(256);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let from: Option<u64> = q
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
        .and_then(|v| v.parse().ok());
    let t = Target {
        group: t.group.clone(),
        version: t.version.clone(),
        namespace: t.namespace.clone(),
        plural: t.plural.clone(),
        name: None,
        sub: None,
    };
    let def = def.clone();
    let q = q.clone();
    // Subscribe and take the backlog under one lock: nothing is missed or sent twice.
    let (mut live, backlog, gone, rv_now) = {
        let s = shared.lock();
        let live = shared.tx.subscribe();
        shared.watching.send_modify(|n| *n += 1);
        match from {
            Some(rv) if rv < s.compacted => (live, Vec::new(), Some(rv), s.rv),
            Some(rv) => {
                let backlog: Vec<Bytes> = s
                    .history
                    .iter()
                    .filter(|c| c.rv > rv)
                    .filter_map(|c| view(c, &def, &t, &q))
                    .collect();
                (live, backlog, None, s.rv)
            }
            None => {
                // No resourceVersion: synthetic ADDED for every current object.
                let backlog = s
                    .objects
                    .iter()
                    .filter(|((g, p, _, _), _)| *g == def.group && *p == def.plural)
                    .filter(|(_, v)| matches(v, &t.namespace, &q))
                    .map(|(_, v)| {
                        let mut o = v.clone();
                        o["kind"] = json!(def.kind);
                        o["apiVersion"] = json!(def.api_version());
                        watch_line("ADDED", &o)
                    })
                    .collect();
                (live, backlog, None, s.rv)
            }
        }
    };
    let (bm_kind, bm_version) = (def.kind.clone(), def.api_version());
    let bookmark = move |rv: u64| {
        watch_line(
            "BOOKMARK",
            &json!({"kind": bm_kind, "apiVersion": bm_version,
                    "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null}}),
        )
    };
    let guard = super::store::WatchGuard(shared.watching.clone());
    tokio::spawn(async move {
        let _guard = guard;
        let send = |b: Bytes| tx.send(Ok(Frame::data(b)));
        if let Some(rv) = gone {
            let st = resources::status(
                410,
                "Expired",
                &format!("too old resource version: {rv} ({rv_now})"),
            );
            let _ = send(watch_line("ERROR", &st)).await;
            return;
        }
        for b in backlog {
            if send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut last_rv = rv_now;
        loop {
            let msg = tokio::select! {
                m = live.recv() => m,
                () = &mut deadline => {
                    if bookmarks { let _ = send(bookmark(last_rv)).await; }
                    return;
                }
                () = tx.closed() => return,
            };
            match msg {
                Ok(Msg::Change(c)) => {
                    last_rv = last_rv.max(c.rv);
                    if from.is_some_and(|rv| c.rv <= rv) {
                        continue;
                    }
                    if let Some(b) = view(&c, &def, &t, &q) {
                        if send(b).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Msg::Bookmark(rv)) => {
                    if bookmarks && send(bookmark(rv)).await.is_err() {
                        return;
                    }
                }
                Ok(Msg::Gone) => {
                    let st = resources::status(
                        410,
                        "Expired",
                        &format!("too old resource version: {last_rv} ({})", last_rv + 1),
                    );
                    let _ = send(watch_line("ERROR", &st)).await;
                    return;
                }
                Ok(Msg::Drop) => {
                    let _ = tx
                        .send(Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "watch cut by the test",
                        )))
                        .await;
                    return;
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let st = resources::status(410, "Expired", "the watch fell behind");
                    let _ = send(watch_line("ERROR", &st)).await;
                    return;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap()
}

fn logs(shared: &Shared, t: &Target, name: &str, q: &HashMap<String, String>) -> Response<Body> {
    let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
    let s = shared.lock();
    let Some(pod) = s.get("", "pods", Some(&ns), name) else {
        return failure(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let container = match q.get("container") {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return failure(
                400,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                ),
            )
        }
    };
    let previous = q.get("previous").is_some_and(|p| p == "true");
    match s
        .logs
        .get(&(ns.clone(), name.to_owned(), container.clone(), previous))
    {
        Some(text) => {
            let tail = q.get("tailLines").and_then(|n| n.parse::<usize>().ok());
            let lines: Vec<&str> = text.lines().collect();
            let start = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
            let mut body = lines[start..].join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            if q.get("follow").is_some_and(|f| f == "true") {
                return following(body);
            }
            full(StatusCode::OK, "text/plain", body)
        }
        None if previous => failure(
            400,
            "BadRequest",
            &format!("previous terminated container \"{container}\" in pod \"{name}\" not found"),
        ),
        None => {
            let waiting = pod["status"]["containerStatuses"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()))
                .and_then(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_owned));
            match waiting {
                Some(reason) => failure(
                    400,
                    "BadRequest",
                    &format!(
                        "container \"{container}\" in pod \"{name}\" is waiting to start: {}",
                        if reason.contains("Image") {
                            "trying and failing to pull image".into()
                        } else {
                            reason
                        }
                    ),
                ),
                None => full(StatusCode::OK, "text/plain", ""),
            }
        }
    }
}

/// `follow=true` on a running container: the kubelet sends the log so far, then keeps the
/// response open and streams new lines until the container stops or the client goes away
/// (`kubectl logs -f`; PodLogOptions.follow in the core/v1 API reference). The double's
/// containers write nothing more, so the stream stays open, empty, until the client leaves.
fn following(so_far: String) -> Response<Body> {
    let first = futures::stream::iter([Ok::<_, std::io::Error>(Frame::data(Bytes::from(so_far)))]);
    let stream = first.chain(futures::stream::pending());
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("transfer-encoding", "chunked")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap()
}

fn apply(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    t: &Target,
    name: &str,
    content_type: &str,
    body: &[u8],
    q: &HashMap<String, String>,
) -> Response<Body> {
    if content_type != "application/apply-patch+yaml" {
        return failure(415, "UnsupportedMediaType", &format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
        ));
    }
    if q.get("fieldManager").is_none_or(|m| m.is_empty()) {
        return failure(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
    }
    let obj: Value = match serde_yaml::from_slice(body) {
        Ok(v) => v,
        Err(e) => return failure(400, "BadRequest", &format!("error decoding YAML: {e}")),
    };
    if obj["apiVersion"].as_str() != Some(def.api_version().as_str())
        || obj["kind"].as_str() != Some(def.kind.as_str())
    {
        return failure(
            400,
            "BadRequest",
            &format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                obj["apiVersion"].as_str().unwrap_or(""),
                def.api_version()
            ),
        );
    }
    if obj["metadata"]["name"].as_str() != Some(name) {
        return failure(
            400,
            "BadRequest",
            &format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                obj["metadata"]["name"].as_str().unwrap_or("")
            ),
        );
    }
    if let (Some(ns), Some(body_ns)) = (&t.namespace, obj["metadata"]["namespace"].as_str()) {
        if ns != body_ns {
            return failure(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
        }
    }
    let group_kind = if def.group.is_empty() {
        def.kind.clone()
    } else {
        format!("{}.{}", def.kind, def.group)
    };
    if matches!(
        def.kind.as_str(),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
    ) && obj.pointer("/spec/selector").is_none()
    {
        let mut st = resources::status(
            422,
            "Invalid",
            &format!("{group_kind} \"{name}\" is invalid: spec.selector: Required value"),
        );
        st["details"] = json!({"name": name, "group": def.group, "kind": def.kind,
            "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}]});
        return json_resp(422, &st);
    }
    if let Some((field, message)) = super::validation::invalid_field(&def.kind, &obj) {
        let mut st = resources::status(
            422,
            "Invalid",
            &format!("{group_kind} \"{name}\" is invalid: {field}: {message}"),
        );
        st["details"] = json!({"name": name, "group": def.group, "kind": def.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]});
        return json_resp(422, &st);
    }
    let mut s = shared.lock();
    if let Some(ns) = &t.namespace {
        if s.get("", "namespaces", None, ns).is_none() {
            let mut st =
                resources::status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
            st["details"] = json!({"name": ns, "kind": "namespaces"});
            return json_resp(404, &st);
        }
    }
    let existing = s.get(&def.group, &def.plural, t.namespace.as_deref(), name);
    let now = time::now();
    let mut merged = existing.clone().unwrap_or_else(|| json!({}));
    let mut incoming = obj.clone();
    if def.subresources.iter().any(|r| r == "status") {
        if let Some(m) = incoming.as_object_mut() {
            m.remove("status");
        }
    }
    merge(&mut merged, &incoming);
    let meta = &mut merged["metadata"];
    if let Some(ns) = &t.namespace {
        meta["namespace"] = json!(ns);
    }
    meta["managedFields"] = json!([{
        "manager": q["fieldManager"], "operation": "Apply", "apiVersion": def.api_version(),
        "time": now, "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}},
    }]);
    let spec_changed = existing
        .as_ref()
        .map(|e| e["spec"] != merged["spec"])
        .unwrap_or(true);
    let generation = existing
        .as_ref()
        .and_then(|e| e["metadata"]["generation"].as_u64())
        .unwrap_or(0)
        + u64::from(spec_changed);
    if merged.get("spec").is_some() {
        merged["metadata"]["generation"] = json!(generation.max(1));
    }
    if def.kind == "Namespace" && merged.pointer("/status/phase").is_none() {
        merged["status"] = json!({"phase": "Active"});
        merged["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    }
    let is_new_crd = def.kind == "CustomResourceDefinition" && existing.is_none();
    let out = s.write(&def.group, &def.plural, merged);
    let change = s.history.last().cloned();
    s.applied.push(match &t.namespace {
        Some(ns) => format!("{} {ns}/{name}", def.kind),
        None => format!("{} {name}", def.kind),
    });
    let delay = s.crd_delay;
    drop(s);
    if let Some(c) = change {
        let _ = shared.tx.send(Msg::Change(Box::new(c)));
    }
    if is_new_crd {
        let shared = shared.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            establish(&shared, &name);
        });
    }
    json_resp(if existing.is_some() { 200 } else { 201 }, &out)
}

/// What the apiextensions controller does: names accepted, Established, served in discovery.
fn establish(shared: &Shared, name: &str) {
    let Some(mut crd) = shared.lock().get(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
        name,
    ) else {
        return;
    };
    let spec = crd["spec"].clone();
    let now = time::now();
    crd["status"] = json!({
        "acceptedNames": spec["names"],
        "storedVersions": spec["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
    });
    {
        let mut s = shared.lock();
        for v in spec["versions"].as_array().into_iter().flatten() {
            if v["served"] != true {
                continue;
            }
            let names = &spec["names"];
            let def = ResourceDef {
                group: spec["group"].as_str().unwrap_or("").into(),
                version: v["name"].as_str().unwrap_or("").into(),
                plural: names["plural"].as_str().unwrap_or("").into(),
                singular: names["singular"].as_str().unwrap_or("").into(),
                kind: names["kind"].as_str().unwrap_or("").into(),
                namespaced: spec["scope"] == "Namespaced",
                short_names: Vec::new(),
                subresources: Vec::new(),
            };
            if !s.defs.contains(&def) {
                s.defs.push(def);
            }
        }
    }
    shared.upsert("apiextensions.k8s.io", "customresourcedefinitions", crd);
}

/// Server-side apply, simplified: maps merge recursively, everything else is replaced.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

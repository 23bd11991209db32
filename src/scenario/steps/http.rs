//! `http:` a request with expectations on status, headers, body text and JSON.

use super::exec::{pick_pod, pod_name};
use super::step_namespace;
use super::{excerpt, StepFailure, StepOutput};
use crate::k8s::apply::server_message;
use crate::k8s::forward::{self, PortForward};
use crate::scenario::cluster::Cluster;
use crate::scenario::matcher;
use crate::scenario::model::{ForwardTarget, HttpStep};
use crate::scenario::template::{render, render_value, Vars};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::Api;
use serde_json::Value;
use std::time::Duration;

/// `forward`: the cluster and the scenario's namespace, when the step port-forwards.
pub async fn run_http(
    client: &reqwest::Client,
    step: &HttpStep,
    vars: &Vars,
    timeout: Duration,
    forward: Option<(&Cluster, &str)>,
) -> Result<StepOutput, StepFailure> {
    let fail = |e: &dyn std::fmt::Display| StepFailure::new(e.to_string());
    let mut url = render(&step.url, vars).map_err(|e| fail(&e))?;
    // Held for the whole request: dropping it closes the forward.
    let tunnel = match (&step.forward, forward) {
        (Some(target), Some((cluster, namespace))) => {
            let pf = open_forward(cluster, target, namespace, vars).await?;
            url = format!("http://{}{url}", pf.local_addr());
            Some(pf)
        }
        _ => None,
    };
    let via = tunnel
        .as_ref()
        .map(|pf| format!(" (forwarded to pod {})", pf.target()))
        .unwrap_or_default();
    let method = reqwest::Method::from_bytes(step.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| fail(&e))?;
    let mut req = client.request(method.clone(), &url).timeout(timeout);
    for (k, v) in &step.headers {
        req = req.header(k, render(v, vars).map_err(|e| fail(&e))?);
    }
    match &step.body {
        None => {}
        Some(Value::String(s)) => req = req.body(render(s, vars).map_err(|e| fail(&e))?),
        Some(other) => {
            let body = render_value(other, vars).map_err(|e| fail(&e))?;
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
    }
    let resp = req.send().await.map_err(|e| {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why.push_str(&format!(": {s}"));
            src = s.source();
        }
        // A forward that failed closes the connection; its own error says why.
        if let Some(pf_error) = tunnel.as_ref().and_then(|pf| pf.last_error()) {
            why = format!("port-forward failed: {pf_error}");
        }
        StepFailure::new(format!("{method} {url}{via}: {why}"))
    })?;
    let status = resp.status().as_u16();
    let headers: serde_json::Map<String, Value> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    let text = resp
        .text()
        .await
        .map_err(|e| StepFailure::new(format!("{method} {url}{via}: reading the body: {e}")))?;
    let json = serde_json::from_str::<Value>(&text).ok();

    let e = &step.expect;
    let mut details = Vec::new();
    if let Some(want) = e.status {
        if want != status {
            details.push(format!("status: expected {want}, found {status}"));
        }
    } else if !(200..300).contains(&status) {
        details.push(format!("status: expected 2xx, found {status}"));
    }
    for (k, want) in &e.headers {
        match headers.get(&k.to_ascii_lowercase()).and_then(Value::as_str) {
            Some(v) if v == want => {}
            Some(v) => details.push(format!("header {k}: expected {want:?}, found {v:?}")),
            None => details.push(format!(
                "header {k}: expected {want:?}, found no such header"
            )),
        }
    }
    if let Some(c) = &e.body_contains {
        let c = render(c, vars).map_err(|e| fail(&e))?;
        if !text.contains(&c) {
            details.push(format!("body does not contain {c:?}"));
        }
    }
    if let Some(r) = &e.body_regex {
        match regex::Regex::new(r) {
            Ok(re) if re.is_match(&text) => {}
            Ok(_) => details.push(format!("body does not match /{r}/")),
            Err(err) => details.push(format!("invalid regex /{r}/: {err}")),
        }
    }
    if let Some(want) = &e.json {
        let want = render_value(want, vars).map_err(|e| fail(&e))?;
        match &json {
            Some(actual) => details.extend(
                matcher::mismatches(&want, actual)
                    .iter()
                    .map(|m| format!("body JSON {m}")),
            ),
            None => details.push("body is not JSON".to_owned()),
        }
    }
    if !details.is_empty() {
        return Err(StepFailure {
            message: format!(
                "{method} {url}{via}: {} expectation(s) not met",
                details.len()
            ),
            details,
            observed: Some(format!("HTTP {status}\n{}", excerpt(&text, 2000))),
        });
    }
    Ok(StepOutput {
        value: serde_json::json!({"status": status, "headers": headers, "body": json.unwrap_or(Value::String(text))}),
        summary: format!("HTTP {status}{via}"),
    })
}

/// Choose the pod (a Service's or a selector's first ready pod, or the named one) and the
/// container port, then start forwarding to it.
async fn open_forward(
    cluster: &Cluster,
    target: &ForwardTarget,
    namespace: &str,
    vars: &Vars,
) -> Result<PortForward, StepFailure> {
    let r = |t: &str| render(t, vars).map_err(|e| StepFailure::new(e.to_string()));
    let ns = cluster.run_namespace(&step_namespace(
        target.namespace.as_deref(),
        namespace,
        vars,
    )?);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let (pod, port) = if let Some(name) = &target.service {
        let name = r(name)?;
        let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
        let svc = services.get(&name).await.map_err(|e| {
            StepFailure::new(format!(
                "http.forward: service {ns}/{name}: {}",
                server_message(&e)
            ))
        })?;
        let selector = forward::service_selector(&svc).map_err(StepFailure::new)?;
        let chosen = pick_pod(&pods, &selector, &ns).await?;
        let port =
            forward::service_target_port(&svc, &chosen, target.port).map_err(StepFailure::new)?;
        (pod_name(&chosen), port)
    } else if let Some(sel) = &target.selector {
        (
            pod_name(&pick_pod(&pods, &r(sel)?, &ns).await?),
            target.port,
        )
    } else if let Some(name) = &target.pod {
        (r(name)?, target.port)
    } else {
        return Err(StepFailure::new(
            "http.forward: name a `service`, `pod` or `selector`",
        ));
    };
    PortForward::start(pods, &ns, &pod, port)
        .await
        .map_err(|e| StepFailure::new(format!("http.forward: cannot listen on 127.0.0.1: {e}")))
}

//! `exec:` a command in a pod's container (the pod by name, or the first running pod of a
//! selector) through the API server's exec subresource (WebSocket, v5/v4.channel.k8s.io).

use super::{check_output, step_namespace, StepFailure, StepOutput};
use crate::k8s::apply::server_message;
use crate::k8s::ready::is_ready;
use crate::scenario::cluster::Cluster;
use crate::scenario::model::ExecStep;
use crate::scenario::template::{render, Vars};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, ListParams};
use tokio::io::AsyncReadExt;

/// The command's exit code from the status the API server sends on channel 3: `Success` is 0;
/// `NonZeroExitCode` carries the code in its `ExitCode` cause. Anything else (the command
/// could not start) is an error with the server's message.
pub fn exit_code(status: &Status) -> Result<i32, String> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    Err(status
        .message
        .clone()
        .unwrap_or_else(|| "the command failed without a message".into()))
}

pub async fn run_exec(
    cluster: &Cluster,
    step: &ExecStep,
    namespace: &str,
    vars: &Vars,
) -> Result<StepOutput, StepFailure> {
    let r = |t: &str| render(t, vars).map_err(|e| StepFailure::new(e.to_string()));
    let ns = cluster.run_namespace(&step_namespace(step.namespace.as_deref(), namespace, vars)?);
    let argv: Vec<String> = step
        .command
        .iter()
        .map(|a| r(a).map(|a| cluster.run_hosts(&a)))
        .collect::<Result<_, _>>()?;
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let pod = match (&step.pod, &step.selector) {
        (Some(p), _) => r(p)?,
        (None, Some(s)) => pod_name(&pick_pod(&api, &r(s)?, &ns).await?),
        (None, None) => return Err(StepFailure::new("exec: name a `pod` or a `selector`")),
    };
    let mut params = AttachParams::default().stdout(true).stderr(true);
    if let Some(c) = &step.container {
        params = params.container(r(c)?);
    }
    let mut proc = api
        .exec(&pod, argv.clone(), &params)
        .await
        .map_err(|e| StepFailure::new(format!("exec in pod {ns}/{pod}: {}", server_message(&e))))?;
    let mut out_r = proc.stdout();
    let mut err_r = proc.stderr();
    let status = proc.take_status();
    let read = |r: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf).await;
        }
        String::from_utf8_lossy(&buf).into_owned()
    };
    let (stdout, stderr, status) = tokio::join!(read(out_r.take()), read(err_r.take()), async {
        match status {
            Some(s) => s.await,
            None => None,
        }
    });
    let _ = proc.join().await;
    let code = match status {
        Some(s) => Some(exit_code(&s).map_err(|m| StepFailure {
            message: format!("exec {} in pod {ns}/{pod}: {m}", argv.join(" ")),
            details: Vec::new(),
            observed: Some(format!(
                "--- stdout ---\n{}\n--- stderr ---\n{}",
                super::excerpt(&stdout, 2000),
                super::excerpt(&stderr, 2000)
            )),
        })?),
        None => None,
    };
    check_output(&step.expect, code, &stdout, &stderr)?;
    let json =
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap_or(serde_json::Value::Null);
    Ok(StepOutput {
        value: serde_json::json!({"exit_code": code, "stdout": stdout.trim_end(), "stderr": stderr.trim_end(), "json": json, "pod": pod}),
        summary: format!(
            "exit code {} in pod {pod}",
            code.map_or("none".to_owned(), |c| c.to_string())
        ),
    })
}

pub(super) fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The first running pod (by name) of a selector; ready pods first.
pub(super) async fn pick_pod(api: &Api<Pod>, selector: &str, ns: &str) -> Result<Pod, StepFailure> {
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| {
            StepFailure::new(format!(
                "listing pods {selector} in {ns}: {}",
                server_message(&e)
            ))
        })?;
    // Ready pods first (a Service would send traffic only to those), then by name.
    let total = list.items.len();
    list.items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.metadata.name.is_some()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .min_by(|a, b| (!is_ready(a), &a.metadata.name).cmp(&(!is_ready(b), &b.metadata.name)))
        .ok_or_else(|| {
            StepFailure::new(format!(
                "no running pod matches {selector} in {ns} ({total} pod(s) match, none Running)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_the_status_channel() {
        let ok: Status = serde_json::from_str(r#"{"metadata":{},"status":"Success"}"#).unwrap();
        assert_eq!(exit_code(&ok), Ok(0));
        // As the kubelet sends it for `sh -c 'exit 3'`.
        let three: Status = serde_json::from_str(r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#).unwrap();
        assert_eq!(exit_code(&three), Ok(3));
        let missing: Status = serde_json::from_str(r#"{"metadata":{},"status":"Failure","message":"OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"}"#).unwrap();
        assert!(exit_code(&missing)
            .unwrap_err()
            .contains("executable file not found"));
    }
}

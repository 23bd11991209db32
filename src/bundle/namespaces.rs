//! The namespaces of a bundle: `namespaces/<ns>/` with pods, workloads, events and logs.

use super::writer::{slug, Bundle};
use crate::k8s::namespace_report::{NamespaceReport, BUNDLE_LOG_LINES};

/// Write the files of one namespace.
pub fn add(b: &mut Bundle, r: &NamespaceReport) -> anyhow::Result<()> {
    let base = format!("namespaces/{}", slug(&r.namespace));
    let ns = &r.namespace;
    b.write(
        &format!("{base}/pods.txt"),
        &format!("namespace {ns}: pods with phase, conditions, container states, their events"),
        &r.pods,
    )?;
    b.write(
        &format!("{base}/workloads.txt"),
        &format!("namespace {ns}: Deployments, StatefulSets, DaemonSets, Jobs with status and conditions; ReplicaSets of failing Deployments"),
        &r.workloads,
    )?;
    b.write(
        &format!("{base}/events.txt"),
        &format!("namespace {ns}: all events, oldest first"),
        &r.events,
    )?;
    for l in &r.logs {
        let which = if l.previous { ".previous" } else { "" };
        let rel = format!(
            "{base}/logs/{}.{}{which}.log",
            slug(&l.pod),
            slug(&l.container)
        );
        let what = format!(
            "last {BUNDLE_LOG_LINES} log lines of container {} of pod {}{}",
            l.container,
            l.pod,
            if l.previous {
                " (previous instance)"
            } else {
                " (not ready)"
            }
        );
        let text = match &l.text {
            Ok(t) if t.is_empty() => "(the container wrote nothing)\n".to_owned(),
            Ok(t) => t.clone(),
            Err(e) => format!("(no log: {e})\n"),
        };
        b.write(&rel, &what, &text)?;
    }
    Ok(())
}

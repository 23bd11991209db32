//! Everything a failure bundle keeps of one namespace: its pods (phase, conditions, container
//! states, events, logs of the containers not ready), its workloads with their conditions,
//! the ReplicaSets of failing Deployments, and all its events in time order.

use super::diagnose::{self, ContainerLog};
use super::workload_status as ws;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use std::fmt::Write;

/// Log lines kept per container instance in a bundle.
pub const BUNDLE_LOG_LINES: i64 = 200;

/// The texts of one namespace, each to be written as its own file.
#[derive(Debug, Clone)]
pub struct NamespaceReport {
    pub namespace: String,
    /// Every pod's status, its events and the last lines of its not-ready containers.
    pub pods: String,
    /// Deployments, StatefulSets, DaemonSets, Jobs, and the ReplicaSets of failing Deployments.
    pub workloads: String,
    /// Every event of the namespace, oldest first.
    pub events: String,
    /// The last [`BUNDLE_LOG_LINES`] lines of each not-ready container (and previous instance).
    pub logs: Vec<ContainerLog>,
    /// One line: how many pods, how many of them not ready, failing workloads.
    pub summary: String,
}

/// Gather the report; API errors are written in place of what they hid.
pub async fn collect(client: &kube::Client, namespace: &str) -> NamespaceReport {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let (pods_text, logs, pod_count) = match pods.list(&ListParams::default()).await {
        Ok(list) if list.items.is_empty() => {
            (format!("namespace {namespace}: no pods\n"), Vec::new(), 0)
        }
        Ok(list) => {
            let reports = futures::future::join_all(
                list.items
                    .iter()
                    .map(|p| diagnose::pod_report_with(client, p, BUNDLE_LOG_LINES)),
            )
            .await;
            let mut text = format!("namespace {namespace}: {} pod(s)\n\n", list.items.len());
            let texts: Vec<&str> = reports.iter().map(|r| r.text.as_str()).collect();
            text.push_str(&texts.join("\n"));
            let logs = reports.into_iter().flat_map(|r| r.logs).collect();
            (text, logs, list.items.len())
        }
        Err(e) => (
            format!(
                "namespace {namespace}: cannot list its pods: {}\n",
                super::apply::server_message(&e)
            ),
            Vec::new(),
            0,
        ),
    };
    let (workloads, failing) = workloads(client, namespace).await;
    let events = match Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => format!(
            "events of namespace {namespace} ({}), oldest first:\n{}",
            list.items.len(),
            diagnose::render_event_lines(list.items, None, true)
        ),
        Err(e) => format!(
            "events of namespace {namespace}: cannot list them: {}\n",
            super::apply::server_message(&e)
        ),
    };
    let not_ready = logs
        .iter()
        .filter(|l| !l.previous)
        .map(|l| (&l.pod, &l.container))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut summary = format!("{pod_count} pod(s), {not_ready} container(s) not ready");
    if !failing.is_empty() {
        summary.push_str(&format!("; not available: {}", failing.join(", ")));
    }
    NamespaceReport {
        namespace: namespace.to_owned(),
        pods: pods_text,
        workloads,
        events,
        logs,
        summary,
    }
}

async fn list<K>(client: &kube::Client, namespace: &str) -> Result<Vec<K>, String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| super::apply::server_message(&e))
}

/// The workloads text, and the names of failing Deployments.
async fn workloads(client: &kube::Client, ns: &str) -> (String, Vec<String>) {
    let (deployments, statefulsets, daemonsets, jobs, replicasets) = tokio::join!(
        list::<Deployment>(client, ns),
        list::<StatefulSet>(client, ns),
        list::<DaemonSet>(client, ns),
        list::<Job>(client, ns),
        list::<ReplicaSet>(client, ns),
    );
    let mut out = String::new();
    let mut failing = Vec::new();
    section(&mut out, "Deployments", &deployments, |d| {
        let mut t = ws::render_deployment(d);
        if ws::deployment_failing(d) {
            failing.push(format!(
                "deployment/{}",
                d.metadata.name.as_deref().unwrap_or("")
            ));
            match &replicasets {
                Ok(all) => {
                    let owned: Vec<&ReplicaSet> =
                        all.iter().filter(|r| ws::owned_by(r, d)).collect();
                    let _ = writeln!(t, "  replicasets ({}):", owned.len());
                    for rs in owned {
                        for line in ws::render_replicaset(rs).lines() {
                            let _ = writeln!(t, "    {line}");
                        }
                    }
                }
                Err(e) => {
                    let _ = writeln!(t, "  replicasets: cannot list them: {e}");
                }
            }
        }
        t
    });
    section(
        &mut out,
        "StatefulSets",
        &statefulsets,
        ws::render_statefulset,
    );
    section(&mut out, "DaemonSets", &daemonsets, ws::render_daemonset);
    section(&mut out, "Jobs", &jobs, ws::render_job);
    (out, failing)
}

fn section<K>(
    out: &mut String,
    title: &str,
    items: &Result<Vec<K>, String>,
    mut render: impl FnMut(&K) -> String,
) {
    match items {
        Ok(items) => {
            let _ = writeln!(out, "{title} ({}):", items.len());
            for i in items {
                out.push_str(&render(i));
            }
        }
        Err(e) => {
            let _ = writeln!(out, "{title}: cannot list them: {e}");
        }
    }
    out.push('\n');
}

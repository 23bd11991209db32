//! `kubetest logs`: the output of dependency containers (engine logs API) and pods (kube-rs
//! log API, every container), each line prefixed with its source like `compose logs`;
//! `--follow` streams until Ctrl-C.

use crate::cli::LogsArgs;
use crate::config::LoadedConfig;
use crate::exit::Stop;
use crate::k8s::client::{connect, ClusterAccess};
use crate::k8s::wait::{resolve_selector, Target, WorkloadKind};
use crate::plan::Plan;
use crate::report::OutputMode;
use crate::state::{State, StateStore};
use crate::Session;
use anyhow::{bail, Context};
use bollard::query_parameters::LogsOptions;
use futures::stream::{BoxStream, StreamExt};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use std::io::Write;

/// Where lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A dependency container: its name in the config, its container id.
    Container { label: String, id: String },
    /// One container of a pod.
    Pod {
        label: String,
        namespace: String,
        pod: String,
        container: String,
    },
}

impl Source {
    fn label(&self) -> &str {
        match self {
            Source::Container { label, .. } | Source::Pod { label, .. } => label,
        }
    }
}

/// What the user named: a dependency, or pods (by workload, name or selector).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    Dependency(String),
    Workload(WorkloadKind, String),
    Pod(String),
    Selector(String),
}

fn parse_target(t: &str) -> Result<Wanted, String> {
    let Some((kind, name)) = t.split_once('/') else {
        return Ok(Wanted::Dependency(t.to_owned()));
    };
    if name.is_empty() {
        return Err(format!("`{t}`: a name must follow the `/`"));
    }
    let name = name.to_owned();
    Ok(match kind {
        "pod" | "pods" | "po" => Wanted::Pod(name),
        "deployment" | "deployments" | "deploy" => Wanted::Workload(WorkloadKind::Deployment, name),
        "statefulset" | "statefulsets" | "sts" => Wanted::Workload(WorkloadKind::StatefulSet, name),
        "daemonset" | "daemonsets" | "ds" => Wanted::Workload(WorkloadKind::DaemonSet, name),
        "job" | "jobs" => Wanted::Workload(WorkloadKind::Job, name),
        other => {
            return Err(format!(
                "`{t}`: unknown kind `{other}`; name a dependency, or `deployment/NAME`, `statefulset/NAME`, `daemonset/NAME`, `job/NAME`, `pod/NAME`"
            ))
        }
    })
}

pub async fn logs(
    session: &Session,
    loaded: &LoadedConfig,
    args: &LogsArgs,
    output: OutputMode,
) -> anyhow::Result<()> {
    let plan = Plan::from_config(loaded);
    let Some(state) = StateStore::new(&plan.state_dir).load()? else {
        bail!(
            "no environment `{}` is up (no state file in {}); run `kubetest up` first",
            plan.environment,
            plan.state_dir.display()
        );
    };
    let mut wanted = Vec::new();
    for t in &args.targets {
        wanted.push(parse_target(t).map_err(Stop::Usage)?);
    }
    if let Some(sel) = &args.selector {
        wanted.push(Wanted::Selector(sel.clone()));
    }
    if wanted.is_empty() {
        if state.containers.is_empty() {
            return Err(Stop::Usage(
                "no dependency containers are recorded; name pods with `deployment/NAME`, `pod/NAME` or `-l SELECTOR`".into(),
            )
            .into());
        }
        wanted = state
            .containers
            .iter()
            .map(|c| Wanted::Dependency(c.dependency.clone()))
            .collect();
    }
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| plan.deploy.namespace.clone());
    let sources = resolve(&plan, &state, &wanted, &namespace).await?;
    let width = sources.iter().map(|s| s.label().len()).max().unwrap_or(0);

    let docker = if sources
        .iter()
        .any(|s| matches!(s, Source::Container { .. }))
    {
        let rec = state
            .engine
            .as_ref()
            .context("no engine is recorded in the state file")?;
        Some(crate::engine::reconnect(rec).await?.docker)
    } else {
        None
    };
    let client = if sources.iter().any(|s| matches!(s, Source::Pod { .. })) {
        Some(connect(&ClusterAccess::from_state_or_plan(&state, &plan.cluster)).await?)
    } else {
        None
    };
    let streams: Vec<BoxStream<'static, (String, anyhow::Result<String>)>> = sources
        .iter()
        .map(|s| stream(s, docker.as_ref(), client.as_ref(), args))
        .collect();
    let mut printer = Printer { width, output };
    if args.follow {
        let mut all = futures::stream::select_all(streams);
        loop {
            tokio::select! {
                next = all.next() => match next {
                    Some((label, line)) => {
                        if printer.line(&label, line)? == Written::ReaderGone {
                            break;
                        }
                    }
                    None => break,
                },
                () = session.cancel.cancelled() => break,
            }
        }
    } else {
        // One source after the other, each in order (like `compose logs` without `-f`).
        for mut s in streams {
            loop {
                tokio::select! {
                    next = s.next() => match next {
                        Some((label, line)) => {
                            if printer.line(&label, line)? == Written::ReaderGone {
                                return Ok(());
                            }
                        }
                        None => break,
                    },
                    () = session.cancel.cancelled() => return Err(Stop::Interrupted.into()),
                }
            }
        }
    }
    Ok(())
}

/// Each wanted thing as the containers to read.
async fn resolve(
    plan: &Plan,
    state: &State,
    wanted: &[Wanted],
    namespace: &str,
) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut client = None;
    for w in wanted {
        let selector = match w {
            Wanted::Dependency(name) => {
                let Some(c) = state
                    .containers
                    .iter()
                    .find(|c| &c.dependency == name || &c.name == name)
                else {
                    let known: Vec<&str> = state
                        .containers
                        .iter()
                        .map(|c| c.dependency.as_str())
                        .collect();
                    return Err(Stop::Usage(format!(
                        "no dependency `{name}` is recorded{}; for pods write `deployment/NAME`, `pod/NAME` or `-l SELECTOR`",
                        if known.is_empty() { String::new() } else { format!(" (the dependencies are: {})", known.join(", ")) }
                    ))
                    .into());
                };
                out.push(Source::Container {
                    label: c.dependency.clone(),
                    id: c.id.clone(),
                });
                continue;
            }
            Wanted::Pod(name) => Some(PodsBy::Name(name.clone())),
            Wanted::Workload(kind, name) => Some(PodsBy::Workload(*kind, name.clone())),
            Wanted::Selector(s) => Some(PodsBy::Selector(s.clone())),
        };
        if client.is_none() {
            if state.cluster.is_none() {
                bail!("no cluster is recorded in the state file; only dependency containers have logs");
            }
            client = Some(connect(&ClusterAccess::from_state_or_plan(state, &plan.cluster)).await?);
        }
        let Some(c) = &client else { continue };
        if let Some(by) = selector {
            out.extend(pod_sources(c, namespace, by).await?);
        }
    }
    Ok(out)
}

enum PodsBy {
    Name(String),
    Workload(WorkloadKind, String),
    Selector(String),
}

/// Every container (init containers first) of the pods named.
async fn pod_sources(client: &kube::Client, ns: &str, by: PodsBy) -> anyhow::Result<Vec<Source>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods = match by {
        PodsBy::Name(name) => vec![api.get(&name).await.map_err(|e| {
            anyhow::anyhow!("pod {ns}/{name}: {}", crate::k8s::apply::server_message(&e))
        })?],
        PodsBy::Workload(kind, name) => {
            let selector = resolve_selector(
                client,
                ns,
                &Target::Workload {
                    kind,
                    name: name.clone(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            list(
                &api,
                ns,
                &selector,
                &format!("{}/{name}", kind.as_str().to_lowercase()),
            )
            .await?
        }
        PodsBy::Selector(selector) => list(&api, ns, &selector, &format!("-l {selector}")).await?,
    };
    let mut out = Vec::new();
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let spec = p.spec.unwrap_or_default();
        let containers: Vec<String> = spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .chain(spec.containers)
            .map(|c| c.name)
            .collect();
        let several = containers.len() > 1;
        for c in containers {
            out.push(Source::Pod {
                label: if several {
                    format!("{name}/{c}")
                } else {
                    name.clone()
                },
                namespace: ns.to_owned(),
                pod: name.clone(),
                container: c,
            });
        }
    }
    Ok(out)
}

async fn list(api: &Api<Pod>, ns: &str, selector: &str, what: &str) -> anyhow::Result<Vec<Pod>> {
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "listing the pods of {what} in {ns}: {}",
                crate::k8s::apply::server_message(&e)
            )
        })?
        .items;
    if pods.is_empty() {
        bail!("{what}: no pods match `{selector}` in namespace {ns}");
    }
    Ok(pods)
}

/// The lines of one source, each with its label.
fn stream(
    s: &Source,
    docker: Option<&bollard::Docker>,
    client: Option<&kube::Client>,
    args: &LogsArgs,
) -> BoxStream<'static, (String, anyhow::Result<String>)> {
    let label = s.label().to_owned();
    let since = args.since.map(|d| {
        std::time::SystemTime::now()
            .checked_sub(d)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |t| t.as_secs())
    });
    match (s, docker, client) {
        (Source::Container { id, .. }, Some(docker), _) => {
            let opts = LogsOptions {
                follow: args.follow,
                stdout: true,
                stderr: true,
                since: since.map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
                tail: args
                    .tail
                    .map_or_else(|| "all".to_owned(), |n| n.to_string()),
                ..Default::default()
            };
            let id = id.clone();
            let chunks = docker.logs(&id, Some(opts)).map(move |item| {
                item.map(|o| o.into_bytes().to_vec())
                    .map_err(|e| anyhow::anyhow!("cannot read the logs of container {id}: {e}"))
            });
            let lines = lines_of(chunks);
            lines.map(move |l| (label.clone(), l)).boxed()
        }
        (
            Source::Pod {
                namespace,
                pod,
                container,
                ..
            },
            _,
            Some(client),
        ) => {
            let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
            let params = LogParams {
                container: Some(container.clone()),
                follow: args.follow,
                since_seconds: args.since.map(|d| d.as_secs().max(1) as i64),
                tail_lines: args.tail.map(|n| n as i64),
                ..LogParams::default()
            };
            let pod = pod.clone();
            let what = format!("{namespace}/{pod} container {container}");
            futures::stream::once(async move {
                match api.log_stream(&pod, &params).await {
                    Ok(reader) => reader
                        .lines()
                        .map_err(move |e| anyhow::anyhow!("reading the log of {what}: {e}"))
                        .boxed(),
                    Err(e) => futures::stream::iter([Err(anyhow::anyhow!(
                        "the log of {what}: {}",
                        crate::k8s::apply::server_message(&e)
                    ))])
                    .boxed(),
                }
            })
            .flatten()
            .map(move |l| (label.clone(), l))
            .boxed()
        }
        _ => futures::stream::iter([(
            label,
            Err(anyhow::anyhow!("internal: no client for this source")),
        )])
        .boxed(),
    }
}

/// Chunks of bytes as whole lines (a chunk may end inside a line).
fn lines_of(
    chunks: impl futures::Stream<Item = anyhow::Result<Vec<u8>>> + Send + 'static,
) -> BoxStream<'static, anyhow::Result<String>> {
    struct St {
        chunks: BoxStream<'static, anyhow::Result<Vec<u8>>>,
        rest: Vec<u8>,
        ready: std::collections::VecDeque<anyhow::Result<String>>,
        done: bool,
    }
    let start = St {
        chunks: chunks.boxed(),
        rest: Vec::new(),
        ready: std::collections::VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(start, |mut st| async move {
        loop {
            if let Some(item) = st.ready.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            match st.chunks.next().await {
                Some(Ok(bytes)) => {
                    st.rest.extend_from_slice(&bytes);
                    while let Some(nl) = st.rest.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = st.rest.drain(..=nl).collect();
                        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                        st.ready
                            .push_back(Ok(text.trim_end_matches('\r').to_owned()));
                    }
                }
                Some(Err(e)) => {
                    st.ready.push_back(Err(e));
                    st.done = true;
                }
                None => {
                    if !st.rest.is_empty() {
                        let text = String::from_utf8_lossy(&st.rest).into_owned();
                        st.rest.clear();
                        st.ready.push_back(Ok(text));
                    }
                    st.done = true;
                }
            }
        }
    })
    .boxed()
}

/// What became of a line written to stdout.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Yes,
    /// The reader closed the pipe (`kubetest logs -F web | head`): it has what it wanted, so
    /// `logs` stops and exits 0, as `tail -f | head` ends.
    ReaderGone,
}

/// Writes `label | line` (or JSON lines) to stdout.
struct Printer {
    width: usize,
    output: OutputMode,
}

impl Printer {
    fn line(&mut self, label: &str, line: anyhow::Result<String>) -> anyhow::Result<Written> {
        let text = match (&line, self.output) {
            (Ok(l), OutputMode::Json) => {
                serde_json::json!({"source": label, "line": l}).to_string() + "\n"
            }
            (Err(e), OutputMode::Json) => {
                serde_json::json!({"source": label, "error": format!("{e:#}")}).to_string() + "\n"
            }
            (Ok(l), _) => format!("{label:w$} | {l}\n", w = self.width),
            (Err(e), _) => format!("{label:w$} ! {e:#}\n", w = self.width),
        };
        // A dependency's log may print its own password: masked like everything kubetest prints.
        let text = crate::secrets::mask(&text);
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(Written::Yes),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Written::ReaderGone),
            Err(e) => Err(e).context("cannot write to standard output"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_dependencies_workloads_and_pods() {
        assert_eq!(
            parse_target("postgres"),
            Ok(Wanted::Dependency("postgres".into()))
        );
        assert_eq!(
            parse_target("deployment/web"),
            Ok(Wanted::Workload(WorkloadKind::Deployment, "web".into()))
        );
        assert_eq!(parse_target("pod/web-1"), Ok(Wanted::Pod("web-1".into())));
        assert!(parse_target("service/web")
            .unwrap_err()
            .contains("unknown kind `service`"));
        assert!(parse_target("pod/").is_err());
    }

    #[tokio::test]
    async fn chunks_become_whole_lines() {
        let chunks =
            futures::stream::iter(vec![Ok(b"one\ntw".to_vec()), Ok(b"o\r\nthree".to_vec())]);
        let lines: Vec<String> = lines_of(chunks).map(|l| l.unwrap()).collect().await;
        assert_eq!(lines, ["one", "two", "three"]);
    }
}

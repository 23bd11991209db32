//! Deps: start dependency containers on the environment's network, each one as soon as
//! everything it `needs` is healthy (or, for one-shot jobs, exited 0); keep unchanged healthy
//! ones; fail at once, with exit code and logs, when one crashes while being waited for.

use super::built::{BuiltImages, NotBuilt};
use super::PhaseCtx;
use crate::deps::failure::{DepFailure, LOG_TAIL};
use crate::deps::hash::config_hash;
use crate::deps::health;
use crate::deps::outputs;
use crate::deps::schedule::Schedule;
use crate::engine::claim;
use crate::engine::containers::{self, ContainerInfo, ContainerSpec};
use crate::engine::{images, Engine};
use crate::events::{Milestone, Outcome, Phase, TaskEvents};
use crate::exit::Stop;
use crate::plan::DependencyPlan;
use crate::state::{
    ContainerRecord, CreateIntent, HealthCheckRecord, NetworkRecord, HEALTH_HISTORY,
};
use anyhow::Context;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Dependencies being started at once, at most.
const MAX_CONCURRENT: usize = 8;
/// Bound on one health-check attempt when the interval is shorter.
const MIN_ATTEMPT_LIMIT: Duration = Duration::from_secs(2);

/// The network of environment `env`.
pub fn network_name(env: &str) -> String {
    format!("kubetest-{env}")
}

pub async fn run(ctx: &PhaseCtx, engine: Option<&Engine>) -> anyhow::Result<Outcome> {
    run_when_built(ctx, engine, &BuiltImages::none()).await
}

/// [`run`] as part of `up`'s task graph: a dependency whose image the build phase makes
/// starts when that image is built; the others (stock images) at once.
pub async fn run_when_built(
    ctx: &PhaseCtx,
    engine: Option<&Engine>,
    built: &BuiltImages,
) -> anyhow::Result<Outcome> {
    let plan = &ctx.plan;
    if plan.dependencies.is_empty() {
        return Ok(Outcome::Skipped);
    }
    let engine = engine.context("internal: dependencies to start but no engine from preflight")?;
    let network = network_name(&plan.environment);
    let labels = BTreeMap::from([(containers::ENV_LABEL.to_owned(), plan.environment.clone())]);
    let (net_id, _) = containers::ensure_network(&engine.docker, &network, &labels).await?;
    ctx.state.update(|s| {
        if !s.networks.iter().any(|n| n.id == net_id) {
            s.networks.push(NetworkRecord {
                name: network.clone(),
                id: net_id.clone(),
            });
        }
    })?;

    let mut schedule = Schedule::new(
        plan.dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.spec.needs.as_slice())),
    );
    let by_name: HashMap<&str, &DependencyPlan> = plan
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d))
        .collect();
    let stop = ctx.cancel.child_token();
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut running = FuturesUnordered::new();
    let mut first_error: Option<anyhow::Error> = None;
    loop {
        if first_error.is_none() {
            for name in schedule.take_ready(MAX_CONCURRENT - running.len()) {
                let dep = by_name[name.as_str()];
                // A recreated need means its dependants are recreated too.
                let reuse_ok = dep
                    .spec
                    .needs
                    .iter()
                    .all(|n| outcomes.get(n) == Some(&Outcome::Reused));
                running.push(start_task(
                    ctx, engine, dep, &network, reuse_ok, &stop, built,
                ));
            }
        }
        let Some((name, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(outcome) => {
                outcomes.insert(name.clone(), outcome);
                schedule.finish(&name);
            }
            Err(e) => {
                if first_error.is_none() {
                    // Stop the others; they finish as cancelled.
                    stop.cancel();
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    for (k, v) in outputs::env_vars(&ctx.state.snapshot().containers) {
        ctx.events.note(Some(Phase::Deps), format!("{k}={v}"));
    }
    Ok(if outcomes.values().all(|o| *o == Outcome::Reused) {
        Outcome::Reused
    } else {
        Outcome::Ok
    })
}

/// One dependency as a task: its events, and cancellation when another one failed.
async fn start_task(
    ctx: &PhaseCtx,
    engine: &Engine,
    dep: &DependencyPlan,
    network: &str,
    reuse_ok: bool,
    stop: &CancellationToken,
    built: &BuiltImages,
) -> (String, anyhow::Result<Outcome>) {
    let task = ctx.events.task(Phase::Deps, &dep.name);
    let work = async {
        if built.is_planned(&dep.spec.image) {
            task.progress(format!("waiting for the build of {}", dep.spec.image));
            built.wait_for(&dep.spec.image).await?;
        }
        start_one(ctx, engine, dep, network, reuse_ok, &task).await
    };
    let result = tokio::select! {
        r = work => r,
        () = stop.cancelled() => {
            task.finish(Outcome::Cancelled, None);
            return (dep.name.clone(), Err(Stop::Interrupted.into()));
        }
    };
    match &result {
        Ok((outcome, detail)) => task.finish(*outcome, Some(detail.clone())),
        Err(e) if e.downcast_ref::<NotBuilt>().is_some() => {
            task.finish(Outcome::Cancelled, Some(format!("{e}")));
        }
        Err(e) => {
            let headline = e
                .downcast_ref::<DepFailure>()
                .map(DepFailure::headline)
                .unwrap_or_else(|| format!("{e:#}").lines().next().unwrap_or("").to_owned());
            task.finish(Outcome::Failed, Some(headline));
        }
    }
    (dep.name.clone(), result.map(|(o, _)| o))
}

async fn start_one(
    ctx: &PhaseCtx,
    engine: &Engine,
    dep: &DependencyPlan,
    network: &str,
    reuse_ok: bool,
    task: &TaskEvents,
) -> anyhow::Result<(Outcome, String)> {
    let docker = &engine.docker;
    let spec = &dep.spec;
    let image =
        images::inspect(docker, &spec.image)
            .await?
            .ok_or_else(|| DepFailure::ImageMissing {
                dep: dep.name.clone(),
                image: spec.image.clone(),
                engine: engine.kind.as_str().to_owned(),
            })?;
    let mounts: Vec<(PathBuf, &str, bool)> = spec
        .volumes
        .iter()
        .map(|v| {
            (
                ctx.plan.config_dir.join(&v.host),
                v.container.as_str(),
                v.read_only,
            )
        })
        .collect();
    for (host, _, _) in &mounts {
        if !host.exists() {
            return Err(DepFailure::MountMissing {
                dep: dep.name.clone(),
                path: host.display().to_string(),
            }
            .into());
        }
    }
    let mount_paths: Vec<(&std::path::Path, bool)> =
        mounts.iter().map(|(p, _, ro)| (p.as_path(), *ro)).collect();
    let hash = config_hash(spec, &image.id, &mount_paths)?;

    if let Some(existing) = containers::inspect(docker, &dep.container_name, network).await? {
        if reuse_ok
            && existing.labels.get(containers::CONFIG_HASH_LABEL) == Some(&hash)
            && still_good(docker, dep, &existing).await
        {
            record(ctx, dep, &existing, &hash)?;
            return Ok((
                Outcome::Reused,
                format!("kept ({})", describe(dep, &existing)),
            ));
        }
        task.progress(if reuse_ok {
            "config changed or not healthy: recreating"
        } else {
            "a dependency it needs was recreated: recreating"
        });
        containers::remove(docker, &existing.id).await?;
        ctx.state
            .update(|s| s.containers.retain(|c| c.name != dep.container_name))?;
    }

    check_host_ports(docker, dep).await?;
    let cspec = container_spec(ctx, dep, network, &hash, &mounts);
    task.progress("creating the container");
    // Recorded before it is sent: the engine finishes a create whose client died, so a kill
    // from here on leaves the name for `down` to settle (src/engine/claim.rs).
    let intent = CreateIntent {
        name: cspec.name.clone(),
        image: cspec.image.clone(),
    };
    ctx.state.update(|s| {
        if !s.creating.contains(&intent) {
            s.creating.push(intent.clone());
        }
    })?;
    let created = match containers::create(docker, &cspec).await {
        // A leftover that inspect did not see: one removed concurrently, or one a killed
        // `up` still had being created. Settle the name, then create once more.
        Err(e) if containers::is_conflict(&e) => {
            let env = &ctx.plan.environment;
            let limit = ctx.plan.engine_timeout;
            claim::settle_name(docker, &cspec.name, &cspec.image, env, limit).await?;
            containers::create(docker, &cspec).await
        }
        other => other,
    };
    if created.is_err() {
        // The engine answered: no create of it is left running.
        ctx.state
            .update(|s| s.creating.retain(|i| i.name != cspec.name))?;
    }
    let id = match created {
        Ok(id) => id,
        Err(e) if images::is_not_found(&e) => {
            return Err(DepFailure::ImageMissing {
                dep: dep.name.clone(),
                image: spec.image.clone(),
                engine: engine.kind.as_str().to_owned(),
            }
            .into())
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot create container {}: {e}",
                cspec.name
            ))
        }
    };
    // Recorded before it starts: Ctrl-C from here on leaves it named in the state.
    let created = ContainerInfo {
        id: id.clone(),
        ..Default::default()
    };
    record(ctx, dep, &created, &hash)?;

    task.progress("starting");
    if let Err(e) = containers::start(docker, &id).await {
        if containers::is_port_in_use(&e) {
            let msg = e.to_string();
            let port = spec
                .ports
                .iter()
                .filter_map(|p| p.host)
                .find(|h| msg.contains(&format!(":{h}")))
                .or_else(|| spec.ports.iter().find_map(|p| p.host));
            if let Some(port) = port {
                return Err(DepFailure::PortInUse {
                    dep: dep.name.clone(),
                    port,
                    holder: containers::holder_of_port(docker, port).await,
                }
                .into());
            }
        }
        return Err(anyhow::anyhow!(
            "cannot start container {}: {e}",
            dep.container_name
        ));
    }
    task.milestone(Milestone::ContainerStarted);
    // Watch for the exit from the moment it starts: a crash while waiting fails at once.
    let exited = containers::wait_exit(docker, &id);
    tokio::pin!(exited);
    let info = containers::inspect(docker, &id, network)
        .await?
        .unwrap_or(created);
    record(ctx, dep, &info, &hash)?;

    if spec.once {
        task.progress("running to completion");
        let code = exited.await?;
        if code != 0 {
            return Err(DepFailure::JobFailed {
                dep: dep.name.clone(),
                code,
                logs: containers::last_logs(docker, &id, LOG_TAIL).await,
            }
            .into());
        }
        return Ok((Outcome::Ok, "exited 0".to_owned()));
    }

    if !info.running {
        // Exited between start and inspect.
        return Err(DepFailure::Crashed {
            dep: dep.name.clone(),
            code: exited.await?,
            logs: containers::last_logs(docker, &id, LOG_TAIL).await,
        }
        .into());
    }
    let Some(hspec) = &spec.health else {
        return Ok((Outcome::Ok, format!("started ({})", describe(dep, &info))));
    };
    let probe = health::probe_for(hspec, &info.ports, info.address.as_deref())
        .map_err(|why| anyhow::anyhow!("dependency `{}`: {why}", dep.name))?;
    let Some(probe) = probe else {
        return Ok((Outcome::Ok, format!("started ({})", describe(dep, &info))));
    };
    task.milestone(Milestone::HealthWait);
    let started = Instant::now();
    // Validation bounds these durations; saturating keeps a value that slipped past from panicking.
    let waited = hspec.start_period.get().saturating_add(hspec.timeout.get());
    let deadline = crate::deadline::tokio_after(waited);
    let limit = hspec.interval.get().max(MIN_ATTEMPT_LIMIT);
    let mut ticker = tokio::time::interval(hspec.interval.get().max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut attempts = 0u32;
    let mut last = "no check finished yet".to_owned();
    let mut history = HealthHistory::new(ctx, &dep.container_name, probe.describe());
    loop {
        let outcome = tokio::select! {
            biased;
            code = &mut exited => Err(Waiting::Exited(code?)),
            () = tokio::time::sleep_until(deadline) => Err(Waiting::TimedOut),
            _ = ticker.tick() => {
                attempts += 1;
                tokio::select! {
                    biased;
                    code = &mut exited => Err(Waiting::Exited(code?)),
                    () = tokio::time::sleep_until(deadline) => Err(Waiting::TimedOut),
                    r = health::check(docker, &id, &probe, limit) => Ok(r),
                }
            }
        };
        if let Ok(r) = &outcome {
            history.push(r);
        }
        if outcome.is_err() || matches!(outcome, Ok(Ok(_))) {
            history.save();
        }
        match outcome {
            Ok(Ok(saw)) => {
                task.milestone(Milestone::Healthy);
                return Ok((
                    Outcome::Ok,
                    format!(
                        "healthy in {} ms after {attempts} check(s): {saw} ({})",
                        started.elapsed().as_millis(),
                        describe(dep, &info)
                    ),
                ));
            }
            Ok(Err(saw)) => {
                task.progress(format!(
                    "health check {attempts} ({}): {saw}",
                    probe.describe()
                ));
                last = saw;
            }
            Err(Waiting::Exited(code)) => {
                return Err(DepFailure::Crashed {
                    dep: dep.name.clone(),
                    code,
                    logs: containers::last_logs(docker, &id, LOG_TAIL).await,
                }
                .into())
            }
            Err(Waiting::TimedOut) => {
                return Err(DepFailure::Unhealthy {
                    dep: dep.name.clone(),
                    waited,
                    attempts,
                    probe: probe.describe(),
                    last,
                    logs: containers::last_logs(docker, &id, LOG_TAIL).await,
                }
                .into())
            }
        }
    }
}

enum Waiting {
    Exited(i64),
    TimedOut,
}

/// The health checks of one container, kept in the state file once the wait ends (bundles
/// show them later); a failure to save is a warning, not a failure of the dependency.
struct HealthHistory<'a> {
    ctx: &'a PhaseCtx,
    container: &'a str,
    probe: String,
    checks: Vec<HealthCheckRecord>,
}

impl<'a> HealthHistory<'a> {
    fn new(ctx: &'a PhaseCtx, container: &'a str, probe: String) -> Self {
        Self {
            ctx,
            container,
            probe,
            checks: Vec::new(),
        }
    }

    fn push(&mut self, result: &Result<String, String>) {
        let (ok, saw) = match result {
            Ok(s) => (true, s.clone()),
            Err(s) => (false, s.clone()),
        };
        if self.checks.len() == HEALTH_HISTORY {
            self.checks.remove(0);
        }
        self.checks.push(HealthCheckRecord {
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            ok,
            probe: self.probe.clone(),
            saw,
        });
    }

    fn save(&self) {
        let checks = self.checks.clone();
        let saved = self.ctx.state.update(|s| {
            if let Some(c) = s.containers.iter_mut().find(|c| c.name == self.container) {
                c.health = checks;
            }
        });
        if let Err(e) = saved {
            self.ctx.events.warn(
                Some(Phase::Deps),
                format!(
                    "cannot record the health checks of {}: {e:#}",
                    self.container
                ),
            );
        }
    }
}

/// An existing container with the same config: a job that exited 0, or a running service
/// that passes one health check.
async fn still_good(docker: &bollard::Docker, dep: &DependencyPlan, c: &ContainerInfo) -> bool {
    if dep.spec.once {
        return c.exit_code == Some(0);
    }
    if !c.running {
        return false;
    }
    let Some(h) = &dep.spec.health else {
        return true;
    };
    match health::probe_for(h, &c.ports, c.address.as_deref()) {
        Ok(Some(p)) => {
            let limit = h.interval.get().max(MIN_ATTEMPT_LIMIT);
            health::check(docker, &c.id, &p, limit).await.is_ok()
        }
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Fixed host ports must be free before the container is created; say who holds one.
async fn check_host_ports(docker: &bollard::Docker, dep: &DependencyPlan) -> anyhow::Result<()> {
    for p in &dep.spec.ports {
        let Some(port) = p.host else { continue };
        if p.protocol != crate::config::Protocol::Tcp {
            continue;
        }
        if let Err(e) = std::net::TcpListener::bind(("0.0.0.0", port)) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(DepFailure::PortInUse {
                    dep: dep.name.clone(),
                    port,
                    holder: containers::holder_of_port(docker, port).await,
                }
                .into());
            }
        }
    }
    Ok(())
}

fn container_spec(
    ctx: &PhaseCtx,
    dep: &DependencyPlan,
    network: &str,
    hash: &str,
    mounts: &[(PathBuf, &str, bool)],
) -> ContainerSpec {
    let spec = &dep.spec;
    ContainerSpec {
        name: dep.container_name.clone(),
        image: spec.image.clone(),
        env: spec.env.clone(),
        command: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        workdir: spec.workdir.clone(),
        user: spec.user.clone(),
        binds: mounts
            .iter()
            .map(|(host, container, ro)| {
                format!(
                    "{}:{container}:{}",
                    host.display(),
                    if *ro { "ro" } else { "rw" }
                )
            })
            .collect(),
        ports: spec
            .ports
            .iter()
            .map(|p| (format!("{}/{}", p.container, p.protocol), p.host))
            .collect(),
        network: network.to_owned(),
        aliases: vec![dep.name.clone()],
        extra_hosts: started_hosts(ctx, dep),
        labels: BTreeMap::from([
            (
                containers::ENV_LABEL.to_owned(),
                ctx.plan.environment.clone(),
            ),
            (containers::DEP_LABEL.to_owned(), dep.name.clone()),
            (containers::CONFIG_HASH_LABEL.to_owned(), hash.to_owned()),
        ]),
    }
}

/// `/etc/hosts` lines for the dependencies already running: their names resolve even where
/// the network has no DNS (Podman with CNI and no `dnsname` plugin).
fn started_hosts(ctx: &PhaseCtx, dep: &DependencyPlan) -> Vec<String> {
    let mut hosts = Vec::new();
    for c in ctx.state.snapshot().containers {
        let Some(addr) = c.address.filter(|_| c.dependency != dep.name) else {
            continue;
        };
        hosts.push(format!("{}:{addr}", c.dependency));
        hosts.push(format!("{}:{addr}", c.name));
    }
    hosts
}

/// Record (or update) the container of `dep` in the state.
fn record(
    ctx: &PhaseCtx,
    dep: &DependencyPlan,
    info: &ContainerInfo,
    hash: &str,
) -> anyhow::Result<()> {
    let rec = ContainerRecord {
        name: dep.container_name.clone(),
        id: info.id.clone(),
        dependency: dep.name.clone(),
        config_hash: hash.to_owned(),
        ports: info.ports.clone(),
        address: info.address.clone(),
        health: Vec::new(),
    };
    ctx.state.update(|s| {
        s.creating.retain(|i| i.name != rec.name);
        match s.containers.iter_mut().find(|c| c.name == rec.name) {
            // The same container keeps the checks of the `up` that started it.
            Some(c) if c.id == rec.id => {
                let health = std::mem::take(&mut c.health);
                *c = ContainerRecord { health, ..rec };
            }
            Some(c) => *c = rec,
            None => s.containers.push(rec),
        }
    })
}

/// `5432/tcp → 127.0.0.1:15432, 10.89.0.2`
fn describe(dep: &DependencyPlan, c: &ContainerInfo) -> String {
    let mut parts: Vec<String> = c
        .ports
        .iter()
        .map(|(k, h)| format!("{k} → 127.0.0.1:{h}"))
        .collect();
    if let Some(a) = &c.address {
        parts.push(format!("{} at {a}", dep.name));
    }
    if parts.is_empty() {
        dep.container_name.clone()
    } else {
        parts.join(", ")
    }
}

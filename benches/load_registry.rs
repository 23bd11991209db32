//! Benchmark (issue 18): a ~300 MB image rebuilt with one changed ~1 MB top layer, loaded the
//! two ways kubetest can — the docker-archive kind's `load image-archive` streams into every
//! node, against a registry (kubetest's push, then a second engine's pull) — bytes moved and
//! seconds, on both engines, interleaved, medians of the rounds.
//!
//! Run: `cargo bench --bench load_registry` (engines from KUBETEST_TEST_PODMAN /
//! KUBETEST_TEST_DOCKER, default the sockets of .ci/engines.sh; `KUBETEST_BENCH_ROUNDS`, default
//! 3; needs Debian's docker-registry, .ci/registry.sh). Per pushing engine it starts a plain-HTTP
//! registry on a free 127.0.0.1 port with a counting TCP proxy in front of it; the engines talk
//! to the proxy, so the bytes are measured on the wire (HTTP included), then checked against
//! the blob sizes the registry's manifests list. The puller is the other engine: the stand-in
//! for a kind node's containerd, which skips blobs it holds by digest the same way. Docker pulls
//! plain HTTP from 127.0.0.0/8 (moby's default `insecure-registries`); Podman is asked
//! `tlsVerify=false` on its libpod pull endpoint (`POST /libpod/images/pull`, query `tlsVerify`,
//! default true: podman pkg/api/handlers/libpod/images_pull.go). Everything it makes is named
//! `kt-bench-lreg-<pid>-…` and removed at the end.

#[path = "support/measure.rs"]
mod measure;
#[path = "../tests/common/test_engines.rs"]
mod test_engines;
use measure::{random_file, reset_peak, vm_hwm_kib};

#[allow(dead_code)]
#[path = "../tests/integration/registry_support.rs"]
mod registry_support;

use futures::StreamExt;
use kubetest::cluster::archive;
use kubetest::engine::build::{build, BuildRequest};
use kubetest::engine::context::scan;
use kubetest::engine::{connect_endpoint, images, push, raw_api, Endpoint, Engine};
use registry_support::Registry;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIG: usize = 300 * 1024 * 1024;
const SMALL: usize = 1024 * 1024;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    if !registry_support::available() {
        return Ok(());
    }
    let rounds: usize = std::env::var("KUBETEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Runtime::new()?;
    let mut engines = Vec::new();
    for (name, var, url, up) in test_engines::test_engines() {
        if !up {
            println!("{name}: not reachable at {url}, skipped");
            continue;
        }
        let ep = Endpoint {
            url: url.clone(),
            source: var.to_owned(),
        };
        engines.push((name, rt.block_on(connect_endpoint(&ep, None))?));
    }
    if engines.len() < 2 {
        println!(
            "the registry path needs both engines (one pushes, the other pulls); nothing measured"
        );
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let mut lanes = Vec::new();
    for (i, (name, _)) in engines.iter().enumerate() {
        // The registry is started outside the runtime (its readiness probe blocks).
        let registry = Registry::plain();
        lanes.push(Lane::new(
            name,
            i,
            (i + 1) % engines.len(),
            registry,
            work.path(),
        )?);
    }
    let result = rt.block_on(run(&engines, &mut lanes, rounds));
    rt.block_on(cleanup(&engines, &lanes));
    result?;
    Ok(())
}

/// One pushing engine: its context, its registry behind a counting proxy, what it made.
struct Lane {
    name: &'static str,
    pusher: usize,
    puller: usize,
    ctx: PathBuf,
    seed: u64,
    registry: Registry,
    proxy: Option<Proxy>,
    /// `localhost/kt-bench-lreg-<pid>-<engine>`.
    local: String,
    /// `kt-bench-lreg-<pid>/<engine>` in the registry.
    repo: String,
    /// References to remove afterwards, per engine index.
    made: Vec<(usize, String)>,
    m: Measured,
}

#[derive(Default)]
struct Measured {
    first_build: Duration,
    first_push: (u64, Duration),
    first_pull: (u64, Duration),
    rebuild: Vec<Duration>,
    archive: Vec<(u64, Duration)>,
    /// Loading the archive into the other engine (the stand-in for `ctr import` in a node).
    import: Vec<Duration>,
    push: Vec<(u64, Duration)>,
    pull: Vec<(u64, Duration)>,
    /// Bytes of blobs + manifest the registry lists as new in each rebuild.
    new_in_registry: Vec<u64>,
    /// Layers the rebuild shares with the previous build, of how many.
    shared_layers: Vec<(usize, usize)>,
    /// The last version pushed again to a new repository of the same registry.
    cross_repo: (u64, Duration),
}

impl Lane {
    fn new(
        name: &'static str,
        pusher: usize,
        puller: usize,
        registry: Registry,
        work: &Path,
    ) -> Res<Self> {
        let pid = std::process::id();
        let ctx = work.join(name);
        std::fs::create_dir_all(&ctx)?;
        std::fs::copy("/bin/busybox", ctx.join("busybox"))?;
        std::fs::write(
            ctx.join("Containerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY big /big\nCOPY small /small\n",
        )?;
        // Per engine and per run: the puller must not hold this content from its own builds,
        // and no earlier run's layer cache may serve the first build.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64
            ^ ((pusher as u64 + 1) << 56);
        random_file(&ctx.join("big"), BIG, seed)?;
        Ok(Self {
            name,
            pusher,
            puller,
            ctx,
            seed,
            registry,
            proxy: None,
            local: format!("localhost/kt-bench-lreg-{pid}-{name}"),
            repo: format!("kt-bench-lreg-{pid}/{name}"),
            made: Vec::new(),
            m: Measured::default(),
        })
    }

    fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().expect("proxy started in run()")
    }

    /// `127.0.0.1:<proxy>/kt-bench-lreg-<pid>/<engine>:<version>`: what the engines see.
    fn remote(&self, version: usize) -> String {
        format!("{}/{}:{version}", self.proxy().addr, self.repo)
    }

    /// Build version `version` (its own ~1 MB top layer) through kubetest's build code.
    async fn build(&mut self, e: &Engine, version: usize) -> Res<Duration> {
        random_file(
            &self.ctx.join("small"),
            SMALL,
            self.seed ^ (version as u64 + 7),
        )?;
        let tag = format!("{}:{version}", self.local);
        self.made.push((self.pusher, tag.clone()));
        let t = Instant::now();
        build(
            &e.docker,
            BuildRequest {
                tag: tag.clone(),
                context: scan(&self.ctx, "Containerfile")?,
                args: BTreeMap::new(),
                target: None,
                labels: BTreeMap::new(),
            },
            |_| {},
        )
        .await
        .map_err(|f| format!("{}: build {tag}: {}", self.name, f.message))?;
        Ok(t.elapsed())
    }

    /// kubetest's push of `version` to the registry: bytes through the proxy, seconds.
    async fn push(&mut self, e: &Engine, version: usize) -> Res<(u64, Duration)> {
        let target = self.remote(version);
        self.push_to(e, version, target).await
    }

    async fn push_to(
        &mut self,
        e: &Engine,
        version: usize,
        target: String,
    ) -> Res<(u64, Duration)> {
        self.made.push((self.pusher, target.clone()));
        let before = self.proxy().total();
        let t = Instant::now();
        push::push(
            &e.docker,
            e.kind,
            &format!("{}:{version}", self.local),
            &target,
            None,
            false,
        )
        .await?;
        Ok((self.proxy().total() - before, t.elapsed()))
    }

    /// The other engine pulls `version`: bytes through the proxy, seconds.
    async fn pull(&mut self, e: &Engine, version: usize) -> Res<(u64, Duration)> {
        let reference = self.remote(version);
        self.made.push((self.puller, reference.clone()));
        let before = self.proxy().total();
        let t = Instant::now();
        pull(e, &reference).await?;
        Ok((self.proxy().total() - before, t.elapsed()))
    }
}

async fn run(engines: &[(&str, Engine)], lanes: &mut [Lane], rounds: usize) -> Res<()> {
    for lane in lanes.iter_mut() {
        lane.proxy = Some(Proxy::start(lane.registry.host.clone()).await?);
    }
    // Version 0: what the registry and the puller already hold before the change.
    for lane in lanes.iter_mut() {
        let (pusher, puller) = (&engines[lane.pusher].1, &engines[lane.puller].1);
        lane.m.first_build = lane.build(pusher, 0).await?;
        lane.m.first_push = lane.push(pusher, 0).await?;
        lane.m.first_pull = lane.pull(puller, 0).await?;
        println!(
            "{}: version 0 built in {:.1}s, pushed {} in {:.1}s, pulled by {} ({}) in {:.1}s",
            lane.name,
            lane.m.first_build.as_secs_f64(),
            mb(lane.m.first_push.0),
            lane.m.first_push.1.as_secs_f64(),
            engines[lane.puller].0,
            mb(lane.m.first_pull.0),
            lane.m.first_pull.1.as_secs_f64(),
        );
    }
    reset_peak();
    let archive_dir = tempfile::tempdir()?;
    for v in 1..=rounds {
        // Interleaved: each round measures every engine once, so both see the same load.
        for lane in lanes.iter_mut() {
            let (pusher, puller) = (&engines[lane.pusher].1, &engines[lane.puller].1);
            let rebuild = lane.build(pusher, v).await?;
            lane.m.rebuild.push(rebuild);
            lane.m.shared_layers.push(
                shared_layers(
                    pusher,
                    &format!("{}:{}", lane.local, v - 1),
                    &format!("{}:{v}", lane.local),
                )
                .await?,
            );
            // Archive path: the export kubetest writes for `kind load image-archive`.
            let image = format!("{}:{v}", lane.local);
            let t = Instant::now();
            let (file, size) = archive::export(&pusher.docker, &[&image], archive_dir.path())
                .await
                .map_err(|e| format!("{}: export {image}: {e:#}", lane.name))?;
            lane.m.archive.push((size, t.elapsed()));
            // Registry path: push, then the other engine pulls.
            let pushed = lane.push(pusher, v).await?;
            lane.m.push.push(pushed);
            lane.m
                .new_in_registry
                .push(new_in_registry(&lane.registry, &lane.repo, v).await?);
            let pulled = lane.pull(puller, v).await?;
            lane.m.pull.push(pulled);
            // After the pull, so the pull cannot profit from it; the puller then holds the
            // previous version, as a node that received the previous archive does.
            lane.made.push((lane.puller, image.clone()));
            let t = Instant::now();
            import(puller, file.path()).await?;
            let imported = t.elapsed();
            lane.m.import.push(imported);
            drop(file);
            println!(
                "{} round {v}: rebuild {:.1}s; archive {} exported {:.2}s, imported by {} {:.2}s; push {} {:.2}s; pull by {} {} {:.2}s",
                lane.name,
                rebuild.as_secs_f64(),
                mb(size),
                lane.m.archive.last().map_or(0.0, |a| a.1.as_secs_f64()),
                engines[lane.puller].0,
                imported.as_secs_f64(),
                mb(pushed.0),
                pushed.1.as_secs_f64(),
                engines[lane.puller].0,
                mb(pulled.0),
                pulled.1.as_secs_f64(),
            );
        }
    }
    let peak = vm_hwm_kib();
    // Another image name in the same registry (a second image on the same base, or a
    // per-run repository): can the engine mount the blobs the registry has under another
    // repository instead of sending them?
    for lane in lanes.iter_mut() {
        let target = format!("{}/{}-copy:{rounds}", lane.proxy().addr, lane.repo);
        lane.m.cross_repo = lane
            .push_to(&engines[lane.pusher].1, rounds, target)
            .await?;
    }
    println!();
    println!("medians of {rounds} interleaved rounds; bytes measured by a TCP proxy in front of the registry (both directions, HTTP included)");
    println!(
        "| pushing engine | path | bytes moved | seconds | bytes vs archive | seconds vs archive |"
    );
    println!("|---|---|---|---|---|---|");
    for lane in lanes.iter() {
        let m = &lane.m;
        let puller = engines[lane.puller].0;
        let export = median_pair(&m.archive);
        let import = (export.0, median(&mut m.import.clone()));
        let archive = sum_median(
            &m.archive,
            &m.import.iter().map(|d| (0, *d)).collect::<Vec<_>>(),
        );
        let push = median_pair(&m.push);
        let pull = median_pair(&m.pull);
        let registry = sum_median(&m.push, &m.pull);
        let row = |path: &str, (b, s): (u64, Duration)| {
            println!(
                "| {} | {path} | {} | {:.2} s | {:.4} | {:.2} |",
                lane.name,
                mb(b),
                s.as_secs_f64(),
                b as f64 / archive.0 as f64,
                s.as_secs_f64() / archive.1.as_secs_f64(),
            );
        };
        row(
            "archive: kubetest's export (what `kind load image-archive` streams into each node)",
            export,
        );
        row(
            &format!("archive: load into {puller} (stand-in for the node's `ctr import`)"),
            import,
        );
        row("**archive: export + load**", archive);
        row("registry: kubetest's push", push);
        row(
            &format!("registry: pull by {puller} (stand-in for the node's containerd)"),
            pull,
        );
        row("**registry: push + pull**", registry);
    }
    println!();
    for lane in lanes.iter() {
        let m = &lane.m;
        let rebuild = median(&mut m.rebuild.clone());
        let new = median(&mut m.new_in_registry.clone());
        let push = median_pair(&m.push).0;
        let shared = m.shared_layers.last().copied().unwrap_or_default();
        println!(
            "{}: rebuild {:.1} s, sharing {} of {} layers with the previous build; the registry lists {} of new blobs + manifest per rebuild, the push moved {} (HTTP: {}); first push {} in {:.1} s, first pull {} in {:.1} s; the same image pushed to a new repository of that registry: {} in {:.2} s",
            lane.name,
            rebuild.as_secs_f64(),
            shared.0,
            shared.1,
            mb(new),
            mb(push),
            kb(push.saturating_sub(new)),
            mb(m.first_push.0),
            m.first_push.1.as_secs_f64(),
            mb(m.first_pull.0),
            m.first_pull.1.as_secs_f64(),
            mb(m.cross_repo.0),
            m.cross_repo.1.as_secs_f64(),
        );
        // A push that moves more than what is new plus HTTP re-sent blobs the registry had.
        if push > new + 512 * 1024 {
            println!(
                "{}: WARNING: the push moved {} more than the registry lacked: it re-sent blobs",
                lane.name,
                mb(push - new)
            );
        }
    }
    println!();
    println!(
        "peak RSS of the bench process during the rounds: {} MiB",
        peak / 1024
    );
    Ok(())
}

/// Remove every image reference the bench made, in the engine it made it in.
async fn cleanup(engines: &[(&str, Engine)], lanes: &[Lane]) {
    for lane in lanes {
        for (i, reference) in lane.made.iter().rev() {
            if let Err(e) = images::remove(&engines[*i].1.docker, reference).await {
                eprintln!("{}: {e:#}", engines[*i].0);
            }
        }
    }
}

/// Pull `reference` into `e`: Docker through `POST /images/create` (127.0.0.0/8 is insecure by
/// default), Podman through its libpod endpoint with `tlsVerify=false`.
async fn pull(e: &Engine, reference: &str) -> Res<()> {
    match e.kind {
        kubetest::engine::EngineKind::Docker => {
            let (repo, tag) = push::split_tag(reference);
            let mut s = e.docker.create_image(
                Some(
                    bollard::query_parameters::CreateImageOptionsBuilder::default()
                        .from_image(repo)
                        .tag(tag)
                        .build(),
                ),
                None,
                None,
            );
            while let Some(item) = s.next().await {
                item.map_err(|err| format!("docker pull {reference}: {err}"))?;
            }
            Ok(())
        }
        kubetest::engine::EngineKind::Podman => {
            let sock = e
                .endpoint
                .url
                .strip_prefix("unix://")
                .ok_or("the Podman puller must be a unix socket")?;
            let path = format!(
                "/v4.0.0/libpod/images/pull?reference={}&tlsVerify=false&quiet=true",
                raw_api::query_escape(reference)
            );
            let mut s = tokio::net::UnixStream::connect(sock).await?;
            s.write_all(
                format!("POST {path} HTTP/1.0\r\nHost: podman\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await?;
            let r = raw_api::parse_http(&raw)?;
            let report: serde_json::Value = serde_json::from_slice(&r.body)?;
            let error = report["error"].as_str().unwrap_or("");
            if r.status != 200 || !error.is_empty() {
                return Err(format!(
                    "podman pull {reference}: HTTP {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )
                .into());
            }
            Ok(())
        }
    }
}

/// Load the docker-archive at `path` into `e` (`POST /images/load`), streamed from disk.
async fn import(e: &Engine, path: &Path) -> Res<()> {
    let file = tokio::fs::File::open(path).await?;
    let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    let mut s = e.docker.import_image_stream(
        bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build(),
        body,
        None,
    );
    while let Some(item) = s.next().await {
        let info = item.map_err(|err| format!("load {}: {err}", path.display()))?;
        if let Some(d) = info.error_detail {
            return Err(
                format!("load {}: {}", path.display(), d.message.unwrap_or_default()).into(),
            );
        }
    }
    Ok(())
}

/// How many of `new`'s layers (diff IDs) `old` has too, and how many `new` has.
async fn shared_layers(e: &Engine, old: &str, new: &str) -> Res<(usize, usize)> {
    let layers =
        |i: bollard::models::ImageInspect| i.root_fs.and_then(|r| r.layers).unwrap_or_default();
    let old: HashSet<String> = layers(e.docker.inspect_image(old).await?)
        .into_iter()
        .collect();
    let new = layers(e.docker.inspect_image(new).await?);
    Ok((new.iter().filter(|l| old.contains(*l)).count(), new.len()))
}

/// Bytes of the blobs version `v`'s manifest lists that version `v - 1`'s does not, plus the
/// manifest itself: what a push of `v` has to send at least (asked of the registry directly).
async fn new_in_registry(r: &Registry, repo: &str, v: usize) -> Res<u64> {
    let manifest = |tag: usize| async move {
        let body = r
            .client()
            .get(r.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
            )
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        let mut blobs = vec![json["config"].clone()];
        blobs.extend(json["layers"].as_array().cloned().unwrap_or_default());
        let blobs: Vec<(String, u64)> = blobs
            .iter()
            .map(|b| {
                (
                    b["digest"].as_str().unwrap_or_default().to_owned(),
                    b["size"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        Ok::<_, Box<dyn std::error::Error>>((body.len() as u64, blobs))
    };
    let (_, old) = manifest(v - 1).await?;
    let (size, new) = manifest(v).await?;
    let old: HashSet<&str> = old.iter().map(|(d, _)| d.as_str()).collect();
    Ok(size
        + new
            .iter()
            .filter(|(d, _)| !old.contains(d.as_str()))
            .map(|(_, s)| s)
            .sum::<u64>())
}

/// A TCP proxy on a free 127.0.0.1 port to `target`, counting the bytes it forwards.
struct Proxy {
    addr: std::net::SocketAddr,
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Res<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let counter = bytes.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, counter) = (target.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, &counter), pump(sr, cw, &counter));
                });
            }
        });
        Ok(Self { addr, bytes, task })
    }

    /// Bytes forwarded so far, both directions.
    fn total(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: &AtomicU64,
) {
    let mut buf = vec![0u8; 256 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown().await;
}

fn kb(bytes: u64) -> String {
    format!("{:.1} kB", bytes as f64 / 1e3)
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn median<T: Ord + Copy + Default>(v: &mut [T]) -> T {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Medians of the per-round sums of two steps (bytes and seconds).
fn sum_median(a: &[(u64, Duration)], b: &[(u64, Duration)]) -> (u64, Duration) {
    let sums: Vec<(u64, Duration)> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x.0 + y.0, x.1 + y.1))
        .collect();
    median_pair(&sums)
}

/// Median bytes and median seconds, each on its own.
fn median_pair(v: &[(u64, Duration)]) -> (u64, Duration) {
    let mut b: Vec<u64> = v.iter().map(|p| p.0).collect();
    let mut s: Vec<Duration> = v.iter().map(|p| p.1).collect();
    (median(&mut b), median(&mut s))
}

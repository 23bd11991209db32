//! 4 small uncached images: `kubetest up` (with `--jobs` 1, 2 and 4) against four `docker
//! build` / `podman --remote build` CLIs run in parallel against the same engine, in the same
//! run, interleaved (kubetest, CLIs, kubetest, CLIs…) so both sides see the same machine load;
//! then the wall time of an `up` whose builds are all cached. Prints medians and ratios.
//!
//! Run with `cargo bench --bench builds` (engines: see .ci/engines.sh; `KUBETEST_TEST_PODMAN`
//! and `KUBETEST_TEST_DOCKER` override the endpoints; `KUBETEST_BENCH_ROUNDS` the rounds).
//! The docker CLI runs the legacy builder (`DOCKER_BUILDKIT=0`), which is what the engine API
//! `POST /build` that kubetest uses runs too.

#[path = "../tests/common/test_engines.rs"]
mod test_engines;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGES: usize = 4;
const JOBS: [usize; 3] = [1, 2, 4];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::var("KUBETEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    for (name, _var, url, up) in test_engines::test_engines() {
        if !up {
            println!("{name}: not reachable at {url}, skipped");
            continue;
        }
        let dir = tempfile::tempdir()?;
        environment(dir.path(), name)?;
        // Unique per bench run: the engine's layer cache outlives a run, and a stamp an
        // earlier run already built would make its COPY and RUN steps cache hits.
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let mut kt: Vec<Vec<Duration>> = vec![Vec::new(); JOBS.len()];
        let mut cli = Vec::new();
        let mut cached = Vec::new();
        for round in 0..rounds {
            for (j, jobs) in JOBS.iter().enumerate() {
                // New content in every context, so the engine's layer cache cannot help.
                touch(dir.path(), &format!("kt{jobs}-{run}-{round}"))?;
                kt[j].push(kubetest(
                    name,
                    &url,
                    dir.path(),
                    &["up", "--jobs", &jobs.to_string()],
                )?);
                if j == JOBS.len() - 1 {
                    cached.push(kubetest(name, &url, dir.path(), &["up"])?);
                }
                kubetest(name, &url, dir.path(), &["down", "--images"])?;
                // The peer right after each kubetest run: both see the same load.
                touch(dir.path(), &format!("cli{jobs}-{run}-{round}"))?;
                cli.push(parallel_cli(name, &url, dir.path())?);
            }
        }
        let peer = median(&mut cli);
        let peer_name = if name == "docker" {
            "4 parallel `docker build`"
        } else {
            "4 parallel `podman --remote build`"
        };
        println!(
            "{name}: {IMAGES} uncached images, medians of {rounds} interleaved rounds ({} peer runs):",
            cli.len()
        );
        println!("  peer {peer_name}: {:.2}s", peer.as_secs_f64());
        for (j, jobs) in JOBS.iter().enumerate() {
            let m = median(&mut kt[j]);
            println!(
                "  kubetest up --jobs {jobs}: {:.2}s  ratio to peer x{:.2}",
                m.as_secs_f64(),
                m.as_secs_f64() / peer.as_secs_f64()
            );
        }
        println!(
            "  kubetest up, all cached: {:.0} ms",
            median(&mut cached).as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// `kubetest -f DIR/kubetest.yaml ARGS` against this engine only; its wall time.
fn kubetest(engine: &str, url: &str, dir: &Path, args: &[&str]) -> Result<Duration, String> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubetest"));
    c.current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env(
            if engine == "podman" {
                "CONTAINER_HOST"
            } else {
                "DOCKER_HOST"
            },
            url,
        )
        .args(["-q", "--output", "plain", "-f", "kubetest.yaml"])
        .args(args);
    let t = Instant::now();
    let out = c
        .output()
        .map_err(|e| format!("cannot run kubetest: {e}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{engine}: kubetest {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

/// The CLI of `engine` talking to the same engine kubetest uses.
fn engine_cli(engine: &str, url: &str) -> Command {
    if engine == "docker" {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", url).env("DOCKER_BUILDKIT", "0");
        c
    } else {
        let mut c = Command::new("podman");
        c.args(["--remote", "--url", url]);
        c
    }
}

/// The same 4 builds by 4 CLI processes at once; then their images are removed again.
fn parallel_cli(engine: &str, url: &str, dir: &Path) -> Result<Duration, String> {
    let t = Instant::now();
    let children: Vec<_> = (0..IMAGES)
        .map(|i| {
            engine_cli(engine, url)
                .args(["build", "-q", "-t", &cli_tag(i), "-f", "Containerfile", "."])
                .current_dir(dir.join(format!("img{i}")))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run the {engine} CLI: {e}"))
        })
        .collect::<Result<_, _>>()?;
    for c in children {
        let out = c.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{engine} build failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let took = t.elapsed();
    let _ = engine_cli(engine, url)
        .arg("rmi")
        .args((0..IMAGES).map(cli_tag))
        .output();
    Ok(took)
}

fn cli_tag(i: usize) -> String {
    format!("localhost/kt-bench-cli-{i}:1")
}

fn touch(dir: &Path, stamp: &str) -> std::io::Result<()> {
    for i in 0..IMAGES {
        std::fs::write(dir.join(format!("img{i}/stamp")), stamp)?;
    }
    Ok(())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// 4 images FROM scratch with busybox and a RUN step each.
fn environment(dir: &Path, engine: &str) -> std::io::Result<()> {
    let mut yaml =
        format!("name: bench-builds\nengine: {engine}\ncluster: {{ provider: none }}\nimages:\n");
    for i in 0..IMAGES {
        let ctx = dir.join(format!("img{i}"));
        std::fs::create_dir_all(&ctx)?;
        std::fs::copy("/bin/busybox", ctx.join("busybox"))?;
        std::fs::write(ctx.join("stamp"), "0")?;
        std::fs::write(
            ctx.join("Containerfile"),
            format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY stamp /stamp\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo image {i} > /id\"]\n"),
        )?;
        yaml.push_str(&format!(
            "  - {{ name: localhost/kt-bench-{i}:1, context: img{i} }}\n"
        ));
    }
    std::fs::write(dir.join("kubetest.yaml"), yaml)
}

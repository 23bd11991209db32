//! Wall time of `kubetest up` building 4 small images with `--jobs 1` vs `--jobs 4`, and of
//! an `up` whose builds are all cached, on each engine that answers.
//!
//! Run with `cargo bench --bench builds` (engines: see .ci/engines.sh; `KUBETEST_TEST_PODMAN`
//! and `KUBETEST_TEST_DOCKER` override the endpoints).

#[path = "../tests/common/test_engines.rs"]
mod test_engines;

use clap::Parser;
use kubetest::cli::Cli;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const IMAGES: usize = 4;
const ROUNDS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    for (name, _var, url, up) in test_engines::test_engines() {
        if !up {
            println!("{name}: not reachable at {url}, skipped");
            continue;
        }
        // Point discovery at this engine only (single-threaded here, before any command runs).
        std::env::remove_var("CONTAINER_HOST");
        std::env::remove_var("DOCKER_HOST");
        std::env::set_var(
            if name == "podman" {
                "CONTAINER_HOST"
            } else {
                "DOCKER_HOST"
            },
            &url,
        );

        let dir = tempfile::tempdir()?;
        environment(dir.path(), name)?;
        let cfg = dir.path().join("kubetest.yaml");
        let up = |extra: &[&str]| -> Result<Duration, Box<dyn std::error::Error>> {
            let mut args = vec![
                "kubetest",
                "-q",
                "--output",
                "plain",
                "-f",
                cfg.to_str().unwrap_or_default(),
                "up",
            ];
            args.extend_from_slice(extra);
            let cli = Cli::try_parse_from(args)?;
            let t = Instant::now();
            let code = rt.block_on(kubetest::app::run(cli, CancellationToken::new()));
            if code != 0 {
                return Err(format!("{name}: kubetest up {extra:?} exited {code}").into());
            }
            Ok(t.elapsed())
        };
        let mut seq = Vec::new();
        let mut par = Vec::new();
        let mut cached = Vec::new();
        // Unique per bench run: the engine's layer cache outlives a run, and a stamp an
        // earlier run already built would make its COPY and RUN steps cache hits.
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        for round in 0..ROUNDS {
            // New content in every context, so the engine's layer cache cannot help either.
            touch(dir.path(), &format!("seq-{run}-{round}"))?;
            seq.push(up(&["--jobs", "1"])?);
            touch(dir.path(), &format!("par-{run}-{round}"))?;
            par.push(up(&["--jobs", &IMAGES.to_string()])?);
            cached.push(up(&[])?);
        }
        println!(
            "{name}: {IMAGES} images, median of {ROUNDS}: sequential {:.2}s, parallel {:.2}s (x{:.2}), all cached {:.0} ms",
            median(&mut seq).as_secs_f64(),
            median(&mut par).as_secs_f64(),
            median(&mut seq).as_secs_f64() / median(&mut par).as_secs_f64(),
            median(&mut cached).as_secs_f64() * 1000.0
        );
        let cli = Cli::try_parse_from([
            "kubetest",
            "-q",
            "-f",
            cfg.to_str().unwrap_or_default(),
            "down",
            "--images",
        ])?;
        rt.block_on(kubetest::app::run(cli, CancellationToken::new()));
    }
    Ok(())
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

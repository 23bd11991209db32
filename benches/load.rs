//! Benchmark: export 3 images (~200 MB in total, random data FROM scratch) from each engine
//! into one docker-archive on disk, as `kubetest up` does before `kind load image-archive`.
//! Prints wall time and peak RSS (VmHWM, reset after the builds) per engine.
//!
//! Run: `cargo bench --bench load` (engines from KUBETEST_TEST_PODMAN / KUBETEST_TEST_DOCKER,
//! default the sockets of .ci/engines.sh). Images are named `localhost/kt-bench-load-*` and
//! removed afterwards.

use kubetest::cluster::archive;
use kubetest::engine::build::{build, BuildRequest};
use kubetest::engine::context::scan;
use kubetest::engine::{connect_endpoint, images, Endpoint};
use std::collections::BTreeMap;
use std::path::Path;

#[path = "support/measure.rs"]
mod measure;
#[path = "../tests/common/test_engines.rs"]
mod test_engines;
use measure::{random_file, reset_peak, vm_hwm_kib};
use std::time::Instant;

const IMAGES: usize = 3;
const BYTES_PER_IMAGE: usize = 67 * 1024 * 1024;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut ran = 0;
    for (name, var, url, _up) in test_engines::test_engines() {
        let ep = Endpoint {
            url: url.clone(),
            source: var.to_owned(),
        };
        match rt.block_on(connect_endpoint(&ep, None)) {
            Ok(engine) => {
                rt.block_on(bench(name, &engine));
                ran += 1;
            }
            Err(why) => eprintln!("{name}: skipped ({url}: {why})"),
        }
    }
    if ran == 0 {
        eprintln!("no engine answered; nothing measured");
    }
}

async fn bench(label: &str, engine: &kubetest::engine::Engine) {
    let work = tempfile::tempdir().expect("temp dir");
    let names: Vec<String> = (0..IMAGES)
        .map(|i| format!("localhost/kt-bench-load-{label}-{i}:1"))
        .collect();
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let dir = work.path().join(format!("ctx{i}"));
        random_context(&dir, i as u64 + 1);
        let ctx = scan(&dir, "Containerfile").expect("scan context");
        build(
            &engine.docker,
            BuildRequest {
                tag: name.clone(),
                context: ctx,
                args: BTreeMap::new(),
                target: None,
                labels: BTreeMap::new(),
            },
            |_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: build {name}: {e}"));
        std::fs::remove_dir_all(&dir).ok();
    }
    let built = started.elapsed();

    let before = vm_hwm_kib();
    reset_peak();
    let after_reset = vm_hwm_kib();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = Instant::now();
    let (file, size) = archive::export(&engine.docker, &refs, work.path())
        .await
        .unwrap_or_else(|e| panic!("{label}: export: {e:#}"));
    let exported = t.elapsed();
    let t = Instant::now();
    let manifest = archive::manifest(file.path()).expect("manifest");
    let checked = t.elapsed();
    assert!(archive::missing_from(&manifest, &refs).is_empty());
    let peak = vm_hwm_kib();

    println!(
        "{label}: built {IMAGES} images in {:.1}s; export of {:.1} MB archive: {:.2}s ({:.0} MB/s), manifest check {:.0} ms; \
         peak RSS during export {} MiB (after builds {} MiB, reset to {} MiB)",
        built.as_secs_f64(),
        size as f64 / 1e6,
        exported.as_secs_f64(),
        size as f64 / 1e6 / exported.as_secs_f64(),
        checked.as_secs_f64() * 1e3,
        peak / 1024,
        before / 1024,
        after_reset / 1024,
    );
    drop(file);
    for n in &names {
        images::remove(&engine.docker, n).await.ok();
    }
}

/// A FROM scratch context with one file of random bytes (incompressible, no shared layers).
fn random_context(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).expect("context dir");
    std::fs::write(dir.join("Containerfile"), "FROM scratch\nCOPY blob /blob\n").expect("write");
    random_file(&dir.join("blob"), BYTES_PER_IMAGE, seed).expect("write blob");
}

//! Times scan + hash and scan + tar stream over 20,000 small files beside an ignored 500 MB `vendor/`.
//!
//! Run with `cargo bench --bench context [-- --vendor-real] [-- --big MB]`.
//! `--vendor-real` writes vendor/ for real instead of as sparse files; `--big MB` adds that
//! many MB of included 1 MiB files, to show that tar streaming memory stays flat.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use kubetest::engine::context::{input_hash, scan, tar_stream, BuildContext, EntryKind};

const SMALL_FILES: usize = 20_000;
const PER_DIR: usize = 100;
const VENDOR_MB: usize = 500;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let vendor_real = args.iter().any(|a| a == "--vendor-real");
    let big_mb: usize = args
        .iter()
        .position(|a| a == "--big")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(0);

    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let t = Instant::now();
    populate(root, vendor_real, big_mb)?;
    println!(
        "setup: {SMALL_FILES} small files, {VENDOR_MB} MB ignored vendor/ ({}), {big_mb} MB big included files in {:.2?}",
        if vendor_real { "real" } else { "sparse" },
        t.elapsed()
    );
    println!(
        "rss after setup: {} KiB (VmHWM {} KiB)",
        vm("VmRSS"),
        vm("VmHWM")
    );

    // Warm the page cache once so both timings see the same state.
    let warm = scan(root, "Dockerfile")?;
    input_hash(&warm, &BTreeMap::new(), None, &BTreeMap::new())?;
    drop(warm);

    for round in 1..=2 {
        let t = Instant::now();
        let ctx = scan(root, "Dockerfile")?;
        let scanned = t.elapsed();
        let (files, bytes) = totals(&ctx);
        let hash = input_hash(&ctx, &BTreeMap::new(), None, &BTreeMap::new())?;
        let total = t.elapsed();
        report(
            &format!("scan+hash #{round}"),
            files,
            bytes,
            scanned,
            total,
            &hash[..12],
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for round in 1..=2 {
        let t = Instant::now();
        let ctx = scan(root, "Dockerfile")?;
        let scanned = t.elapsed();
        let (files, bytes) = totals(&ctx);
        let tar_bytes = rt.block_on(async {
            let mut stream = Box::pin(tar_stream(ctx));
            let mut n: u64 = 0;
            while let Some(chunk) = stream.next().await {
                n += chunk?.len() as u64;
            }
            Ok::<u64, std::io::Error>(n)
        })?;
        let total = t.elapsed();
        report(
            &format!("scan+tar #{round}"),
            files,
            bytes,
            scanned,
            total,
            &format!("{:.1} MB tar", tar_bytes as f64 / 1e6),
        );
    }
    println!("peak RSS (VmHWM): {} KiB", vm("VmHWM"));
    Ok(())
}

fn populate(root: &Path, vendor_real: bool, big_mb: usize) -> std::io::Result<()> {
    fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /app\n")?;
    fs::write(root.join(".dockerignore"), "# deps\nvendor\n*.log\n")?;
    for i in 0..SMALL_FILES {
        let d = root.join(format!("src/m{:03}", i / PER_DIR));
        if i % PER_DIR == 0 {
            fs::create_dir_all(&d)?;
        }
        let body = format!("// file {i}\n{}\n", "x".repeat(200 + (i * 37) % 1800));
        fs::write(d.join(format!("f{i:05}.rs")), body)?;
    }
    let vendor = root.join("vendor/pkg");
    fs::create_dir_all(&vendor)?;
    let mib = vec![0x5au8; 1 << 20];
    for i in 0..VENDOR_MB {
        let f = fs::File::create(vendor.join(format!("blob{i:03}.bin")))?;
        if vendor_real {
            (&f).write_all(&mib)?;
        } else {
            f.set_len(1 << 20)?;
        }
    }
    if big_mb > 0 {
        let big = root.join("assets");
        fs::create_dir_all(&big)?;
        for i in 0..big_mb {
            fs::write(big.join(format!("asset{i:04}.bin")), &mib)?;
        }
    }
    Ok(())
}

fn totals(ctx: &BuildContext) -> (usize, u64) {
    let files = ctx
        .files
        .iter()
        .filter(|f| f.kind == EntryKind::File)
        .count();
    (files, ctx.files.iter().map(|f| f.size).sum())
}

fn report(
    what: &str,
    files: usize,
    bytes: u64,
    scanned: std::time::Duration,
    total: std::time::Duration,
    extra: &str,
) {
    let secs = total.as_secs_f64();
    println!(
        "{what:14} {files} files, {:.1} MB: scan {:.0} ms, total {:.0} ms -> {:.0} files/s, {:.1} MB/s  [{extra}]  VmHWM {} KiB",
        bytes as f64 / 1e6,
        scanned.as_secs_f64() * 1e3,
        secs * 1e3,
        files as f64 / secs,
        bytes as f64 / 1e6 / secs,
        vm("VmHWM"),
    );
}

/// A field of /proc/self/status in KiB (0 where there is no /proc).
fn vm(field: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

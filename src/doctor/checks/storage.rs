//! storage: what the engine stores (`/system/df`), free space on its data root, what a
//! prune would reclaim.

use super::context::Context;
use super::result::{bytes, CheckResult, Findings};
use crate::doctor::rules::CHECK_STORAGE;
use crate::engine::raw_api;
use crate::engine::EngineKind;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

const GIB: u64 = 1024 * 1024 * 1024;

/// Sizes from `/system/df`, in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub images: u64,
    pub images_bytes: u64,
    /// Images no container uses; `None` where the engine's counts are not trusted (Podman 4).
    pub unused_images_bytes: Option<u64>,
    pub containers: u64,
    pub containers_bytes: u64,
    pub volumes: u64,
    pub volumes_bytes: u64,
    pub unused_volumes_bytes: u64,
    pub build_cache_bytes: u64,
    pub unused_build_cache_bytes: u64,
}

impl Usage {
    pub fn reclaimable(&self) -> u64 {
        self.unused_images_bytes.unwrap_or(0)
            + self.unused_volumes_bytes
            + self.unused_build_cache_bytes
    }
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0).max(0) as u64
}

fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The legacy `/system/df` shape both Docker 20.10 and Podman 4 answer with.
// Podman 4.3's compat `/system/df` is unreliable for tags, labels and per-image container
// counts; only its sizes are used.
pub fn parse_df(df: &Value, kind: EngineKind) -> Usage {
    let mut u = Usage::default();
    let mut seen = HashSet::new();
    let mut unused = 0;
    let mut sum = 0;
    for i in list(df, "Images") {
        let id = i.get("Id").and_then(Value::as_str).unwrap_or("");
        if !seen.insert(id.to_owned()) {
            continue;
        }
        let size = num(i, "Size");
        sum += size;
        if num(i, "Containers") == 0 {
            unused += size;
        }
    }
    u.images = seen.len() as u64;
    let layers = num(df, "LayersSize");
    u.images_bytes = if layers > 0 { layers } else { sum };
    u.unused_images_bytes = match kind {
        EngineKind::Docker => Some(unused.min(u.images_bytes)),
        EngineKind::Podman => None,
    };
    for c in list(df, "Containers") {
        u.containers += 1;
        u.containers_bytes += num(c, "SizeRw");
    }
    for v in list(df, "Volumes") {
        u.volumes += 1;
        let data = v.get("UsageData").unwrap_or(&Value::Null);
        let size = num(data, "Size");
        u.volumes_bytes += size;
        if num(data, "RefCount") == 0 {
            u.unused_volumes_bytes += size;
        }
    }
    for b in list(df, "BuildCache") {
        let size = num(b, "Size");
        u.build_cache_bytes += size;
        if !b.get("InUse").and_then(Value::as_bool).unwrap_or(false) {
            u.unused_build_cache_bytes += size;
        }
    }
    u
}

/// Free and total bytes of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Space {
    pub free: u64,
    pub total: u64,
}

pub fn statvfs(path: &Path) -> Result<Space, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is plain data written by the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!(
            "statvfs {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let frsize = st.f_frsize as u64;
    Ok(Space {
        free: st.f_bavail as u64 * frsize,
        total: st.f_blocks as u64 * frsize,
    })
}

/// Judge the engine's storage. `space`: of the data root when it is on this host.
pub fn judge(
    kind: EngineKind,
    root: &str,
    usage: Result<&Usage, String>,
    space: Result<Space, String>,
) -> CheckResult {
    let mut f = Findings::new(CHECK_STORAGE);
    let cli = kind.as_str();
    let unknown = Usage::default();
    let usage = match usage {
        Ok(u) => u,
        Err(e) => {
            f.warn(
                format!("the engine could not report its storage usage: {e}"),
                [format!("{cli} system df")],
            );
            &unknown
        }
    };
    f.see(format!(
        "images: {} using {}{}",
        usage.images,
        bytes(usage.images_bytes),
        match usage.unused_images_bytes {
            Some(b) => format!(" ({} unused by any container)", bytes(b)),
            None => String::new(),
        }
    ));
    f.see(format!(
        "containers: {} writing {}; volumes: {} holding {} ({} unreferenced); build cache: {} ({} unused)",
        usage.containers,
        bytes(usage.containers_bytes),
        usage.volumes,
        bytes(usage.volumes_bytes),
        bytes(usage.unused_volumes_bytes),
        bytes(usage.build_cache_bytes),
        bytes(usage.unused_build_cache_bytes)
    ));
    let mut prune = vec![format!("{cli} system prune        # stopped containers, unused networks, dangling images, build cache")];
    prune.push(format!(
        "{cli} image prune -a      # every image no container uses (kubetest rebuilds its own)"
    ));
    if usage.unused_volumes_bytes > 0 {
        prune.push(format!(
            "{cli} volume prune        # volumes no container references"
        ));
    }
    let reclaim = usage.reclaimable();
    if reclaim > 0 {
        f.see(format!(
            "reclaimable: about {} ({})",
            bytes(reclaim),
            prune[0].split("  ").next().unwrap_or("")
        ));
    }
    let summary = match space {
        Ok(s) => {
            let pct = (s.free * 100).checked_div(s.total).unwrap_or(0);
            f.see(format!(
                "data root {root}: {} free of {} ({pct}%)",
                bytes(s.free),
                bytes(s.total)
            ));
            if s.free < 2 * GIB || pct < 5 {
                f.fail(
                    format!(
                        "the engine's data root {root} is almost full: {} free ({pct}%)",
                        bytes(s.free)
                    ),
                    prune,
                );
            } else if s.free < 10 * GIB || pct < 10 {
                f.warn(
                    format!(
                        "the engine's data root {root} is getting full: {} free ({pct}%)",
                        bytes(s.free)
                    ),
                    prune,
                );
            }
            format!(
                "{} free on {root}; {} of images",
                bytes(s.free),
                bytes(usage.images_bytes)
            )
        }
        Err(why) => {
            f.see(format!("data root {root}: free space not measured ({why})"));
            format!(
                "{} of images; the data root {root} is not on this host (for a podman machine see its disk size)",
                bytes(usage.images_bytes)
            )
        }
    };
    f.finish(summary)
}

pub async fn check(ctx: &Context) -> CheckResult {
    let mut f = Findings::new(CHECK_STORAGE);
    let Some((ep, facts)) = ctx.engine().await else {
        f.warn(
            "no engine answered; storage not checked (see engine-endpoints)",
            Vec::<String>::new(),
        );
        return f.finish("");
    };
    let limit = ctx.settings.check_timeout * 3 / 4;
    let (info, df) = tokio::join!(
        raw_api::get(&ep.url, "/info", limit),
        raw_api::get(&ep.url, "/system/df", limit)
    );
    let root = match &info {
        Ok((200, v)) => v
            .get("DockerRootDir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    };
    // Podman 4.3 answers 500 ("image not known") when an image is removed while it
    // computes the sizes; one retry gets past that race.
    let df = match df {
        Ok((500, _)) => raw_api::get(&ep.url, "/system/df", limit).await,
        other => other,
    };
    let usage = match df {
        Ok((200, v)) => Ok(parse_df(&v, facts.kind)),
        Ok((code, v)) => Err(format!("GET /system/df answered HTTP {code}: {v}")),
        Err(e) => Err(e),
    };
    let local = ep.url.starts_with("unix://") && !root.is_empty() && Path::new(&root).is_dir();
    let space = if local {
        statvfs(Path::new(&root))
    } else if root.is_empty() {
        Err("the engine did not name its data root".to_owned())
    } else {
        Err("not a directory on this host".to_owned())
    };
    judge(
        facts.kind,
        &root,
        usage.as_ref().map_err(Clone::clone),
        space,
    )
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::*;

    fn fixture(name: &str) -> Value {
        let text = std::fs::read_to_string(format!(
            "{}/fixtures/doctor/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn recorded_df_of_both_engines() {
        let d = parse_df(&fixture("docker-20.10-system-df.json"), EngineKind::Docker);
        assert_eq!(d.images, 4);
        assert_eq!(d.images_bytes, 5_946_783, "LayersSize");
        assert_eq!(
            d.unused_images_bytes,
            Some(5_946_783),
            "no image is used; capped at the total"
        );
        let p = parse_df(&fixture("podman-4.3-system-df.json"), EngineKind::Podman);
        assert_eq!(p.images, 3, "one image is listed twice and counted once");
        assert_eq!(
            p.unused_images_bytes, None,
            "Podman 4.3's container counts are not trusted"
        );
        assert_eq!(p.images_bytes, 1_986_559 + 1_986_903 + 1_987_143);
    }

    #[test]
    fn volumes_and_build_cache() {
        // Docker Engine API docs (v1.41, GET /system/df) response shape.
        let df = serde_json::json!({
            "LayersSize": 1092588,
            "Images": [{"Id": "sha256:2b8fd9751c4c0f5dd266fcae00707e67a2545ef34f9a29354585f93dac906749", "Size": 1092588, "SharedSize": 0, "Containers": 1}],
            "Containers": [{"Id": "e90e34656806", "SizeRw": 1024}],
            "Volumes": [
                {"Name": "my-volume", "UsageData": {"Size": 10920104, "RefCount": 2}},
                {"Name": "old", "UsageData": {"Size": 3 * GIB, "RefCount": 0}}
            ],
            "BuildCache": [{"ID": "hw53o5aio51xtltp5xjp8v7fx", "Size": 51, "InUse": false}]
        });
        let u = parse_df(&df, EngineKind::Docker);
        assert_eq!(u.unused_images_bytes, Some(0));
        assert_eq!((u.containers, u.containers_bytes), (1, 1024));
        assert_eq!(u.unused_volumes_bytes, 3 * GIB);
        assert_eq!(u.reclaimable(), 3 * GIB + 51);
        let r = judge(
            EngineKind::Docker,
            "/var/lib/docker",
            Ok(&u),
            Ok(Space {
                free: GIB,
                total: 100 * GIB,
            }),
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "the engine's data root /var/lib/docker is almost full: 1.0 GiB free (1%)"
        );
        assert!(
            r.fix.iter().any(|f| f.starts_with("docker volume prune")),
            "{:?}",
            r.fix
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e.starts_with("reclaimable: about 3.0 GiB (docker system prune")),
            "{:?}",
            r.evidence
        );
    }

    #[test]
    fn unreported_usage_still_measures_free_space() {
        let r = judge(
            EngineKind::Podman,
            "/var/lib/containers/storage",
            Err("GET /system/df answered HTTP 500: image not known".into()),
            Ok(Space {
                free: 74 * GIB,
                total: 252 * GIB,
            }),
        );
        assert_eq!(r.status, Status::Warn);
        assert!(r
            .summary
            .starts_with("the engine could not report its storage usage"));
        assert!(r
            .evidence
            .iter()
            .any(|e| e.starts_with("data root /var/lib/containers/storage: 74.0 GiB free")));
    }

    #[test]
    fn space_thresholds_and_remote_root() {
        let u = Usage::default();
        let warn = judge(
            EngineKind::Podman,
            "/var/lib/containers/storage",
            Ok(&u),
            Ok(Space {
                free: 8 * GIB,
                total: 100 * GIB,
            }),
        );
        assert_eq!(warn.status, Status::Warn);
        assert!(warn.fix[0].starts_with("podman system prune"));
        let ok = judge(
            EngineKind::Podman,
            "/var/lib/containers/storage",
            Ok(&u),
            Ok(Space {
                free: 74 * GIB,
                total: 252 * GIB,
            }),
        );
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(
            ok.summary,
            "74.0 GiB free on /var/lib/containers/storage; 0 B of images"
        );
        let vm = judge(
            EngineKind::Podman,
            "/var/home/core/.local/share/containers/storage",
            Ok(&u),
            Err("not a directory on this host".into()),
        );
        assert_eq!(vm.status, Status::Pass);
        assert!(vm.summary.contains("not on this host"));
        assert!(statvfs(Path::new("/")).unwrap().total > 0);
    }
}

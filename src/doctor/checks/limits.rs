//! host-limits: cgroup version and controller delegation, RLIMIT_NOFILE/NPROC against what
//! Podman will ask the runtime for, and the inotify limits kind nodes need.

use super::context::Context;
use super::result::{CheckResult, Findings};
use crate::doctor::rules::CHECK_HOST_LIMITS;
use std::path::{Path, PathBuf};

/// Podman's `define.RLimitDefaultValue`: what rootful Podman sets NOFILE/NPROC to when
/// containers.conf sets no `default_ulimits` (or the host's hard limit, if higher).
pub const PODMAN_RLIMIT_DEFAULT: u64 = 1_048_576;
/// kind's known-issues page ("Pod errors due to too many open files",
/// https://kind.sigs.k8s.io/docs/user/known-issues/#pod-errors-due-to-too-many-open-files)
/// advises these values.
pub const INOTIFY_INSTANCES: u64 = 512;
pub const INOTIFY_WATCHES: u64 = 524_288;
/// Controllers a rootless kind node needs delegated (kind's rootless docs).
const ROOTLESS_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];
const CAP_SYS_RESOURCE: u32 = 24;
/// Boot with cgroup v2 only (Debian/Ubuntu GRUB).
const UNIFIED_CGROUPS: &str = "sudo sed -i 's/^GRUB_CMDLINE_LINUX=\"/&systemd.unified_cgroup_hierarchy=1 /' /etc/default/grub && sudo update-grub && sudo reboot";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V2,
    /// v1 controllers plus a cgroup2 mount (`/sys/fs/cgroup/unified`).
    Hybrid,
    V1,
}

/// The layout from what is mounted at /sys/fs/cgroup and /proc/self/cgroup.
pub fn layout(root_is_cgroup2: bool, unified_mounted: bool, proc_self_cgroup: &str) -> Layout {
    if root_is_cgroup2 {
        return Layout::V2;
    }
    let has_v2_line = proc_self_cgroup.lines().any(|l| l.starts_with("0::"));
    if unified_mounted || has_v2_line {
        Layout::Hybrid
    } else {
        Layout::V1
    }
}

/// The v2 cgroup path of this process (`0::/user.slice/…`).
pub fn v2_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// Whether bit `cap` is set in the `CapEff:` line of /proc/self/status.
pub fn has_capability(status: &str, cap: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|bits| bits & (1 << cap) != 0)
}

/// The keys of containers.conf this check reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainersConf {
    pub default_ulimits: Option<Vec<String>>,
    pub runtime: Option<String>,
}

impl ContainersConf {
    /// Keys of a later file override an earlier one's (containers.conf(5)).
    pub fn merge(&mut self, later: ContainersConf) {
        if later.default_ulimits.is_some() {
            self.default_ulimits = later.default_ulimits;
        }
        if later.runtime.is_some() {
            self.runtime = later.runtime;
        }
    }
}

/// The two keys from containers.conf TOML: `[containers] default_ulimits = [...]`, `[engine] runtime = "..."`.
pub fn parse_containers_conf(text: &str) -> ContainersConf {
    let mut conf = ContainersConf::default();
    let mut table = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let l = line.split('#').next().unwrap_or("").trim();
        if let Some(t) = l.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            table = t.trim().to_owned();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, mut v) = (k.trim(), v.trim().to_owned());
        match (table.as_str(), k) {
            ("containers", "default_ulimits") => {
                while !v.contains(']') {
                    match lines.next() {
                        Some(more) => v.push_str(more.split('#').next().unwrap_or("")),
                        None => break,
                    }
                }
                let items = v
                    .trim_matches(|c| c == '[' || c == ']' || char::is_whitespace(c))
                    .split(',')
                    .map(|s| s.trim().trim_matches('"').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                conf.default_ulimits = Some(items);
            }
            ("engine", "runtime") => conf.runtime = Some(v.trim_matches('"').to_owned()),
            _ => {}
        }
    }
    conf
}

/// `nofile=10000:20000` → ("nofile", soft, hard); `-1` means unlimited.
pub fn parse_ulimit(s: &str) -> Option<(&str, u64, u64)> {
    let (name, vals) = s.split_once('=')?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let n = |v: &str| -> Option<u64> {
        if v.trim() == "-1" {
            Some(u64::MAX)
        } else {
            v.trim().parse().ok()
        }
    };
    Some((name.trim(), n(soft)?, n(hard)?))
}

/// Soft and hard limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub layout: Layout,
    pub proc_self_cgroup: String,
    /// `cgroup.controllers` of this process's v2 cgroup, when readable.
    pub controllers: Option<String>,
    pub uid: u32,
    pub nofile: Limit,
    pub nproc: Limit,
    pub cap_sys_resource: bool,
    /// `None` when Podman is not installed.
    pub podman: Option<ContainersConf>,
    pub conf_files: Vec<PathBuf>,
    pub inotify_instances: Option<u64>,
    pub inotify_watches: Option<u64>,
}

fn show(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_owned()
    } else {
        v.to_string()
    }
}

pub fn judge(o: &Observed) -> CheckResult {
    let mut f = Findings::new(CHECK_HOST_LIMITS);
    let rootless = o.uid != 0;
    // ---- cgroups
    let layout = match o.layout {
        Layout::V2 => "v2 (unified)",
        Layout::Hybrid => "hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified)",
        Layout::V1 => "v1",
    };
    f.see(format!("cgroups: {layout}"));
    f.see(format!(
        "/proc/self/cgroup: {}",
        o.proc_self_cgroup
            .trim()
            .lines()
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    let runtime = o
        .podman
        .as_ref()
        .map(|c| c.runtime.clone().unwrap_or_else(|| "crun".to_owned()));
    match o.layout {
        Layout::Hybrid if runtime.as_deref() == Some("crun") => f.fail(
            "cgroups are in hybrid mode and Podman's runtime is crun, which refuses it (`crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2`)",
            [
                "printf '[engine]\\nruntime = \"runc\"\\ncgroup_manager = \"cgroupfs\"\\n' | sudo tee -a /etc/containers/containers.conf".to_owned(),
                UNIFIED_CGROUPS.to_owned(),
            ],
        ),
        Layout::Hybrid | Layout::V1 if rootless => f.warn(
            format!("cgroups are {layout}: rootless kind needs cgroup v2 with delegated controllers"),
            [UNIFIED_CGROUPS.to_owned()],
        ),
        Layout::Hybrid => f.warn(
            "cgroups are in hybrid mode: crun refuses to run containers and nested kind nodes cannot use cgroup v2",
            [UNIFIED_CGROUPS.to_owned()],
        ),
        _ => {}
    }
    if o.layout == Layout::V2 {
        if let Some(c) = &o.controllers {
            f.see(format!("delegated controllers: {}", c.trim()));
            let have: Vec<&str> = c.split_whitespace().collect();
            let missing: Vec<&str> = ROOTLESS_CONTROLLERS
                .iter()
                .copied()
                .filter(|k| !have.contains(k))
                .collect();
            if rootless && !missing.is_empty() {
                f.warn(
                    format!("controllers {} are not delegated to this user; rootless kind fails with `running kind with rootless provider requires setting systemd property \"Delegate=yes\"`", missing.join(", ")),
                    [
                        "sudo mkdir -p /etc/systemd/system/user@.service.d".to_owned(),
                        "printf '[Service]\\nDelegate=yes\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf".to_owned(),
                        "sudo systemctl daemon-reload   # then log out and in again".to_owned(),
                    ],
                );
            }
        }
    }
    // ---- rlimits
    f.see(format!(
        "RLIMIT_NOFILE {}/{} (soft/hard), RLIMIT_NPROC {}/{}; CAP_SYS_RESOURCE {}",
        show(o.nofile.soft),
        show(o.nofile.hard),
        show(o.nproc.soft),
        show(o.nproc.hard),
        if o.cap_sys_resource {
            "held"
        } else {
            "not held: limits cannot be raised above the hard limit"
        }
    ));
    if let Some(conf) = &o.podman {
        let files = if o.conf_files.is_empty() {
            "none".to_owned()
        } else {
            o.conf_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        f.see(format!("containers.conf read: {files}"));
        let mut wants: Vec<(&str, &str, u64, Limit, String)> = Vec::new();
        for (name, rl, host) in [
            ("nofile", "RLIMIT_NOFILE", o.nofile),
            ("nproc", "RLIMIT_NPROC", o.nproc),
        ] {
            let set = conf
                .default_ulimits
                .iter()
                .flatten()
                .filter_map(|u| parse_ulimit(u))
                .find(|(n, _, _)| *n == name);
            let (hard, from) = match set {
                Some((_, _, h)) => (h, format!("default_ulimits {name}")),
                None if rootless => (host.hard, "rootless Podman's default (the current hard limit)".to_owned()),
                None => (
                    PODMAN_RLIMIT_DEFAULT.max(host.hard),
                    format!("rootful Podman's default ({PODMAN_RLIMIT_DEFAULT}) with no default_ulimits"),
                ),
            };
            f.see(format!(
                "Podman will ask the runtime for {rl} hard {} ({from})",
                show(hard)
            ));
            wants.push((name, rl, hard, host, from));
        }
        if !o.cap_sys_resource {
            let too_high: Vec<_> = wants.iter().filter(|w| w.2 > w.3.hard).collect();
            if let Some(first) = too_high.first() {
                let ulimits = wants
                    .iter()
                    .map(|(n, _, _, host, _)| {
                        format!("\"{n}={}:{}\"", show(host.hard), show(host.hard))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                f.fail(
                    format!(
                        "Podman will ask for {} {} above the hard limit {} without CAP_SYS_RESOURCE: containers fail with `crun: setrlimit `{}`: Operation not permitted`",
                        first.1,
                        show(first.2),
                        show(first.3.hard),
                        first.1
                    ),
                    [format!(
                        "printf '[containers]\\ndefault_ulimits = [{}]\\n' | sudo tee -a /etc/containers/containers.conf",
                        ulimits.replace('"', "\\\"")
                    )],
                );
            }
        }
    }
    // ---- inotify
    let show_opt = |v: Option<u64>| {
        v.map(|v| v.to_string())
            .unwrap_or_else(|| "unreadable".into())
    };
    f.see(format!(
        "fs.inotify.max_user_instances {}, fs.inotify.max_user_watches {}",
        show_opt(o.inotify_instances),
        show_opt(o.inotify_watches)
    ));
    let low_inst = o.inotify_instances.is_some_and(|v| v < INOTIFY_INSTANCES);
    let low_watch = o.inotify_watches.is_some_and(|v| v < INOTIFY_WATCHES);
    if low_inst || low_watch {
        let mut low = Vec::new();
        if low_inst {
            low.push(format!(
                "max_user_instances {} < {INOTIFY_INSTANCES}",
                show_opt(o.inotify_instances)
            ));
        }
        if low_watch {
            low.push(format!(
                "max_user_watches {} < {INOTIFY_WATCHES}",
                show_opt(o.inotify_watches)
            ));
        }
        f.warn(
            format!("inotify limits are low for kind ({}): pods fail with `too many open files`", low.join(", ")),
            [
                format!("sudo sysctl fs.inotify.max_user_instances={INOTIFY_INSTANCES} fs.inotify.max_user_watches={INOTIFY_WATCHES}"),
                format!("printf 'fs.inotify.max_user_instances = {INOTIFY_INSTANCES}\\nfs.inotify.max_user_watches = {INOTIFY_WATCHES}\\n' | sudo tee /etc/sysctl.d/99-kind.conf"),
            ],
        );
    }
    f.finish(format!(
        "cgroups {}, RLIMIT_NOFILE {}, inotify instances {}",
        match o.layout {
            Layout::V2 => "v2",
            Layout::Hybrid => "hybrid",
            Layout::V1 => "v1",
        },
        show(o.nofile.hard),
        show_opt(o.inotify_instances)
    ))
}

fn getrlimit(resource: libc::__rlimit_resource_t) -> Limit {
    // SAFETY: `r` is plain data the call fills in; the resource constant is valid.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Limit { soft: 0, hard: 0 };
    }
    let v = |x: libc::rlim_t| {
        if x == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            x
        }
    };
    Limit {
        soft: v(r.rlim_cur),
        hard: v(r.rlim_max),
    }
}

fn is_cgroup2(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: plain data filled in by statfs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == CGROUP2_SUPER_MAGIC }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub async fn check(_ctx: &Context) -> CheckResult {
    if !cfg!(target_os = "linux") {
        let mut f = Findings::new(CHECK_HOST_LIMITS);
        f.see("cgroups, rlimits and inotify limits that matter live inside the podman machine / Docker VM");
        return f.finish("not applicable on this OS: the limits are the VM's");
    }
    let proc_self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let layout = layout(
        is_cgroup2(Path::new("/sys/fs/cgroup")),
        is_cgroup2(Path::new("/sys/fs/cgroup/unified")),
        &proc_self_cgroup,
    );
    let controllers = v2_path(&proc_self_cgroup).and_then(|p| {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup{}/cgroup.controllers",
            p.trim_end_matches('/')
        ))
        .ok()
    });
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut conf_files = Vec::new();
    let podman = which::which("podman").ok().map(|_| {
        let mut paths: Vec<PathBuf> = vec![
            "/usr/share/containers/containers.conf".into(),
            "/etc/containers/containers.conf".into(),
        ];
        if let Ok(rd) = std::fs::read_dir("/etc/containers/containers.conf.d") {
            let mut extra: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            extra.sort();
            paths.extend(extra);
        }
        if uid != 0 {
            if let Some(home) = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            {
                paths.push(home.join("containers/containers.conf"));
            }
        }
        if let Some(p) = std::env::var_os("CONTAINERS_CONF") {
            paths = vec![PathBuf::from(p)];
        }
        let mut conf = ContainersConf::default();
        for p in paths {
            if let Ok(text) = std::fs::read_to_string(&p) {
                conf.merge(parse_containers_conf(&text));
                conf_files.push(p);
            }
        }
        conf
    });
    judge(&Observed {
        layout,
        proc_self_cgroup,
        controllers,
        uid,
        nofile: getrlimit(libc::RLIMIT_NOFILE),
        nproc: getrlimit(libc::RLIMIT_NPROC),
        cap_sys_resource: has_capability(&status, CAP_SYS_RESOURCE),
        podman,
        conf_files,
        inotify_instances: read_u64("/proc/sys/fs/inotify/max_user_instances"),
        inotify_watches: read_u64("/proc/sys/fs/inotify/max_user_watches"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/fixtures/doctor/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// These CI machines: hybrid cgroups, root without CAP_SYS_RESOURCE, ENVIRONMENT.md's containers.conf.
    fn ci_machine() -> Observed {
        Observed {
            layout: layout(false, true, &fixture("proc-self-cgroup-hybrid.txt")),
            proc_self_cgroup: fixture("proc-self-cgroup-hybrid.txt"),
            controllers: None,
            uid: 0,
            nofile: Limit { soft: 20000, hard: 20000 },
            nproc: Limit { soft: 96365, hard: 96365 },
            cap_sys_resource: has_capability("Name:\tx\nCapEff:\t000001fffeffffff\n", CAP_SYS_RESOURCE),
            podman: Some(parse_containers_conf(
                "[containers]\ndefault_ulimits = [\"nofile=10000:10000\", \"nproc=10000:10000\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n",
            )),
            conf_files: vec!["/etc/containers/containers.conf".into()],
            inotify_instances: Some(128),
            inotify_watches: Some(192536),
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(
            layout(false, true, &fixture("proc-self-cgroup-hybrid.txt")),
            Layout::Hybrid
        );
        assert_eq!(
            layout(true, false, &fixture("proc-self-cgroup-v2.txt")),
            Layout::V2
        );
        assert_eq!(layout(false, false, "4:memory:/x\n1:cpu:/\n"), Layout::V1);
        assert_eq!(
            v2_path(&fixture("proc-self-cgroup-v2.txt")),
            Some("/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1b2c.scope")
        );
        assert!(!has_capability(
            "CapEff:\t000001fffeffffff\n",
            CAP_SYS_RESOURCE
        ));
        assert!(has_capability(
            "CapEff:\t000001ffffffffff\n",
            CAP_SYS_RESOURCE
        ));
        assert_eq!(
            parse_ulimit("nofile=10000:20000"),
            Some(("nofile", 10000, 20000))
        );
        assert_eq!(
            parse_ulimit("nproc=-1"),
            Some(("nproc", u64::MAX, u64::MAX))
        );
        let multi = parse_containers_conf("[containers]\n# comment\ndefault_ulimits = [\n  \"nofile=1024:2048\", # x\n]\n[engine]\n");
        assert_eq!(
            multi.default_ulimits,
            Some(vec!["nofile=1024:2048".to_owned()])
        );
        assert_eq!(multi.runtime, None);
    }

    #[test]
    fn ci_machine_warns_about_hybrid_and_inotify_only() {
        let r = judge(&ci_machine());
        assert_eq!(r.status, Status::Warn, "{r:?}");
        assert!(r.summary.contains("hybrid mode"), "{}", r.summary);
        assert!(
            r.summary.contains("max_user_instances 128 < 512"),
            "{}",
            r.summary
        );
        assert!(r
            .fix
            .iter()
            .any(|f| f.contains("fs.inotify.max_user_instances=512")));
        assert!(r.evidence.iter().any(|e| e == "Podman will ask the runtime for RLIMIT_NOFILE hard 10000 (default_ulimits nofile)"), "{:?}", r.evidence);
    }

    #[test]
    fn rootful_podman_default_ulimits_are_denied_without_cap_sys_resource() {
        let mut o = ci_machine();
        o.podman = Some(ContainersConf::default());
        let r = judge(&o);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.summary.contains("RLIMIT_NOFILE 1048576 above the hard limit 20000 without CAP_SYS_RESOURCE: containers fail with `crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted`"),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains("crun, which refuses it"),
            "default runtime crun + hybrid: {}",
            r.summary
        );
        assert!(
            r.fix.iter().any(|f| f.contains(
                "default_ulimits = [\\\"nofile=20000:20000\\\", \\\"nproc=96365:96365\\\"]"
            )),
            "{:?}",
            r.fix
        );
        o.cap_sys_resource = true;
        assert!(!judge(&o).summary.contains("setrlimit"));
    }

    #[test]
    fn rootless_v2_without_delegation() {
        let o = Observed {
            layout: Layout::V2,
            proc_self_cgroup: fixture("proc-self-cgroup-v2.txt"),
            controllers: Some("memory pids\n".into()),
            uid: 1000,
            podman: Some(ContainersConf::default()),
            inotify_instances: Some(8192),
            inotify_watches: Some(1048576),
            ..ci_machine()
        };
        let r = judge(&o);
        assert_eq!(r.status, Status::Warn, "{r:?}");
        assert!(
            r.summary.starts_with("controllers cpu are not delegated"),
            "{}",
            r.summary
        );
        assert!(r.fix.iter().any(|f| f.contains("Delegate=yes")));
        let ok = Observed {
            controllers: Some("cpuset cpu io memory pids\n".into()),
            ..o
        };
        assert_eq!(judge(&ok).status, Status::Pass, "{:?}", judge(&ok));
    }
}

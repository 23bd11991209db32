//! Which bind mounts of a dependency need the author's explicit acknowledgement
//! (`unsafe_mounts: true`): a sensitive host path in any mode — the root, system directories,
//! engine sockets and storage, credentials under the home directory — and a read-write mount
//! outside the config's directory tree. Read-only mounts of ordinary paths elsewhere are fine.

use std::path::{Component, Path, PathBuf};

/// Why a mount needs `unsafe_mounts: true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountRisk {
    /// The host path is (or lies under) a sensitive path; `what` says which.
    Sensitive { path: PathBuf, what: &'static str },
    /// A read-write mount of a path outside the config's directory.
    WritableOutside { path: PathBuf },
}

/// System paths a container must not get without an explicit acknowledgement.
const SYSTEM: &[(&str, &str)] = &[
    ("/etc", "the host's system configuration"),
    ("/root", "root's home directory"),
    ("/boot", "the host's boot files"),
    ("/proc", "the host's process table"),
    ("/sys", "the host's kernel interface"),
    ("/dev", "the host's devices"),
    ("/usr", "the host's system programs"),
    ("/bin", "the host's system programs"),
    ("/sbin", "the host's system programs"),
    ("/lib", "the host's system libraries"),
    ("/var/lib/docker", "Docker's storage"),
    ("/var/lib/containers", "Podman's storage"),
];

/// Credentials and engine configuration under a home directory.
const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".docker",
    ".kube",
    ".aws",
    ".gnupg",
    ".config/containers",
    ".config/gcloud",
    ".azure",
];

/// `path` without `.` and with `..` applied lexically.
pub(crate) fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The host path a mount really names: relative to `config_dir`, `..` applied, symlinks
/// resolved where the path exists (a link inside the project may point at `/etc`).
pub fn resolve(host: &str, config_dir: &Path) -> PathBuf {
    let joined = normalise(&config_dir.join(host));
    std::fs::canonicalize(&joined).unwrap_or(joined)
}

/// The risk of mounting `host` (already resolved, absolute) from a project in `config_dir`
/// (absolute), with `home` the user's home directory when known.
pub fn risk(
    host: &Path,
    read_only: bool,
    config_dir: &Path,
    home: Option<&Path>,
) -> Option<MountRisk> {
    let sensitive = |what| {
        Some(MountRisk::Sensitive {
            path: host.to_path_buf(),
            what,
        })
    };
    if host == Path::new("/") {
        return sensitive("the host's root directory");
    }
    if let Some((_, what)) = SYSTEM.iter().find(|(p, _)| host.starts_with(p)) {
        return sensitive(what);
    }
    if host.extension().is_some_and(|e| e == "sock") {
        return sensitive("a socket (an engine socket gives full control of the host)");
    }
    if let Some(home) = home {
        if host == home {
            return sensitive("the home directory");
        }
        if HOME_SECRETS.iter().any(|s| host.starts_with(home.join(s))) {
            return sensitive("credentials in the home directory");
        }
    }
    let config_dir = std::fs::canonicalize(config_dir).unwrap_or_else(|_| normalise(config_dir));
    if !read_only && !host.starts_with(&config_dir) {
        return Some(MountRisk::WritableOutside {
            path: host.to_path_buf(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (host as written, read-only, risky?) for a project in /work/proj with home /home/u.
    #[test]
    fn table() {
        let dir = Path::new("/work/proj");
        let home = Some(Path::new("/home/u"));
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("./init.sql", true, None),
            ("./data", false, None),
            ("data/sub", false, None),
            ("../shared/fixtures", true, None),
            ("../shared/out", false, Some("writable")),
            (
                "../../../../etc",
                false,
                Some("the host's system configuration"),
            ),
            (
                "../../../../etc",
                true,
                Some("the host's system configuration"),
            ),
            ("/", false, Some("the host's root directory")),
            ("/", true, Some("the host's root directory")),
            ("/etc/passwd", true, Some("the host's system configuration")),
            ("/etcetera", true, None),
            (
                "/var/run/docker.sock",
                true,
                Some("a socket (an engine socket gives full control of the host)"),
            ),
            (
                "/run/podman/podman.sock",
                false,
                Some("a socket (an engine socket gives full control of the host)"),
            ),
            ("/var/lib/docker/volumes", true, Some("Docker's storage")),
            ("/home/u", true, Some("the home directory")),
            (
                "/home/u/.ssh",
                true,
                Some("credentials in the home directory"),
            ),
            (
                "/home/u/.kube/config",
                true,
                Some("credentials in the home directory"),
            ),
            ("/home/u/src/fixtures", true, None),
            ("/tmp/scratch", false, Some("writable")),
            ("/work/proj/./x/../y", false, None),
            ("/work/project-other", false, Some("writable")),
        ];
        for (host, ro, want) in cases {
            let resolved = normalise(&dir.join(host));
            let got = risk(&resolved, *ro, dir, home);
            let got = match &got {
                None => None,
                Some(MountRisk::Sensitive { what, .. }) => Some(*what),
                Some(MountRisk::WritableOutside { .. }) => Some("writable"),
            };
            assert_eq!(got, *want, "{host} ro={ro}");
        }
    }
}

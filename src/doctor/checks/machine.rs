//! podman-machine: the machines (`podman machine list/inspect`), whether their SSH port and
//! API socket answer, stuck starts, and the connection `podman system connection` points at.

use super::context::Context;
use super::result::{CheckResult, Findings};
use crate::cmd::CmdError;
use crate::doctor::rules::CHECK_PODMAN_MACHINE;
use serde::Deserialize;
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One row of `podman machine list --format json` (podman 4.x and 5.x).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub name: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub starting: bool,
    #[serde(default, rename = "VMType")]
    pub vm_type: String,
}

/// One machine of `podman machine inspect` (podman 4.x and 5.x share these fields).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Inspected {
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, rename = "SSHConfig")]
    pub ssh: SshConfig,
    #[serde(default)]
    pub connection_info: Option<ConnectionInfo>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Resources {
    #[serde(default, rename = "CPUs")]
    pub cpus: u64,
    /// GiB.
    #[serde(default, rename = "DiskSize")]
    pub disk_gib: u64,
    /// MiB.
    #[serde(default, rename = "Memory")]
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SshConfig {
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub remote_username: String,
    #[serde(default)]
    pub identity_path: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionInfo {
    #[serde(default)]
    pub podman_socket: Option<VmFile>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VmFile {
    pub path: String,
}

/// One row of `podman system connection list --format json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Connection {
    pub name: String,
    #[serde(rename = "URI")]
    pub uri: String,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub default: bool,
}

impl Connection {
    /// Host and port of an `ssh://user@host:port/path` URI.
    fn host_port(&self) -> Option<(&str, u16)> {
        let rest = self.uri.strip_prefix("ssh://")?;
        let authority = rest.split('/').next()?;
        let hostport = authority.rsplit('@').next()?;
        let (host, port) = hostport.rsplit_once(':')?;
        Some((host.trim_matches(['[', ']']), port.parse().ok()?))
    }
}

pub fn parse_list(json: &str) -> Result<Vec<Listed>, String> {
    serde_json::from_str(json).map_err(|e| format!("unexpected `podman machine list` JSON: {e}"))
}

pub fn parse_inspect(json: &str) -> Result<Vec<Inspected>, String> {
    serde_json::from_str(json).map_err(|e| format!("unexpected `podman machine inspect` JSON: {e}"))
}

pub fn parse_connections(json: &str) -> Result<Vec<Connection>, String> {
    let trimmed = json.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(Vec::new());
    }
    serde_json::from_str(trimmed)
        .map_err(|e| format!("unexpected `podman system connection list` JSON: {e}"))
}

/// What answered for one running machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Probes {
    pub ssh_v4: Result<(), String>,
    pub ssh_v6: Result<(), String>,
    /// `None` when inspect names no socket.
    pub api: Option<Result<(), String>>,
}

/// Everything the judge needs, gathered by [`check`] or recorded in tests.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub list: Vec<Listed>,
    pub inspect: Vec<Inspected>,
    pub connections: Vec<Connection>,
    /// Per running machine (by name).
    pub probes: Vec<(String, Probes)>,
}

/// Judge the machines. `needs_machine`: macOS/Windows, where Podman only runs in a machine.
pub fn judge(o: &Observed, needs_machine: bool) -> CheckResult {
    let mut f = Findings::new(CHECK_PODMAN_MACHINE);
    if o.list.is_empty() {
        if needs_machine {
            f.fail(
                "no podman machine exists; Podman on this OS runs containers only inside one",
                ["podman machine init", "podman machine start"],
            );
        }
        return f.finish("no podman machines (not needed here: Podman runs natively on Linux)");
    }
    let default = o.list.iter().find(|m| m.default);
    if default.is_none() && needs_machine {
        f.warn(
            "no machine is marked as the default",
            [format!(
                "podman system connection default {}",
                o.list[0].name
            )],
        );
    }
    let chosen = default.unwrap_or(&o.list[0]).name.clone();
    for c in &o.connections {
        f.see(format!(
            "connection {} {}{}",
            c.name,
            c.uri,
            if c.default { " (default)" } else { "" }
        ));
    }
    let default_conn = o.connections.iter().find(|c| c.default);
    if default_conn.is_none() && needs_machine {
        f.warn(
            "`podman system connection` has no default connection",
            [format!("podman system connection default {chosen}")],
        );
    }
    for m in &o.list {
        let i = o.inspect.iter().find(|i| i.name == m.name);
        let state = i
            .map(|i| i.state.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(if m.starting {
                "starting"
            } else if m.running {
                "running"
            } else {
                "stopped"
            });
        let mut line = format!(
            "machine {}{} ({}): state {state}",
            m.name,
            if m.default { "*" } else { "" },
            if m.vm_type.is_empty() {
                "?"
            } else {
                &m.vm_type
            }
        );
        if let Some(i) = i {
            line.push_str(&format!(
                ", {} CPUs, {} MiB memory, {} GiB disk, SSH port {}",
                i.resources.cpus, i.resources.memory_mib, i.resources.disk_gib, i.ssh.port
            ));
            if let Some(s) = i
                .connection_info
                .as_ref()
                .and_then(|c| c.podman_socket.as_ref())
            {
                line.push_str(&format!(", API socket {}", s.path));
            }
        }
        f.see(line);
        let is_chosen = m.name == chosen;
        match state {
            // podman#16945, podman#18662: the `Starting` flag outlives the start that set it.
            "starting" => f.fail(
                format!("machine {} is stuck in `starting`", m.name),
                [
                    format!("podman machine stop {}", m.name),
                    "ps -ef | grep -E 'qemu|vfkit|krunkit|gvproxy'   # kill what is left of the old start".to_owned(),
                    format!("podman machine start {}", m.name),
                ],
            ),
            "running" => judge_running(&mut f, o, m, i, default_conn),
            _ if is_chosen => f.fail(
                format!("the default machine {} is not running (state {state})", m.name),
                [format!("podman machine start {}", m.name)],
            ),
            _ => {}
        }
    }
    if let Some(c) = default_conn {
        let known = o
            .list
            .iter()
            .any(|m| c.name == m.name || c.name.strip_suffix("-root") == Some(m.name.as_str()));
        let port_known = c
            .host_port()
            .is_some_and(|(_, p)| o.inspect.iter().any(|i| i.ssh.port == p));
        if !known && !port_known && c.uri.starts_with("ssh://") && needs_machine {
            f.warn(
                format!(
                    "the default connection {} ({}) matches no existing machine",
                    c.name, c.uri
                ),
                [
                    "podman system connection list".to_owned(),
                    format!("podman system connection default {chosen}"),
                ],
            );
        }
    }
    let running = o.list.iter().filter(|m| m.running && !m.starting).count();
    f.finish(format!(
        "{} machine(s), {running} running; default {chosen}",
        o.list.len()
    ))
}

fn judge_running(
    f: &mut Findings,
    o: &Observed,
    m: &Listed,
    i: Option<&Inspected>,
    default_conn: Option<&Connection>,
) {
    let Some((_, p)) = o.probes.iter().find(|(n, _)| *n == m.name) else {
        return;
    };
    let port = i.map(|i| i.ssh.port).unwrap_or(0);
    let say = |r: &Result<(), String>| match r {
        Ok(()) => "answers".to_owned(),
        Err(e) => e.clone(),
    };
    f.see(format!(
        "SSH 127.0.0.1:{port} {}; [::1]:{port} {}",
        say(&p.ssh_v4),
        say(&p.ssh_v6)
    ));
    let restart = [
        format!("podman machine stop {}", m.name),
        format!("podman machine start {}", m.name),
    ];
    match (&p.ssh_v4, &p.ssh_v6) {
        (Err(_), Err(_)) => f.fail(
            format!(
                "machine {} is running but its SSH port {port} answers on neither 127.0.0.1 nor [::1] (the VM or gvproxy is not forwarding it)",
                m.name
            ),
            restart.clone(),
        ),
        (Ok(()), Err(_)) => {
            // The IPv6 look-alike: `localhost` → ::1 first, where gvproxy does not listen.
            let via_localhost = default_conn
                .and_then(|c| c.host_port().map(|(h, pt)| (c, h, pt)))
                .filter(|(_, h, pt)| *h == "localhost" && *pt == port);
            if let Some((c, _, _)) = via_localhost {
                f.warn(
                    format!(
                        "the default connection {} reaches machine {} through `localhost`, but its SSH port answers only on 127.0.0.1, not [::1]: where `localhost` resolves to ::1 first, SSH is refused although the machine runs",
                        c.name, m.name
                    ),
                    [format!(
                        "podman system connection add --default --identity {} {}-ipv4 {}",
                        c.identity,
                        c.name,
                        c.uri.replacen("@localhost:", "@127.0.0.1:", 1)
                    )],
                );
            }
        }
        _ => {}
    }
    if let Some(Err(why)) = &p.api {
        let path = i
            .and_then(|i| i.connection_info.as_ref())
            .and_then(|c| c.podman_socket.as_ref())
            .map(|s| s.path.as_str())
            .unwrap_or("?");
        f.fail(
            format!(
                "machine {} is running but its API socket {path} does not answer: {why}",
                m.name
            ),
            restart,
        );
    }
}

pub async fn check(ctx: &Context) -> CheckResult {
    let needs_machine = cfg!(any(target_os = "macos", target_os = "windows"));
    let mut f = Findings::new(CHECK_PODMAN_MACHINE);
    let Ok(podman) = which::which("podman") else {
        if needs_machine {
            f.fail(
                "podman is not installed",
                ["https://podman.io/docs/installation"],
            );
        }
        return f.finish("podman is not installed; no machines to check");
    };
    let list = ctx
        .cmd(&podman)
        .args(["machine", "list", "--format", "json"]);
    let out = match list.output().await {
        Err(e) => return command_failed(f, &e),
        Ok(out) if !out.success() && out.stderr.contains("as root") => {
            // podman refuses `machine` subcommands as root: "cannot run command … as root".
            f.see(format!("{list}: {}", out.stderr.trim()));
            return f.finish("not applicable: `podman machine` runs only rootless (this is root)");
        }
        Ok(out) if !out.success() => {
            f.see(format!(
                "{list}: exit {:?}: {}",
                out.code,
                out.stderr.trim()
            ));
            f.fail(
                format!("`{list}` failed: {}", out.stderr.trim()),
                ["podman machine list"],
            );
            return f.finish("");
        }
        Ok(out) => out,
    };
    let mut o = Observed::default();
    match parse_list(&out.stdout) {
        Ok(l) => o.list = l,
        Err(e) => {
            f.fail(e, ["podman machine list"]);
            return f.finish("");
        }
    }
    if !o.list.is_empty() {
        let names: Vec<&str> = o.list.iter().map(|m| m.name.as_str()).collect();
        let inspect = ctx.cmd(&podman).args(["machine", "inspect"]).args(&names);
        let conns = ctx
            .cmd(&podman)
            .args(["system", "connection", "list", "--format", "json"]);
        let (i, c) = tokio::join!(inspect.run(), conns.run());
        match i {
            Ok(out) => match parse_inspect(&out.stdout) {
                Ok(v) => o.inspect = v,
                Err(e) => f.see(e),
            },
            Err(e) => return command_failed(f, &e),
        }
        match c {
            Ok(out) => match parse_connections(&out.stdout) {
                Ok(v) => o.connections = v,
                Err(e) => f.see(e),
            },
            Err(e) => return command_failed(f, &e),
        }
        for i in o.inspect.iter().filter(|i| i.state == "running") {
            let port = i.ssh.port;
            let socket = i
                .connection_info
                .as_ref()
                .and_then(|c| c.podman_socket.as_ref())
                .map(|s| s.path.clone());
            let (v4, v6, api) = tokio::join!(
                tcp_probe(format!("127.0.0.1:{port}")),
                tcp_probe(format!("[::1]:{port}")),
                async {
                    match socket {
                        Some(p) => Some(unix_probe(&p).await),
                        None => None,
                    }
                }
            );
            o.probes.push((
                i.name.clone(),
                Probes {
                    ssh_v4: v4,
                    ssh_v6: v6,
                    api,
                },
            ));
        }
    }
    let mut r = judge(&o, needs_machine);
    let mut ev = f.finish("").evidence;
    ev.append(&mut r.evidence);
    r.evidence = ev;
    r
}

/// A podman command that did not produce an answer: a hang says so by name.
fn command_failed(mut f: Findings, e: &CmdError) -> CheckResult {
    match e {
        CmdError::TimedOut { cmdline, after } => f.fail(
            format!(
                "`{cmdline}` hung: no answer within {} (it was killed)",
                humantime::format_duration(*after)
            ),
            [
                "ps -ef | grep -E 'podman|qemu|vfkit|krunkit|gvproxy'   # a stuck podman or VM process".to_owned(),
                "podman machine stop".to_owned(),
                "podman machine start".to_owned(),
            ],
        ),
        other => f.fail(other.to_string(), ["podman machine list"]),
    }
    f.finish("")
}

async fn tcp_probe(addr: String) -> Result<(), String> {
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err("refused".to_owned())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

async fn unix_probe(path: &str) -> Result<(), String> {
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path)).await {
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such socket file".to_owned())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => Ok(()),
    }
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

    fn observed(inspect: &str) -> Observed {
        let inspect = parse_inspect(&fixture(inspect)).unwrap();
        let mut list = parse_list(&fixture("machine-list.json")).unwrap();
        let state = inspect[0].state.clone();
        list[0].running = state == "running";
        list[0].starting = state == "starting";
        Observed {
            list,
            inspect,
            connections: parse_connections(&fixture("system-connection-list.json")).unwrap(),
            probes: Vec::new(),
        }
    }

    fn answering() -> Probes {
        Probes {
            ssh_v4: Ok(()),
            ssh_v6: Ok(()),
            api: Some(Ok(())),
        }
    }

    #[test]
    fn parses_recorded_outputs() {
        let i = parse_inspect(&fixture("machine-inspect-running.json")).unwrap();
        assert_eq!(i[0].name, "podman-machine-default");
        assert_eq!(i[0].state, "running");
        assert_eq!(
            i[0].resources,
            Resources {
                cpus: 4,
                disk_gib: 100,
                memory_mib: 2048
            }
        );
        assert_eq!(i[0].ssh.port, 54945);
        let l = parse_list(&fixture("machine-list.json")).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l[0].default && l[0].running && !l[1].running);
        let c = parse_connections(&fixture("system-connection-list.json")).unwrap();
        assert_eq!(c[1].host_port(), Some(("localhost", 54945)));
        assert!(c[1].default);
        // Rootful podman 4.3 on Linux answers `[]`.
        assert!(parse_connections("[]\n").unwrap().is_empty());
        assert!(parse_inspect("Error: no such machine").is_err());
    }

    #[test]
    fn running_machine_that_answers_passes() {
        let mut o = observed("machine-inspect-running.json");
        o.probes
            .push(("podman-machine-default".into(), answering()));
        let r = judge(&o, true);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "2 machine(s), 1 running; default podman-machine-default"
        );
        assert!(r.evidence.iter().any(|e| e
            == "machine podman-machine-default* (applehv): state running, 4 CPUs, 2048 MiB memory, 100 GiB disk, SSH port 54945, API socket /var/folders/cq/2lcbk22j3j13215bz7y3nf2r0000gn/T/podman/podman-machine-default-api.sock"));
    }

    #[test]
    fn stopped_default_machine_fails_with_start() {
        let r = judge(&observed("machine-inspect-stopped.json"), true);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "the default machine podman-machine-default is not running (state stopped)"
        );
        assert_eq!(r.fix, ["podman machine start podman-machine-default"]);
    }

    #[test]
    fn starting_machine_is_stuck() {
        let r = judge(&observed("machine-inspect-starting.json"), true);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "machine podman-machine-default is stuck in `starting`"
        );
        assert_eq!(r.fix[0], "podman machine stop podman-machine-default");
        assert_eq!(r.fix[2], "podman machine start podman-machine-default");
    }

    #[test]
    fn ssh_only_on_ipv4_with_localhost_connection_is_the_ipv6_lookalike() {
        let mut o = observed("machine-inspect-running.json");
        o.probes.push((
            "podman-machine-default".into(),
            Probes {
                ssh_v6: Err("refused".into()),
                ..answering()
            },
        ));
        let r = judge(&o, true);
        assert_eq!(r.status, Status::Warn, "{r:?}");
        assert!(
            r.summary.contains("answers only on 127.0.0.1, not [::1]"),
            "{}",
            r.summary
        );
        assert!(r
            .evidence
            .contains(&"SSH 127.0.0.1:54945 answers; [::1]:54945 refused".to_owned()));
        assert_eq!(r.fix, ["podman system connection add --default --identity /Users/james/.local/share/containers/podman/machine/machine podman-machine-default-root-ipv4 ssh://root@127.0.0.1:54945/run/podman/podman.sock"]);

        // Neither address answers: the machine is not forwarding SSH at all.
        o.probes[0].1.ssh_v4 = Err("refused".into());
        let r = judge(&o, true);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("answers on neither 127.0.0.1 nor [::1]"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn dead_api_socket_fails() {
        let mut o = observed("machine-inspect-running.json");
        o.probes.push((
            "podman-machine-default".into(),
            Probes {
                api: Some(Err("no such socket file".into())),
                ..answering()
            },
        ));
        let r = judge(&o, true);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("API socket /var/folders/"),
            "{}",
            r.summary
        );
        assert!(r.summary.ends_with("does not answer: no such socket file"));
    }

    #[test]
    fn no_machines() {
        let o = Observed::default();
        assert_eq!(judge(&o, false).status, Status::Pass);
        let r = judge(&o, true);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.fix, ["podman machine init", "podman machine start"]);
    }

    #[test]
    fn missing_default_and_stale_connection_warn() {
        let mut o = observed("machine-inspect-stopped.json");
        o.list.retain(|m| m.name == "podman-machine-alt");
        o.inspect.clear();
        let r = judge(&o, true);
        assert_eq!(
            r.status,
            Status::Fail,
            "alt becomes the chosen machine and is stopped"
        );
        assert!(
            r.summary.contains("no machine is marked as the default"),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains("matches no existing machine"),
            "{}",
            r.summary
        );
    }
}

//! The error-classification rule table: patterns, causes and fixes as static data.
//
// Every rule cites at least one public issue whose error text it was written from;
// the same texts are test cases in `classify_cases.rs`.
//
// Priorities (higher = more specific, wins over lower):
// - 90 a message one tool prints for exactly one cause (kind's own errors)
// - 80–85 a precise, tool-specific message
// - 60–75 a message whose cause is likely but that a live check can overturn
// - 50 a broad symptom ("no space left on device", "ImagePullBackOff")
// - 20–40 recognised tool errors without a specific category (`other`)
// - 10 envelopes that only say which tool failed (`ERROR: failed to create cluster:`)
//
// Placeholders `<group>` in `cause` and `fix` are filled from the named capture group
// of the same name when the winning pattern captured it; otherwise they stay for the
// user to fill in (`<name>` is the kind cluster name).

use super::classify::Category;

/// Doctor check: state of the podman machine (`podman machine inspect`).
pub const CHECK_PODMAN_MACHINE: &str = "podman-machine";
/// Doctor check: which engine sockets/endpoints exist and answer.
pub const CHECK_ENGINE_ENDPOINTS: &str = "engine-endpoints";
/// Doctor check: free space of the engine's storage.
pub const CHECK_STORAGE: &str = "storage";
/// Doctor check: kind binary, provider, clusters and their nodes.
pub const CHECK_KIND: &str = "kind";
/// Doctor check: rlimits, cgroup layout and delegation, inotify limits.
pub const CHECK_HOST_LIMITS: &str = "host-limits";
/// Doctor check: host and machine clock against each other and NTP.
pub const CHECK_CLOCK: &str = "clock";

/// Every check id a rule may name in `decided_by`.
pub const CHECK_IDS: &[&str] = &[
    CHECK_PODMAN_MACHINE,
    CHECK_ENGINE_ENDPOINTS,
    CHECK_STORAGE,
    CHECK_KIND,
    CHECK_HOST_LIMITS,
    CHECK_CLOCK,
];

/// One classification rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier, unique in [`RULES`].
    pub id: &'static str,
    pub category: Category,
    /// Specificity; the highest-priority matching rule wins (see module docs).
    pub priority: u8,
    /// Regexes; the first pattern (in order) with a non-excluded match is used.
    pub patterns: &'static [&'static str],
    /// A match is ignored when one of these matches the line(s) it sits on.
    pub excludes: &'static [&'static str],
    pub cause: &'static str,
    /// Commands the user types, in order.
    pub fix: &'static [&'static str],
    /// The doctor check that tells this cause apart from a look-alike.
    pub decided_by: Option<&'static str>,
}

/// The rule table.
pub static RULES: &[Rule] = &[
    // ---------------------------------------------------------------- podman machine
    Rule {
        id: "machine-other-vm-active",
        category: Category::Other,
        priority: 85,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/23436
            r"(?i)machine (?P<other>[\w.-]+): VM already running or starting",
            // https://github.com/podman-desktop/podman-desktop/issues/16659
            r"(?i)(?P<other>[\w.-]+) already starting or running on the \w+ provider: only one VM can be active at a time",
        ],
        excludes: &[],
        cause: "Another podman machine (<other>) is already running; only one machine can be active at a time.",
        fix: &["podman machine stop <other>", "podman machine start"],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-stale-hypervisor-process",
        category: Category::MachineStuckStarting,
        priority: 85,
        patterns: &[
            // https://github.com/podman-desktop/podman-desktop/issues/4673
            r#"(?i)another instance of "[^"]+" is already running with process ID (?P<pid>\d+)"#,
            // https://github.com/podman-desktop/podman-desktop/issues/2696
            r"(?i)cannot create PID file: Cannot lock pid file: Resource temporarily unavailable",
        ],
        excludes: &[],
        cause: "A hypervisor process (qemu/vfkit/krunkit) of an earlier start still holds the machine; podman's view of the machine is out of sync with it.",
        fix: &[
            "ps -ef | grep -E 'qemu|vfkit|krunkit'",
            "kill <pid>",
            "podman machine stop && podman machine start",
        ],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-start-failed",
        category: Category::MachineStuckStarting,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/26169
            r"(?i)machine did not transition into running state[^\n]*",
            // https://github.com/podman-container-tools/podman/issues/26888
            r"(?i)ssh error: machine not in running state",
            // https://github.com/podman-container-tools/podman/issues/16706
            r#"(?i)cannot start VM "?(?P<machine>[\w.-]+)"?: VM already running or starting"#,
            // https://github.com/podman-container-tools/podman/issues/16427
            // https://github.com/podman-container-tools/podman/issues/13609
            // https://github.com/podman-container-tools/podman/issues/14837
            r"(?i)dial unix \S*(?:qmp_[\w.-]+|_ready)\.sock: connect: (?:no such file or directory|connection refused)",
            // https://github.com/podman-desktop/podman-desktop/issues/10565
            r"(?i)\b(?:vfkit|qemu|krunkit) exited unexpectedly with exit code \d+[^\n]*",
        ],
        excludes: &[],
        cause: "`podman machine start` did not bring the VM to the running state: the VM process exited, its control/ready socket never appeared, or an earlier start is still in progress.",
        fix: &[
            "podman machine stop && podman machine start",
            "podman machine list",
        ],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-ssh-handshake",
        category: Category::MachineSshUnreachable,
        priority: 70,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/16579
            // https://github.com/podman-container-tools/podman/issues/14576
            // https://github.com/podman-desktop/podman-desktop/issues/10565
            r"(?i)ssh: handshake failed: [^\n]*",
            // https://github.com/podman-container-tools/podman/issues/15209
            r"(?i)ssh: connect to host \S+ port \d+: Connection refused",
        ],
        excludes: &[],
        cause: "The machine's forwarded SSH port was reached but SSH did not come up: the VM is still booting, sshd inside it is not running, or the connection's identity is stale.",
        fix: &[
            "podman machine stop && podman machine start",
            "podman system connection list",
        ],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-port-refused-ipv6",
        category: Category::MachineNotRunning,
        priority: 62,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/18786
            // https://github.com/podman-container-tools/podman/issues/16427
            // https://github.com/podman-container-tools/podman/issues/20424
            r"(?i)failed to connect: dial tcp \[::1\]:\d+: connect(?:ex)?: (?:connection refused|No connection could be made because the target machine actively refused it\.?)",
        ],
        excludes: &[],
        cause: "Nothing answered on the machine's forwarded port at [::1]. Usually the podman machine is not running. If `podman machine list` shows it running, `localhost` resolved to IPv6 ::1 while gvproxy listens on IPv4 127.0.0.1 only (podman#16470): the connection must use 127.0.0.1.",
        fix: &["podman machine start", "podman system connection list"],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-port-refused",
        category: Category::MachineNotRunning,
        priority: 60,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/18718
            // https://github.com/podman-container-tools/podman/issues/24905
            r"(?i)failed to connect: dial tcp (?:127\.0\.0\.1|localhost):\d+: connect(?:ex)?: (?:connection refused|No connection could be made because the target machine actively refused it\.?)",
            // https://github.com/ksingh7/microshift-plus/issues/2
            r"(?i)connection to bastion host \(ssh://[^)\s]+\) failed: dial tcp (?:127\.0\.0\.1|\[::1\]):\d+: connect(?:ex)?: (?:connection refused|No connection could be made because the target machine actively refused it\.?)",
        ],
        excludes: &[],
        cause: "Nothing answered on the machine's forwarded SSH/API port: the podman machine is not running (or its port forwarding died with it).",
        fix: &["podman machine start", "podman machine list"],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-missing",
        category: Category::MachineNotRunning,
        priority: 70,
        patterns: &[
            // https://github.com/podman-desktop/podman-desktop/issues/9345
            r"(?i)(?P<machine>[\w.-]+): VM does not exist",
            // https://github.com/mikefarah/yq/pull/2125
            r#"(?i)failed to read identity "[^"]+": open [^\n:]+: no such file or directory"#,
        ],
        excludes: &[],
        cause: "There is no podman machine (or its SSH identity is gone), so there is no Linux VM to run containers in.",
        fix: &["podman machine init", "podman machine start"],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "podman-connection-envelope",
        category: Category::MachineNotRunning,
        priority: 20,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/15731
            r"(?i)Cannot connect to Podman\. Please verify your connection to the Linux system[^\n]*",
        ],
        excludes: &[],
        cause: "The podman client could not reach its remote service (on macOS/Windows: the podman machine); the text does not say why.",
        fix: &[
            "podman machine list",
            "podman machine start",
            "podman system connection list",
        ],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "machine-exists",
        category: Category::MachineExists,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/16427
            // https://github.com/podman-desktop/podman-desktop/issues/2426
            r"(?i)(?P<machine>[\w.-]+): VM already exists",
        ],
        excludes: &[],
        cause: "A podman machine named <machine> already exists; `podman machine init` will not overwrite it. Start it, or remove it if it is broken.",
        fix: &[
            "podman machine start <machine>",
            "podman machine rm <machine> && podman machine init <machine>",
        ],
        decided_by: None,
    },
    Rule {
        id: "machine-exists-hypervisor",
        category: Category::MachineExists,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/24378
            r#"(?i)vm "(?P<machine>[^"]+)" already exists on hypervisor"#,
        ],
        excludes: &[],
        cause: "The hypervisor still has a VM named <machine> that podman no longer tracks (a leftover of an earlier machine).",
        fix: &["podman machine list", "podman machine rm -f <machine>"],
        decided_by: None,
    },
    Rule {
        id: "machine-connection-exists",
        category: Category::MachineExists,
        priority: 80,
        patterns: &[
            // https://github.com/podman-desktop/podman-desktop/issues/9345
            r#"(?i)system connection "(?P<machine>[^"]+)" already exists"#,
        ],
        excludes: &[],
        cause: "A system connection named <machine> survives from a removed machine and blocks `podman machine init`.",
        fix: &[
            "podman system connection rm <machine>",
            "podman system connection rm <machine>-root",
            "podman machine init <machine>",
        ],
        decided_by: None,
    },
    // ---------------------------------------------------------------- host <-> VM network
    Rule {
        id: "gvproxy-failed",
        category: Category::NetworkGvproxy,
        priority: 85,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/25103
            // https://github.com/podman-container-tools/podman/issues/25108
            r#"(?i)unable to connect to "gvproxy" socket at "[^"]+""#,
            // https://github.com/podman-container-tools/podman/issues/25103
            r"(?i)gvproxy exiting: [^\n]*",
            // https://github.com/podman-container-tools/podman/issues/24912
            r"(?i)github\.com/containers/gvisor-tap-vsock/pkg/[\w/.-]+",
        ],
        excludes: &[],
        cause: "gvproxy, the user-mode network proxy between the host and the podman machine, failed or exited, so the machine has no port forwarding (SSH, API socket).",
        fix: &[
            "podman machine stop && podman machine start",
            "podman --log-level=debug machine start",
        ],
        decided_by: Some(CHECK_PODMAN_MACHINE),
    },
    Rule {
        id: "localhost-unresolvable",
        category: Category::NetworkGvproxy,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/15731
            // https://github.com/podman-desktop/podman-desktop/issues/12659
            r"(?i)dial tcp: lookup localhost(?: on [^\s:]+:\d+)?: (?:i/o timeout|no such host)",
        ],
        excludes: &[],
        cause: "The host cannot resolve `localhost`, so the client cannot reach the ports gvproxy forwards from the machine.",
        fix: &[
            "grep -n localhost /etc/hosts",
            "podman system connection list",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    // ---------------------------------------------------------------- engine sockets
    Rule {
        id: "podman-socket-missing",
        category: Category::SocketMissing,
        priority: 62,
        patterns: &[
            // https://github.com/podman-desktop/podman-desktop/issues/10465
            r"(?i)connect to (?P<socket>/\S*podman\S*\.sock) port -2 failed: No such file or directory",
            r"(?i)dial unix (?P<socket>/\S*podman\S*\.sock): connect: no such file or directory",
        ],
        excludes: &[r"(?i)qmp_", r"(?i)_ready\.sock", r"(?i)gvproxy"],
        cause: "The Podman API socket <socket> does not exist: the socket-activated service (podman.socket) is not enabled, or the client looks in the wrong place.",
        fix: &[
            "systemctl --user enable --now podman.socket",
            "podman info --format '{{.Host.RemoteSocket.Path}}'",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    // kubetest's own engine-discovery error (src/engine/discover.rs), one line per endpoint
    // tried. The strongest reason wins: a denied socket, then a dead one, then a missing one.
    Rule {
        id: "kubetest-endpoint-permission",
        category: Category::SocketPermission,
        priority: 64,
        patterns: &[r"(?m)^\s*unix://(?P<socket>\S+) \([^)\n]*\): permission denied \(add your user"],
        excludes: &[],
        cause: "The engine socket <socket> exists but this user may not open it.",
        fix: &["sudo usermod -aG docker $USER   # then log in again", "ls -l <socket>"],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "kubetest-endpoint-refused",
        category: Category::DaemonNotRunning,
        priority: 62,
        patterns: &[r"(?m)^\s*unix://(?P<socket>\S+) \([^)\n]*\): connection refused \(the socket file exists"],
        excludes: &[],
        cause: "The socket file <socket> is left over but no engine listens on it: the engine (or podman machine) stopped.",
        fix: &["podman machine start", "systemctl start docker", "podman system service --time=0 &"],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "kubetest-endpoint-missing",
        category: Category::SocketMissing,
        priority: 58,
        patterns: &[r"(?m)^\s*unix://(?P<socket>\S+) \([^)\n]*\): no such socket file"],
        excludes: &[],
        cause: "No engine socket exists where kubetest looked (first: <socket>): no engine is running, or it listens elsewhere.",
        fix: &[
            "podman machine start",
            "systemctl start docker",
            "export DOCKER_HOST=unix://$(podman info --format '{{.Host.RemoteSocket.Path}}')",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "engine-socket-missing",
        category: Category::SocketMissing,
        priority: 60,
        patterns: &[
            // https://github.com/fsouza/go-dockerclient/issues/768
            // https://github.com/boot2docker/boot2docker/issues/499
            r"(?i)dial unix (?P<socket>/\S*\.sock):(?: connect:)? no such file or directory",
            // https://github.com/portainer/portainer/issues/197
            r"(?i)Unix socket (?P<socket>\S+) does not exist",
            // https://github.com/docker/for-mac/issues/1283
            r"(?i)Unexpected error \(No such file or directory\) connecting to (?P<socket>/\S+)",
        ],
        excludes: &[r"(?i)qmp_", r"(?i)_ready\.sock", r"(?i)gvproxy"],
        cause: "The engine socket <socket> does not exist: the engine is not running, or DOCKER_HOST / the docker context points to the wrong place (or, in a container, the socket is not mounted).",
        fix: &[
            "ls -l <socket>",
            "sudo systemctl start docker",
            "docker context ls",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "socket-permission",
        category: Category::SocketPermission,
        priority: 70,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/860
            // https://github.com/docker/getting-started-todo-app/issues/44
            // https://github.com/docker-library/postgres/issues/1124
            r"(?i)permission denied while trying to connect to the Docker daemon socket at unix://(?P<socket>[^\s:]+)",
            // https://github.com/actions/actions-runner-controller/issues/2538
            r"(?i)dial unix (?P<socket>/\S+\.sock): connect: permission denied",
            // https://github.com/docker/for-mac/issues/47
            r"(?i)Permission denied \(EACCES\) connecting to (?P<socket>/[^\s:]+)",
        ],
        excludes: &[],
        cause: "The engine socket <socket> exists but this user may not open it: not in the `docker` group, or it is Podman's rootful socket (/run/podman/podman.sock behind /var/run/docker.sock), which needs root.",
        fix: &[
            "ls -l <socket>",
            "sudo usermod -aG docker $USER",
            "newgrp docker",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "docker-desktop-pipe",
        category: Category::DaemonNotRunning,
        priority: 75,
        patterns: &[
            // https://github.com/docker/for-win/issues/5170
            // https://github.com/docker/for-win/issues/7310
            r"(?i)open //\./pipe/docker_engine: The system cannot find the file specified\.?",
        ],
        excludes: &[],
        cause: "Docker Desktop's engine is not running on this Windows host (its named pipe does not exist).",
        fix: &["docker context ls", "docker desktop start"],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "podman-service-refused",
        category: Category::DaemonNotRunning,
        priority: 62,
        patterns: &[
            // https://github.com/openkaiden/kaiden/issues/1354
            r"(?i)connect ECONNREFUSED (?P<socket>/\S*podman\S*\.sock)",
            r"(?i)dial unix (?P<socket>/\S*podman\S*\.sock): connect: connection refused",
        ],
        excludes: &[r"(?i)_ready\.sock"],
        cause: "The Podman API socket <socket> exists but nothing accepts connections on it: the podman service behind it is not running.",
        fix: &[
            "systemctl --user restart podman.socket",
            "systemctl --user status podman.socket",
        ],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    Rule {
        id: "docker-daemon-down",
        category: Category::DaemonNotRunning,
        priority: 60,
        patterns: &[
            // https://github.com/docker/for-linux/issues/535
            // https://github.com/docker/for-mac/issues/1641
            // https://github.com/tektoncd/catalog/issues/1247
            r"(?i)Cannot connect to the Docker daemon at (?:unix://)?(?P<socket>\S+)\. Is the docker daemon running\??",
            // https://github.com/docker/for-mac/issues/42
            r"(?i)Cannot connect to the Docker daemon\. Is the docker daemon running on this host\?",
            // https://github.com/docker/for-mac/issues/1535
            r"(?i)Connection refused \(ECONNREFUSED\) connecting to (?P<socket>/[^\s:]+)",
            r"(?i)dial unix (?P<socket>/\S+\.sock): connect: connection refused",
        ],
        excludes: &[r"(?i)_ready\.sock", r"(?i)qmp_"],
        cause: "No engine answered on its socket: the daemon is not running, or (if the socket file is missing) DOCKER_HOST / the docker context points elsewhere. On macOS/Windows start Docker Desktop or the podman machine.",
        fix: &["sudo systemctl start docker", "docker context ls"],
        decided_by: Some(CHECK_ENGINE_ENDPOINTS),
    },
    // ---------------------------------------------------------------- storage
    Rule {
        id: "podman-locks-exhausted",
        category: Category::Other,
        priority: 75,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/3843
            r"(?i)error allocating lock for new \w+: no space left on device",
        ],
        excludes: &[],
        cause: "Podman's lock table is full (`num_locks` in containers.conf), not the disk: too many containers, pods or volumes exist.",
        fix: &["podman container prune", "podman system renumber"],
        decided_by: None,
    },
    Rule {
        id: "storage-full",
        category: Category::StorageExhausted,
        priority: 50,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/16192
            // https://github.com/podman-container-tools/podman/issues/13967
            // https://github.com/podman-container-tools/podman/issues/23287
            // https://github.com/moby/moby/issues/29508
            r"(?i)(?:\b(?:write|mkdir|open|rename|copy)\s+\S+:\s*)?no space left on device",
        ],
        excludes: &[r"(?i)allocating lock", r"(?i)inotify|file watchers"],
        cause: "A write failed because a filesystem is full — usually the engine's storage (images, build cache, volumes; on macOS/Windows the podman machine's disk). If the `storage` check shows free space, the full filesystem is the application's own (a volume, tmpfs or a node's disk).",
        fix: &[
            "podman system df",
            "podman system prune",
            "docker system df",
            "docker system prune",
        ],
        decided_by: Some(CHECK_STORAGE),
    },
    // ---------------------------------------------------------------- host limits
    Rule {
        id: "inotify-limits",
        category: Category::Other,
        priority: 75,
        patterns: &[
            // https://github.com/kubernetes-sigs/cluster-api/issues/6324
            r"(?i)Failed to create (?:control group )?inotify object: Too many open files",
        ],
        excludes: &[],
        cause: "The host ran out of inotify instances/watches, so systemd inside the kind node containers cannot start.",
        fix: &[
            "sudo sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512",
        ],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    Rule {
        id: "rlimit-denied",
        category: Category::RlimitDenied,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/24692
            // https://github.com/containers/toolbox/issues/1312
            // https://github.com/containers/crun/issues/1388
            // https://github.com/podman-container-tools/podman/issues/7012
            r"(?i)setrlimit\s+[`(](?P<limit>RLIM(?:IT)?_\w+)[`)]: Operation not permitted",
            // https://github.com/podman-container-tools/podman/issues/17358
            r"(?i)error setting rlimits for ready process: error setting rlimit type \d+: operation not permitted",
        ],
        excludes: &[],
        cause: "The OCI runtime may not set the container's resource limits above this process's hard limit: the sandbox has no CAP_SYS_RESOURCE (nested container, CI runner).",
        fix: &[
            "ulimit -Hn",
            r#"printf '[containers]\ndefault_ulimits = ["nofile=10000:10000", "nproc=10000:10000"]\n' | sudo tee -a /etc/containers/containers.conf"#,
        ],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    Rule {
        id: "cgroup-unsupported",
        category: Category::CgroupUnsupported,
        priority: 80,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/18712
            // https://github.com/buildbuddy-io/buildbuddy/pull/6857
            r"(?i)cgroups in hybrid mode not supported(?:, drop all controllers from cgroupv2)?",
            // https://github.com/containers/crun/issues/374
            r"(?i)creating cgroup directory `[^`]+`: No such file or directory",
            // https://github.com/containers/crun/issues/704
            r"(?i)writing file `/sys/fs/cgroup/cgroup\.subtree_control`: Invalid argument",
            // https://github.com/opencontainers/runc/issues/2959
            r"(?i)setting cgroup config for procHooks process caused: load program: invalid argument",
        ],
        excludes: &[],
        cause: "The host's cgroup layout (hybrid v1+v2, or a v2 without the needed controllers/eBPF) is one the OCI runtime cannot use.",
        fix: &[
            "stat -fc %T /sys/fs/cgroup",
            r#"printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' | sudo tee -a /etc/containers/containers.conf"#,
        ],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    Rule {
        id: "oci-runtime-denied",
        category: Category::Other,
        priority: 20,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/20453
            // https://github.com/containers/crun/issues/268
            r"(?i)[^\n]*: Operation not permitted: OCI (?:runtime )?permission denied(?: error)?",
        ],
        excludes: &[],
        cause: "The OCI runtime (crun/runc) was denied an operation while creating the container — typical in nested containers and restricted CI sandboxes (missing capabilities, seccomp, read-only /proc).",
        fix: &["podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.Security.Rootless}}'"],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    // ---------------------------------------------------------------- kind
    Rule {
        id: "kind-node-exists",
        category: Category::KindNodeExists,
        priority: 90,
        patterns: &[
            // https://github.com/volcano-sh/volcano/issues/2889
            // https://github.com/vfarcic/crossplane-tutorial/pull/25
            r#"(?i)node\(s\) already exist for a cluster with the name "(?P<name>[^"]+)""#,
            // https://github.com/kubernetes-sigs/kind/issues/1410
            // https://github.com/kubernetes-sigs/kind/pull/1763
            r#"(?i)the container name "/?(?P<name>[\w.-]+?)-(?:control-plane|worker\d*|external-load-balancer)" is already in use"#,
        ],
        excludes: &[],
        cause: "Node containers of a kind cluster named \"<name>\" already exist (an earlier cluster, or a half-deleted one).",
        fix: &["kind get clusters", "kind delete cluster --name <name>"],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "kind-rootless-delegate",
        category: Category::KindRootlessCgroup,
        priority: 90,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/2916
            // https://github.com/kubernetes-sigs/kind/issues/3868
            // https://github.com/kubernetes-sigs/kind/issues/3936
            r#"(?i)running kind with rootless provider requires setting systemd property "Delegate=yes"?"#,
        ],
        excludes: &[],
        cause: "Rootless kind needs cgroup v2 with the cpu/cpuset/io/memory/pids controllers delegated to the user's systemd instance.",
        fix: &[
            "sudo mkdir -p /etc/systemd/system/user@.service.d",
            r#"printf '[Service]\nDelegate=yes\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf"#,
            "sudo systemctl daemon-reload",
            r#"systemd-run --scope --user -p "Delegate=yes" kind create cluster"#,
        ],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    Rule {
        id: "kind-node-boot-logs",
        category: Category::KindPodmanLogsRace,
        priority: 70,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/2972
            // https://github.com/kubernetes-sigs/kind/issues/2689
            // https://github.com/kubernetes-sigs/kind/issues/2460
            r#"(?i)could not find a (?:log )?line that matches "[^"\n]*"?"#,
            // Format from kind's source (FACTS.md); no public issue text was found for it.
            r#"(?i)failed to read logs: command "(?:podman|docker|nerdctl) logs[^\n]*"#,
        ],
        excludes: &[],
        cause: "kind waited for the node's systemd to log 'Reached target Multi-User System' and never saw it. With Podman this is often a race reading `podman logs` right after the node starts (retry); otherwise systemd in the node did not boot — most often exhausted inotify limits, else too little memory or a cgroup problem.",
        fix: &[
            "sudo sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512",
            "kind create cluster --retain --name <name>",
            "kind export logs --name <name>",
        ],
        decided_by: Some(CHECK_HOST_LIMITS),
    },
    Rule {
        id: "kind-image-not-present",
        category: Category::ImageNotLoaded,
        priority: 85,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/3105
            // https://github.com/kubernetes-sigs/kind/issues/2027
            // https://github.com/kubernetes-sigs/kind/issues/2417
            r#"(?i)ERROR: image: "(?P<image>[^"]+)" not present locally"#,
        ],
        excludes: &[],
        cause: "`kind load docker-image` always asks the `docker` binary for <image>; with Podman and no docker shim it reports the image missing even though `podman images` lists it.",
        fix: &[
            "podman save <image> -o /tmp/kubetest-image.tar",
            "kind load image-archive /tmp/kubetest-image.tar --name <name>",
        ],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "pod-image-never-pull",
        category: Category::ImageNotLoaded,
        priority: 80,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/2556
            r#"(?i)Container image "(?P<image>[^"]+)" is not present with pull policy of Never"#,
        ],
        excludes: &[],
        cause: "The node's containerd does not hold <image> under that exact name (it names images fully: x:tag becomes docker.io/library/x:tag) and the pod may not pull it.",
        fix: &[
            "podman save <image> -o /tmp/kubetest-image.tar && kind load image-archive /tmp/kubetest-image.tar --name <name>",
            "podman exec <name>-control-plane crictl images",
        ],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "pod-image-pull-failed",
        category: Category::ImageNotLoaded,
        priority: 60,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/2474
            r#"(?i)Failed to pull image "(?P<image>[^"]+)"[^\n]*"#,
            r#"(?i)Back-off pulling image "(?P<image>[^"]+)""#,
        ],
        excludes: &[r"(?i)no space left on device"],
        cause: "A node tried to pull <image> from a registry. Locally built images must be loaded into the nodes, and the pod must not force a pull (`:latest` or no tag makes imagePullPolicy default to Always).",
        fix: &[
            "podman save <image> -o /tmp/kubetest-image.tar && kind load image-archive /tmp/kubetest-image.tar --name <name>",
            "podman exec <name>-control-plane crictl images",
        ],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "pod-image-pull-status",
        category: Category::ImageNotLoaded,
        priority: 50,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/2556
            // https://github.com/dsx-ai-factory/infra-controller/pull/960
            r"\b(?:ErrImagePull|ImagePullBackOff|ErrImageNeverPull)\b",
        ],
        excludes: &[],
        cause: "A pod cannot get its image: it is not loaded into the kind nodes, or the pod forces a pull from a registry that does not have it.",
        fix: &[
            "kubectl describe pod <pod>",
            "podman exec <name>-control-plane crictl images",
        ],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "kind-api-refused",
        category: Category::Other,
        priority: 65,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/3473
            r"(?i)Unable to connect to the server: dial tcp \S+: connect(?:ex)?: (?:connection refused|No connection could be made because the target machine actively refused it\.?)",
        ],
        excludes: &[],
        cause: "The cluster's API server does not answer: the kind node containers are stopped (for example after the engine or machine restarted) or were removed.",
        fix: &[
            "podman ps -a --filter label=io.x-k8s.kind.cluster",
            "kind delete cluster --name <name>",
        ],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "kubectl-no-kubeconfig",
        category: Category::Other,
        priority: 65,
        patterns: &[
            // https://github.com/vdesabou/kafka-docker-playground/issues/8049
            r"(?i)The connection to the server localhost:8080 was refused - did you specify the right host or port\?",
        ],
        excludes: &[],
        cause: "kubectl has no kubeconfig/context and fell back to localhost:8080: the cluster's kubeconfig was not exported or KUBECONFIG is unset.",
        fix: &[
            "kind export kubeconfig --name <name>",
            "kubectl config current-context",
        ],
        decided_by: Some(CHECK_KIND),
    },
    // ---------------------------------------------------------------- clock
    Rule {
        id: "x509-not-yet-valid",
        category: Category::ClockSkew,
        priority: 85,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/18552
            // https://github.com/podman-desktop/podman-desktop/issues/1713
            // https://github.com/kubernetes-sigs/kind/issues/2166
            r"(?i)x509: certificate has expired or is not yet valid: current time (?P<now>\S+) is before (?P<valid_from>\S+)",
            // https://github.com/cookeem/kubeadm-ha/issues/44
            r"(?i)\bthe certificate is not valid yet\b",
        ],
        excludes: &[],
        cause: "A certificate looks not yet valid because this machine's clock runs behind; a podman machine's clock falls behind after the host sleeps.",
        fix: &[
            "date -u && podman machine ssh date -u",
            "podman machine ssh sudo chronyc makestep",
            "sudo timedatectl set-ntp true",
        ],
        decided_by: Some(CHECK_CLOCK),
    },
    Rule {
        id: "rpm-signature-not-alive",
        category: Category::ClockSkew,
        priority: 70,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/22037
            r"(?i)Signature \w+ created at [^\n]*? invalid: signature is not alive",
        ],
        excludes: &[],
        cause: "A package signature looks like it was made in the future: the clock where the build runs (the podman machine) is behind.",
        fix: &[
            "date -u && podman machine ssh date -u",
            "podman machine ssh sudo chronyc makestep",
        ],
        decided_by: Some(CHECK_CLOCK),
    },
    Rule {
        id: "x509-expired",
        category: Category::Other,
        priority: 85,
        patterns: &[
            // https://github.com/yashbhutwala/kubectl-df-pv/issues/20
            r"(?i)x509: certificate has expired or is not yet valid: current time (?P<now>\S+) is after (?P<valid_until>\S+)",
        ],
        excludes: &[],
        cause: "A certificate expired at <valid_until> (this clock says <now>). Unless the clock runs ahead, it really expired — for example a kind cluster older than a year (kubeadm certificates last one year).",
        fix: &[
            "date -u",
            "kind delete cluster --name <name> && kind create cluster --name <name>",
        ],
        decided_by: Some(CHECK_CLOCK),
    },
    Rule {
        id: "x509-invalid-time",
        category: Category::ClockSkew,
        priority: 60,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/17921
            // https://github.com/kubernetes-sigs/kind/issues/3425
            r"(?i)x509: certificate has expired or is not yet valid\b",
        ],
        excludes: &[],
        cause: "A certificate is outside its validity period by this machine's clock: either the clock is skewed (a podman machine falls behind after the host sleeps) or the certificate really expired (kind clusters' certificates last one year).",
        fix: &[
            "date -u && podman machine ssh date -u",
            "podman machine ssh sudo chronyc makestep",
        ],
        decided_by: Some(CHECK_CLOCK),
    },
    // ---------------------------------------------------------------- other recognised errors
    Rule {
        id: "no-such-container",
        category: Category::Other,
        priority: 30,
        patterns: &[
            // https://github.com/moghtech/komodo/issues/1008
            r#"(?i)no container with name or ID "(?P<container>[^"]+)" found: no such container"#,
            // https://github.com/kubernetes/minikube/issues/17695
            r#"(?i)Error: no such container "?(?P<container>[\w.-]+)"?"#,
            // https://github.com/podman-desktop/podman-desktop/issues/2044
            r"(?i)container \w+ does not exist in database: no such container",
        ],
        excludes: &[],
        cause: "The container no longer exists: it was removed behind the tool's back (manual rm, system prune, machine reset) or the name is wrong, and the state that names it is stale.",
        fix: &["kubetest status", "kubetest down", "kubetest up"],
        decided_by: None,
    },
    Rule {
        id: "engine-object-exists",
        category: Category::Other,
        priority: 30,
        patterns: &[
            // https://github.com/podman-container-tools/podman/issues/7740
            r"(?i)volume with name (?P<volume>\S+) already exists",
            // https://github.com/podman-container-tools/podman/issues/4536
            r"(?i)name (?P<pod>\S+) is in use: pod already exists",
        ],
        excludes: &[],
        cause: "A volume or pod of that name is left over from an earlier run (Podman, unlike Docker, refuses to re-create it).",
        fix: &["podman volume ls", "podman pod ls"],
        decided_by: None,
    },
    Rule {
        id: "kind-network-subnet-conflict",
        category: Category::Other,
        priority: 30,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/3514
            r"(?i)subnet (?P<subnet>\S+) is already used on the host or by another config",
        ],
        excludes: &[],
        cause: "kind wants to create its `kind` network with subnet <subnet>, which another network already uses (fixed in newer kind releases).",
        fix: &["podman network ls", "kind version"],
        decided_by: Some(CHECK_KIND),
    },
    Rule {
        id: "kind-create-envelope",
        category: Category::Other,
        priority: 10,
        patterns: &[
            // https://github.com/kubernetes-sigs/kind/issues/860
            // https://github.com/podman-container-tools/podman/issues/15395
            r"(?i)ERROR: failed to create cluster: [^\n]*",
        ],
        excludes: &[],
        cause: "kind failed to create the cluster for a reason none of the specific rules recognise; the nodes' logs say more.",
        fix: &[
            "kind create cluster --retain --name <name>",
            "kind export logs --name <name>",
        ],
        decided_by: Some(CHECK_KIND),
    },
];

//! Real error texts from public issue trackers, and look-alikes, with their expected categories.
//
// Compiled twice: as unit tests of `classify` and, through `tests/integration/doctor_corpus.rs`,
// in the integration tests; so it names only items of its parent module (`super::`).
//
// Texts are copied from the cited threads; where the tracker wrapped a long line the
// pieces are joined, and very long URLs/paths inside a text are kept as they were
// unless noted. Each rule of the table must win at least one real case.

use std::collections::HashSet;

use super::{classify, classify_with_rule, Category, Category::*, TABLE};

const PODMAN_ENVELOPE: &str = "Cannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM";

/// (real error text, expected category).
const REAL: &[(&str, Category)] = &[
    // ------------------------------------------------------------ kubetest's own words
    // src/engine/discover.rs (`NoEngine`), as printed by `kubetest up`.
    (
        "no Docker engine answered (`engine: docker`); tried:\n  unix:///tmp/none.sock (DOCKER_HOST): no such socket file\n  unix:///var/run/docker.sock (docker socket): no such socket file",
        SocketMissing,
    ),
    (
        "no container engine answered; tried:\n  unix:///run/user/1000/podman/podman.sock (rootless podman socket): no such socket file\n  unix:///var/run/docker.sock (docker socket): connection refused (the socket file exists but no engine is listening)",
        DaemonNotRunning,
    ),
    (
        "no container engine answered; tried:\n  unix:///var/run/docker.sock (docker socket): permission denied (add your user to the engine's group, or use the rootless socket)",
        SocketPermission,
    ),
    // ------------------------------------------------------------ machine-ssh-unreachable
    // https://github.com/podman-container-tools/podman/issues/16579
    (
        "Error: failed to connect: ssh: handshake failed: read tcp [::1]:56237->[::1]:49619: read: connection reset by peer",
        MachineSshUnreachable,
    ),
    // https://github.com/podman-container-tools/podman/issues/14576
    (
        "Waiting for VM ...\nERRO[0010] ssh: handshake failed: EOF\nWARN[0010] API socket failed ping test",
        MachineSshUnreachable,
    ),
    // https://github.com/podman-container-tools/podman/issues/15209 — refused at the TCP level on
    // the forwarded SSH port: this thread found sshd unreachable, train.yaml pm-099 a wrong
    // port; a stopped or booting machine prints the same. The machine family, its check decides.
    (
        "Connecting to vm podman-machine-default. To close connection, use ~. or exit\nssh: connect to host localhost port 51057: Connection refused\nError: exit status 255",
        MachineUnavailable,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/10565
    (
        "Error: unable to connect to Podman socket: failed to connect: ssh: handshake failed: read tcp 127.0.0.1:50842->127.0.0.1:50811: read: connection reset by peer",
        MachineSshUnreachable,
    ),
    // ------------------------------------------------------------ machine-stuck-starting
    // https://github.com/podman-container-tools/podman/issues/26169
    (
        "Starting machine \"podman-machine-default\"\nError: machine did not transition into running state: ssh error: machine is not listening on ssh port",
        MachineStuckStarting,
    ),
    // https://github.com/podman-container-tools/podman/issues/16706
    (
        "INFO[0000] podman filtering at log level debug\nError: cannot start VM podman-machine-default: VM already running or starting",
        MachineStuckStarting,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/4673
    (
        r#"Error: cannot start VM "podman-machine-default": another instance of "/opt/podman/qemu/bin/qemu-system-x86_64" is already running with process ID 84143: please stop and restart the VM"#,
        MachineStuckStarting,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/2696
    (
        "Starting machine \"podman-machine-default\"\nWaiting for VM ...\nError: qemu exited unexpectedly with exit code 1, stderr: qemu-system-x86_64: cannot create PID file: Cannot lock pid file: Resource temporarily unavailable",
        MachineStuckStarting,
    ),
    // https://github.com/podman-container-tools/podman/issues/13609
    (
        "2023-01-25T10:35:13.5424550Z Error: dial unix /var/folders/24/8k48jl6d249_n_qfxwsl6xvm0000gn/T/podman/podman-machine-default_ready.sock: connect: no such file or directory",
        MachineStuckStarting,
    ),
    // https://github.com/podman-container-tools/podman/issues/14837
    (
        "Waiting for VM ...\nError: dial unix /var/folders/k9/12cdgrpn4bl5ybl800vww62w0000gq/T/podman/podman-machine-default_ready.sock: connect: connection refused",
        MachineStuckStarting,
    ),
    // https://github.com/podman-container-tools/podman/issues/16427
    (
        "$ podman machine start\nStarting machine \"podman-machine-default\"\nError: dial unix /var/folders/_p/h1g79x650q7b325c6hqrxvhh0000gn/T/podman/qmp_podman-machine-default.sock: connect: no such file or directory",
        MachineStuckStarting,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/744
    (
        r#"Error: Starting machine "podman-machine-default" Error: dial unix /var/folders/52/hwntk6dn2sz_bpd2ldfh2k800000gn/T/podman/qmp_podman-machine-default.sock: connect: no such file or directory"#,
        MachineStuckStarting,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/10565
    (
        "folder % podman machine start\nStarting machine \"podman-machine-default\"\nWARN[0000] detected port conflict on machine ssh port [50262], reassigning \nError: vfkit exited unexpectedly with exit code 1",
        MachineStuckStarting,
    ),
    // https://github.com/podman-container-tools/podman/issues/26888 (issue title)
    (
        "ssh error: machine not in running state",
        MachineStuckStarting,
    ),
    // ------------------------------------------------------------ machine-not-running
    // https://github.com/podman-container-tools/podman/issues/18786
    (
        "Error: failed to connect: dial tcp [::1]:54483: connect: connection refused",
        MachineNotRunning,
    ),
    // https://github.com/podman-container-tools/podman/issues/16427
    (
        "$ podman version\nError: failed to connect: dial tcp [::1]:51512: connect: connection refused",
        MachineNotRunning,
    ),
    // https://github.com/podman-container-tools/podman/issues/20424
    (
        "Error: unable to connect to Podman socket: failed to connect: dial tcp [::1]:64503: connectex: No connection could be made because the target machine actively refused it.",
        MachineNotRunning,
    ),
    // https://github.com/podman-container-tools/podman/issues/18718
    (
        "$ podman pull alpine\nError: failed to connect: dial tcp 127.0.0.1:60219: connectex: No connection could be made because the target machine actively refused it.",
        MachineNotRunning,
    ),
    // https://github.com/podman-container-tools/podman/issues/24905
    (
        "Error: unable to connect to Podman socket: failed to connect: dial tcp 127.0.0.1:63733: connectex: No connection could be made because the target machine actively refused it.",
        MachineNotRunning,
    ),
    // https://github.com/ksingh7/microshift-plus/issues/2
    (
        "Error: unable to connect to Podman. failed to create sshClient: connection to bastion host (ssh://core@localhost:56102/run/user/1000/podman/podman.sock) failed: dial tcp 127.0.0.1:56102: connect: connection refused",
        MachineNotRunning,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/9345
    // No machine of that name exists (FORMAT.md: machine-not-running is a machine that
    // exists but is stopped); the corpus files such texts under other (train.yaml pm-051).
    (
        "H:\\>podman machine start\nError: podman-machine-default: VM does not exist",
        Other,
    ),
    // https://github.com/mikefarah/yq/pull/2125
    (
        r#"Cannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM Error: unable to connect to Podman socket: failed to read identity "/Users/tiger/.local/share/containers/podman/machine/machine": open /Users/tiger/.local/share/containers/podman/machine/machine: no such file or directory"#,
        // A missing SSH identity: the machine is gone (this thread: init + start) or the
        // connection is stale (FORMAT.md: machine-ssh-unreachable); the machine check decides.
        MachineUnavailable,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/1514 (fixed by `podman machine init` + `start`)
    (
        r#"Cannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM
Error: unable to connect to Podman socket: Get "http://d/v4.4.4/libpod/_ping": dial unix ///run/podman/podman.sock: connect: An invalid argument was supplied."#,
        // podman's envelope for any connection failure and no errno that decides: the
        // machine family; the thread's fix (init + start) is what its live check leads to.
        MachineUnavailable,
    ),
    // ------------------------------------------------------------ machine-exists
    // https://github.com/podman-container-tools/podman/issues/16427
    (
        "$ podman machine init\nError: podman-machine-default: VM already exists",
        MachineExists,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/2426
    (
        "Error: Error: podman-machine-default: VM already exists",
        MachineExists,
    ),
    // https://github.com/podman-container-tools/podman/issues/24378
    (
        r#"Error: vm "podman-machine-default" already exists on hypervisor"#,
        MachineExists,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/9345
    (
        r#"Error: Command execution failed with exit code 125 Command execution failed with exit code 125 Error: system connection "podman-machine-default" already exists. consider a different machine name or remove the connection with `podman system connection rm`"#,
        MachineExists,
    ),
    // ------------------------------------------------------------ other: another VM active
    // https://github.com/podman-container-tools/podman/issues/23436
    (
        "Starting machine \"h2\"\nError: unable to start \"h2\": machine h1: VM already running or starting",
        Other,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/16659
    (
        "Error: unable to start: podman-machine-default-wsl already starting or running on the wsl provider: only one VM can be active at a time",
        Other,
    ),
    // ------------------------------------------------------------ network-gvproxy
    // https://github.com/podman-container-tools/podman/issues/25103
    (
        r#"Error: unable to connect to "gvproxy" socket at "/var/folders/s7/tb66rr3940j0v9tsg84dcz0w0000gn/T/podman/tqt-gvproxy.sock""#,
        NetworkGvproxy,
    ),
    // https://github.com/podman-container-tools/podman/issues/25103 (gvproxy.log)
    (
        r#"time="2025-01-23T13:21:21+03:00" level=error msg="gvproxy exiting: cannot add network services: adding watcher failed: \"/private/var/run/docker.sock\": no such file or directory""#,
        NetworkGvproxy,
    ),
    // https://github.com/podman-container-tools/podman/issues/25105
    (
        "Starting machine \"podman-machine-default\"\nError: unable to connect to \"gvproxy\" socket at \"/var/folders/fy/6vxc3l1d2gjfy99zl262pw3c0000gp/T/podman/podman-machine-default-gvproxy.sock\"\n\nOS: darwin/arm64\nprovider: applehv\nversion: 5.3.2\n\nCannot connect to Podman. Please verify your connection to the Linux system using `podman system connection list`, or try `podman machine init` and `podman machine start` to manage a new Linux VM\nError: unable to connect to Podman socket: failed to connect: dial tcp 127.0.0.1:53057: connect: connection refused",
        NetworkGvproxy,
    ),
    // https://github.com/podman-container-tools/podman/issues/24912
    (
        "panic: runtime error: index out of range [0] with length 0\n\ngoroutine 33 [running]:\ngithub.com/containers/gvisor-tap-vsock/pkg/services/dns.getDNSHostAndPort()\n\t/private/tmp/podman--gvproxy-20241122-5354-gcocwn/gvisor-tap-vsock-0.8.0/pkg/services/dns/dns_config_unix.go:15 +0x94",
        NetworkGvproxy,
    ),
    // https://github.com/podman-container-tools/podman/issues/15731
    (
        "Error: unable to connect to Podman. failed to create sshClient: connection to bastion host (ssh://core@localhost:50693/run/user/501/podman/podman.sock) failed: dial tcp: lookup localhost: i/o timeout",
        NetworkGvproxy,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/12659
    (
        r#"podman machine list
Error: Get "http://localhost:50395/vm/state": dial tcp: lookup localhost: no such host"#,
        NetworkGvproxy,
    ),
    // ------------------------------------------------------------ socket-missing
    // https://github.com/podman-desktop/podman-desktop/issues/10465
    (
        "error: connect to /run/user/1000/podman/podman.sock port -2 failed: No such file or directory",
        SocketMissing,
    ),
    // https://github.com/boot2docker/boot2docker/issues/499
    (
        "2014/08/23 11:56:00 Get http:///var/run/docker.sock/v1.14/version: dial unix /var/run/docker.sock: no such file or directory",
        SocketMissing,
    ),
    // https://github.com/fsouza/go-dockerclient/issues/768
    (
        "create container failed: Post http://unix.sock/containers/create?name=dev-peer0.org2.example.com-mycc-1.0: dial unix /var/run/docker.sock: connect: no such file or directory",
        SocketMissing,
    ),
    // https://github.com/portainer/portainer/issues/197
    (
        "2016/09/06 15:20:07 Unix socket /var/run/docker.sock does not exist",
        SocketMissing,
    ),
    // https://github.com/docker/for-mac/issues/1283
    (
        "[ERROR]  docker-cli\n         /var/run/docker.sock does not exist\n         Unexpected error (No such file or directory) connecting to /var/run/docker.sock\n         docker ps failed",
        SocketMissing,
    ),
    // ------------------------------------------------------------ socket-permission
    // https://github.com/kubernetes-sigs/kind/issues/860
    (
        "Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get http://%2Fvar%2Frun%2Fdocker.sock/v1.39/version: dial unix /var/run/docker.sock: connect: permission denied",
        SocketPermission,
    ),
    // https://github.com/actions/actions-runner-controller/issues/2538
    (
        r#"Got permission denied while trying to connect to the Docker daemon socket at unix:///run/docker/docker.sock: Get "http://%2Frun%2Fdocker%2Fdocker.sock/v1.24/containers/json": dial unix /run/docker/docker.sock: connect: permission denied"#,
        SocketPermission,
    ),
    // https://github.com/docker/getting-started-todo-app/issues/44
    (
        r#"time="2025-01-11T02:22:10Z" level=error msg="Failed to retrieve information of the docker client and server host: permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version\": dial unix /var/run/docker.sock: connect: permission denied" providerName=docker"#,
        SocketPermission,
    ),
    // https://github.com/docker-library/postgres/issues/1124
    (
        r#"permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Post "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/images/create?fromImage=postgres&tag=latest": dial unix /var/run/docker.sock: connect: permission denied"#,
        SocketPermission,
    ),
    // https://github.com/docker/for-mac/issues/47 — the text says the socket is missing AND
    // that opening it was denied; this file labelled it socket-permission, the corpus
    // (train.yaml n4-004, same thread) socket-missing: the family, its check decides.
    (
        "[ERROR]  docker-cli\n         /var/run/docker.sock does not exist\n         Permission denied (EACCES) connecting to /var/run/docker.sock: check permissions\n         docker ps failed",
        EngineUnreachable,
    ),
    // ------------------------------------------------------------ daemon-not-running
    // https://github.com/docker/for-linux/issues/535
    (
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        EngineUnreachable,
    ),
    // https://github.com/ByConity/byconity-deploy/issues/14
    (
        r#"byconity-deploy bytedance$ kind create cluster --config examples/kind/kind-byconity.yaml
ERROR: failed to create cluster: failed to list nodes: command "docker ps -a --filter label=io.x-k8s.kind.cluster=byconity-cluster --format '{{.Names}}'" failed with error: exit status 1
Command Output: Cannot connect to the Docker daemon at unix:///Users/bytedance/.colima/default/docker.sock. Is the docker daemon running?"#,
        EngineUnreachable,
    ),
    // https://github.com/tektoncd/catalog/issues/1247
    (
        r#"+ kind create cluster
ERROR: failed to create cluster: failed to list clusters: command "docker ps -a --filter label=io.x-k8s.kind.cluster=kind --format '{{.Names}}'" failed with error: exit status 1

Command Output: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"#,
        EngineUnreachable,
    ),
    // https://github.com/docker/for-mac/issues/42
    (
        "Cannot connect to the Docker daemon. Is the docker daemon running on this host?",
        EngineUnreachable,
    ),
    // https://github.com/docker/for-mac/issues/1535
    (
        "[ERROR]   docker-cli       Connection refused (ECONNREFUSED) connecting to /var/run/docker.sock: check if service is running",
        DaemonNotRunning,
    ),
    // https://github.com/docker/for-win/issues/5170
    (
        "error during connect: Get http://%2F%2F.%2Fpipe%2Fdocker_engine/v1.40/containers/json?all=1: open //./pipe/docker_engine: The system cannot find the file specified. In the default daemon configuration on Windows, the docker client must be run elevated to connect. This error may also indicate that the docker daemon is not running.",
        DaemonNotRunning,
    ),
    // https://github.com/docker/for-win/issues/7310
    (
        "Server:\nERROR: error during connect: Get http://%2F%2F.%2Fpipe%2Fdocker_engine/v1.40/info: open //./pipe/docker_engine: The system cannot find the file specified. In the default daemon configuration on Windows, the docker client must be run elevated to connect. This error may also indicate that the docker daemon is not running.",
        DaemonNotRunning,
    ),
    // https://github.com/openkaiden/kaiden/issues/1354
    (
        "main ↪️ [container] Error reconnecting to /run/user/29327/podman/podman.sock: Error: connect ECONNREFUSED /run/user/29327/podman/podman.sock",
        DaemonNotRunning,
    ),
    // https://github.com/docker/for-mac/issues/7354
    (
        "Server:\nERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\nerrors pretty printing info",
        EngineUnreachable,
    ),
    // ------------------------------------------------------------ storage-exhausted
    // https://github.com/podman-container-tools/podman/issues/16192
    (
        r#"error copying layers and metadata for container "26babb7d177edf6deb8aa30e179ed27a36a3f952b8f4218e5e4c74cfb24a3ffb": writing blob: adding layer with blob "sha256:d80cf574e8593ee6c778d25707c62f90ac8fc934727dab643c27a5e129036d50": Error processing tar file(exit status 1): write /u01/jdk/jre/lib/amd64/libjfxwebkit.so: no space left on device"#,
        StorageExhausted,
    ),
    // https://github.com/podman-container-tools/podman/issues/13967
    (
        "Error: 128 errors occurred:\n\t* open /var/home/core/.local/share/containers/storage/overlay-images/.tmp-images.json2632288465: no space left on device",
        StorageExhausted,
    ),
    // https://github.com/containers/qm/issues/623
    (
        "Error: 1 error occurred:\n\t* mkdir /var/lib/containers/storage/overlay/7d613c5cd23c6926f16981122b500fe62862eaa025a289f8f740e24aac958723/merged.1: no space left on device",
        StorageExhausted,
    ),
    // https://github.com/podman-container-tools/podman/issues/23287
    (
        "Error: mkdir /var/tmp/libpod_builder3448793565: no space left on device",
        StorageExhausted,
    ),
    // https://github.com/podman-container-tools/buildah/issues/4423
    (
        r#"writing blob: storing blob to file "/var/tmp/storage3185272525/1": write /var/tmp/storage3185272525/1: no space left on device"#,
        StorageExhausted,
    ),
    // https://github.com/moby/moby/issues/29508
    (
        "failed to register layer: ApplyLayer exit status 1 stdout:  stderr: mkdir /root/.npm/registry.npmjs.org/har-validator: no space left on device",
        StorageExhausted,
    ),
    // ------------------------------------------------------------ kind-node-exists
    // https://github.com/volcano-sh/volcano/issues/2889
    (
        r#"Running kind: [kind create cluster --name integration --config /go/src/github.com/volcano.sh/volcano/hack/../hack/e2e-kind-config.yaml]
ERROR: failed to create cluster: node(s) already exist for a cluster with the name "integration""#,
        KindNodeExists,
    ),
    // https://github.com/vfarcic/crossplane-tutorial/pull/25
    (
        r#"ERROR: failed to create cluster: node(s) already exist for a cluster with the name "kind""#,
        KindNodeExists,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/1410
    (
        r#"docker: Error response from daemon: Conflict. The container name "/kind-control-plane" is already in use by container "9df1a7a82171e3d329be23b8f63a1bd24f075e54f7a7d1591f94f4610293df3b". You have to remove (or rename) that container to be able to reuse that name."#,
        KindNodeExists,
    ),
    // https://github.com/kubernetes-sigs/kind/pull/1763
    (
        r#"Command Output: Error: error creating container storage: the container name "kind-control-plane" is already in use by "5b2f97540905b848507b36efaaeb8ab1dc54dee09893ad7d39f4e68d5e9eeace". You have to remove that container to be able to reuse that name.: that name is already in use"#,
        KindNodeExists,
    ),
    // ------------------------------------------------------------ kind-podman-logs-race
    // https://github.com/kubernetes-sigs/kind/issues/2972
    (
        r#"could not find a log line that matches "Reached target .*Multi-User System.*|detected cgroup v1""#,
        KindPodmanLogsRace,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2689
    (
        r#"ERROR: failed to create cluster: could not find a log line that matches "Reached target .*Multi-User System.*|detected cgroup v1""#,
        KindPodmanLogsRace,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2460 (issue title)
    (
        r#"could not find a line that matches "Reached target .*Multi-User System.*""#,
        KindPodmanLogsRace,
    ),
    // ------------------------------------------------------------ kind-rootless-cgroup
    // https://github.com/kubernetes-sigs/kind/issues/2916
    (
        r#"ERROR: failed to create cluster: running kind with rootless provider requires setting systemd property "Delegate=yes", see https://kind.sigs.k8s.io/docs/user/rootless/"#,
        KindRootlessCgroup,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3868
    (
        r#"enabling experimental podman provider
ERROR: failed to create cluster: running kind with rootless provider requires setting systemd property "Delegate=yes", see https://kind.sigs.k8s.io/docs/user/rootless/"#,
        KindRootlessCgroup,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3936 (quoted without the closing quote)
    (
        r#"running kind with rootless provider requires setting systemd property "Delegate=yes"#,
        KindRootlessCgroup,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2684
    (
        "enabling experimental podman provider\nERROR: failed to create cluster: running kind with rootless provider requires setting systemd property \"Delegate=yes\", see https://kind.sigs.k8s.io/docs/user/rootless/\nStack Trace:\nsigs.k8s.io/kind/pkg/errors.New\n\tsigs.k8s.io/kind/pkg/errors/errors.go:28",
        KindRootlessCgroup,
    ),
    // ------------------------------------------------------------ image-not-loaded
    // https://github.com/kubernetes-sigs/kind/issues/3105
    (
        "using podman due to KIND_EXPERIMENTAL_PROVIDER\nenabling experimental podman provider\nERROR: image: \"<image-name>\" not present locally",
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2027
    (
        "[root@localhost kind]# kind load docker-image ovn-daemonset-f:dev --name ovn \nenabling experimental podman provider\nERROR: image: \"ovn-daemonset-f:dev\" not present locally",
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2417
    (
        r#"ERROR: image: "docker.io/library/kong" not present locally"#,
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3822
    (
        "> kind load -v 400 docker-image docker.io/library/alpine:latest\nenabling experimental podman provider\nERROR: image: \"docker.io/library/alpine:latest\" not present locally",
        ImageNotLoaded,
    ),
    // https://github.com/openshift-online/maestro/pull/85
    (
        r#"ERROR: image: "image-registry.testing/maestro/maestro:latest" not present locally"#,
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2556
    (
        r#"  Warning  ErrImageNeverPull  3m34s (x95 over 23m)  kubelet            Container image "docker.io/library/thisisfine:v1" is not present with pull policy of Never"#,
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2556
    (
        "  Warning  Failed             21m (x12 over 23m)    kubelet            Error: ErrImageNeverPull",
        ImageNotLoaded,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2474
    (
        r#"Failed to pull image "open-dataplatform-hadoop-hdfs": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/open-dataplatform-hadoop-hdfs:latest": failed to resolve reference "docker.io/library/open-dataplatform-hadoop-hdfs:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#,
        ImageNotLoaded,
    ),
    // https://github.com/dsx-ai-factory/infra-controller/pull/960
    (
        "This PR fixes pods stuck in the `ImagePullBackOff` state when running `devspace deploy -n forge-system` with kind.",
        ImageNotLoaded,
    ),
    // ------------------------------------------------------------ rlimit-denied
    // https://github.com/podman-container-tools/podman/issues/24692
    (
        "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied",
        RlimitDenied,
    ),
    // https://github.com/containers/qm/issues/666
    (
        "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied\n[ FAILED ] Error: Command podman exec qm podman run alpine echo Hello QM failed with exit code: 126",
        RlimitDenied,
    ),
    // https://github.com/containers/toolbox/issues/1312
    (
        r#"$ podman start fedora-toolbox-38
Error: unable to start container "f8accc0c103a4fc741b8592de53010f8630d502d97a0050c367e2401cac1501f": crun: setrlimit `RLIMIT_NPROC`: Operation not permitted: OCI permission denied"#,
        RlimitDenied,
    ),
    // https://github.com/containers/crun/issues/1388
    (
        "bash-5.1# podman run -ti localhost/auto-apps bash\nError: crun: setrlimit (RLIM_MEMLOCK): Operation not permitted: OCI permission denied",
        RlimitDenied,
    ),
    // https://github.com/containers/crun/issues/255
    (
        "$ unshare -r crun --systemd-cgroup run foo\n2020-02-10T09:53:27.000690883Z: setrlimit (RLIM_MEMLOCK): Operation not permitted",
        RlimitDenied,
    ),
    // https://github.com/podman-container-tools/podman/issues/17358
    (
        r#"level=error msg="runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted": OCI permission denied"#,
        RlimitDenied,
    ),
    // https://github.com/podman-container-tools/podman/issues/7012
    (
        "Storing signatures\nError: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI runtime permission denied error",
        RlimitDenied,
    ),
    // https://github.com/containers/qm/issues/35
    (
        "May 09 03:27:43 node1 qm[11433]: Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied",
        RlimitDenied,
    ),
    // ------------------------------------------------------------ cgroup-unsupported
    // https://github.com/podman-container-tools/podman/issues/18712
    (
        "Storing signatures\nError: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2",
        CgroupUnsupported,
    ),
    // https://github.com/podman-container-tools/podman/issues/18712
    (
        "Error: (HTTP code 500) server error - crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2: OCI runtime error",
        CgroupUnsupported,
    ),
    // https://github.com/containers/crun/issues/374
    (
        "Error: creating cgroup directory `/sys/fs/cgroup/net_prio,net_cls/machine.slice/libpod-44e5dd29271a22432047ec32ec15aa0a184f1a4c7eca735353d4474f942cfa24.scope`: No such file or directory: OCI runtime command not found error",
        CgroupUnsupported,
    ),
    // https://github.com/containers/crun/issues/617
    (
        "Error: creating cgroup directory `/sys/fs/cgroup/net_prio,net_cls/machine.slice/libpod-b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411.scope`: No such file or directory: OCI not found",
        CgroupUnsupported,
    ),
    // https://github.com/containers/crun/issues/704 (issue title)
    (
        "Cannot run any container: OCI runtime error: writing file `/sys/fs/cgroup/cgroup.subtree_control`: Invalid argument",
        CgroupUnsupported,
    ),
    // https://github.com/opencontainers/runc/issues/2959 (issue title)
    (
        "[error] OCI runtime create failed: setting cgroup config for procHooks process caused: load program: invalid argument",
        CgroupUnsupported,
    ),
    // ------------------------------------------------------------ clock-skew
    // https://github.com/podman-container-tools/podman/issues/18552
    (
        r#"Error: copying system image from manifest list: parsing image configuration: Get "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/a2/a2a5675db360295fbf2167e64f7680c186126c7441df7e30c4f52d902474951b/data?verify=1683905416-Jb7bV11yr5KIk4aS%2BM8IY2UH%2Bgc%3D": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2023-05-11T07:06:36-06:00 is before 2023-05-12T00:00:00Z"#,
        ClockSkew,
    ),
    // https://github.com/podman-desktop/podman-desktop/issues/1713
    (
        r#"Error: initializing source docker://registry.*******.***/test:latest: pinging container registry registry.*******.***: Get "https://registry.*******.***/v2/": x509: certificate has expired or is not yet valid: current time 2023-03-14T07:28:17-07:00 is before 2023-03-15T18:37:13Z"#,
        ClockSkew,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/2166
    (
        "To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\nUnable to connect to the server: x509: certificate has expired or is not yet valid: current time 2021-03-29T11:40:49+08:00 is before 2021-03-29T11:39:56Z",
        ClockSkew,
    ),
    // https://github.com/podman-container-tools/podman/issues/17921 (signed download URL shortened)
    (
        r#"Error: head request failed: https://github.com/containers/podman-wsl-fedora/releases/latest/download/rootfs.tar.xz: Head "https://objects.githubusercontent.com/github-production-release-asset-2e65be/513664300/3dd02f41-30e7-4bf0-ada6-919aadb6aff0?X-Amz-Algorithm=AWS4-HMAC-SHA256": x509: certificate has expired or is not yet valid:"#,
        ClockSkew,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3425
    (
        "Unable to connect to the server: x509: certificate has expired or is not yet valid",
        ClockSkew,
    ),
    // https://github.com/podman-container-tools/podman/issues/22037
    (
        "RPM:   Signature 20f8 created at Wed Mar 13 10:19:14 2024 invalid: signature is not alive",
        ClockSkew,
    ),
    // https://github.com/cookeem/kubeadm-ha/issues/44
    (
        "[root@k8s-master01 ~]# kubeadm alpha phase certs all --config /root/kubeadm-config.yaml\nfailure loading ca certificate: the certificate is not valid yet",
        ClockSkew,
    ),
    // ------------------------------------------------------------ other (recognised)
    // https://github.com/podman-container-tools/podman/issues/3843 (issue title)
    (
        "error allocating lock for new pod: no space left on device",
        Other,
    ),
    // https://github.com/kubernetes-sigs/cluster-api/issues/6324 (terminal colour codes removed)
    (
        "[  OK  ] Reached target Swap.\nFailed to create inotify object: Too many open files\n[  OK  ] Listening on Journal Socket (/dev/log).",
        HostLimits,
    ),
    // https://github.com/yashbhutwala/kubectl-df-pv/issues/20
    (
        "x509: certificate has expired or is not yet valid: current time 2021-04-26T10:18:22+02:00 is after 2021-04-07T03:12:06Z",
        Other,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3473
    (
        "Unable to connect to the server: dial tcp 127.0.0.1:60449: connectex: No connection could be made because the target machine actively refused it.",
        Other,
    ),
    // https://github.com/vdesabou/kafka-docker-playground/issues/8049
    (
        r#"E0703 08:28:16.306732  191762 memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: Get \"http://localhost:8080/api?timeout=32s\": dial tcp [::1]:8080: connect: connection refused"
The connection to the server localhost:8080 was refused - did you specify the right host or port?"#,
        Other,
    ),
    // https://github.com/moghtech/komodo/issues/1008
    (
        r#"Error: no container with name or ID "--tail" found: no such container"#,
        Other,
    ),
    // https://github.com/kubernetes/minikube/issues/17695
    ("stderr:\nError: no such container \"minikube\"", Other),
    // https://github.com/podman-desktop/podman-desktop/issues/2044
    (
        "Podman Error: (HTTP code 500) server error - failed to get state of container b55c10b0bbf8e96e47ca32bea81d0938d39201ca4b17fb4954170296a03bd03e: container b55c10b0bbf8e96e47ca32bea81d0938d39201ca4b17fb4954170296a03bd03e does not exist in database: no such container",
        Other,
    ),
    // https://github.com/podman-container-tools/podman/issues/7740
    (
        "$ podman volume create test\nError: volume with name test already exists: volume already exists",
        Other,
    ),
    // https://github.com/podman-container-tools/podman/issues/4536
    (
        "Error: unable to create pod: error adding pod to state: name dev-database is in use: pod already exists",
        Other,
    ),
    // https://github.com/kubernetes-sigs/kind/issues/3514
    (
        r#"ERROR: failed to create cluster: failed to ensure podman network: command "podman network create -d=bridge --ipv6 --subnet fc00:f853:ccd:e793::/64 kind" failed with error: exit status 125
Command Output: Error: subnet fc00:f853:ccd:e793::/64 is already used on the host or by another config"#,
        Other,
    ),
    // https://github.com/podman-container-tools/podman/issues/15395
    (
        r#"ERROR: failed to create cluster: command "podman run --name kind-control-plane --hostname kind-control-plane --label io.x-k8s.kind.role=control-plane --privileged --detach --tty --net kind --label io.x-k8s.kind.cluster=kind -e container=podman localhost/kindest/node:22.10.20220801.1.24.3" failed with error: exit status 126
Command Output: Error: netavark: failed to configure bridge and veth interface: failed while configuring network interface: failed to set ip address to podman1: Permission denied (os error 13)"#,
        // kind's envelope alone names no cause (the rule that answered `other` for it is gone).
        Unknown,
    ),
    // https://github.com/podman-container-tools/podman/issues/20453
    (
        "Error: crun: mount `proc` to `proc`: Operation not permitted: OCI permission denied",
        Other,
    ),
    // https://github.com/containers/crun/issues/268
    (
        "ERRO[0000] sd-bus add match: Operation not permitted: OCI runtime permission denied error",
        Other,
    ),
];

/// (look-alike text, the category a naive keyword match would give, expected category).
const LOOKALIKES: &[(&str, Category, Category)] = &[
    // "no space left on device" from podman's lock table, not the disk.
    // https://github.com/podman-container-tools/podman/issues/3843
    (
        "Error: error allocating lock for new pod: no space left on device",
        StorageExhausted,
        Other,
    ),
    // "connection refused" on [::1] from an application's own health check, not a machine.
    // https://github.com/wollomatic/socket-proxy/issues/79
    (
        r#"2025/12/22 14:41:51 error doing health check: Head "http://localhost:55555/health": dial tcp [::1]:55555: connect: connection refused"#,
        MachineNotRunning,
        Unknown,
    ),
    // kubeadm's kubelet health check inside a node, not a podman machine.
    // https://github.com/alexellis/k8s-on-raspbian/issues/14
    (
        "[kubelet-check] The HTTP call equal to 'curl -sSL http://localhost:10248/healthz' failed with error: Get http://localhost:10248/healthz: dial tcp [::1]:10248: connect: connection refused.",
        MachineNotRunning,
        Unknown,
    ),
    // https://github.com/kubernetes/kubeadm/issues/2645 (issue title)
    (
        r#"The HTTP call equal to 'curl -sSL http://localhost:10248/healthz' failed with error: Get "http://localhost:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection refused."#,
        MachineNotRunning,
        Unknown,
    ),
    // kubectl refused by a stopped kind API server, not by a machine port.
    // https://github.com/kubernetes-sigs/kind/issues/3473
    (
        "Unable to connect to the server: dial tcp 127.0.0.1:60449: connectex: No connection could be made because the target machine actively refused it.",
        MachineNotRunning,
        Other,
    ),
    // "permission denied" on a kubeconfig file, not on the engine socket.
    // https://github.com/kubernetes-sigs/kind/issues/860
    (
        "Error: failed to create cluster: failed to get kubeconfig from node: open /home/rajib/.kube/kind-config-kind: permission denied",
        SocketPermission,
        // Not the socket; kind's envelope alone names no cause, so: unknown.
        Unknown,
    ),
    // "Permission denied" from netavark configuring a bridge, not the engine socket.
    // https://github.com/podman-container-tools/podman/issues/15395
    (
        "Command Output: Error: netavark: failed to configure bridge and veth interface: failed while configuring network interface: failed to set ip address to podman1: Permission denied (os error 13)",
        SocketPermission,
        Unknown,
    ),
    // "already exists" for a volume, not a kind node or a machine.
    // https://github.com/podman-container-tools/podman/issues/7740
    (
        "Error: volume with name test already exists: volume already exists",
        KindNodeExists,
        Other,
    ),
    // "already used" for kind's network subnet, not its nodes.
    // https://github.com/kubernetes-sigs/kind/issues/3514
    (
        "Command Output: Error: subnet fc00:f853:ccd:e793::/64 is already used on the host or by another config",
        KindNodeExists,
        Other,
    ),
    // "already exists" for a pod.
    // https://github.com/podman-container-tools/podman/issues/4536
    (
        "Error: unable to create pod: error adding pod to state: name dev-database is in use: pod already exists",
        KindNodeExists,
        Other,
    ),
    // An application raising its own limit inside a container, not the OCI runtime.
    // https://github.com/jamescarr/mcrouter-docker/issues/2
    (
        "Warning: failed to setrlimit RLIMIT_NOFILE: Operation not permitted",
        RlimitDenied,
        Unknown,
    ),
    // A shell's ulimit inside an enclave runtime: not the OCI runtime setting a limit, but
    // a process that may not raise its own open-files limit — host-limits, as the corpus
    // files memcached's `failed to set rlimit for open files` (train.yaml n3-021).
    // https://github.com/occlum/occlum/issues/1026
    (
        "ulimit: open files: cannot modify limit: Operation not permitted",
        RlimitDenied,
        HostLimits,
    ),
    // An OCI runtime denial that is not about rlimits.
    // https://github.com/podman-container-tools/podman/issues/20453
    (
        "Error: crun: mount `proc` to `proc`: Operation not permitted: OCI permission denied",
        RlimitDenied,
        Other,
    ),
    // "No such file or directory" about a cgroup directory, not a socket.
    // https://github.com/containers/crun/issues/374
    (
        "Error: creating cgroup directory `/sys/fs/cgroup/net_prio,net_cls/machine.slice/libpod-44e5dd29271a22432047ec32ec15aa0a184f1a4c7eca735353d4474f942cfa24.scope`: No such file or directory: OCI runtime command not found error",
        SocketMissing,
        CgroupUnsupported,
    ),
    // A missing machine ready-socket during start, not the engine socket.
    // https://github.com/podman-container-tools/podman/issues/13609
    (
        "Error: dial unix /var/folders/24/8k48jl6d249_n_qfxwsl6xvm0000gn/T/podman/podman-machine-default_ready.sock: connect: no such file or directory",
        SocketMissing,
        MachineStuckStarting,
    ),
    // A missing docker.sock that gvproxy watches, inside gvproxy's own failure.
    // https://github.com/podman-container-tools/podman/issues/25103
    (
        r#"level=error msg="gvproxy exiting: cannot add network services: adding watcher failed: \"/private/var/run/docker.sock\": no such file or directory""#,
        SocketMissing,
        NetworkGvproxy,
    ),
    // An expired certificate ("is after"), not a clock running behind.
    // https://github.com/yashbhutwala/kubectl-df-pv/issues/20
    (
        "x509: certificate has expired or is not yet valid: current time 2021-04-26T10:18:22+02:00 is after 2021-04-07T03:12:06Z",
        ClockSkew,
        Other,
    ),
    // kind's standing warning about Delegate=yes on Podman, not its rootless error.
    // https://github.com/podman-desktop/podman-desktop/issues/12229
    (
        r#"Cgroup controller detection is not implemented for Podman. If you see cgroup-related errors, you might need to set systemd property "Delegate=yes", see https://kind.sigs.k8s.io/docs/user/rootless/"#,
        KindRootlessCgroup,
        Unknown,
    ),
    // An application's "failed to read logs" (a Go `fmt.Errorf("failed to read logs: %w")`
    // found in public code with find_string), not kind reading a node's logs.
    (
        "Error: failed to read logs: open /var/log/app/current.log: no such file or directory",
        KindPodmanLogsRace,
        Unknown,
    ),
    // A pull that failed because the node's disk is full: storage, not a missing image.
    // Same shape as https://github.com/kubernetes-sigs/kind/issues/2474, with the
    // write error of https://github.com/moby/moby/issues/29508.
    (
        r#"Failed to pull image "docker.io/library/open-dataplatform-hadoop-hdfs:latest": rpc error: code = Unknown desc = failed to pull and unpack image: failed to register layer: ApplyLayer exit status 1 stdout:  stderr: mkdir /root/.npm/registry.npmjs.org/har-validator: no space left on device"#,
        ImageNotLoaded,
        StorageExhausted,
    ),
];

#[test]
fn real_cases_classify_as_expected() {
    let failures: Vec<String> = REAL
        .iter()
        .filter_map(|(text, expected)| {
            let got = classify(text);
            (got.category != *expected).then(|| {
                format!(
                    "expected {expected}, got {} ({}): {text}",
                    got.category, got.cause
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn enough_real_cases() {
    assert!(REAL.len() >= 40, "{} real cases", REAL.len());
    let train = train_cases();
    for category in Category::all() {
        if *category == Unknown {
            continue;
        }
        // The categories added with the corpus (engine-busy) have their real texts there.
        assert!(
            REAL.iter().any(|(_, c)| c == category)
                || train.iter().any(|c| c.category == category.as_str()),
            "no real case for {category}"
        );
    }
}

/// A case of the corpus's rule-writing set (fixtures/doctor/corpus/train.yaml).
#[derive(serde::Deserialize)]
struct TrainCase {
    category: String,
    text: String,
}

fn train_cases() -> Vec<TrainCase> {
    serde_yaml::from_str(include_str!("../../fixtures/doctor/corpus/train.yaml")).unwrap()
}

/// Every rule wins at least one real text: one of [`REAL`] or of the corpus's rule-writing
/// set (never the held-out set), or one of its examples in a tool's documented wording.
#[test]
fn every_rule_wins_a_real_case() {
    let train = train_cases();
    let winners: HashSet<&str> = REAL
        .iter()
        .map(|(text, _)| *text)
        .chain(train.iter().map(|c| c.text.as_str()))
        .chain(
            TABLE
                .rules
                .iter()
                .flat_map(|r| r.examples.iter().map(String::as_str)),
        )
        .filter_map(|text| classify_with_rule(text).1)
        .collect();
    let missing: Vec<&str> = TABLE
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !winners.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a real case: {missing:?}");
}

#[test]
fn lookalikes_do_not_get_the_naive_category() {
    assert!(LOOKALIKES.len() >= 10);
    let failures: Vec<String> = LOOKALIKES
        .iter()
        .filter_map(|(text, naive, expected)| {
            assert_ne!(naive, expected, "look-alike must differ from naive: {text}");
            let got = classify(text).category;
            (got != *expected).then(|| format!("expected {expected}, got {got}: {text}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn matched_text_and_fill_on_real_cases() {
    let c = classify(r#"ERROR: image: "docker.io/library/kong" not present locally"#);
    assert_eq!(
        c.matched.as_deref(),
        Some(r#"ERROR: image: "docker.io/library/kong" not present locally"#)
    );
    assert_eq!(
        c.fix[0],
        "podman save docker.io/library/kong -o /tmp/kubetest-image.tar"
    );

    let c = classify(
        r#"docker: Error response from daemon: Conflict. The container name "/kind-control-plane" is already in use by container "9df1a7a82171"."#,
    );
    assert_eq!(c.fix[1], "kind delete cluster --name kind");

    let c = classify("Error: unable to start \"h2\": machine h1: VM already running or starting");
    assert_eq!(c.fix[0], "podman machine stop h1");
    assert!(c.cause.contains("(h1)"));

    let c = classify(
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    );
    assert_eq!(c.decided_by, Some("engine-endpoints"));
    assert_eq!(
        c.matched.as_deref(),
        Some(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        )
    );

    let c = classify("Error: failed to connect: dial tcp [::1]:54483: connect: connection refused");
    assert_eq!(c.decided_by, Some("podman-machine"));
    assert!(c.cause.contains("gvproxy"));

    let c = classify(
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get x",
    );
    assert_eq!(c.fix[0], "ls -l /var/run/docker.sock");
}

#[test]
fn envelopes_alone_say_no_more_than_they_know() {
    // podman's connection envelope names the machine family; its check decides.
    let envelope = format!("{PODMAN_ENVELOPE}\nError: something new");
    assert_eq!(classify(&envelope).category, MachineUnavailable);
    assert_eq!(classify(&envelope).decided_by, Some("podman-machine"));
    // kind's envelope names only the tool that failed, no cause: unknown, not a confident
    // `other` (on the rule-writing set it was wrong on the one text it alone decided).
    assert_eq!(
        classify("ERROR: failed to create cluster: something kind has not said before").category,
        Unknown
    );
}

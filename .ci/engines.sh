#!/usr/bin/env bash
# Start real container engines (Podman 4.3 API service + Docker Engine 20.10)
# for kubetest's engine tests. See /work/shared/ENVIRONMENT.md (Debian bookworm,
# root, no registry, hybrid cgroups, no CAP_SYS_RESOURCE).
#
# Usage:  out=$(.ci/engines.sh) && eval "$out"   # in CI (CI=true), as root
#         (a bare eval "$(.ci/engines.sh)" would hide the script's failure)
#         .ci/engines.sh --configure        # also write containers.conf outside CI
#
# stdout carries ONLY the export lines (eval-able); all progress goes to stderr.
# Idempotent: packages, config and running services are detected and reused.
set -euo pipefail

PODMAN_SOCK=/run/podman/podman.sock
PODMAN_LOG=/tmp/kubetest-podman-service.log
PODMAN_PID=/run/kubetest-podman-service.pid
DOCKER_SOCK=/run/dockerd-test.sock
DOCKER_LOG=/tmp/kubetest-dockerd.log
DOCKER_PID=/run/dockerd-test.pid
CONTAINERS_CONF=/etc/containers/containers.conf
PACKAGES=(podman runc busybox-static docker.io curl)
WAIT_MAX_TICKS=300   # 300 x 0.2 s = 60 s

configure=false
[[ "${CI:-}" == "true" ]] && configure=true
for arg in "$@"; do
  case "$arg" in
    --configure) configure=true ;;
    -h|--help) sed -n '2,11p' "$0" >&2; exit 0 ;;
    *) echo "engines.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "engines.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (starts rootful podman and dockerd)"

# ---------------------------------------------------------------- 1. packages
missing=()
for p in "${PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$st" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Never let maintainer scripts start the distro's docker/containerd services
  # (no systemd here; a default dockerd would grab /var/run/docker.sock).
  added_policy=false
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=true
  fi
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${PACKAGES[@]}" < /dev/null >&2
  $added_policy && rm -f /usr/sbin/policy-rc.d
else
  log "packages already installed"
fi

# ------------------------------------------------------ 2. containers.conf
conf_changed=false
read -r -d '' CONF_WANT <<'TOML' || true
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=10000:10000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
TOML
if [[ -f "$CONTAINERS_CONF" && "$(cat "$CONTAINERS_CONF")" == "$CONF_WANT" ]]; then
  log "$CONTAINERS_CONF already as wanted"
elif $configure; then
  if [[ -f "$CONTAINERS_CONF" ]]; then
    cp "$CONTAINERS_CONF" "$CONTAINERS_CONF.kubetest-bak"
    log "backed up existing $CONTAINERS_CONF to $CONTAINERS_CONF.kubetest-bak"
  fi
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  printf '%s\n' "$CONF_WANT" > "$CONTAINERS_CONF"
  log "wrote $CONTAINERS_CONF"
  conf_changed=true
else
  log "NOT writing $CONTAINERS_CONF (not CI; pass --configure to do it). Would write:"
  printf '%s\n' "$CONF_WANT" | sed 's/^/    /' >&2
fi

# ------------------------------------------------------------- helpers
ping_sock() {  # $1 = socket path; succeeds if the API answers /_ping with OK
  [[ -S "$1" ]] || return 1
  local out
  out=$(curl -sf --max-time 2 --unix-socket "$1" http://d/_ping 2>/dev/null) || return 1
  [[ "$out" == "OK" ]]
}
proc_alive() {  # $1 = pid, $2 = expected command; false for zombies and reused pids
  local state
  [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
  [[ "$state" != Z && "$state" != X ]] || return 1
  tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2"
}
pid_alive() {  # $1 = pidfile, $2 = expected command
  [[ -s "$1" ]] && proc_alive "$(cat "$1")" "$2"
}
podman_pid="" docker_pid=""

# ------------------------------------------------ 3. podman API service
if ping_sock "$PODMAN_SOCK"; then
  log "podman service already answering on $PODMAN_SOCK"
  $conf_changed && log "WARNING: $CONTAINERS_CONF changed but the running podman service predates it; restart it to apply"
elif pid_alive "$PODMAN_PID" "podman system service"; then
  podman_pid=$(cat "$PODMAN_PID")
  log "podman service (pid $podman_pid) still starting"
else
  log "starting podman system service on unix://$PODMAN_SOCK"
  mkdir -p "$(dirname "$PODMAN_SOCK")"
  rm -f "$PODMAN_SOCK"   # stale socket from a dead service
  BUILDAH_ISOLATION=chroot setsid nohup podman system service --time=0 \
    "unix://$PODMAN_SOCK" </dev/null >>"$PODMAN_LOG" 2>&1 &
  podman_pid=$!
  echo "$podman_pid" > "$PODMAN_PID"
fi

# ------------------------------------------------------------ 4. dockerd
if ping_sock "$DOCKER_SOCK"; then
  log "dockerd already answering on $DOCKER_SOCK"
elif pid_alive "$DOCKER_PID" dockerd; then
  docker_pid=$(cat "$DOCKER_PID")
  log "dockerd (pid $docker_pid) still starting"
else
  log "starting dockerd on unix://$DOCKER_SOCK"
  rm -f "$DOCKER_SOCK" "$DOCKER_PID"   # stale leftovers of a dead dockerd
  # a killed dockerd leaves its managed containerd's pidfile; if that pid is
  # gone (or a zombie), dockerd would wait for it and fail after ~15 s
  ctrd_pid=/run/docker-test/containerd/containerd.pid
  if [[ -s "$ctrd_pid" ]] && ! pid_alive "$ctrd_pid" containerd; then
    rm -f "$ctrd_pid"
  fi
  setsid nohup dockerd --iptables=false --storage-driver=vfs \
    --host "unix://$DOCKER_SOCK" --pidfile "$DOCKER_PID" \
    --data-root /var/lib/docker-test --exec-root /run/docker-test \
    </dev/null >>"$DOCKER_LOG" 2>&1 &
  docker_pid=$!
fi

# --------------------------------------------------------------- 5. wait
podman_ok=false docker_ok=false podman_dead=false docker_dead=false
for ((i = 0; i < WAIT_MAX_TICKS; i++)); do
  $podman_ok || { ping_sock "$PODMAN_SOCK" && podman_ok=true; } || true
  $docker_ok || { ping_sock "$DOCKER_SOCK" && docker_ok=true; } || true
  # stop waiting for a service whose process has exited
  if ! $podman_ok && ! $podman_dead && [[ -n "$podman_pid" ]] \
      && ! proc_alive "$podman_pid" "podman system service"; then
    log "podman service (pid $podman_pid) exited"; podman_dead=true
  fi
  if ! $docker_ok && ! $docker_dead && [[ -n "$docker_pid" ]] \
      && ! proc_alive "$docker_pid" dockerd; then
    log "dockerd (pid $docker_pid) exited"; docker_dead=true
  fi
  { $podman_ok || $podman_dead; } && { $docker_ok || $docker_dead; } && break
  sleep 0.2
done
fail=false
if ! $podman_ok; then
  log "podman service does not answer on $PODMAN_SOCK (waited up to 60 s); tail of $PODMAN_LOG:"
  tail -n 30 "$PODMAN_LOG" >&2 || true
  fail=true
fi
if ! $docker_ok; then
  log "dockerd does not answer on $DOCKER_SOCK (waited up to 60 s); tail of $DOCKER_LOG:"
  tail -n 30 "$DOCKER_LOG" >&2 || true
  fail=true
fi
$fail && exit 1

pv=$(curl -sf --max-time 5 --unix-socket "$PODMAN_SOCK" http://d/v1.41/version | grep -o '"Version":"[^"]*"' | head -1 || true)
dv=$(curl -sf --max-time 5 --unix-socket "$DOCKER_SOCK" http://d/v1.41/version | grep -o '"Version":"[^"]*"' | head -1 || true)
log "podman ready: unix://$PODMAN_SOCK ($pv)"
log "docker ready: unix://$DOCKER_SOCK ($dv)"

# ------------------------------------------------------------- 6. output
echo "export KUBETEST_TEST_PODMAN=unix://$PODMAN_SOCK"
echo "export KUBETEST_TEST_DOCKER=unix://$DOCKER_SOCK"

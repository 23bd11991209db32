#!/usr/bin/env bash
# Real PostgreSQL 15 and Redis images for kubetest's dependency tests, built from Debian's
# packages (no registry is reachable; see /work/shared/ENVIRONMENT.md):
#   debootstrap → localhost/kubetest-base:bookworm → localhost/kubetest-postgres:15,
#   localhost/kubetest-redis:7, built by Podman and moved to Docker with `podman save | docker load`.
#
# Usage: .ci/images.sh   (as root, after .ci/engines.sh; progress and timings on stderr)
# Idempotent: an image that already exists in an engine is not built or loaded again.
set -euo pipefail

DOCKER_HOST_URL=${KUBETEST_TEST_DOCKER:-unix:///run/dockerd-test.sock}
BASE=localhost/kubetest-base:bookworm
POSTGRES=localhost/kubetest-postgres:15
REDIS=localhost/kubetest-redis:7

log() { echo "images.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, rootful podman)"

podman_has() { podman image exists "$1"; }
docker_has() { DOCKER_HOST=$DOCKER_HOST_URL docker image inspect "$1" >/dev/null 2>&1; }
timed() { # timed LABEL CMD...: run CMD, log how long it took
  local label=$1 start=$SECONDS; shift
  "$@"
  log "$label: $((SECONDS - start)) s"
}

# The Debian mirror this machine's apt uses (deb822 .sources first, then sources.list).
mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  [[ -n "$m" ]] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    # engines.sh refreshes the package lists only when it installs something.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap </dev/null >/dev/null 2>&1 || {
      apt-get update -qq </dev/null >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap </dev/null >/dev/null
    }
  }
  local rootfs url
  rootfs=$(mktemp -d /tmp/kubetest-rootfs.XXXXXX)
  # mktemp makes it 0700, and it becomes the image's `/`: Docker then denies every
  # non-root user (postgres) the whole filesystem. Podman happens not to care.
  chmod 0755 "$rootfs"
  url=$(mirror)
  log "debootstrap bookworm from $url"
  debootstrap --variant=minbase bookworm "$rootfs" "$url" >/tmp/kubetest-debootstrap.log 2>&1 \
    || { tail -20 /tmp/kubetest-debootstrap.log >&2; die "debootstrap failed (log: /tmp/kubetest-debootstrap.log)"; }
  # apt inside the image uses the same mirror.
  echo "deb $url bookworm main" > "$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$rootfs"
}

build_from() { # build_from TAG: Containerfile on stdin
  local dir
  dir=$(mktemp -d /tmp/kubetest-image.XXXXXX)
  cat > "$dir/Containerfile"
  podman build --isolation chroot -t "$1" "$dir" >/tmp/kubetest-image-build.log 2>&1 \
    || { tail -30 /tmp/kubetest-image-build.log >&2; die "building $1 failed"; }
  rm -rf "$dir"
}

build_postgres() {
  # initdb at build time (trust auth, listening everywhere): a container starts in about a second.
  build_from "$POSTGRES" <<EOF
FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 \\
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
USER postgres
RUN initdb -D /var/lib/postgresql/data -U postgres --auth=trust \\
 && echo "listen_addresses='*'" >> /var/lib/postgresql/data/postgresql.conf \\
 && echo "host all all 0.0.0.0/0 trust" >> /var/lib/postgresql/data/pg_hba.conf
EXPOSE 5432
CMD ["postgres", "-D", "/var/lib/postgresql/data"]
EOF
}

build_redis() {
  build_from "$REDIS" <<EOF
FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--port", "6379", "--save", ""]
EOF
}

total=$SECONDS
if ! podman_has "$POSTGRES" || ! podman_has "$REDIS"; then
  podman_has "$BASE" || timed "base image $BASE (debootstrap)" build_base
  podman_has "$POSTGRES" || timed "$POSTGRES" build_postgres
  podman_has "$REDIS" || timed "$REDIS" build_redis
else
  log "podman already has $POSTGRES and $REDIS"
fi

if [[ -S "${DOCKER_HOST_URL#unix://}" ]]; then
  for img in "$POSTGRES" "$REDIS"; do
    if docker_has "$img"; then
      log "docker already has $img"
    else
      timed "podman save $img | docker load" \
        bash -c "podman save '$img' | DOCKER_HOST='$DOCKER_HOST_URL' docker load >/dev/null"
    fi
  done
else
  log "docker does not answer at $DOCKER_HOST_URL: skipped loading the images into it"
fi
log "done in $((SECONDS - total)) s"

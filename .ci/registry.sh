#!/usr/bin/env bash
# Install what the registry tests start themselves (tests/integration/registry_support.rs):
# Debian's `docker-registry` (the CNCF distribution registry 2.8, `docker-registry serve
# config.yml`), `htpasswd` (apache2-utils) for bcrypt basic-auth files, `openssl` for the
# test CA and server certificate. The tests pick free 127.0.0.1 ports, write the engines'
# trust directories (/etc/docker/certs.d, /etc/containers/certs.d) for their own port and
# remove them again; nothing here starts a service. Idempotent.
set -euo pipefail

PACKAGES=(docker-registry apache2-utils openssl)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "registry.sh: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian's package also enables a system service on :5000; the tests do not use it.
command -v docker-registry >/dev/null && command -v htpasswd >/dev/null && command -v openssl >/dev/null
echo "registry.sh: $(docker-registry --version 2>&1 | head -1)" >&2

#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the `kubetest report` test that renders the
# page in a real browser (tests/integration/report_html.rs; required when
# KUBETEST_REQUIRE_ENGINES=1). Idempotent: does nothing when chromium is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium.sh: $(chromium --version 2>/dev/null | head -n1)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
echo "chromium.sh: installed $(chromium --version 2>/dev/null | head -n1)" >&2

#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests (Playwright drives it by path; nothing is
# downloaded from a browser CDN). On a machine where apt cannot install it, the browser tests skip,
# and under CI (CI=true) such a skip is a failure.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the console's browser tests..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here (need root + apt-get);"
  echo "browser tests will be skipped (a failure under CI=true)."
fi

#!/usr/bin/env bash
# Installs Debian's clickhouse-server for the ClickHouse source tests when it is missing.
# On a machine where apt cannot install it, the tests that need it report how to install it;
# under CI (CI=true) such a skip is a failure.
set -euo pipefail
if command -v clickhouse-server >/dev/null 2>&1 || command -v clickhouse >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing clickhouse-server (Debian package) for the ClickHouse source tests..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >/dev/null
else
  echo "clickhouse-server is not installed and cannot be installed here (need root + apt-get);"
  echo "ClickHouse tests will be skipped (a failure under CI=true)."
fi

#!/usr/bin/env bash
# What the tests need besides Python packages, on a Debian machine: Prometheus + promtool, Alertmanager + amtool,
# redis-server and PostgreSQL (initdb, pg_ctl; the tests start each server themselves, on loopback ports of their
# own, and stop it).
# Installs with apt-get only what is missing (as root, or through sudo). Used by scripts/test.sh, hence by .ci/run.
set -euo pipefail
missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v redis-server >/dev/null || missing+=(redis-server)
# Debian puts initdb/pg_ctl under /usr/lib/postgresql/<version>/bin (tests/postgres_server.py looks there too).
command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  echo "test servers: prometheus, promtool, alertmanager, amtool, redis-server, postgresql already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "test servers: missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
echo "test servers: apt-get install ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

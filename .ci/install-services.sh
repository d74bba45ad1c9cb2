#!/usr/bin/env bash
# Install Debian's PostgreSQL and Redis servers for the distributed test (tests/test_distributed.py),
# which starts its own throw-away instances on 127.0.0.1; without them that test skips.
# Only the binaries are wanted; whether the packages start their own services does not matter
# (the test uses free ports and its own data folders).
set -euo pipefail

have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have_pg && command -v redis-server >/dev/null 2>&1; then
  echo "postgresql and redis-server present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-services: postgresql/redis-server missing and not root (no sudo); the distributed test will be skipped" >&2
    exit 0
  fi
fi

pkgs=()
have_pg || pkgs+=(postgresql)
command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# A package's post-install may try to start its service; on CI nothing needs it running.
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "installed: ${pkgs[*]}"

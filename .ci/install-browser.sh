#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/test_ui_browser.py) when it is missing.
# Playwright drives this system browser; `playwright install` (a download from a CDN) is
# not needed and not reachable from CI, which sees package registries only.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-browser: chromium missing and not root (no sudo); the browser test will be skipped" >&2
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-noto-cjk: the query listings and site names hold Chinese text the screenshots should show.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"

#!/usr/bin/env bash
# Set up the optional CDISC CORE conformance check (see tools/core/README.md):
#   .core-venv/   a Python 3.12 venv with cdisc-rules-engine==0.17.1 (pinned by tools/core/constraints.txt)
#   .core-cache/  the offline rules cache, unpacked from a tarball
#
# usage: tools/core/setup.sh [CACHE_TARBALL]      (or: make core [CORE_CACHE_TARBALL=...])
#   CACHE_TARBALL  default: $CORE_CACHE_TARBALL, else ../shared/core_cache/core-cache-0.17.1.tar.xz
#   CORE_PYTHON    a Python 3.12 interpreter to use (default: python3.12 on PATH, else pyenv's 3.12.x)
#   CORE_FREEZE=1  install unpinned and rewrite tools/core/constraints.txt from pip freeze
#
# Idempotent: an up-to-date venv (stamp newer than constraints.txt) is not reinstalled, the cache is
# re-unpacked only when the tarball is newer than .core-cache/. Nothing is installed into .venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ENGINE="cdisc-rules-engine==0.17.1"
VENV=".core-venv"
CACHE=".core-cache"
CONSTRAINTS="tools/core/constraints.txt"
TARBALL="${1:-${CORE_CACHE_TARBALL:-../shared/core_cache/core-cache-0.17.1.tar.xz}}"

say() { printf 'core setup: %s\n' "$*" >&2; }

is_py312() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    if [ -n "${CORE_PYTHON:-}" ]; then
        is_py312 "$CORE_PYTHON" && { echo "$CORE_PYTHON"; return 0; }
        say "CORE_PYTHON=$CORE_PYTHON is not a working Python 3.12"; return 1
    fi
    # A pyenv shim named python3.12 may exist and still fail, hence the test run of each candidate.
    for c in python3.12 "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)"/versions/3.12*/bin/python \
             "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python /usr/bin/python3.12 /usr/local/bin/python3.12; do
        is_py312 "$c" && { command -v "$c" 2>/dev/null || echo "$c"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- venv
t0=$(date +%s)
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.installed" ] && [ "$VENV/.installed" -nt "$CONSTRAINTS" ] && [ -z "${CORE_FREEZE:-}" ]; then
    say "$VENV is up to date ($("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cdisc-rules-engine"))'))"
else
    PY="$(find_python)" || { say "no Python 3.12 found (python3.12 on PATH, pyenv versions/3.12.*, or set CORE_PYTHON); the CORE check stays off"; exit 1; }
    say "creating $VENV with $PY ($("$PY" -V 2>&1))"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    if [ -f "$CONSTRAINTS" ] && [ -z "${CORE_FREEZE:-}" ]; then
        "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" "$ENGINE"
    else
        "$VENV/bin/python" -m pip install --quiet "$ENGINE"
        { echo "# pip freeze of $VENV after a successful 'pip install $ENGINE' (tools/core/setup.sh; CORE_FREEZE=1 to redo)"
          "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v '^pip=='; } > "$CONSTRAINTS"
        say "wrote $CONSTRAINTS"
    fi
    "$VENV/bin/python" -c 'import cdisc_rules_engine.rules_engine' || { say "the engine does not import"; exit 1; }
    touch "$VENV/.installed"
fi

# ---------------------------------------------------------------- cache
if [ ! -f "$TARBALL" ]; then
    if [ -f "$CACHE/rules.pkl" ]; then
        say "no tarball at $TARBALL; keeping the existing $CACHE"
    else
        say "no cache tarball at $TARBALL (give its path: tools/core/setup.sh PATH or make core CORE_CACHE_TARBALL=PATH); the CORE check stays off"
        exit 1
    fi
elif [ -f "$CACHE/rules.pkl" ] && [ "$CACHE/.unpacked" -nt "$TARBALL" ]; then
    say "$CACHE is up to date"
else
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/core-cache.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    tar -xJf "$TARBALL" -C "$tmp"
    [ -f "$tmp/rules.pkl" ] || { say "$TARBALL has no rules.pkl at its top level"; exit 1; }
    echo "$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")" > "$tmp/.unpacked"
    rm -rf "$CACHE"
    mv "$tmp" "$CACHE"
    trap - EXIT
    say "unpacked $TARBALL into $CACHE ($(ls "$CACHE" | wc -l) files)"
fi

say "ready in $(( $(date +%s) - t0 )) s: PIPELINE_CORE_PYTHON=$VENV/bin/python PIPELINE_CORE_CACHE=$CACHE (the defaults)"

#!/usr/bin/env bash
# Set up everything `make test` and `make demo` need on a fresh Debian or Ubuntu machine:
# a Python >= 3.11 with venv, the project's virtualenv with its PyPI packages, and the
# Debian packages (installed with apt as root or with password-less sudo, else named).
# PostgreSQL/PostGIS/pgRouting are installed by `wangge db start` itself when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
DEB_PACKAGES=(python3-venv)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@";
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@";
  else echo "bootstrap: need root to run: $*" >&2; return 1; fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bootstrap: installing ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "bootstrap: no apt-get; install ${missing[*]} with your package manager" >&2; return 1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

PYTHON=$(pick_python || true)
if [ -z "$PYTHON" ]; then
  apt_install python3.11 python3.11-venv
  PYTHON=$(pick_python) || { echo "bootstrap: Wangge needs Python 3.11 or newer" >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    apt_install "${DEB_PACKAGES[@]}" "python3.$("$PYTHON" -c 'import sys; print(sys.version_info[1])')-venv"
    "$PYTHON" -m venv "$VENV"
  fi
fi

"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test,bench]'

# The web app's browser tests drive Debian's Chromium (no browser download), and its front-end
# libraries come from the npm registry into web/node_modules (served locally: no CDN at run time).
command -v chromium >/dev/null || apt_install chromium
# A small CJK font, so that pages and screenshots show Chinese rather than empty boxes (optional).
apt_install fonts-wqy-microhei || echo "bootstrap: no CJK font; Chinese text may show as boxes" >&2
command -v npm >/dev/null || apt_install nodejs npm
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
touch "$VENV/.installed"

#!/usr/bin/env bash
# Creates .venv (once) and installs the project into it with the given extras.
# Usage: scripts/setup-venv.sh [extras]   e.g. scripts/setup-venv.sh test,fast
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-fast}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    echo "python3 -m venv failed: on Debian install it with: apt-get install python3-venv" >&2
    exit 1
  fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"

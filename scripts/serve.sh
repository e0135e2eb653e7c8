#!/usr/bin/env bash
# Installs Kallemny into .venv and starts it on the embedded defaults
# (SQLite file kallemny.db, http://127.0.0.1:8000). Extra arguments go to kallemny-sio.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh fast
exec .venv/bin/kallemny-sio "$@"

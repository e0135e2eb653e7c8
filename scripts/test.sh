#!/usr/bin/env bash
# Installs everything the tests need (Python packages in .venv, Debian's
# redis-server, the npm socket.io-client) and runs the whole suite, then the
# benchmark's quick smoke run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (Debian package)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

echo "== installing Python packages into .venv"
scripts/setup-venv.sh test,fast

echo "== installing the JavaScript test client (npm)"
(cd tests/js && npm ci --no-audit --no-fund --silent)

echo "== running the tests"
.venv/bin/python -m pytest "$@"

if [ -f bench/run.py ]; then
  echo "== benchmark smoke run (figures are not checked here)"
  .venv/bin/python bench/run.py --quick --fail-on-errors
fi

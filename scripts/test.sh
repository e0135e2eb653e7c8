#!/usr/bin/env bash
# Installs everything the tests need (Python packages in .venv, Debian's
# redis-server and chromium, the npm socket.io-client) and runs the whole suite, then the
# benchmark's quick smoke run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: redis-server (tests/cluster) and chromium (tests/web drive it
# with Playwright, which never downloads a browser of its own here).
apt_packages=()
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "== installing ${apt_packages[*]} (Debian packages)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

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

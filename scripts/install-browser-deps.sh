#!/usr/bin/env bash
# Installs what the real-browser tests (tests/pow_browser.rs) need, and nothing else:
#   * Debian's `chromium` at /usr/bin/chromium (apt-get), when it is missing;
#   * `playwright-core` (the driver only: it never downloads a browser) into
#     tests/peers/node_modules from the committed package.json + package-lock.json.
# Idempotent; safe to run on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
fi
/usr/bin/chromium --version

if ! command -v node >/dev/null 2>&1; then
  echo "error: node (>= 18) is required for the browser tests" >&2
  exit 1
fi
node --version

cd tests/peers
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
node -e 'const p = require("playwright-core/package.json"); console.log("playwright-core", p.version)'

#!/usr/bin/env bash
# Installs what the browser test (tests/tests/browser.rs) needs: Debian's headless
# Chromium and the Node packages of tests/browser (playwright-core, pinned by its
# package-lock.json). Without them that test prints why and skips.
#
#   infra/scripts/browser-deps.sh
#
# Safe to run again: apt-get and `npm ci` are skipped when already satisfied.
set -euo pipefail
RELAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
started=$SECONDS

if [[ -x /usr/bin/chromium ]]; then
  echo "==> chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
else
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  echo "==> Installing Debian's chromium package"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
  echo "==> chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm not found; install Node.js 20+ (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi

browser_dir="$RELAY_ROOT/tests/browser"
stamp="$browser_dir/node_modules/.relay-lock.sha256"
want="$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "==> tests/browser/node_modules matches package-lock.json"
else
  echo "==> npm ci in tests/browser"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

echo "==> browser test dependencies ready in $((SECONDS - started)) s"

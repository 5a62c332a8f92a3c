#!/usr/bin/env bash
# The project's test command.
#
#   infra/scripts/test.sh [cargo test args...]
#
# 1. installs the pinned moto server into .venv (only when missing or re-pinned);
# 2. builds the tests once (cargo test --no-run), before any server starts;
# 3. starts one moto server on a free 127.0.0.1 port for the whole run and waits
#    until it answers;
# 4. runs `cargo test` (the whole workspace unless a package is chosen with -p),
#    with the AWS SDK pointed at moto through AWS_ENDPOINT_URL;
# 5. stops moto (also on failure or Ctrl-C) and exits with cargo's status.
#
# Example: infra/scripts/test.sh -p relay-tests --test harness
set -euo pipefail

# shellcheck source=infra/scripts/python-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
cd "$RELAY_ROOT"

ensure_python_tools

# The browser test drives Debian's Chromium with playwright-core. Installing them is
# best effort: without them that one test prints why and skips.
if [[ "${RELAY_SKIP_BROWSER_DEPS:-0}" != 1 ]]; then
  "$RELAY_ROOT/infra/scripts/browser-deps.sh" ||
    echo "==> warning: browser test dependencies could not be installed; the browser test will skip"
fi

# Test the whole workspace unless the caller picked packages (cargo lets
# --workspace override -p, so the two must not be combined) or said so already.
scope=(--workspace)
for arg in "$@"; do
  case "$arg" in
  --) break ;;
  -p | -p* | --package | --package=* | --workspace | --all) scope=() ;;
  esac
done

# --locked once Cargo.lock is part of the repository: CI then tests exactly the
# dependency versions that were reviewed.
locked=()
if git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
  locked=(--locked)
fi

# Compile first, with the very arguments of the run below, so that run reuses every
# artifact and moto is not left waiting while (or killed because) the code builds.
build=(cargo test --no-run "${scope[@]}" "${locked[@]}" "$@")
echo "==> Building tests: ${build[*]}"
"${build[@]}"

moto_pid=""
moto_log="$(mktemp "${TMPDIR:-/tmp}/relay-moto.XXXXXX.log")"
# shellcheck disable=SC2317 # run by the EXIT trap
stop_moto() {
  if [[ -n "$moto_pid" ]] && kill -0 "$moto_pid" 2>/dev/null; then
    echo "==> Stopping moto server (pid $moto_pid)"
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
  moto_pid=""
  rm -f "$moto_log"
}
trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Picks a port the kernel says is free, starts moto on it and polls until moto
# answers (bounded). Another process may take the port between the pick and
# moto's bind, so a start that fails is retried on a new port.
start_moto() {
  local attempt port
  for attempt in 1 2 3; do
    port="$("$RELAY_VENV/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
    echo "==> Starting moto server on 127.0.0.1:$port (attempt $attempt)"
    # DynamoDB calls one at a time, so conditional writes are atomic as on AWS.
    "$RELAY_VENV/bin/python" "$RELAY_ROOT/infra/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
    moto_pid=$!
    if "$RELAY_VENV/bin/python" - "$port" "$moto_pid" <<'PY'; then
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)  # moto exited: the port was taken or it failed to start
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
            sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
      MOTO_PORT="$port"
      return 0
    fi
    echo "moto did not start on port $port; its log:" >&2
    cat "$moto_log" >&2
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    moto_pid=""
  done
  echo "error: could not start the moto server" >&2
  return 1
}

start_moto
echo "==> moto server ready at http://127.0.0.1:$MOTO_PORT"

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
unset AWS_SESSION_TOKEN AWS_PROFILE
export RELAY_TEMPLATE="$RELAY_ROOT/template.yaml"

run=(cargo test "${scope[@]}" "${locked[@]}" "$@")
echo "==> Running: ${run[*]}"
status=0
"${run[@]}" || status=$?
echo "==> cargo test exited with status $status"
exit "$status"

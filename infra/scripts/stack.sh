#!/usr/bin/env bash
# Runs Relay on this machine: moto as AWS, the Meta simulator, every function under
# cargo lambda watch, wired as template.yaml says, with a demo tenant.
#
#   infra/scripts/stack.sh                 start in the foreground (Ctrl-C stops all)
#   infra/scripts/stack.sh up --detach     start in the background
#   infra/scripts/stack.sh down            stop a background stack
#   infra/scripts/stack.sh status          what is running and where
#   infra/scripts/stack.sh demo            walk the main journeys against the stack
#   infra/scripts/stack.sh redrive         move every DLQ's records back to their queue
#
# 1. installs the pinned moto server and cargo-lambda into .venv (only when missing or
#    re-pinned);
# 2. builds relay-stack (it builds the simulator and the functions itself);
# 3. runs relay-stack with the given command (default: up).
#
# Settings (environment): RELAY_STACK_API_PORT (8080), RELAY_STACK_SIM_PORT (8099),
# RELAY_STACK_MOTO_PORT (5050), RELAY_STACK_LAMBDA_PORT (9000) — 0 picks a free port;
# META_APP_SECRET, META_VERIFY_TOKEN, OAUTH_STATE_KEY; RELAY_STACK_DIR (.local);
# RELAY_STACK_RELOAD=0 (no rebuild on code changes); RELAY_STACK_RETRY_SECONDS (2);
# RELAY_STACK_CONCURRENCY (4 instances of each function at once).
set -euo pipefail

# shellcheck source=infra/scripts/python-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
cd "$RELAY_ROOT"

if [[ $# -eq 0 ]]; then
  set -- up
fi
command="$1"
case "$command" in
up)
  if ! ensure_python_tools; then
    echo "error: could not install moto and cargo-lambda into .venv (see above); the stack needs both" >&2
    exit 2
  fi
  ;;
down | status | demo | redrive) ;;
*)
  echo "usage: infra/scripts/stack.sh [up [--detach] [--no-demo] | down | status | demo | redrive]" >&2
  exit 2
  ;;
esac

locked=()
if git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
  locked=(--locked)
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 2
fi
echo "==> cargo build -p relay-stack ${locked[*]}"
cargo build --quiet -p relay-stack "${locked[@]}"

exec "$RELAY_ROOT/target/debug/relay-stack" "$@"

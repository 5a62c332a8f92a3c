# shellcheck shell=bash
# Sourced by the scripts in this folder: installs the pinned Python tools
# (moto server, cfn-lint) into the project-local virtualenv .venv.
#
# The install runs only when .venv is missing or unusable, or when requirements.txt
# or constraints.txt changed since the last successful install, so warm runs cost
# nothing.

RELAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RELAY_VENV="$RELAY_ROOT/.venv"
RELAY_REQUIREMENTS="$RELAY_ROOT/infra/scripts/requirements.txt"
RELAY_CONSTRAINTS="$RELAY_ROOT/infra/scripts/constraints.txt"

ensure_python_tools() {
  local python="${PYTHON:-python3}"
  local stamp="$RELAY_VENV/.relay-pins.sha256"
  local want
  want="$(cat "$RELAY_REQUIREMENTS" "$RELAY_CONSTRAINTS" | sha256sum | cut -d' ' -f1)"
  # A venv whose interpreter no longer starts (the system Python moved) is rebuilt.
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
    "$RELAY_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "==> Python tools in .venv match infra/scripts/requirements.txt"
    return 0
  fi
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; install Python 3.11+ with pip, or set PYTHON" >&2
    return 1
  fi
  local started=$SECONDS
  if ! "$RELAY_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "==> Creating virtualenv .venv with $("$python" --version 2>&1)"
    rm -rf "$RELAY_VENV"
    "$python" -m venv "$RELAY_VENV"
  fi
  echo "==> Installing pinned Python tools into .venv (infra/scripts/requirements.txt)"
  rm -f "$stamp"
  "$RELAY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --requirement "$RELAY_REQUIREMENTS"
  echo "$want" >"$stamp"
  echo "==> Python tools installed in $((SECONDS - started)) s"
}

#!/usr/bin/env bash
# Static checks: formatting, clippy with warnings as errors, and cfn-lint on the
# SAM template (cfn-lint comes from the pinned .venv, installed when missing).
set -euo pipefail

# shellcheck source=infra/scripts/python-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
cd "$RELAY_ROOT"

ensure_python_tools

locked=()
if git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
  locked=(--locked)
fi

echo "==> cargo fmt --all --check"
cargo fmt --all --check
echo "==> cargo clippy --workspace --all-targets ${locked[*]} -- -D warnings"
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings
echo "==> cfn-lint template.yaml"
"$RELAY_VENV/bin/cfn-lint" template.yaml
echo "==> lint passed"

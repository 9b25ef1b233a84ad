#!/usr/bin/env bash
# Sets up both pinned stacks and runs the whole test suite on each.
# Usage: scripts/test.sh [pytest arguments]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
status=0
for stack in compat latest; do
  echo "=== stack: $stack"
  bash scripts/setup-stack.sh "$stack" || exit 1
  ".venv-$stack/bin/python" -m pytest -p no:cacheprovider "$@"
  code=$?
  if [ "$code" -eq 5 ]; then
    echo "stack $stack: no tests collected"
  elif [ "$code" -ne 0 ]; then
    echo "stack $stack: tests FAILED (pytest exit $code)"
    status=1
  fi
done
exit "$status"

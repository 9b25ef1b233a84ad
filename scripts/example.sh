#!/usr/bin/env bash
# Sets up the latest stack and trains the hybrid classifier example.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup-stack.sh" latest
exec "$root/.venv-latest/bin/python" "$root/examples/hybrid_classifier.py" "$@"

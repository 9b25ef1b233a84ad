#!/usr/bin/env bash
# Creates (or refreshes) the virtual environment of one pinned stack and installs qml in it.
# Usage: scripts/setup-stack.sh compat|latest     -> .venv-compat or .venv-latest
set -euo pipefail
stack="${1:?usage: scripts/setup-stack.sh compat|latest}"
root="$(cd "$(dirname "$0")/.." && pwd)"
lock="$root/stacks/$stack.txt"
[ -f "$lock" ] || { echo "unknown stack '$stack': no $lock" >&2; exit 2; }
cd "$root"

python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
venv="$root/.venv-$stack"
[ -x "$venv/bin/python" ] || python3 -m uv venv --quiet --python "$(command -v python3)" "$venv"
python3 -m uv pip sync --quiet --python "$venv/bin/python" "$lock"
python3 -m uv pip install --quiet --python "$venv/bin/python" --no-deps -e "$root"
echo "stack '$stack' ready in $venv"

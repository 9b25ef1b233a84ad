#!/usr/bin/env bash
# Sets up both pinned stacks and runs the whole test suite, then checks the packaging.
#  - compat: the tests that depend on the stack (TFQ cross-checks, the oldest supported
#    TensorFlow, Keras and Cirq);
#  - latest: every test, the doctests and the tutorials;
#  - scripts/check-packaging.sh: the wheel without a compiler, the sdist with Clang.
# Tests run on both cores (pytest-xdist; an idle worker takes queued tests from a busy
# one) and the slowest are listed at the end.
# Usage: scripts/test.sh [pytest arguments]     e.g. -m "not slow" while you work
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
status=0
for stack in compat latest; do
  echo "=== stack: $stack"
  bash scripts/setup-stack.sh "$stack" || exit 1
  if [ "$stack" = compat ]; then
    selection=(tests)  # without the doctests, and (conftest.py) the stack-independent tests
    skip_independent=1
  else
    selection=()  # pyproject's testpaths: tests, doctests and qml-bench
    skip_independent=0
  fi
  QML_SKIP_STACK_INDEPENDENT=$skip_independent ".venv-$stack/bin/python" -m pytest \
    -p no:cacheprovider -n auto --dist worksteal --durations=15 "${selection[@]}" "$@"
  code=$?
  if [ "$code" -eq 5 ]; then
    echo "stack $stack: no tests collected"
  elif [ "$code" -ne 0 ]; then
    echo "stack $stack: tests FAILED (pytest exit $code)"
    status=1
  fi
done
echo "=== packaging"
bash scripts/check-packaging.sh -n auto || { echo "packaging: FAILED"; status=1; }
exit "$status"

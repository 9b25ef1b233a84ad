#!/usr/bin/env bash
# Builds qml as a user gets it and checks that it installs and runs:
#  1. an sdist, and a wheel built from that sdist (GCC, OpenMP);
#  2. the wheel repaired by auditwheel (the OpenMP runtime bundled, a manylinux tag),
#     installed with no source build allowed into a fresh venv, then the README's first
#     example and `qml-bench --workload expectation --qubits 4` run with no compiler on
#     PATH;
#  3. the sdist built with Clang and OpenMP turned off, and the core's tests run on it.
# Usage: scripts/check-packaging.sh     (outputs in dist/ and .venv-wheel, .venv-portable)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
uv() { python3 -m uv "$@"; }
python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
if ! command -v clang++ >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y --no-install-recommends clang >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 \
           && apt-get install -y --no-install-recommends clang >/dev/null 2>&1; }
  fi
  command -v clang++ >/dev/null || { echo "check-packaging: clang++ is needed" >&2; exit 1; }
fi

echo "--- sdist, and a wheel built from it"
rm -rf dist
uv build --quiet --out-dir dist  # the sdist, then the wheel from it
sdist=$(ls dist/qml_qsim-*.tar.gz)
wheel=$(ls dist/qml_qsim-*.whl)
echo "built $sdist and $wheel"

echo "--- auditwheel repair"
tools="$root/.venv-packaging"
[ -x "$tools/bin/python" ] || uv venv --quiet "$tools"
uv pip install --quiet --python "$tools/bin/python" -r stacks/packaging.txt
PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair --wheel-dir dist/wheelhouse "$wheel"
repaired=$(ls dist/wheelhouse/qml_qsim-*manylinux*.whl)
"$tools/bin/auditwheel" show "$repaired"

echo "--- the repaired wheel in a fresh venv, no compiler on PATH"
venv="$root/.venv-wheel"
rm -rf "$venv"
uv venv --quiet --python "$(command -v python3)" "$venv"
# --no-build: every package, qml included, must come as a wheel.
uv pip install --quiet --no-build --python "$venv/bin/python" "$repaired" -c stacks/latest.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -n '/^```python$/,/^```$/p' README.md | sed '1d;/^```$/,$d' > "$work/first_example.py"
bare=(env -i "PATH=$venv/bin" "HOME=$work" "TF_CPP_MIN_LOG_LEVEL=3" "KERAS_BACKEND=tensorflow")
for compiler in cc c++ gcc g++ clang clang++; do
  if "${bare[@]}" bash -c "command -v $compiler" >/dev/null 2>&1; then
    echo "check-packaging: $compiler is on the smoke test's PATH" >&2; exit 1
  fi
done
(cd "$work" && "${bare[@]}" "$venv/bin/python" first_example.py >example.log 2>&1) \
  || { cat "$work/example.log"; exit 1; }
(cd "$work" && "${bare[@]}" "$venv/bin/python" -c "
import keras, qml
model = keras.models.load_model('model.keras')
z = float(model(qml.convert_to_tensor([__import__('cirq').Circuit()]))[0, 0])
assert z < -0.5, f'the first example did not train: <Z> = {z}'
print(f'first example: trained and reloaded, <Z> = {z:.3f}; qml from {qml.__file__}')
assert '$venv' in qml.__file__
")
(cd "$work" && "${bare[@]}" "$venv/bin/qml-bench" --workload expectation --qubits 4 \
   --systems qml --repeats 2 --quiet)

echo "--- the sdist with Clang and no OpenMP, and the core's tests on it"
venv="$root/.venv-portable"
[ -x "$venv/bin/python" ] || uv venv --quiet --python "$(command -v python3)" "$venv"
uv pip sync --quiet --python "$venv/bin/python" stacks/latest.txt
CC=clang CXX=clang++ uv pip install --quiet --no-deps --reinstall --no-cache \
  --python "$venv/bin/python" -C cmake.define.QML_OPENMP=OFF "$sdist"
(cd "$work" && "$venv/bin/python" -c "
import _qml_core, qml
assert '$venv' in qml.__file__, qml.__file__
assert _qml_core.threading() == 'core threads', _qml_core.threading()
print('clang build without OpenMP:', _qml_core.runnable_kernels(), _qml_core.threading())
")
# bin/pytest (not python -m pytest) keeps the checkout's qml/ off sys.path.
"$venv/bin/pytest" -p no:cacheprovider -q tests/test_native.py "$@"

#!/usr/bin/env bash
# Run seisgrad's checks: create .venv if needed, install the package with its test
# extras, install a local Slurm when running as root (CI), then ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q -e ".[test]"
if [ "$(id -u)" = "0" ] && [ -f scripts/ci-slurm-install.sh ]; then
    bash scripts/ci-slurm-install.sh
fi
ruff check seisgrad tests benchmarks examples scripts
ruff format --check seisgrad tests benchmarks examples scripts
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"
python -m pytest -q -p no:cacheprovider "$@"

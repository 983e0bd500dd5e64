#!/usr/bin/env bash
# Install seisgrad into .venv and run the main example (examples/blob) end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q -e .
rm -rf runs/blob
mkdir -p runs
cp -r examples/blob runs/blob
cd runs/blob
python make_models.py
seisgrad check
time seisgrad submit
echo
echo "gradient: $(pwd)/output/gradient.h5"
echo "figures:  $(pwd)/output/figures/"
ls output/figures

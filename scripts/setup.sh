#!/usr/bin/env bash
# Create .venv (if missing) and install ToothSeg Studio with its dev tools.
# torch is pinned to the CPU build first so that no multi-GB CUDA wheel is pulled in;
# users with a GPU install their CUDA torch before running this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==${TOOTHSEG_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"

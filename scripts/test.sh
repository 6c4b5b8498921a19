#!/usr/bin/env bash
# Set up with every extra (all: no test skips for want of a package) into the current Python
# (the active venv's python3, or $PYTHON), then run ruff and the whole test suite; CI runs this
# in a fresh venv (.ci/run).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
"$PY" -m ruff check .
"$PY" -m pytest "$@"

#!/usr/bin/env bash
# Set up (with the dev extra) and run the whole test suite: what CI runs (.ci/run).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
"$PY" -m ruff check .
"$PY" -m pytest "$@"

#!/usr/bin/env bash
# Set up with every extra (all: no test skips for want of a package) into the current Python
# (the active venv's python3, or $PYTHON), then run ruff and the whole test suite; CI runs this
# in a fresh venv (.ci/run).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
# The browser test (tests/serve/test_page_browser.py) drives the system's Chromium through
# chromedriver: install both when missing (as root, or with passwordless sudo). When that is
# not possible, warn and go on: that test then fails with the same install hint.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "test: chromium and chromedriver found, the browser test runs"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    apt_install() {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends chromium chromium-driver
    }
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; } &&
        { apt_install || { $SUDO apt-get update -q && apt_install; }; }; then
        echo "test: installed chromium and chromium-driver (apt-get) for the browser test"
    else
        echo "test: WARNING: could not install chromium and chromium-driver (needs apt-get and" \
            "root or sudo); the browser test will fail (RESUME_NER_NO_BROWSER=1 skips it)" >&2
    fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
"$PY" -m ruff check .
"$PY" -m pytest "$@"

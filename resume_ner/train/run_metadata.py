"""What a run records about itself: the flattened config, the git commit, the data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def flatten_config(cfg: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to strings: {"training.learning_rate": "0.0003", "x.tags": '["a", "b"]'}.

    Accepts a DictConfig (resolved; missing values stay "???"), a dataclass or a mapping.
    Lists are JSON-encoded; None, booleans become "null", "true", "false"; an empty mapping
    is "{}".
    """
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = dataclasses.asdict(cfg)
    flat: dict[str, str] = {}
    if isinstance(cfg, Mapping):
        if not cfg and prefix:
            flat[prefix] = "{}"
        for key, value in cfg.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) or (
                dataclasses.is_dataclass(value) and not isinstance(value, type)
            ):
                flat.update(flatten_config(value, name))
            else:
                flat[name] = _to_str(value)
    elif prefix:
        flat[prefix] = _to_str(cfg)
    else:
        raise TypeError(f"flatten_config needs a mapping, got {type(cfg).__name__}")
    return flat


def _to_str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value), default=str)
    return str(value)


def git_commit(path: Path) -> str | None:
    """The commit checked out at `path` (`git rev-parse HEAD`), or None outside a repo."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def data_fingerprint(documents: Iterable[Any]) -> str:
    """First 16 hex digits of a sha256 over each document's text and spans, in order."""
    digest = hashlib.sha256()
    for doc in documents:
        spans = [[int(s.start), int(s.end), str(s.label)] for s in doc.spans]
        record = json.dumps([doc.text, spans], ensure_ascii=False, separators=(",", ":"))
        digest.update(record.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]

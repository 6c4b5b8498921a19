"""Command-line overrides as Hydra reads them: its parse, and which keys are Hydra's own.

A leaf of the config layer (Hydra is imported inside the function), so the override
checks, the entrypoints and the search-space grammar share one reading of an override.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def is_hydra_key(key: str) -> bool:
    """Hydra's own config: the `hydra` node, its keys, and its groups (hydra/launcher)."""
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def parse_overrides(overrides: Sequence[str]) -> list[Any]:
    """Hydra's parse of command-line overrides; none when one is malformed (Hydra then
    reports the grammar error itself, naming the offending override)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception:
        return []

"""The search a `-m` command line asks for, backend-neutral: its dimensions (hpo.search_space
merged with the command line's sweep grammar) and the overrides every trial gets. The local
study (hpo/local.py) and the Azure ML sweep (azure/sweep.py) both start here, so the same
command searches the same space with the same trial config on either backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resume_ner.config.overrides import is_hydra_key, parse_overrides
from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import Dimension


@dataclass(frozen=True)
class Search:
    dimensions: list[Dimension]
    # The command line's plain overrides (Hydra's own left out), then hpo.trial_overrides.
    overrides: list[str]


def search_of(cfg: Any, arguments: Sequence[str]) -> Search:
    """The search of the composed config `cfg` and the command line's `arguments`."""
    from resume_ner.hpo.space import grid, merge, search_space
    from resume_ner.hpo.sweep_grammar import from_sweep_overrides

    swept, plain = from_sweep_overrides(list(arguments), cfg)
    dims = merge(search_space(cfg), swept)
    if not dims:
        raise ConfigError(
            "the search space is empty: give hpo.search_space dimensions (hpo=smoke) or sweep "
            "overrides such as 'training.learning_rate=tag(log, interval(1e-5, 1e-3))'"
        )
    if cfg.hpo.sampling == "grid":
        grid(dims)  # a continuous dimension fails here, before anything starts
    plain = [o for o in plain if not sets_hydra(o)]
    return Search(dimensions=dims, overrides=[*plain, *cfg.hpo.trial_overrides])


def sets_hydra(override: str) -> bool:
    """Whether an override sets Hydra's own config (a trial's compose takes none)."""
    parsed = parse_overrides([override])
    return bool(parsed) and is_hydra_key(parsed[0].key_or_group)

"""One search-space language for the local Optuna study and the Azure ML sweep.

A dimension is written once, in `hpo.search_space` (keyed by a short name, which is also
its Azure ML input name) or as Hydra's sweep grammar on the command line; both become the
same `Dimension` (dimension.py), validated against the composed train config
(dimension_checks.py), and from it Optuna's distributions (or, later, Azure ML's). The
command line's grammar is read by sweep_grammar.py. The types are Azure ML's: choice,
uniform, loguniform, quniform, and randint, here an INCLUSIVE integer range min..max.

Optuna, Hydra and OmegaConf are imported inside the functions that need them, so a
worker can rebuild a `Dimension` from JSON without them. Nothing here imports
resume_ner.config.checks: checks imports this (check_config runs the validation), and the
import graph must have no cycle (tests/test_architecture.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import Dimension
from resume_ner.hpo.dimension_checks import check_dimensions
from resume_ner.hpo.sweep_grammar import unique_name

# --------------------------------------------------------------------------- the config


def search_space(cfg: Any) -> list[Dimension]:
    """The dimensions of `cfg.hpo.search_space`, validated against the composed `cfg`."""
    dims = [_from_node(name, node) for name, node in _configured(cfg).items()]
    check_dimensions(dims, cfg)
    return [_normalised(d) for d in dims]


def check_search_space(cfg: Any) -> None:
    """Refuse a composed config whose hpo.search_space cannot be searched (check_config)."""
    search_space(cfg)


def _configured(cfg: Any) -> dict[str, dict[str, Any]]:
    """hpo.search_space as plain dicts (OmegaConf's MISSING stays '???')."""
    hpo = cfg.get("hpo") if isinstance(cfg, Mapping) else None
    space = hpo.get("search_space") if isinstance(hpo, Mapping) else None
    if not space:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if isinstance(space, DictConfig):
        space = OmegaConf.to_container(space, resolve=True, throw_on_missing=False)
    return {str(name): dict(node or {}) for name, node in space.items()}


def _from_node(name: str, node: Mapping[str, Any]) -> Dimension:
    values = node.get("values")
    return Dimension(
        name=name,
        param=node.get("param"),
        type=node.get("type"),
        values=None if values is None else tuple(values),
        min=node.get("min"),
        max=node.get("max"),
        q=node.get("q"),
    )


def _normalised(dim: Dimension) -> Dimension:
    """randint bounds as ints (YAML's 6 is 6.0 in a float field)."""
    if dim.type == "randint":
        return dataclasses.replace(dim, min=int(dim.min), max=int(dim.max))
    return dim


def merge(configured: Sequence[Dimension], from_overrides: Sequence[Dimension]) -> list[Dimension]:
    """The configured dimensions, each replaced by the command line's one with the same
    param (keeping the configured name), then the command line's others."""
    by_param = {d.param: d for d in from_overrides}
    merged = []
    for dim in configured:
        new = by_param.pop(dim.param, None)
        merged.append(dataclasses.replace(new, name=dim.name) if new else dim)
    for dim in by_param.values():
        taken = {d.name for d in merged}
        name = dim.name if dim.name not in taken else unique_name(dim.param, taken)
        merged.append(dataclasses.replace(dim, name=name))
    return merged


# --------------------------------------------------------------------------- Optuna


def distribution(dim: Dimension) -> Any:
    """The Optuna distribution of `dim` (randint: both bounds included)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if dim.type == "choice":
        return CategoricalDistribution(list(dim.values))
    if dim.type == "uniform":
        return FloatDistribution(float(dim.min), float(dim.max))
    if dim.type == "loguniform":
        return FloatDistribution(float(dim.min), float(dim.max), log=True)
    if dim.type == "quniform":
        return FloatDistribution(float(dim.min), float(dim.max), step=float(dim.q))
    if dim.type == "randint":
        return IntDistribution(int(dim.min), int(dim.max))
    raise ConfigError(f"hpo.search_space.{dim.name}.type={dim.type}: not a search type")


def grid(dims: Sequence[Dimension]) -> dict[str, list]:
    """Every value of each dimension, for hpo.sampling=grid; a continuous one is refused."""
    return {dim.name: _grid_values(dim) for dim in dims}


def _grid_values(dim: Dimension) -> list:
    if dim.type == "choice":
        return list(dim.values)
    if dim.type == "randint":
        return list(range(int(dim.min), int(dim.max) + 1))
    if dim.type == "quniform":
        low, step = Decimal(repr(float(dim.min))), Decimal(repr(float(dim.q)))
        count = round((dim.max - dim.min) / dim.q)
        return [float(low + k * step) for k in range(count + 1)]
    raise ConfigError(
        f"hpo.search_space.{dim.name}: a {dim.type} dimension has no grid to enumerate; "
        f"with hpo.sampling=grid make it a choice (or quniform, randint), or use "
        f"hpo.sampling=random or bayesian"
    )

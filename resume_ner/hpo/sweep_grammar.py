"""Hydra's sweep grammar on the command line as search dimensions: `tag(log, interval(a,
b))`, `interval`, `choice(...)` or `a,b`, `range`, `int(interval)`, and group sweeps such
as `model=minilm,distilbert`."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from resume_ner.config.overrides import is_hydra_key, parse_overrides
from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import Dimension
from resume_ner.hpo.dimension_checks import (
    check_dimensions,
    check_shape,
    config_groups,
    group_options,
)

# --------------------------------------------------------------------------- the command line


def from_sweep_overrides(
    overrides: Sequence[str], cfg: Any = None
) -> tuple[list[Dimension], list[str]]:
    """The dimensions that Hydra's sweep grammar in `overrides` defines, and the other
    overrides unchanged; with `cfg`, also what each sets is checked against it.

    choice(a,b) or a,b: choice; range(a,b[,step]): a choice of a, a+step, ... BELOW b
    (Hydra's range excludes the stop, like Python's); interval(a,b): uniform;
    tag(log, interval(a,b)): loguniform; int(interval(a,b)): randint a..b, inclusive;
    group=a,b or group=glob(...): a choice of the group's options. Hydra's own keys
    (hydra.*, hydra/...) are left to Hydra.
    """
    parsed = parse_overrides(overrides)
    if len(parsed) != len(overrides):  # malformed: Hydra reports the grammar error itself
        return [], list(overrides)
    dims: list[Dimension] = []
    labels: list[str] = []
    plain: list[str] = []
    for text, override in zip(overrides, parsed, strict=True):
        if not override.is_sweep_override() or is_hydra_key(override.key_or_group):
            plain.append(text)
            continue
        dim = _from_override(override, text, {d.name for d in dims})
        check_shape(dim, text)
        dims.append(dim)
        labels.append(text)
    if cfg is not None:
        check_dimensions(dims, cfg, labels)
    return dims, plain


def _from_override(override: Any, text: str, taken: set[str]) -> Dimension:
    """The dimension of one sweep override."""
    from hydra.core.override_parser.types import ChoiceSweep, Glob, IntervalSweep, RangeSweep

    key = override.key_or_group
    if override.is_add() or override.package is not None:
        raise ConfigError(
            f"{text}: a search dimension sets a key or group the config already has; sweep "
            f"it without '+' or '@package' (add the key in conf/ first)"
        )
    value = override.value()
    name = unique_name(key, taken)
    if isinstance(value, IntervalSweep):
        return _from_interval(value, key, name, text)
    _refuse_tags(value, text)
    if isinstance(value, ChoiceSweep):
        values = tuple(value.list)
    elif isinstance(value, RangeSweep):
        values = tuple(_range_values(value))
    elif isinstance(value, Glob):
        values = tuple(_glob_values(value, key, text))
    else:
        raise ConfigError(f"{text}: this sweep cannot be a search dimension")
    if not values:
        raise ConfigError(
            f"{text}: the sweep has no values (Hydra's range(a,b) stops BEFORE b); widen it"
        )
    return Dimension(name=name, param=key, type="choice", values=values)


def _from_interval(sweep: Any, key: str, name: str, text: str) -> Dimension:
    """interval: uniform; tag(log, ...): loguniform; int(interval): randint, inclusive."""
    unknown = set(sweep.tags) - {"log"}
    if unknown:
        raise ConfigError(
            f"{text}: unknown tag {', '.join(sorted(unknown))}; the only tag a search reads "
            f"is log: tag(log, interval(a, b))"
        )
    log = "log" in sweep.tags
    # Hydra casts interval's bounds to float unless they are wrapped in int(...).
    if isinstance(sweep.start, int) and isinstance(sweep.end, int):
        if log:
            raise ConfigError(
                f"{text}: a log-scaled integer range is not in the shared vocabulary (Azure "
                f"ML has none); use int(interval(a, b)) or a choice of values"
            )
        return Dimension(name=name, param=key, type="randint", min=sweep.start, max=sweep.end)
    kind = "loguniform" if log else "uniform"
    return Dimension(name=name, param=key, type=kind, min=sweep.start, max=sweep.end)


def _refuse_tags(sweep: Any, text: str) -> None:
    if getattr(sweep, "tags", None):
        raise ConfigError(
            f"{text}: tags mean nothing on a choice or a range; the only tag a search "
            f"reads is log, on an interval: tag(log, interval(a, b))"
        )


def _range_values(sweep: Any) -> list[float | int]:
    """Hydra's range: start, start+step, ... below stop; floats without drift (0.15, not
    0.15000000000000002)."""
    if all(isinstance(x, int) for x in (sweep.start, sweep.stop, sweep.step)):
        return list(range(sweep.start, sweep.stop, sweep.step))
    start, stop, step = (Decimal(repr(float(x))) for x in (sweep.start, sweep.stop, sweep.step))
    if step == 0:
        return []
    count = max(0, math.ceil((stop - start) / step))
    return [float(start + k * step) for k in range(count)]


def _glob_values(glob: Any, key: str, text: str) -> list[str]:
    if "." in key or key not in config_groups():
        raise ConfigError(f"{text}: glob(...) selects options of a config group, not values")
    return glob.filter(group_options(key))


def unique_name(param: str, taken: set[str]) -> str:
    """The dimension name of `param`: its last part (learning_rate), else its whole path
    (data_sample_seed), else that with a number; always a valid Azure ML input name."""
    parts = [re.sub(r"\W", "_", p) for p in param.split(".")]
    for candidate in (parts[-1], "_".join(parts)):
        candidate = f"_{candidate}" if candidate[:1].isdigit() else candidate
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidate}_{number}" in taken:
        number += 1
    return f"{candidate}_{number}"

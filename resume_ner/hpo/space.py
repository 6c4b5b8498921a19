"""One search-space language for the local Optuna study and the Azure ML sweep.

A dimension is written once, in `hpo.search_space` (keyed by a short name, which is also
its Azure ML input name) or as Hydra's sweep grammar on the command line; both become the
same `Dimension`, validated against the composed train config, and from it Optuna's
distributions (or, later, Azure ML's). The types are Azure ML's: choice, uniform,
loguniform, quniform, and randint, here an INCLUSIVE integer range min..max.

Optuna, Hydra and OmegaConf are imported inside the functions that need them, so a
worker can rebuild a `Dimension` from JSON without them. This module imports nothing of
resume_ner.config.checks: checks imports it (check_config runs the validation), and the
import graph must have no cycle (tests/test_architecture.py).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from resume_ner.errors import ConfigError

SEARCH_TYPES = ("choice", "uniform", "loguniform", "quniform", "randint")
# The fields each type takes; any other field set is refused (it would be ignored).
FIELDS = {
    "choice": {"values"},
    "uniform": {"min", "max"},
    "loguniform": {"min", "max"},
    "quniform": {"min", "max", "q"},
    "randint": {"min", "max"},
}
# An Azure ML input name, and so the name of every dimension.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A string Hydra reads back as the same string without quotes.
PLAIN_STRING = re.compile(r"[A-Za-z_][A-Za-z0-9_\-./]*")
HYDRA_KEYWORDS = {"true", "false", "null", "nan", "inf"}
# Config groups a search may not sweep: the search itself.
UNSEARCHABLE_GROUPS = {"hpo"}


@dataclass(frozen=True)
class Dimension:
    """One dimension of the search: what it sets (`param`) and how it is sampled."""

    name: str
    param: str
    type: str
    values: tuple | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None

    def __post_init__(self) -> None:
        # Rebuilt from JSON (a worker's spec) the values come back as a list.
        if self.values is not None and not isinstance(self.values, tuple):
            object.__setattr__(self, "values", tuple(self.values))

    def override(self, value: Any) -> str:
        """The Hydra override that sets this dimension to `value`."""
        return f"{self.param}={format_value(value)}"


def format_value(value: Any) -> str:
    """`value` written so that Hydra's override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, Mapping):
        items = ",".join(f"{format_value(k)}:{format_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    raise ConfigError(f"cannot write {value!r} as a Hydra override value")


def _format_string(value: str) -> str:
    """Plain when Hydra reads it back as this string; quoted otherwise ('8', 'true', 'a b')."""
    if PLAIN_STRING.fullmatch(value) and value.lower() not in HYDRA_KEYWORDS:
        return value
    from hydra.core.override_parser.types import Quote, QuotedString

    return QuotedString(text=value, quote=Quote.single).with_quotes()


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


# --------------------------------------------------------------------------- validation


def check_dimensions(
    dims: Sequence[Dimension], cfg: Any, labels: Sequence[str] | None = None
) -> None:
    """Refuse a dimension that cannot be searched, named by its label (hpo.search_space.X)."""
    labels = list(labels or [f"hpo.search_space.{d.name}" for d in dims])
    seen: dict[str, str] = {}
    for dim, label in zip(dims, labels, strict=True):
        check_dimension(dim, cfg, label)
        if dim.param in seen:
            raise ConfigError(
                f"{label}: {dim.param} is already searched by {seen[dim.param]}; "
                f"remove one of the two"
            )
        seen[dim.param] = label


def check_dimension(dim: Dimension, cfg: Any, label: str | None = None) -> None:
    """Refuse `dim` with a ConfigError naming it (`label`), the problem and the fix."""
    label = label or f"hpo.search_space.{dim.name}"
    check_shape(dim, label)
    _check_param(dim, cfg, label)


def check_shape(dim: Dimension, label: str) -> None:
    """The checks that need no config: name, type, fields, values, bounds and step."""
    _check_name(dim, label)
    _check_type(label, dim.type)
    _check_fields(dim, label)
    if dim.type == "choice":
        _check_choice(dim, label)
    else:
        _check_bounds(dim, label)


def _check_name(dim: Dimension, label: str) -> None:
    if not isinstance(dim.name, str) or not NAME.fullmatch(dim.name):
        fixed = re.sub(r"\W", "_", str(dim.name))
        fixed = f"_{fixed}" if fixed[:1].isdigit() else fixed
        raise ConfigError(
            f"{label}: '{dim.name}' is not a valid dimension name (it is also the Azure ML "
            f"input name: letters, digits and _, not starting with a digit); call it {fixed}"
        )


def _check_type(label: str, value: Any) -> None:
    if value in SEARCH_TYPES:
        return
    close = difflib.get_close_matches(str(value), SEARCH_TYPES, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"{label}.type={value}: choose one of {', '.join(SEARCH_TYPES)}.{hint}")


def _check_fields(dim: Dimension, label: str) -> None:
    given = {f for f in ("values", "min", "max", "q") if getattr(dim, f) is not None}
    extra = sorted(given - FIELDS[dim.type])
    if extra:
        takes = ", ".join(sorted(FIELDS[dim.type]))
        raise ConfigError(
            f"{label}: a {dim.type} dimension takes {takes}, not {', '.join(extra)}; "
            f"remove {', '.join(f'{label}.{f}' for f in extra)} (or change its type)"
        )


def _check_choice(dim: Dimension, label: str) -> None:
    if not dim.values:
        raise ConfigError(
            f"{label}: a choice needs values; give them ({label}.values=[8,16]), "
            f"or make it a range (uniform, loguniform, quniform, randint with min and max)"
        )


def _check_bounds(dim: Dimension, label: str) -> None:
    missing = [f for f in ("min", "max") if getattr(dim, f) is None]
    if missing:
        raise ConfigError(
            f"{label}: a {dim.type} dimension needs min and max; set "
            f"{' and '.join(f'{label}.{f}' for f in missing)}"
        )
    if not dim.min < dim.max:
        raise ConfigError(
            f"{label}: min ({dim.min}) must be below max ({dim.max}); swap them or widen the "
            f"range (for one value, drop the dimension and set {dim.param} instead)"
        )
    if dim.type == "loguniform" and dim.min <= 0:
        raise ConfigError(
            f"{label}: a loguniform range must be above 0 (min is {dim.min}); set "
            f"{label}.min to a positive value, or use type uniform"
        )
    if dim.type == "randint":
        _check_integral_bounds(dim, label)
    if dim.type == "quniform":
        _check_step(dim, label)


def _check_integral_bounds(dim: Dimension, label: str) -> None:
    if not (float(dim.min).is_integer() and float(dim.max).is_integer()):
        raise ConfigError(
            f"{label}: randint bounds must be integers (min {dim.min}, max {dim.max}); "
            f"round them, or use type uniform or quniform for a float range"
        )


def _check_step(dim: Dimension, label: str) -> None:
    if dim.q is None or dim.q <= 0:
        raise ConfigError(
            f"{label}: quniform needs a step q above 0 (q is {dim.q}); set {label}.q, "
            f"e.g. {label}.q=0.05"
        )
    # Azure rounds to multiples of q, Optuna steps from min: the two agree only when the
    # bounds are multiples of q.
    off = [f for f in ("min", "max") if not _is_multiple(getattr(dim, f), dim.q)]
    if off:
        raise ConfigError(
            f"{label}: quniform bounds must be multiples of q={dim.q} ({', '.join(off)} is "
            f"not), so that Optuna and Azure ML sample the same values; round "
            f"{' and '.join(f'{label}.{f}' for f in off)} to a multiple of q"
        )


def _is_multiple(value: float, q: float) -> bool:
    steps = round(value / q)
    return math.isclose(steps * q, value, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------- what it sets


def _check_param(dim: Dimension, cfg: Any, label: str) -> None:
    """`param` is a config group selected by the config, or a value key of its type."""
    if not isinstance(dim.param, str) or not dim.param or dim.param == "???":
        raise ConfigError(
            f"{label}: no param; set {label}.param to the config key it sets "
            f"(training.learning_rate) or a config group (model)"
        )
    if "." not in dim.param and dim.param in config_groups():
        _check_group(dim, cfg, label)
    else:
        _check_key(dim, cfg, label)


def config_groups() -> set[str]:
    """The config groups of conf/ (model, data, training, ...)."""
    from resume_ner.paths import config_dir

    return {p.name for p in config_dir().iterdir() if p.is_dir()}


def group_options(group: str) -> list[str]:
    """The options of a config group: conf/<group>/*.yaml."""
    from resume_ner.paths import config_dir

    return sorted(p.stem for p in Path(config_dir(), group).glob("*.yaml"))


def _check_group(dim: Dimension, cfg: Any, label: str) -> None:
    group = dim.param
    if group in UNSEARCHABLE_GROUPS:
        raise ConfigError(f"{label}: the search cannot sweep the {group} group itself")
    if not isinstance(cfg.get(group) if isinstance(cfg, Mapping) else None, Mapping):
        raise ConfigError(
            f"{label}: the {group} group is not in the config's defaults list (it is added "
            f"with +{group}=NAME), so a trial cannot choose it; search the groups and keys "
            f"it sets instead (model, training.learning_rate, ...)"
        )
    if dim.type != "choice":
        raise ConfigError(
            f"{label}: {group} is a config group, so its dimension is a choice of its "
            f"options; set {label}.type=choice and {label}.values=[...]"
        )
    options = group_options(group)
    for value in dim.values:
        if value not in options:
            close = difflib.get_close_matches(str(value), options, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{label}: {value!r} is not an option of the {group} group; choose among "
                f"{', '.join(options)}.{hint}"
            )


def _check_key(dim: Dimension, cfg: Any, label: str) -> None:
    value = _walk(cfg, dim.param, label)
    if isinstance(value, Mapping):
        keys = ", ".join(str(k) for k in value)
        raise ConfigError(
            f"{label}: {dim.param} is a section, not a value; set {label}.param to one of "
            f"its keys ({keys})"
        )
    kind, nullable = _schema_type(dim.param)
    if kind is not None:
        _check_kind(dim, kind, nullable, label)


def _walk(cfg: Any, dotted: str, label: str) -> Any:
    """The value at `dotted` in the composed config, or a ConfigError naming close keys."""
    node = cfg
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        keys = [str(k) for k in node] if isinstance(node, Mapping) else []
        if part not in keys:
            where = ".".join(parts[:depth])
            close = difflib.get_close_matches(part, keys, n=1)
            hint = f" Did you mean '{'.'.join([*parts[:depth], close[0]])}'?" if close else ""
            raise ConfigError(
                f"{label}: {dotted} is not a config key or group.{hint} Set {label}.param to "
                f"a key of the composed config (under {where or 'the top level'}: "
                f"{', '.join(keys)}) or a config group ({', '.join(sorted(config_groups()))})"
            )
        try:
            node = node.get(part)
        except Exception:  # a mandatory value still missing: a leaf all the same
            node = None
    return node


def _schema_type(dotted: str) -> tuple[type | None, bool]:
    """The scalar type (int, float, bool, str) the train schema gives `dotted`, and whether
    it may be null; (None, True) where the schema does not say (free-form mappings, Any)."""
    from resume_ner.config.schema import TrainConfig

    node: Any = TrainConfig
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        annotation = typing.get_type_hints(node).get(part)
        if annotation is None:
            return None, True
        inner, nullable = _strip_optional(annotation)
        if dataclasses.is_dataclass(inner):
            node = inner
            continue
        if depth == len(parts) - 1 and inner in (int, float, bool, str):
            return inner, nullable
        return None, True
    return None, True


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """X from `X | None` (or Optional[X]), and whether None was allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else annotation), nullable
    return annotation, False


def _check_kind(dim: Dimension, kind: type, nullable: bool, label: str) -> None:
    """The sampled values fit the key's type: an integer stays an integer."""
    if dim.type != "choice":
        if kind is int and dim.type != "randint":
            raise ConfigError(
                f"{label}: {dim.param} is an integer and a {dim.type} dimension samples "
                f"floats; use type randint (an inclusive integer range: min..max) or a "
                f"choice of integers"
            )
        if kind not in (int, float):
            raise ConfigError(
                f"{label}: {dim.param} is a {kind.__name__}, not a number; make the "
                f"dimension a choice of its values ({label}.type=choice, {label}.values=[...])"
            )
        return
    for value in dim.values:
        if not _fits(value, kind, nullable):
            raise ConfigError(
                f"{label}: {dim.param} is {_a(kind)}{' or null' if nullable else ''}, and "
                f"the choice holds {value!r}; give {label}.values of that type only"
            )


def _fits(value: Any, kind: type, nullable: bool) -> bool:
    if value is None:
        return nullable
    if kind is float:
        return isinstance(value, Real) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, Integral) and not isinstance(value, bool)
    return isinstance(value, kind)


def _a(kind: type) -> str:
    return {int: "an integer", float: "a number", bool: "a boolean", str: "a string"}[kind]


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
    parsed = _parse(overrides)
    if parsed is None:  # malformed: Hydra reports the grammar error itself
        return [], list(overrides)
    dims: list[Dimension] = []
    labels: list[str] = []
    plain: list[str] = []
    for text, override in zip(overrides, parsed, strict=True):
        if not override.is_sweep_override() or _is_hydra_key(override.key_or_group):
            plain.append(text)
            continue
        dim = _from_override(override, text, {d.name for d in dims})
        check_shape(dim, text)
        dims.append(dim)
        labels.append(text)
    if cfg is not None:
        check_dimensions(dims, cfg, labels)
    return dims, plain


def _parse(overrides: Sequence[str]) -> list[Any] | None:
    """Hydra's parse of `overrides`, one per override; None when one is malformed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception:
        return None
    return parsed if len(parsed) == len(overrides) else None


def _is_hydra_key(key: str) -> bool:
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


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

"""The checks of a search dimension: its shape (name, type, fields, bounds, step) and what
it sets (a config key of the right type, or a config group and its options), each error
naming the dimension, the problem and the fix."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import (
    FIELDS,
    NAME,
    SEARCH_TYPES,
    UNSEARCHABLE_GROUPS,
    Dimension,
)

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

"""A dimension of the search: what it sets, how it is sampled, and how a sampled value is
written back as a Hydra override. Plain data: a worker rebuilds it from JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
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

"""Checks of the string-valued choices in a composed config, with the valid values listed.

The schema types these fields as `str`: OmegaConf matches an Enum by member name, and the
names users write (`val_macro-f1`) are not identifiers, so the vocabulary is checked here,
once the config is composed and before anything runs (`resume_ner.cli` and
`resume_ner.config.compose` call `check_config`), and on the command line's literal
overrides before Hydra composes (`check_override_values`). The search space is checked
against the composed config by `resume_ner.hpo.space` (its types, bounds, and the key or
group each dimension sets).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from resume_ner.config.overrides import parse_overrides
from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import SEARCH_TYPES
from resume_ner.hpo.space import check_search_space

# The validation metrics that training logs to MLflow every epoch, under exactly these
# keys (resume_ner/train/metrics.py: flat_metrics, plus the loss); per-label F1, precision
# and recall are logged as val_f1_<label> etc. and may be objectives too.
OBJECTIVE_METRICS = ("val_macro-f1", "val_f1", "val_precision", "val_recall", "val_loss")
PER_LABEL_METRIC = re.compile(r"val_(precision|recall|f1)_[a-z0-9_]+")


def best_metric_key(metric: str) -> str:
    """The MLflow key of a run's best value of `metric` (best_val_macro-f1), logged once at
    its end: the objective's own key is logged once per epoch only."""
    return f"best_{metric}"


# The vocabulary of the hpo group, shared by the local (Optuna) and Azure ML backends.
CHOICES: dict[str, tuple[str, ...]] = {
    "hpo.objective.goal": ("maximize", "minimize"),
    "hpo.sampling": ("random", "grid", "bayesian"),
    "hpo.early_termination.policy": ("bandit", "median", "truncation", "none"),
}


def _refuse(key: str, value: Any, valid: Sequence[str], extra: str = "") -> ConfigError:
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{key}={value}: choose one of {', '.join(valid)}.{hint}{extra}")


def check_objective_metric(value: Any, key: str = "hpo.objective.metric") -> str:
    """The objective's MLflow key, or a ConfigError listing the valid ones."""
    if value in OBJECTIVE_METRICS or (isinstance(value, str) and PER_LABEL_METRIC.fullmatch(value)):
        return value
    raise _refuse(
        key,
        value,
        OBJECTIVE_METRICS,
        " (or val_f1_<label>, val_precision_<label>, val_recall_<label>: the exact "
        "metric key that training logs to MLflow every epoch)",
    )


def check_choice(key: str, value: Any) -> Any:
    """`value` when it is in the vocabulary of `key`, else a ConfigError listing it."""
    if key == "hpo.objective.metric":
        return check_objective_metric(value, key)
    if key in CHOICES and value not in CHOICES[key]:
        raise _refuse(key, value, CHOICES[key])
    is_dimension_type = key.startswith("hpo.search_space.") and key.endswith(".type")
    if is_dimension_type and value not in SEARCH_TYPES:
        raise _refuse(key, value, SEARCH_TYPES)
    return value


def _lookup(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def check_config(cfg: Mapping[str, Any]) -> None:
    """Refuse a composed config whose hpo choices are outside their vocabulary, or whose
    search space cannot be searched."""
    if "hpo" not in cfg:
        return
    check_choice("hpo.objective.metric", _lookup(cfg, "hpo.objective.metric"))
    for key in CHOICES:
        check_choice(key, _lookup(cfg, key))
    check_search_space(cfg)


def check_override_values(overrides: Sequence[str]) -> None:
    """Refuse a command-line override that sets a checked choice to a value outside it,
    before Hydra composes (each value of a sweep `a,b` is checked)."""
    from hydra.core.override_parser.types import ChoiceSweep

    for override in parse_overrides(overrides):
        key = override.key_or_group
        if override.is_delete():
            continue
        value = override.value()
        values = value.list if isinstance(value, ChoiceSweep) else [value]
        for item in values:
            if isinstance(item, str):
                check_choice(key, item)

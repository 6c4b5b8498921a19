"""Entrypoint plumbing shared by every `python -m resume_ner.*` command.

`run_hydra` checks the command-line overrides against the schema before Hydra composes the
config, so a misspelt key fails at once with the valid keys named, then hands over to
`hydra.main` with the absolute path of conf/ (found without relying on the cwd).
"""

from __future__ import annotations

import difflib
import functools
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from resume_ner.config.registry import PRIMARY_SCHEMAS, register_configs
from resume_ner.paths import config_dir


class UsageError(SystemExit):
    """A user error: printed as one clear message, exit status 2, no traceback."""

    def __init__(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)
        super().__init__(2)


def run_dir() -> Path:
    """The Hydra run directory of the current job (the cwd outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def user_errors() -> tuple[type[BaseException], ...]:
    """Failures caused by settings or inputs: reported as one message, without a traceback."""
    from resume_ner.checkpoints import CheckpointError
    from resume_ner.data.raw import DataError
    from resume_ner.model_source import ModelSourceError
    from resume_ner.tokenizer import TokenizerError
    from resume_ner.train.loop import ResumeError
    from resume_ner.train.memory import MemoryBudgetError
    from resume_ner.train.tracking_uri import TrackingError

    return (
        CheckpointError,
        DataError,
        ModelSourceError,
        TokenizerError,
        ResumeError,
        MemoryBudgetError,
        TrackingError,
    )


def reporting_user_errors(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a task so the errors of `user_errors()` exit with status 2 and their message."""

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except user_errors() as error:
            raise UsageError(str(error)) from None

    return wrapped


def _config_groups(conf: Path) -> set[str]:
    return {p.name for p in conf.iterdir() if p.is_dir()}


def _dataclass_of(annotation: Any) -> type | None:
    """The dataclass behind an annotation such as `TrainingConfig` or `Optional[X]`."""
    if is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if is_dataclass(arg):
            return arg
    return None


def _mapping_value_dataclass(annotation: Any) -> type | None:
    """For Dict[str, X] (possibly Optional), the dataclass X, else None."""
    if typing.get_origin(annotation) is dict:
        return _dataclass_of(typing.get_args(annotation)[1])
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is dict:
            return _mapping_value_dataclass(arg)
    return None


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    return any(_is_mapping(arg) for arg in typing.get_args(annotation))


def check_override_keys(overrides: Sequence[str], config_name: str) -> None:
    """Fail with the valid keys listed when an override names a key the schema lacks.

    Group selections (`model=deberta`), appends (`+x=...`), deletions (`~x`) and `hydra.*`
    are left to Hydra, which already lists the available options of a group.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    schema = PRIMARY_SCHEMAS[config_name]
    groups = _config_groups(config_dir())
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception:
        return  # Hydra reports grammar errors itself, with the offending override.
    for override in parsed:
        key = override.key_or_group
        if override.is_add() or override.is_delete() or override.is_force_add():
            continue
        if key.startswith("hydra.") or key == "hydra" or override.package is not None:
            continue
        parts = key.split(".")
        if len(parts) == 1 and key in groups:
            continue
        node: type | None = schema
        depth = 0
        while node is not None and depth < len(parts):
            part = parts[depth]
            hints = typing.get_type_hints(node)
            if part not in hints:
                parent = f"'{'.'.join(parts[:depth])}'" if depth else "the top level"
                valid = sorted(hints)
                close = difflib.get_close_matches(part, valid, n=1)
                hint = f" Did you mean '{'.'.join(parts[:depth] + close)}'?" if close else ""
                raise UsageError(
                    f"unknown config key '{key}'.{hint} Valid keys under {parent}: "
                    f"{', '.join(valid)}. (To add a new key on purpose, write +{key}=...)"
                )
            annotation = hints[part]
            if _is_mapping(annotation):
                # free-form keys (data.label_map.X, hpo.search_space.X); its values may be typed
                node, depth = _mapping_value_dataclass(annotation), depth + 2
                continue
            node = _dataclass_of(annotation)
            if node is None and depth + 1 < len(parts):
                raise UsageError(
                    f"'{'.'.join(parts[: depth + 1])}' is a value, not a section: "
                    f"'{key}' cannot be set."
                )
            depth += 1


def run_hydra(
    task: Callable[[DictConfig], Any],
    config_name: str,
    argv: Sequence[str] | None = None,
) -> Any:
    """Validate the overrides in argv (default sys.argv[1:]) and run `task` under Hydra."""
    import hydra
    from hydra._internal.utils import get_args_parser

    register_configs()
    args = list(sys.argv[1:] if argv is None else argv)
    known = get_args_parser().parse_args(args)
    check_override_keys(known.overrides, config_name)
    sys.argv = [sys.argv[0], *args]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)
    return main(task)()

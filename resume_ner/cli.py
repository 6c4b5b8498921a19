"""The command-line boundary shared by every `python -m resume_ner.*` command.

`run_hydra` checks the command-line overrides against the schema before Hydra composes the
config, so a misspelt key fails at once with the valid keys named, then hands over to
`hydra.main` with the absolute path of conf/ (found without relying on the cwd). It is the
one place where a `resume_ner.errors.UserError` becomes an `error: ...` line and exit
status 2; nothing below the entrypoints imports this module.
"""

from __future__ import annotations

import difflib
import functools
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from resume_ner.config.checks import check_config, check_override_values
from resume_ner.config.overrides import is_hydra_key, parse_overrides
from resume_ner.config.registry import PRIMARY_SCHEMAS, register_configs
from resume_ner.errors import ConfigError, UserError
from resume_ner.paths import config_dir

USER_ERROR_EXIT = 2


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a UserError into one `error: ...` line on stderr and exit status 2."""
    try:
        yield
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT) from None


def run_dir() -> Path:
    """The Hydra run directory of the current job (the cwd outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def task_overrides() -> list[str]:
    """The command-line overrides of the current Hydra job (none outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def _checked_task(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """The task with the composed config checked first and user errors reported."""

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        with exit_on_user_error():
            check_config(cfg)
            return task(cfg)

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

    Group selections (`model=deberta`), appends (`+x=...`), deletions (`~x`), Hydra's own
    groups (`hydra/launcher=...`) and keys (`hydra.*`) are left to Hydra, which lists the
    available options of a group itself.
    """
    schema = PRIMARY_SCHEMAS[config_name]
    groups = _config_groups(config_dir())
    for override in parse_overrides(overrides):
        key = override.key_or_group
        if override.is_add() or override.is_delete() or override.is_force_add():
            continue
        if is_hydra_key(key) or override.package is not None:
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
                raise ConfigError(
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
                raise ConfigError(
                    f"'{'.'.join(parts[: depth + 1])}' is a value, not a section: "
                    f"'{key}' cannot be set."
                )
            depth += 1


def check_modes(args: Any) -> None:
    """Hydra runs one mode at a time: refuse `-m ... --cfg job` before Hydra's traceback."""
    modes = {
        "--run": args.run,
        "--multirun": args.multirun,
        "--cfg": args.cfg,
        "--info": args.info,
        "--shell-completion": args.shell_completion,
    }
    given = [flag for flag, value in modes.items() if value]
    if len(given) > 1:
        raise ConfigError(
            f"{' and '.join(given)} cannot be combined: Hydra runs one of --run, --multirun, "
            f"--cfg, --info at a time (to see a sweep's config, drop -m: --cfg job shows "
            f"the config of one job)"
        )


def remote_launcher(overrides: Sequence[str]) -> bool:
    """Whether the command line selects the Azure ML launcher."""
    return any(
        o.key_or_group == "hydra/launcher" and o.value() == "azureml"
        for o in parse_overrides(overrides)
    )


def _inspecting(args: Any) -> bool:
    """--cfg, --info, --help: Hydra prints and runs nothing."""
    return bool(args.cfg or args.info or args.help or args.hydra_help or args.shell_completion)


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
    with exit_on_user_error():
        check_modes(known)
        check_override_keys(known.overrides, config_name)
        check_override_values(known.overrides)
    if remote_launcher(known.overrides) and not known.multirun and not _inspecting(known):
        # Hydra hands a launcher only the jobs of a multirun: without -m the run would
        # silently happen here instead of on Azure ML.
        print("hydra/launcher=azureml: submitting as a multirun (-m)", file=sys.stderr)
        args = ["--multirun", *args]
    sys.argv = [sys.argv[0], *args]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)
    return main(_checked_task(task))()

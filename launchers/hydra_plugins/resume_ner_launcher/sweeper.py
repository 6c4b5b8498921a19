"""The `resume_ner` Hydra sweeper: `python -m resume_ner.train -m hpo=smoke` runs a local
Optuna study over the `hpo` search space; with hpo off (`hpo=none`) it is Hydra's basic
sweeper, so a plain `-m training.epochs=1,2` works as everywhere.

Hydra's contract: a sweeper decides what to run, a launcher runs concrete override lists.
A local study needs no batch barrier, so its trials run in worker processes that each
ask the shared Optuna storage for their next trial (resume_ner/hpo/local.py); this file
is only the adapter Hydra discovers, and the command-line boundary of a study.

No `from __future__ import annotations` here: Hydra's plugin scan executes this module
before it is in sys.modules, where dataclasses cannot resolve string annotations.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper


@dataclass
class ResumeNerSweeperConf:
    _target_: str = "hydra_plugins.resume_ner_launcher.sweeper.ResumeNerSweeper"
    # For hpo=none: the basic sweeper's batch size (null: every job in one batch).
    max_batch_size: int | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="resume_ner", node=ResumeNerSweeperConf)


class ResumeNerSweeper(Sweeper):
    """Runs the study of cfg.hpo locally (Optuna), or a plain Hydra sweep when hpo is off."""

    def __init__(self, max_batch_size: int | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.config: Any = None
        self.hydra_context: Any = None
        self.task_function: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def sweep(self, arguments: list[str]) -> Any:
        if not self.config.hpo.enabled:
            return self._basic_sweep(arguments)
        if is_azureml(self.config):
            return self._azureml_sweep(arguments)
        from resume_ner.cli import exit_on_user_error
        from resume_ner.config.checks import check_config
        from resume_ner.hpo.local import run_local_study

        cfg = without_hydra(self.config)
        try:
            with exit_on_user_error():
                check_config(cfg)
                return run_local_study(cfg, arguments, Path(self.config.hydra.sweep.dir))
        except KeyboardInterrupt:
            sys.exit(130)

    def _azureml_sweep(self, arguments: list[str]) -> Any:
        """A Hydra launcher only takes concrete override lists: the Azure ML launcher is
        handed the whole search instead, which it submits as one native sweep job."""
        from hydra.core.plugins import Plugins

        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self.config,
        )
        return launcher.launch_sweep(arguments)

    def _basic_sweep(self, arguments: list[str]) -> Any:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        basic = BasicSweeper(max_batch_size=self.max_batch_size)
        basic.setup(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self.config,
        )
        return basic.sweep(arguments)


def is_azureml(config: Any) -> bool:
    """Whether hydra/launcher=azureml is selected."""
    target = str(config.hydra.launcher.get("_target_", ""))
    return target.endswith(".AzureMLLauncher")


def without_hydra(config: Any) -> Any:
    """The composed config less Hydra's own node: what a training run sees."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(config, resolve=False)
    cfg.pop("hydra", None)
    return OmegaConf.create(cfg)

"""The `azureml` Hydra launcher: `hydra/launcher=azureml env=azure compute=gpu-cluster` sends
the same runs to Azure ML. A multirun becomes one command job per composed run; under an
hpo search the project's sweeper hands this launcher the whole search (`launch_sweep`),
which becomes ONE native Azure ML sweep job. `hydra.launcher.dry_run=true` writes each
job's YAML to the sweep directory and submits nothing.

The work is done in resume_ner/azure/remote.py; this file is the adapter Hydra discovers
(config dataclass + Launcher). No `from __future__ import annotations` (see sweeper.py).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence  # noqa: UP035 (OmegaConf reads them)

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher

from hydra_plugins.resume_ner_launcher.sweeper import without_hydra

log = logging.getLogger(__name__)


@dataclass
class AzureMLLauncherConf:
    _target_: str = "hydra_plugins.resume_ner_launcher.azureml_launcher.AzureMLLauncher"
    # Write each job's YAML to <sweep dir>/azureml/ (checked by loading it back); send nothing.
    dry_run: bool = False
    # Print the job's logs as they come (one job at a time).
    stream: bool = False
    # Wait for each job to end; a sweep's objective is then read back for the sweeper.
    wait: bool = False
    poll_seconds: float = 30.0
    # null: tracking.experiment_name
    experiment_name: str | None = None
    display_name: str | None = None
    tags: Dict[str, str] = field(default_factory=dict)  # noqa: UP006


ConfigStore.instance().store(group="hydra/launcher", name="azureml", node=AzureMLLauncherConf)


class AzureMLLauncher(Launcher):
    """Submits each job Hydra hands it to Azure ML (or writes its YAML in a dry run)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: Any = None
        self.hydra_context: Any = None
        self.task_function: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def _options(self) -> Any:
        from resume_ner.azure.remote import LaunchOptions

        return LaunchOptions(**self.settings)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> List[Any]:  # noqa: UP006
        from resume_ner.azure.remote import launch_runs
        from resume_ner.cli import exit_on_user_error

        runs = []
        for overrides in job_overrides:
            composed = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            runs.append((without_hydra(composed), list(overrides)))
        config_name = self.config.hydra.job.config_name
        with exit_on_user_error():
            launched = launch_runs(runs, config_name, self._options(), self._sweep_dir())
        return [
            job_return(
                cfg, overrides, result.objective if result.objective is not None else result.name
            )
            for (cfg, overrides), result in zip(runs, launched, strict=True)
        ]

    def launch_sweep(self, arguments: Sequence[str]) -> Any:
        """The project's sweeper hands over the whole hpo search: one sweep job."""
        from resume_ner.azure.remote import launch_sweep
        from resume_ner.cli import exit_on_user_error

        with exit_on_user_error():
            return launch_sweep(
                without_hydra(self.config), list(arguments), self._options(), self._sweep_dir()
            )

    def _sweep_dir(self) -> Path:
        folder = Path(str(self.config.hydra.sweep.dir))
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def job_return(cfg: Any, overrides: Sequence[str], value: Any) -> JobReturn:
    """What Hydra's multirun expects of a finished job; the job itself runs on Azure ML."""
    ret = JobReturn(overrides=list(overrides), cfg=cfg, status=JobStatus.COMPLETED)
    ret.return_value = value
    return ret

"""`python -m resume_ner.select select.backend=azureml select.sweep=NAME env=azure`: the best
trial of an Azure ML sweep job, registered on request as an Azure ML model.

The trials are ranked the way the MLflow backend ranks a study's (resume_ner/select.py,
`select_best`): by `best_<metric>`, the summary every training run logs at its end, among
the child runs of the sweep in the workspace's MLflow tracking store. Azure ML gives each
job an MLflow run whose id is the job's name, and a trial's run carries the tag
mlflow.parentRunId=<sweep name>. The trials carry no hpo.trial_state tag, so each FINISHED
trial counts as a plain training run; a trial Azure ML cancelled (early termination) ends
without its summary and does not count.

The metric and goal are the sweep's objective unless select.metric / select.goal are set
to something other than their defaults; a note says when the ranking differs from it.

With select.register=true the winner's `checkpoint` output becomes a new version of the
Azure ML model select.model_name (type custom_model), which a remote conversion reads as
checkpoint=azureml:NAME:VERSION.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from resume_ner.errors import ConfigError, RemoteError

SWEEP_TYPE = "sweep"
# The output a training job writes its checkpoint to (resume_ner/azure/command.py).
CHECKPOINT_OUTPUT = "checkpoint"
# `key=${{search_space.name}}` in a trial's command: the override each dimension sets.
SAMPLED = re.compile(r"(?P<key>[A-Za-z0-9_.+~/-]+)=\$\{\{\s*search_space\.(?P<name>\w+)\s*\}\}")


@dataclass(frozen=True)
class SweepObjective:
    """What a sweep optimised, and what the trials are ranked by."""

    metric: str
    goal: str
    notes: list[str]


@dataclass(frozen=True)
class ModelRegistration:
    """A model version registered in the workspace."""

    name: str
    version: str
    path: str

    @property
    def reference(self) -> str:
        from resume_ner.azure.inputs import AssetRef

        return AssetRef(self.name, self.version).uri


# --------------------------------------------------------------------------- the sweep


def get_sweep(client: Any, name: str) -> Any:
    """The sweep job `name`, or a RemoteError when there is none or it is another kind of job."""
    from azure.core.exceptions import ResourceNotFoundError

    from resume_ner.azure.workspace import azure_errors

    with azure_errors(f"read job {name}"):
        try:
            job = client.jobs.get(name)
        except ResourceNotFoundError:
            raise RemoteError(
                f"select.sweep={name}: no job of that name in workspace "
                f"{client.workspace_name}; give the sweep job's name (the Studio's job list, "
                f"or `python -m resume_ner.azure status NAME`)"
            ) from None
    if job.type != SWEEP_TYPE:
        raise RemoteError(
            f"select.sweep={name} is a {job.type} job, not a sweep: give the name of the sweep "
            f"job (the parent of the trials), or select a training run with select.backend=mlflow"
        )
    return job


def sweep_objective(job: Any, metric: str, goal: str) -> SweepObjective:
    """The sweep's primary metric and goal, unless select.metric / goal were set otherwise."""
    from resume_ner.config.schema import SelectionConfig

    default = SelectionConfig()
    objective = getattr(job, "objective", None)
    swept_metric = getattr(objective, "primary_metric", None)
    swept_goal = getattr(objective, "goal", None)
    if not swept_metric or not swept_goal:
        note = f"sweep {job.name} names no objective; ranking by {metric} ({goal})"
        return SweepObjective(metric, goal, [note])
    if (metric, goal) == (default.metric, default.goal):
        return SweepObjective(swept_metric, swept_goal, [])
    if (metric, goal) == (swept_metric, swept_goal):
        return SweepObjective(metric, goal, [])
    note = (
        f"sweep {job.name} optimised {swept_metric} ({swept_goal}); ranking by {metric} "
        f"({goal}) as select.metric / select.goal say"
    )
    return SweepObjective(metric, goal, [note])


def sampled_keys(job: Any) -> list[str]:
    """The config keys the sweep samples: the overrides of its trial command that read a
    `${{search_space.NAME}}` value (resume_ner/azure/jobs.py writes them)."""
    command = str(getattr(getattr(job, "trial", None), "command", "") or "")
    return [m["key"].lstrip("+~") for m in SAMPLED.finditer(command)]


def sampled_params(params: dict[str, str], keys: list[str]) -> dict[str, str]:
    """The trial run's values of `keys` (a group such as `model` is logged as model.name)."""
    found = {}
    for key in keys:
        value = params.get(key, params.get(f"{key}.name"))
        if value is not None:
            found[key] = value
    return found


# --------------------------------------------------------------------------- ranking


def rank_trials(
    client: Any, job: Any, objective: SweepObjective, states: list[str], rank: Any
) -> tuple[Any, dict[str, float]]:
    """The sweep's trials ranked by `rank` (resume_ner.select.select_best, passed in: the
    entrypoint imports this stage, not the other way round) in the workspace's tracking
    store, and the best_* summaries the winner logged."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from resume_ner.azure.submit import workspace_tracking_uri
    from resume_ner.azure.workspace import azure_errors

    uri = workspace_tracking_uri(client)
    try:
        with azure_errors(f"read the trials of sweep {job.name}"):
            tracking = MlflowClient(uri)
            selection = _ranked_trials(tracking, job, objective, states, rank)
            logged = tracking.get_run(selection.winner.run_id).data.metrics
    except MlflowException as err:
        message = " ".join(str(err.message).split())
        # The workspace's azureml:// store is read through azureml-mlflow's plugin.
        no_plugin = "registered tracking store" in message or "unsupported URI" in message
        hint = (
            "; install azureml-mlflow (pip install 'resume-ner[azure]')"
            if no_plugin and uri.startswith("azureml:")
            else ""
        )
        raise RemoteError(
            f"reading the trials of sweep {job.name} from the workspace's MLflow ({uri}): "
            f"{message}{hint}"
        ) from err
    summaries = {k: float(v) for k, v in sorted(logged.items()) if k.startswith("best_")}
    return replace(selection, notes=[*objective.notes, *selection.notes]), summaries


def _ranked_trials(
    tracking: Any, job: Any, objective: SweepObjective, states: list[str], rank: Any
) -> Any:
    """`rank` over the sweep's child runs, with each trial's sampled values as params."""
    selection = rank(
        tracking, parent_run=job.name, metric=objective.metric, goal=objective.goal, states=states
    )
    keys = sampled_keys(job)
    if not keys:
        return selection
    # The sampled values, read from each ranked trial's logged (flattened) config.
    ranked = [
        replace(c, params=sampled_params(tracking.get_run(c.run_id).data.params, keys))
        for c in selection.ranked
    ]
    return replace(selection, ranked=ranked)


# --------------------------------------------------------------------------- registration


def checkpoint_path(job_name: str) -> str:
    """The datastore URI of a training job's checkpoint output."""
    return f"azureml://jobs/{job_name}/outputs/{CHECKPOINT_OUTPUT}"


def register_checkpoint(client: Any, selection: Any, model_name: str) -> ModelRegistration:
    """Register the winner's checkpoint output as a new version of Azure ML model `model_name`."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    from resume_ner.azure.workspace import azure_errors

    winner = selection.winner
    path = checkpoint_path(winner.run_id)
    model = Model(
        path=path,
        type=AssetTypes.CUSTOM_MODEL,
        name=model_name,
        description=f"the best trial of sweep {selection.parent_run} by {selection.key}",
        tags={
            "sweep": str(selection.parent_run),
            "job": winner.run_id,
            "metric": selection.key,
            "value": repr(winner.value),
            "goal": selection.goal,
        },
    )
    with azure_errors(f"register model {model_name}"):
        created = client.models.create_or_update(model)
    return ModelRegistration(created.name, str(created.version), path)


# --------------------------------------------------------------------------- the task


def check_azure_options(cfg: Any) -> None:
    """Refuse select.backend=azureml without a sweep or a workspace, before connecting."""
    if not cfg.select.sweep:
        raise ConfigError(
            "select.backend=azureml needs select.sweep=NAME: the name of the Azure ML sweep "
            "job whose trials are ranked"
        )
    if cfg.env.kind != "azure":
        raise ConfigError(
            f"select.backend=azureml reads the sweep from an Azure ML workspace: add env=azure "
            f"(env={cfg.env.name} is a local environment)"
        )

"""`python -m resume_ner.select [select.parent_run=RUN_ID] [select.register=true
select.model_name=NAME]`.

Ranks the finished MLflow runs of an experiment (default: tracking.experiment_name), or the
trials of one study (the child runs of its parent run), by `best_<select.metric>`: the
summary every training run logs at its end. Prints the top five and the winner; with
`select.register=true` the winner's checkpoint becomes a new version of `select.model_name`
in the MLflow model registry and the alias `champion` moves to it.

Which runs count:
- status FINISHED (a run a policy or the time budget stopped is FINISHED too, tag stop_reason);
- a `best_<metric>` value that is not NaN;
- not a study's own parent run (tag hpo.role=study: it repeats its best trial's value);
- tag hpo.trial_state in `select.states`, by default COMPLETE and PRUNED as in the study's
  own ranking (resume_ner/hpo/results.py): a pruned trial was stopped after its best epoch
  was checkpointed, so its score is that checkpoint's. Runs without the tag (plain training
  runs) always count. FAIL is left out: a trial cut by its time limit may still have logged
  a best value, but its run did not end as planned.

What is registered (the version's source): the run's artifact folder `checkpoint` when
training logged the checkpoint there (tracking.log_checkpoint=artifact), else the local
checkpoint folder named by the run's `checkpoint_dir` tag, as a file:// URI. The SQLite
store takes either. A tracking server takes a local path only inside the run's artifact
folder: register a server's runs from checkpoints logged as artifacts.

`select.backend=azureml select.sweep=NAME env=azure` ranks the trials of an Azure ML sweep
job the same way, in the workspace's MLflow store (resume_ner/azure/selection.py), and
registers the winner's checkpoint output as an Azure ML model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from resume_ner.cli import run_hydra
from resume_ner.config.checks import CHOICES, best_metric_key, check_objective_metric
from resume_ner.errors import CheckpointError, ConfigError, TrackingError
from resume_ner.model_registry import Registration, register_version

# The tags a study and its trials carry (resume_ner/hpo/local.py, resume_ner/hpo/trial.py).
STATE_TAG = "hpo.trial_state"
ROLE_TAG = "hpo.role"
STUDY_ROLE = "study"
PARENT_TAG = "mlflow.parentRunId"
TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
# What training records about its checkpoint (resume_ner/train/run.py).
CHECKPOINT_TAG = "checkpoint_dir"
CHECKPOINT_ARTIFACTS = "checkpoint"
MODEL_FILE = "model.safetensors"

ALIAS = "champion"
TOP = 5
PAGE_SIZE = 200
# Shown for runs that are not trials of a search (whose searched params are shown instead).
DEFAULT_KEY_PARAMS = ("model.name", "training.learning_rate", "training.batch_size")
SEARCH_DIMENSION = "hpo.search_space."


@dataclass(frozen=True)
class Candidate:
    """One counted run."""

    run_id: str
    run_name: str
    value: float
    # hpo.trial_state; None for a plain training run.
    state: str | None
    checkpoint_dir: str | None
    artifact_uri: str
    params: dict[str, str]
    stop_reason: str | None = None


@dataclass(frozen=True)
class Selection:
    """The counted runs, best first (at most `top`), and where they were looked for."""

    metric: str
    goal: str
    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run: str | None
    states: list[str]
    ranked: list[Candidate]
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return best_metric_key(self.metric)

    @property
    def where(self) -> str:
        return _where(self.parent_run, self.experiment_name)

    @property
    def winner(self) -> Candidate:
        return self.ranked[0]

    def to_json(self) -> dict[str, Any]:
        """The choice as JSON-ready data."""
        return {
            "metric": self.key,
            "goal": self.goal,
            "tracking_uri": self.tracking_uri,
            "experiment": {"id": self.experiment_id, "name": self.experiment_name},
            "parent_run": self.parent_run,
            "states": self.states,
            "winner": asdict(self.winner),
            "ranked": [asdict(c) for c in self.ranked],
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- checks


# Where select looks: an MLflow store, or an Azure ML sweep job's trials.
BACKENDS = ("mlflow", "azureml")


def check_goal(goal: Any) -> str:
    """`goal` when it is maximize or minimize, else a ConfigError."""
    valid = CHOICES["hpo.objective.goal"]
    if goal not in valid:
        raise ConfigError(f"select.goal={goal}: choose one of {', '.join(valid)}.")
    return str(goal)


def check_states(states: Sequence[Any]) -> list[str]:
    """The hpo.trial_state values that count, or a ConfigError naming the valid ones."""
    chosen = [str(s).upper() for s in states]
    unknown = [s for s in chosen if s not in TRIAL_STATES]
    if unknown or not chosen:
        raise ConfigError(
            f"select.states={list(states)}: choose one or more of {', '.join(TRIAL_STATES)} "
            "(runs without an hpo.trial_state tag always count)."
        )
    return chosen


def check_options(options: Any) -> None:
    """Refuse a select config that cannot be used, before the store is opened."""
    check_objective_metric(options.metric, "select.metric")
    check_goal(options.goal)
    check_states(options.states)
    if options.register and not options.model_name:
        raise ConfigError(
            "select.register=true needs select.model_name=NAME: the registered model the "
            "best checkpoint becomes a version of."
        )


# --------------------------------------------------------------------------- selection


def select_best(
    client: Any,
    *,
    experiment: str | None = None,
    parent_run: str | None = None,
    metric: str = "val_macro-f1",
    goal: str = "maximize",
    states: Sequence[str] = ("COMPLETE", "PRUNED"),
    top: int = TOP,
) -> Selection:
    """The counted runs of `parent_run`'s children, else of `experiment`, best first.

    Raises ConfigError when the experiment or the parent run does not exist or no run counts.
    """
    metric = check_objective_metric(metric, "select.metric")
    goal = check_goal(goal)
    counted = check_states(states)
    scope = "attributes.status = 'FINISHED'"
    notes: list[str] = []
    if parent_run:
        parent = _parent(client, parent_run)
        experiment_id = parent.info.experiment_id
        scope += f" AND tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
        notes += _objective_notes(parent.data.params, metric, goal)
    elif experiment:
        experiment_id = _experiment_id(client, experiment)
    else:
        raise ConfigError("name an experiment (select.experiment) or a parent run to select from")
    experiment_name = client.get_experiment(experiment_id).name
    ranked = _ranked(client, experiment_id, scope, best_metric_key(metric), goal, counted, top)
    where = _where(parent_run, experiment_name)
    if not ranked:
        raise _nothing_counted(client, experiment_id, scope, metric, counted, where)
    return Selection(
        metric=metric,
        goal=goal,
        tracking_uri=str(client.tracking_uri),
        experiment_id=experiment_id,
        experiment_name=experiment_name,
        parent_run=parent_run or None,
        states=counted,
        ranked=ranked,
        notes=notes,
    )


def _where(parent_run: str | None, experiment_name: str) -> str:
    if parent_run:
        return f"among the child runs of parent run {parent_run} (experiment {experiment_name!r})"
    return f"in experiment {experiment_name!r}"


def _parent(client: Any, run_id: str) -> Any:
    """The parent run, or a ConfigError that lists the study runs of the store."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise TrackingError(
                f"cannot read run {run_id} from {client.tracking_uri}: {error.message}"
            ) from None
    studies = _study_runs(client)
    known = f" Study runs there: {studies}." if studies else " The store holds no study run."
    raise ConfigError(
        f"select.parent_run={run_id}: no run with that id in the tracking store "
        f"{client.tracking_uri}.{known} Check tracking.uri and the id (the study's run is "
        "named study-<study name>, tag hpo.role=study)."
    )


def _study_runs(client: Any, limit: int = 5) -> str:
    """The newest study (parent) runs of the store, as 'id (name)'."""
    ids = [e.experiment_id for e in client.search_experiments()]
    if not ids:
        return ""
    runs = client.search_runs(
        ids,
        f"tags.`{ROLE_TAG}` = '{STUDY_ROLE}'",
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )
    return ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in runs)


def _experiment_id(client: Any, name: str) -> str:
    """The id of the active experiment `name`, or a ConfigError listing those there are."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage != "deleted":
        return experiment.experiment_id
    names = sorted(e.name for e in client.search_experiments())
    listed = ", ".join(repr(n) for n in names) if names else "none"
    deleted = " (it is deleted)" if experiment is not None else ""
    raise ConfigError(
        f"no experiment named {name!r}{deleted} in the tracking store {client.tracking_uri} "
        f"(experiments there: {listed}). Set select.experiment=NAME, or tracking.uri to the "
        "store the runs were logged to."
    )


def _objective_notes(params: dict[str, str], metric: str, goal: str) -> list[str]:
    """A warning when the study optimised another metric or direction than the one ranked."""
    study_metric = params.get("hpo.objective.metric")
    study_goal = params.get("hpo.objective.goal")
    if (study_metric, study_goal) in ((None, None), (metric, goal)):
        return []
    return [
        f"the study optimised {study_metric} ({study_goal}); ranking by {metric} ({goal}) "
        f"as select.metric / select.goal say"
    ]


def _search(client: Any, experiment_id: str, scope: str, order_by: list[str]) -> Iterator[Any]:
    """The runs in `scope`, page by page."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], scope, max_results=PAGE_SIZE, order_by=order_by, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _ranked(
    client: Any,
    experiment_id: str,
    scope: str,
    key: str,
    goal: str,
    states: list[str],
    top: int,
) -> list[Candidate]:
    """The first `top` counted runs by `key`, best first."""
    direction = "DESC" if goal == "maximize" else "ASC"
    # the earlier run wins a tie: it reached the value first
    order_by = [f"metrics.`{key}` {direction}", "attributes.start_time ASC"]
    ranked: list[Candidate] = []
    for run in _search(client, experiment_id, scope, order_by):
        value = run.data.metrics.get(key)
        if value is None:  # the store sorts runs without the metric last: none counts after
            break
        if math.isnan(value) or not _counts(run.data.tags, states):
            continue
        ranked.append(_candidate(run, key))
        if len(ranked) == top:
            break
    return ranked


def _counts(tags: dict[str, str], states: list[str]) -> bool:
    """Whether a run with the metric counts: not a study run, a counted state or none."""
    if tags.get(ROLE_TAG) == STUDY_ROLE:
        return False
    state = tags.get(STATE_TAG)
    return state is None or state in states


def _candidate(run: Any, key: str) -> Candidate:
    tags = run.data.tags
    return Candidate(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        value=float(run.data.metrics[key]),
        state=tags.get(STATE_TAG),
        checkpoint_dir=tags.get(CHECKPOINT_TAG),
        artifact_uri=run.info.artifact_uri,
        params=key_params(run.data.params),
        stop_reason=tags.get("stop_reason"),
    )


def key_params(params: dict[str, str]) -> dict[str, str]:
    """The params a trial's search sampled (its hpo.search_space), else a few defining ones."""
    dimensions = sorted(
        key[len(SEARCH_DIMENSION) : -len(".type")]
        for key in params
        if key.startswith(SEARCH_DIMENSION) and key.endswith(".type")
    )
    # A dimension sets the key its `param` names (a group such as `model`: its model.name).
    keys = [params.get(f"{SEARCH_DIMENSION}{d}.param", d) for d in dimensions]
    chosen = {}
    for key in keys or DEFAULT_KEY_PARAMS:
        value = params.get(key, params.get(f"{key}.name"))
        if value is not None:
            chosen[key] = value
    return chosen


def _nothing_counted(
    client: Any, experiment_id: str, scope: str, metric: str, states: list[str], where: str
) -> ConfigError:
    """Why no run counts: none finished, none logged the metric, or their states."""
    key = best_metric_key(metric)
    runs = [
        r
        for r in client.search_runs([experiment_id], scope, max_results=PAGE_SIZE)
        if r.data.tags.get(ROLE_TAG) != STUDY_ROLE
    ]
    if not runs:
        return ConfigError(f"no finished run {where} in {client.tracking_uri}.")
    with_metric = [r for r in runs if not math.isnan(r.data.metrics.get(key, math.nan))]
    if with_metric:
        excluded = sorted({r.data.tags.get(STATE_TAG, "") for r in with_metric})
        return ConfigError(
            f"no finished run {where} counts: the {len(with_metric)} with {key} have "
            f"{STATE_TAG} {', '.join(excluded)}, none of select.states=[{','.join(states)}]. "
            f"Add a state to count its runs (select.states=[{','.join([*states, *excluded])}])."
        )
    logged = sorted({k for r in runs for k in r.data.metrics if k.startswith("best_")})
    hint = (
        f" They log {', '.join(logged)}: set select.metric to the hpo.objective.metric they "
        f"were trained with (select.metric={logged[0][len('best_') :]})."
        if logged
        else f" Training logs {key} at the end of a run whose hpo.objective.metric={metric}."
    )
    return ConfigError(
        f"no finished run {where} has the metric {key} (select.metric={metric}: the best "
        f"value of hpo.objective.metric over a run's epochs).{hint}"
    )


# --------------------------------------------------------------------------- registration


def checkpoint_source(client: Any, candidate: Candidate) -> str:
    """The URI registered: the run's `checkpoint` artifacts if logged, else the local folder."""
    if _logged_checkpoint(client, candidate.run_id):
        return candidate.artifact_uri.rstrip("/") + "/" + CHECKPOINT_ARTIFACTS
    return local_checkpoint(candidate).as_uri()


def _logged_checkpoint(client: Any, run_id: str) -> bool:
    """Whether the run logged a checkpoint with its weights as artifacts under `checkpoint`."""
    from mlflow.exceptions import MlflowException

    try:
        files = client.list_artifacts(run_id, CHECKPOINT_ARTIFACTS)
    except (MlflowException, OSError):  # an artifact store out of reach: the local folder
        return False
    return any(Path(f.path).name == MODEL_FILE for f in files)


def local_checkpoint(candidate: Candidate) -> Path:
    """The run's checkpoint folder, or a CheckpointError naming it and what is missing."""
    run = f"run {candidate.run_id} ({candidate.run_name})"
    if not candidate.checkpoint_dir:
        raise CheckpointError(
            f"{run} has no {CHECKPOINT_TAG} tag and no checkpoint artifacts: nothing to register."
        )
    folder = Path(candidate.checkpoint_dir)
    if not (folder / MODEL_FILE).is_file():
        why = "does not exist" if not folder.is_dir() else f"holds no {MODEL_FILE}"
        raise CheckpointError(
            f"the checkpoint folder {folder} of {run} {why}, so it cannot be registered. Run "
            "this where the checkpoint is (a study keeps only its best hpo.keep_checkpoints "
            "trials' checkpoints), or train with tracking.log_checkpoint=artifact."
        )
    return folder.resolve()


def register_champion(client: Any, selection: Selection, model_name: str) -> Registration:
    """Register the winner's checkpoint as a new version of `model_name`, aliased champion."""
    winner = selection.winner
    return register_version(
        client,
        model_name,
        checkpoint_source(client, winner),
        run_id=winner.run_id,
        alias=ALIAS,
        tags=_version_tags(selection),
        description=f"the best run by {selection.key} ({selection.goal}) {selection.where}",
        setting="select.model_name",
    )


def _version_tags(selection: Selection) -> dict[str, str]:
    winner = selection.winner
    tags = {
        "metric": selection.key,
        "value": repr(winner.value),
        "goal": selection.goal,
        STATE_TAG: winner.state or "none",
        CHECKPOINT_TAG: winner.checkpoint_dir or "",
        "experiment": selection.experiment_name,
    }
    if selection.parent_run:
        tags["parent_run"] = selection.parent_run
    return tags


# --------------------------------------------------------------------------- output


def format_selection(selection: Selection) -> str:
    """The ranking table and the winner, for stdout."""
    key = selection.key
    lines = [
        f"Best {len(selection.ranked)} run(s) by {key} ({selection.goal}) {selection.where}:",
        f"{'rank':>4}  {'value':>10}  {'state':<8}  {'run id':<32}  {'run name':<24}  params",
    ]
    for rank, c in enumerate(selection.ranked, 1):
        lines.append(
            f"{rank:>4}  {c.value:>10.4f}  {c.state or '-':<8}  {c.run_id:<32}  "
            f"{c.run_name[:24]:<24}  {_params_text(c.params)}"
        )
    w = selection.winner
    lines += [
        "",
        f"Winner: run {w.run_id} ({w.run_name})",
        f"  {key}: {w.value:.6g}   {STATE_TAG}: {w.state or '- (a plain training run)'}"
        + (f"   stop_reason: {w.stop_reason}" if w.stop_reason else ""),
        f"  {CHECKPOINT_TAG}: {w.checkpoint_dir or '(not tagged)'}",
        f"  params: {_params_text(w.params) or '-'}",
    ]
    lines += [f"note: {note}" for note in selection.notes]
    return "\n".join(lines)


def _params_text(params: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def store_uri(tracking: Any) -> str:
    """tracking.uri (else $MLFLOW_TRACKING_URI, else outputs/mlflow.db), checked for reading."""
    from resume_ner.train.tracking_uri import existing_store_uri

    return existing_store_uri(tracking.uri, Path.cwd(), float(tracking.connect_timeout))


def select_task(cfg: DictConfig) -> Selection:
    """Select (and register) the best run; print it."""
    options = cfg.select
    check_options(options)
    if options.backend not in BACKENDS:
        raise ConfigError(f"select.backend={options.backend}: choose one of {', '.join(BACKENDS)}.")
    if options.backend == "azureml":
        selection, result = _select_sweep(cfg)
    else:
        selection, result = _select_run(cfg)
    if options.output:
        from resume_ner.checkpoints import write_json

        out = Path(options.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result)
        print(f"Choice: {out}")
    return selection


def _select_run(cfg: DictConfig) -> tuple[Selection, dict[str, Any]]:
    """The best run of an MLflow experiment or study, registered in MLflow on request."""
    from mlflow import MlflowClient

    options = cfg.select
    client = MlflowClient(store_uri(cfg.tracking))
    selection = select_best(
        client,
        experiment=options.experiment or cfg.tracking.experiment_name,
        parent_run=options.parent_run,
        metric=options.metric,
        goal=options.goal,
        states=list(options.states),
    )
    print(format_selection(selection))
    result = selection.to_json()
    if options.register:
        registration = register_champion(client, selection, options.model_name)
        result["registered"] = asdict(registration)
        print(
            f"Registered {registration.name} version {registration.version}, alias "
            f"{registration.alias} (models:/{registration.name}@{registration.alias}), "
            f"from {registration.source}"
        )
    return selection, result


def _select_sweep(cfg: DictConfig) -> tuple[Selection, dict[str, Any]]:
    """The best trial of an Azure ML sweep job, registered as an Azure ML model on request."""
    from resume_ner.azure import selection as sweeps
    from resume_ner.azure.workspace import azure_errors, connect

    options = cfg.select
    sweeps.check_azure_options(cfg)
    with azure_errors("connect to the Azure ML workspace"):
        client = connect(cfg.env)
    job = sweeps.get_sweep(client, options.sweep)
    objective = sweeps.sweep_objective(job, options.metric, options.goal)
    selection, summaries = sweeps.rank_trials(
        client, job, objective, check_states(options.states), select_best
    )
    print(format_selection(selection))
    print(f"  best values: {' '.join(f'{k}={v:.6g}' for k, v in summaries.items()) or '-'}")
    print(f"  checkpoint: {sweeps.checkpoint_path(selection.winner.run_id)}")
    result = {**selection.to_json(), "sweep": options.sweep, "winner_metrics": summaries}
    if options.register:
        registration = sweeps.register_checkpoint(client, selection, options.model_name)
        result["registered"] = {**asdict(registration), "reference": registration.reference}
        print(
            f"Registered {registration.name} version {registration.version} from "
            f"{registration.path}: convert it with checkpoint={registration.reference}"
        )
    return selection, result


def main() -> None:
    run_hydra(select_task, "select")


if __name__ == "__main__":
    main()

"""One trial: its config, a run of the training seam that reports each epoch to the study
and stops where the early-termination policy says, and its outcome told to Optuna and
MLflow.

A trial's per-epoch objective is reported as an Optuna intermediate value (the curve the
policies compare) and logged by training to its MLflow run under exactly the key
`hpo.objective.metric` names; the run is a child of the study's run (tag
`mlflow.parentRunId`) and carries the trial's state as the tag `hpo.trial_state` (MLflow's
statuses have no "pruned").
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from resume_ner.hpo.study import ABANDONED, RETRY_OF, StudySpec

log = logging.getLogger(__name__)

TRIAL_STATE_TAG = "hpo.trial_state"


def trial_overrides(spec: StudySpec, params: dict[str, Any], run_dir: Path) -> list[str]:
    """The trial's overrides: the study's, then one per sampled dimension, then where it
    writes and what it may not change (fixed epochs, no time budget)."""
    from resume_ner.hpo.dimension import Dimension

    dims = {d["name"]: Dimension(**d) for d in spec.dimensions}
    sampled = [dims[name].override(value) for name, value in params.items()]
    fixed = [f"training.output_dir={run_dir / 'checkpoint'}", "training.resume=auto"]
    if spec.threads_per_worker:
        fixed.append(f"training.num_threads={spec.threads_per_worker}")
    return [*spec.overrides, *sampled, *fixed]


def _curves(study: Any, number: int) -> tuple[list[float], list[list[float]]]:
    """The trial's own curve and those of every other trial, in epoch order; an abandoned
    trial is left out (its retry carries its curve on)."""
    own: list[float] = []
    others = []
    for trial in study.get_trials(deepcopy=False):
        if trial.system_attrs.get(ABANDONED):
            continue
        values = trial.intermediate_values
        curve = [values[step] for step in sorted(values)]
        if trial.number == number:
            own = curve
        elif curve:
            others.append(curve)
    return own, others


class EpochReporter:
    """The on_epoch of a trial: report the objective, then ask the policy and the clock."""

    def __init__(self, study: Any, trial: Any, spec: StudySpec, started: float) -> None:
        from resume_ner.hpo.policies import Policy

        self.study, self.trial, self.spec, self.started = study, trial, spec, started
        self.policy = Policy(**spec.policy)

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        from resume_ner.hpo.policies import stop_reason
        from resume_ner.train.run import StopTraining

        self.trial.report(metrics[self.spec.metric], epoch)
        if self.policy.kind != "none":  # stop_reason itself knows the intervals it applies at
            own, others = _curves(self.study, self.trial.number)
            reason = stop_reason(self.policy, self.spec.maximize, own, others)
            if reason:
                raise StopTraining(f"pruned: {reason}")
        timeout = self.spec.trial_timeout
        if timeout and time.time() - self.started > timeout:
            raise StopTraining(f"trial_timeout: over hpo.limits.trial_timeout={timeout:g} s")
        return False


def _copy_curve(study: Any, trial: Any) -> None:
    """A retried trial starts with the curve of the one it redoes (training resumes there)."""
    origin = trial.user_attrs.get(RETRY_OF)
    if origin is None:
        return
    for old in study.get_trials(deepcopy=False):
        if old.number == origin:
            for step, value in sorted(old.intermediate_values.items()):
                trial.report(value, step)


def run_trial(study: Any, trial: Any, spec: StudySpec) -> tuple[str, float | None, str]:
    """Train one trial and tell the study; (state, objective, message)."""
    from optuna.trial import TrialState

    from resume_ner.config.compose import compose_train
    from resume_ner.train.run import train

    origin = trial.user_attrs.get(RETRY_OF, trial.number)
    run_dir = spec.trial_dir(origin)
    run_dir.mkdir(parents=True, exist_ok=True)
    _copy_curve(study, trial)
    reporter = EpochReporter(study, trial, spec, time.time())
    try:
        cfg = compose_train(trial_overrides(spec, trial.params, run_dir))
        _tag_as_trial(cfg, spec, trial)
        result = train(cfg, on_epoch=reporter, run_dir=run_dir)
    except Exception as error:  # a user error or a crash: the trial failed, the study goes on
        message = f"{type(error).__name__}: {error}"
        trial.set_user_attr("error", message[:2000])
        study.tell(trial, state=TrialState.FAIL)
        _finish_mlflow(spec, run_dir, "FAIL")
        return "FAIL", None, message
    # A finished trial's attributes can no longer be written: set them, then tell.
    trial.set_user_attr("checkpoint", str(result.checkpoint))
    trial.set_user_attr("mlflow_run_id", result.mlflow_run_id)
    if result.stop_reason and result.stop_reason.startswith("trial_timeout"):
        trial.set_user_attr("error", result.stop_reason)
        state = "FAIL"
    elif result.stop_reason:
        trial.set_user_attr("pruned_reason", result.stop_reason)
        state = "PRUNED"
    else:
        state = "COMPLETE" if result.objective is not None else "FAIL"
    if state == "COMPLETE":
        study.tell(trial, result.objective)
    else:
        study.tell(trial, state=getattr(TrialState, state))
    _finish_mlflow(spec, run_dir, state, result.mlflow_run_id)
    return state, result.objective, result.stop_reason or ""


def _tag_as_trial(cfg: Any, spec: StudySpec, trial: Any) -> None:
    """The trial's MLflow run: a child of the study's run, named and tagged as a trial."""
    from omegaconf import open_dict

    with open_dict(cfg):
        tags = cfg.tracking.tags
        if spec.parent_run_id:
            tags["mlflow.parentRunId"] = spec.parent_run_id
        tags["hpo.study"] = spec.study_name
        tags["hpo.trial_number"] = str(trial.number)
        tags[TRIAL_STATE_TAG] = "RUNNING"
        cfg.tracking.run_name = f"{spec.study_name}-trial-{trial.number}"


def _finish_mlflow(spec: StudySpec, run_dir: Path, state: str, run_id: str | None = None) -> None:
    """Record the trial's final state on its MLflow run and in its manifest."""
    from resume_ner.checkpoints import MANIFEST, update_manifest

    manifest_path = run_dir / "checkpoint" / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        run_id = run_id or manifest.get("mlflow_run_id")
        update_manifest(run_dir / "checkpoint", hpo_trial_state=state)
    if not run_id or not spec.extra.get("tracking_uri"):
        return
    try:
        from mlflow import MlflowClient

        MlflowClient(spec.extra["tracking_uri"]).set_tag(run_id, TRIAL_STATE_TAG, state)
    except Exception as error:  # the trial's outcome is in the study already
        log.warning("hpo: could not tag MLflow run %s as %s: %s", run_id, state, error)

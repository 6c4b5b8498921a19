"""What a study leaves: its best trial (printed, written as YAML and JSON, logged on the
study's MLflow run), Optuna's plots as HTML, and no more trial checkpoints than asked."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from resume_ner.hpo.study import ABANDONED, RETRY_OF

log = logging.getLogger(__name__)

FINISHED = ("COMPLETE", "PRUNED")
PLOTS = {
    "optimization_history": "plot_optimization_history",
    "param_importances": "plot_param_importances",
    "parallel_coordinate": "plot_parallel_coordinate",
    "intermediate_values": "plot_intermediate_values",
}


def best_value(trial: Any, maximize: bool) -> float | None:
    """A trial's best objective: its value, else the best of its reported epochs."""
    if trial.value is not None and trial.state.name == "COMPLETE":
        return float(trial.value)
    values = list(trial.intermediate_values.values())
    if not values:
        return None
    return float(max(values) if maximize else min(values))


def ranked(trials: list[Any], maximize: bool) -> list[tuple[float, Any]]:
    """Finished trials (complete or pruned: a pruned trial keeps its best checkpoint) by
    their best objective, best first."""
    scored = [
        (value, t)
        for t in trials
        if t.state.name in FINISHED and (value := best_value(t, maximize)) is not None
    ]
    return sorted(scored, key=lambda pair: pair[0], reverse=maximize)


def best_trial_summary(study: Any, metric: str, maximize: bool) -> dict[str, Any] | None:
    """The best trial's number, state, params, objective, checkpoint and MLflow run id."""
    order = ranked(study.get_trials(deepcopy=False), maximize)
    if not order:
        return None
    value, trial = order[0]
    return {
        "study": study.study_name,
        "trial": trial.number,
        "state": trial.state.name,
        "metric": metric,
        "goal": "maximize" if maximize else "minimize",
        "objective": value,
        "params": dict(trial.params),
        "checkpoint": trial.user_attrs.get("checkpoint"),
        "mlflow_run_id": trial.user_attrs.get("mlflow_run_id"),
    }


def write_summary(summary: dict[str, Any], folder: Path) -> list[Path]:
    """best_trial.yaml and best_trial.json in `folder`."""
    from omegaconf import OmegaConf

    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / "best_trial.json"
    as_json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    as_yaml = folder / "best_trial.yaml"
    as_yaml.write_text(OmegaConf.to_yaml(OmegaConf.create(summary)), encoding="utf-8")
    return [as_yaml, as_json]


def write_plots(study: Any, folder: Path) -> list[Path]:
    """Optuna's plots of the study as HTML files (those its trials allow)."""
    import optuna.visualization as vis

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in PLOTS.items():
        try:
            figure = getattr(vis, function)(study)
        except Exception as error:  # e.g. importances need two finished trials
            log.info("hpo: no %s plot: %s", name, error)
            continue
        path = folder / f"{name}.html"
        figure.write_html(str(path), include_plotlyjs="cdn")
        written.append(path)
    return written


def keep_best_checkpoints(study: Any, keep: int, maximize: bool, trial_dir: Any) -> list[int]:
    """Delete the checkpoints of finished trials outside the best `keep`; their numbers."""
    order = [t for _, t in ranked(study.get_trials(deepcopy=False), maximize)]
    kept = {t.number for t in order[:keep]}
    removed = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name not in (*FINISHED, "FAIL") or trial.number in kept:
            continue
        if trial.system_attrs.get(ABANDONED):  # its retry trains on in the same folder
            continue
        checkpoint = Path(trial_dir(trial.user_attrs.get(RETRY_OF, trial.number))) / "checkpoint"
        if checkpoint.is_dir() and (checkpoint / "model.safetensors").exists():
            # The manifest and metrics stay: what the trial did is still on record.
            for item in checkpoint.iterdir():
                if item.name not in ("manifest.json", "metrics.json"):
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
            removed.append(trial.number)
    return removed

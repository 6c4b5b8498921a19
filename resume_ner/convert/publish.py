"""Log a package to MLflow and, when asked, register it as a model version.

The package goes into a run of its own, linked to the training run by the tag
`source_run_id` (the checkpoint's manifest names it): the training run stays as it ended,
and a checkpoint converted twice (other recipes, another opset) gives two runs side by
side. Inside an Azure ML job (MLFLOW_RUN_ID set) the job's own run is used. Registration
adds a version of convert.model_name, a registered model of its own (the torch checkpoint's
name holds checkpoints; this one holds packages), and points convert.alias at it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("resume_ner.convert")

ARTIFACT_PATH = "package"


def run_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's figures as flat MLflow metrics (convert_int8_micro_f1, ...)."""
    metrics: dict[str, float] = {}
    for model, figures in report["models"].items():
        for key, value in figures.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[f"convert_{model}_{key}"] = float(value)
    for name, size in report["sizes_bytes"].items():
        metrics[f"convert_size_mb_{name.replace('.', '_')}"] = size / 2**20
    return metrics


def publish(cfg: Any, package: Path, report: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """Log `package` (and its figures) to MLflow; register it when convert.register is set.
    Returns (run id, the registration or None)."""
    from omegaconf import OmegaConf

    from resume_ner.model_registry import register_version
    from resume_ner.train.tracking import Tracker

    tracking = OmegaConf.to_container(cfg.tracking, resolve=True)
    source = report["source"]
    tracking["run_name"] = (
        tracking.get("run_name") or f"convert-{Path(source['checkpoint']).parent.name}"
    )
    with Tracker(tracking, base_dir=Path.cwd()) as tracker:
        tracker.set_tags(
            {
                "resume_ner.kind": "conversion",
                "source_run_id": source.get("mlflow_run_id") or "",
                "source_checkpoint": source["checkpoint"],
                "int8_recipe": report["int8_recipe"],
            }
        )
        tracker.log_params(
            {
                "checkpoint": source["ref"],
                "int8_recipe": report["int8_recipe"],
                "recipes_tried": ",".join(report["int8_recipes"]),
                **{f"settings.{k}": v for k, v in report["settings"].items()},
                **{f"thresholds.{k}": v for k, v in report["thresholds"].items()},
            }
        )
        tracker.log_metrics(run_metrics(report))
        tracker.log_artifacts(package, ARTIFACT_PATH)
        run_id = tracker.run_id
        registered = None
        if cfg.register:
            import mlflow

            artifact_uri = mlflow.get_run(run_id).info.artifact_uri
            registration = register_version(
                tracker.client,
                cfg.model_name,
                f"{artifact_uri.rstrip('/')}/{ARTIFACT_PATH}",
                run_id=run_id,
                alias=cfg.alias,
                tags={
                    "int8_recipe": report["int8_recipe"],
                    "int8_micro_f1": str(report["models"]["int8"]["micro_f1"]),
                    "source_run_id": source.get("mlflow_run_id") or "",
                },
                description=f"ONNX package of {source['checkpoint']}",
                setting="convert.model_name",
            )
            registered = {
                "name": registration.name,
                "version": registration.version,
                "alias": registration.alias,
                "source": registration.source,
            }
            print(
                f"Registered {registration.name} version {registration.version}, alias "
                f"{registration.alias} (models:/{registration.name}@{registration.alias})"
            )
        print(f"MLflow: run {run_id} ({tracker.ui_hint()})")
    return run_id, registered

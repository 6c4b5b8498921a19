"""The Hydra task function of `python -m resume_ner.train`: a few lines around the stage.

Only config handling happens at import time: torch, transformers and mlflow are imported
inside `train_task`, so `--cfg job` and `--help` stay fast.
"""

from __future__ import annotations

from omegaconf import DictConfig

from resume_ner.cli import run_dir, run_hydra, task_overrides


def train_task(cfg: DictConfig) -> float | None:
    """Train once; return the objective so any Hydra sweeper can optimise it."""
    from resume_ner.train.run import train

    return train(cfg, run_dir=run_dir(), overrides=task_overrides()).objective


def main() -> None:
    run_hydra(train_task, "train")

"""The train config composed outside a Hydra app: for scripts and tests."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from resume_ner.config.checks import check_config
from resume_ner.config.registry import register_configs
from resume_ner.paths import config_dir


def compose_train(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/train.yaml with `overrides`, validated against the schemas and checked as the
    CLI does."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    check_config(cfg)
    return cfg

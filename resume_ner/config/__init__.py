"""Structured configs and their registration in Hydra's ConfigStore."""

from resume_ner.config.registry import register_configs

__all__ = ["register_configs"]

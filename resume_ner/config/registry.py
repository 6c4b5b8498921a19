"""Registers the schema dataclasses with Hydra so conf/*.yaml are validated against them."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from resume_ner.config import schema

# primary-config name -> schema registered under "<name>_schema"
PRIMARY_SCHEMAS = {
    "train": schema.TrainConfig,
    "data_cli": schema.DataCliConfig,
    "predict": schema.PredictConfig,
    "evaluate": schema.EvaluateConfig,
    "select": schema.SelectConfig,
    "convert": schema.ConvertConfig,
    "service": schema.ServiceConfig,
}

_registered = False


def register_configs() -> None:
    """Store every schema once; safe to call from each entrypoint."""
    global _registered
    if _registered:
        return
    store = ConfigStore.instance()
    for name, node in PRIMARY_SCHEMAS.items():
        store.store(name=f"{name}_schema", node=node)
    # The project's plugins register hydra/sweeper=resume_ner and hydra/launcher=azureml on
    # import; importing them here makes conf/train.yaml compose wherever Hydra's plugin scan
    # has not run yet.
    import hydra_plugins.resume_ner_launcher.azureml_launcher
    import hydra_plugins.resume_ner_launcher.sweeper  # noqa: F401

    _registered = True

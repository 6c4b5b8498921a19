"""Registering a model version in the MLflow model registry and pointing an alias at it.

Used by `resume_ner.select` (a torch checkpoint) and `resume_ner.convert` (an ONNX package):
one place that creates the registered model when new, adds the version and moves the alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resume_ner.errors import ConfigError, TrackingError


@dataclass(frozen=True)
class Registration:
    """A registered model version and the alias that now points at it."""

    name: str
    version: str
    alias: str
    source: str


def register_version(
    client: Any,
    name: str,
    source: str,
    *,
    run_id: str,
    alias: str,
    tags: dict[str, str],
    description: str,
    setting: str,
) -> Registration:
    """Add `source` as a new version of `name` and point `alias` at it.

    setting: the config key that named the model (select.model_name, convert.model_name),
    for the error when the registry refuses the name.
    """
    from mlflow.exceptions import MlflowException

    try:
        _ensure_registered_model(client, name)
        version = client.create_model_version(
            name=name, source=source, run_id=run_id, tags=tags, description=description
        )
        client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as error:
        if "invalid model name" in error.message.lower():
            raise ConfigError(f"{setting}={name}: {error.message}") from None
        raise TrackingError(
            f"registering {source} as {name!r} in {client.tracking_uri} failed: {error.message}"
        ) from None
    return Registration(name, str(version.version), alias, source)


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise

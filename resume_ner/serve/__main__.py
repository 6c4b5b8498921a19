"""`python -m resume_ner.serve model=PKG [serve.port=8000 serve.precision=fp32 ...]`: the web
service on a converted package (also `resume-ner-serve`).

Hydra composes conf/service.yaml (the `serve` group: resume_ner/config/schema.py ServeConfig;
`model=` sets serve.model)
and is done before the first request: the app it starts imports neither Hydra nor torch. A
model that cannot be loaded, a port in use or an API-key variable that is not set stops the
start with one `error:` line and exit status 2.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from resume_ner.cli import run_hydra
from resume_ner.errors import ConfigError
from resume_ner.predictor import ONNX_MODELS


def check_settings(settings: Any) -> None:
    """Refuse settings the service cannot run with, naming the key."""
    if settings.precision not in ONNX_MODELS:
        raise ConfigError(
            f"serve.precision={settings.precision}: choose one of {', '.join(ONNX_MODELS)}"
        )
    for key in ("max_chars", "max_texts", "batch_size", "forward_size", "queue_size"):
        if int(getattr(settings, key)) < 1:
            raise ConfigError(f"serve.{key}={getattr(settings, key)}: give a positive number")
    if settings.batch_wait_ms < 0 or settings.drain_seconds < 0:
        raise ConfigError("serve.batch_wait_ms and serve.drain_seconds cannot be negative")
    if settings.threads is not None and int(settings.threads) < 1:
        raise ConfigError(f"serve.threads={settings.threads}: give a positive number, or null")


def api_key(variable: str | None) -> str | None:
    """The API key from the variable serve.api_key_env names (None: no key configured)."""
    if not variable:
        return None
    key = os.environ.get(variable, "")
    if not key.strip():
        raise ConfigError(
            f"serve.api_key_env={variable}: the variable {variable} is not set or empty; "
            f"export {variable}=<the key>, or set serve.api_key_env=null to serve without one"
        )
    return key


def check_port(host: str, port: int) -> None:
    """Fail now, in one line, when the address cannot be bound (rather than in uvicorn)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"serve.host={host} serve.port={port}: cannot listen there ({error.strerror}); "
                f"pick another port (serve.port=...) or stop what holds it"
            ) from None


def serve_task(cfg: DictConfig) -> None:
    """Load the package, then serve it until interrupted."""
    from resume_ner.serve.app import Served, create_app
    from resume_ner.serve.loading import load_predictor, resolve_package

    settings = OmegaConf.to_object(cfg.serve)  # a ServeConfig: no OmegaConf at request time
    check_settings(settings)
    key = api_key(settings.api_key_env)
    check_port(settings.host, settings.port)
    folder, version = resolve_package(settings.model, cfg.tracking.uri)
    predictor = load_predictor(folder, settings.precision, settings.threads, settings.forward_size)
    source = predictor.package.manifest.get("source", {})
    served = Served(
        predictor=predictor,
        name=settings.model if str(settings.model).startswith("models:/") else folder.name,
        version=version,
        precision=settings.precision,
        source_run=source.get("mlflow_run_id"),
        source_checkpoint=source.get("checkpoint"),
        format_version=predictor.package.manifest.get("format_version"),
    )
    import uvicorn

    print(
        f"serving {folder} ({settings.precision}) on http://{settings.host}:{settings.port}",
        flush=True,
    )
    uvicorn.run(
        create_app(served, settings, key),
        host=settings.host,
        port=settings.port,
        access_log=False,  # the app writes one JSON line per request
        timeout_graceful_shutdown=int(settings.drain_seconds) or None,
        log_level="info",
    )


def model_argument(argv: list[str]) -> list[str]:
    """`model=X` as serve.model=X: conf/model/ is a config group (the training encoders), so
    Hydra would take a bare `model=` for a choice of that group."""
    return [f"serve.{arg}" if arg.startswith("model=") else arg for arg in argv]


def main() -> None:
    run_hydra(serve_task, "service", model_argument(sys.argv[1:]))


if __name__ == "__main__":
    main()

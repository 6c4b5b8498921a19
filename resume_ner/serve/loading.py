"""The package the service answers with: a folder, or a registered version
(`models:/<name>@<alias>`, `models:/<name>/<version>`) read in place when its artifacts are
local, else downloaded into the checkpoint cache. Anything else stops the start with one
message saying what to give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resume_ner.errors import CheckpointError, ConfigError

FIX = (
    "give model=<a package folder> (`python -m resume_ner.convert checkpoint=... "
    "output=PKG` writes one) or model=models:/<name>@<alias> (`convert register=true`)"
)


def resolve_package(ref: str | None, tracking_uri: str | None = None) -> tuple[Path, str | None]:
    """The package folder `ref` names, and its registered version when it is one."""
    from resume_ner.convert.package import is_package

    if not ref:
        raise ConfigError(f"model is not set: {FIX}")
    text = str(ref).strip()
    if text.startswith("models:/"):
        return _registered(text, tracking_uri)
    folder = Path(text).expanduser()
    if not folder.exists():
        raise CheckpointError(f"model={text}: no such folder ({folder.resolve()}); {FIX}")
    if not is_package(folder):
        raise CheckpointError(
            f"model={text}: {folder.resolve()} is not a converted package (no package.json of "
            f"format resume-ner-onnx-package); {FIX}"
        )
    return folder.resolve(), None


def _registered(ref: str, tracking_uri: str | None) -> tuple[Path, str]:
    """The folder of a registered package version (downloaded when its store is remote)."""
    from resume_ner.convert import discovery
    from resume_ner.convert.package import is_package

    match = discovery.MODEL_REF.match(ref)
    if not match:
        raise ConfigError(f"model={ref}: write models:/<name>@<alias> or models:/<name>/<version>")
    client = discovery.open_store(tracking_uri)
    version = discovery.model_version(
        client, ref, match["name"], match["alias"], match["version"], setting="model"
    )
    source = str(version.source)
    search = discovery.Search(ref)
    local = discovery.local_path(source)
    folder = (
        local
        if local is not None
        else discovery.download(source, search, str(client.tracking_uri), complete=is_package)
    )
    if folder is None or not is_package(folder):
        where = "; ".join(f"{w}: {why}" for w, why in search.looked) or str(folder)
        raise CheckpointError(
            f"model={ref}: version {version.version} of {match['name']!r} is not a converted "
            f"package ({where}); register packages with `python -m resume_ner.convert "
            f"register=true`"
        )
    return Path(folder).resolve(), str(version.version)


def load_predictor(folder: Path, precision: str, threads: int | None, forward_size: int = 4) -> Any:
    """The torch-free Predictor on the package's int8 or fp32 model; its forwards take at
    most `forward_size` windows of similar length."""
    from resume_ner.predictor import Predictor

    return Predictor(folder, onnx_model=precision, threads=threads, batch_size=forward_size)

"""The converted-model package: one folder that predict, evaluate and the service load.

Layout (written by `write_package` at the end of a conversion, read by `read_package`):

    package/
      package.json             format, format version, creation time, model files, graph
                               inputs, and where it came from (checkpoint, MLflow run)
      model.onnx               fp32 ONNX graph
      model.int8.onnx          int8 ONNX graph
      tokenizer.json ...       the checkpoint's tokenizer, as save_pretrained writes it
      config.json              the checkpoint's model config (labels, word classes)
      label_map.json           the checkpoint's decoding settings (id2label, windows,
                               word_features, span_conventions, min_span_score)
      conversion_report.json   what the conversion measured (resume_ner.convert.pipeline)

Reading a package needs neither torch, Hydra nor OmegaConf; transformers only to load its
tokenizer. Only JSON and ONNX are ever read: no pickles.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resume_ner.checkpoints import (
    LABEL_MAP,
    InferenceBundle,
    bundle_from_label_map,
    read_inference_bundle,
    read_json,
)
from resume_ner.convert.phases import ConversionError
from resume_ner.errors import CheckpointError

FORMAT = "resume-ner-onnx-package"
FORMAT_VERSION = 1
MANIFEST = "package.json"
REPORT = "conversion_report.json"
MODEL_CONFIG = "config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}

_RECONVERT = "Re-run the conversion (python -m resume_ner.convert checkpoint=...) to rewrite it."


def is_package(folder: str | Path) -> bool:
    """Whether `folder` is a package (holds package.json), not a checkpoint."""
    return (Path(folder).expanduser() / MANIFEST).is_file()


@dataclass
class Package:
    """A package read back: the decoding settings, its models and what its files say."""

    folder: Path
    bundle: InferenceBundle  # bundle.folder is the package folder
    models: dict[str, Path]  # "fp32" / "int8" -> the ONNX file
    manifest: dict[str, Any]
    report: dict[str, Any]


# --------------------------------------------------------------------------- writing


def write_package(
    out: str | Path,
    *,
    checkpoint: str | Path,
    models: dict[str, Path],
    report: dict,
    source: dict,
) -> Path:
    """Write the package of `checkpoint` and its ONNX `models` ({"fp32", "int8"}) to `out`.

    Built in a temporary sibling folder and moved into place only when whole: a failed
    conversion never leaves half a package, nor removes an older one at `out`.
    """
    out = Path(out).expanduser().absolute()
    _check_models(models)
    check_target(out)
    bundle = read_inference_bundle(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-", dir=out.parent))
    try:
        _fill(work, bundle, models, report, source)
        _swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


def _check_models(models: dict[str, Path]) -> None:
    """Exactly the fp32 and the int8 model, each an existing file."""
    if set(models) != set(MODEL_FILES):
        raise ConversionError(
            f"write_package needs the models {sorted(MODEL_FILES)}, got {sorted(models)}; "
            f"pass both the fp32 export and the int8 model"
        )
    absent = [f"{name}: {path}" for name, path in models.items() if not Path(path).is_file()]
    if absent:
        raise ConversionError(
            f"cannot package models that do not exist ({'; '.join(absent)}); the export or "
            f"quantization did not write them"
        )


def check_target(out: Path) -> None:
    """Refuse to replace anything but an empty folder or an older package."""
    if out.exists() and not out.is_dir():
        raise ConversionError(
            f"convert output={out} is a file, not a folder; name a new folder for the package"
        )
    if out.is_dir() and any(out.iterdir()) and not is_package(out):
        raise ConversionError(
            f"convert output={out} is a folder that holds other files and no {MANIFEST}: it "
            f"is not a package, and it is left untouched. Name a new or empty folder (or an "
            f"earlier package, which is replaced)"
        )


def _fill(
    work: Path, bundle: InferenceBundle, models: dict[str, Path], report: dict, source: dict
) -> None:
    """Write every file of the package into `work`, the manifest last."""
    from resume_ner.convert.export import input_names
    from resume_ner.tokenizer import load_tokenizer

    for name, path in models.items():
        shutil.copyfile(path, work / MODEL_FILES[name])
    # Re-saved rather than copied file by file: exactly what the tokenizer needs, whatever
    # the model family (tokenizer.json, vocab or spm files, the special tokens).
    load_tokenizer(str(bundle.folder)).save_pretrained(str(work))
    for name in (LABEL_MAP, MODEL_CONFIG):
        shutil.copyfile(bundle.folder / name, work / name)
    _write_json(work / REPORT, report)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": dict(MODEL_FILES),
        "inputs": input_names(bundle.word_features),
        "source": source,
    }
    _write_json(work / MANIFEST, manifest)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def _swap_into_place(work: Path, out: Path) -> None:
    """Move the finished package to `out`; an older one there is removed only afterwards."""
    if not out.exists():
        os.replace(work, out)
        return
    # A folder cannot be renamed onto a non-empty one: set the old one aside first, and put
    # it back if the new one cannot take its place.
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
    os.replace(out, old)  # onto the empty folder mkdtemp made
    try:
        os.replace(work, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- reading


def read_package(folder: str | Path) -> Package:
    """Check a package folder is whole and of a known format, and read it."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint={folder}: no such folder. Pass a package folder a conversion wrote "
            f"(python -m resume_ner.convert prints it at its end) or a checkpoint folder."
        )
    manifest = _read_manifest(path)
    models = _model_files(path, manifest)
    missing = [
        name
        for name in [*models.values(), LABEL_MAP, MODEL_CONFIG, TOKENIZER_CONFIG]
        if not (path / name).is_file()
    ]
    if missing:
        raise CheckpointError(
            f"the package {path} is incomplete (missing: {', '.join(missing)}). {_RECONVERT}"
        )
    bundle = bundle_from_label_map(path, folder, fix=_RECONVERT)
    _check_inputs(path, manifest, bundle)
    return Package(
        folder=bundle.folder,
        bundle=bundle,
        models={name: bundle.folder / file for name, file in models.items()},
        manifest=manifest,
        report=_read_report(path),
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    """package.json, checked to be of this format and of a version this code reads."""
    file = path / MANIFEST
    garbled = f"{file} is missing or garbled"
    try:
        manifest = read_json(file)
    except (OSError, ValueError) as error:
        message = f"{garbled} ({type(error).__name__}: {error}). {_RECONVERT}"
        raise CheckpointError(message) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise CheckpointError(
            f"{file} is not a resume-ner package manifest (format {found!r}, expected "
            f"{FORMAT!r}). {_RECONVERT}"
        )
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{garbled} (format_version {version!r}). {_RECONVERT}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"the package {path} was written by a newer resume-ner (format version {version}; "
            f"this one reads up to {FORMAT_VERSION}): upgrade resume-ner"
        )
    return manifest


def _model_files(path: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """package.json's models: name -> a file name inside the package (never a path out)."""
    models = manifest.get("models")
    if (
        not isinstance(models, dict)
        or not models
        or not all(isinstance(v, str) and v and Path(v).name == v for v in models.values())
    ):
        raise CheckpointError(
            f"{path / MANIFEST} is missing or garbled (models {models!r}: expected file names "
            f"such as {MODEL_FILES}). {_RECONVERT}"
        )
    return {str(name): file for name, file in models.items()}


def _check_inputs(path: Path, manifest: dict[str, Any], bundle: InferenceBundle) -> None:
    """The graphs take token_type_ids exactly when the label map says the model reads word
    classes: otherwise every prediction would fail (or silently ignore them)."""
    from resume_ner.convert.export import input_names

    expected = input_names(bundle.word_features)
    if manifest.get("inputs", expected) != expected:
        raise CheckpointError(
            f"the package {path} is inconsistent: {MANIFEST} says its models take "
            f"{manifest.get('inputs')} but {LABEL_MAP} (word_features="
            f"{bundle.word_features}) needs {expected}. {_RECONVERT}"
        )


def _read_report(path: Path) -> dict[str, Any]:
    """conversion_report.json; {} when absent (it is informative, not needed to predict)."""
    file = path / REPORT
    if not file.is_file():
        return {}
    try:
        report = read_json(file)
    except ValueError as error:
        raise CheckpointError(f"{file} is garbled ({error}). {_RECONVERT}") from error
    return report if isinstance(report, dict) else {}

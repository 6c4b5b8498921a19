"""The checkpoint folder: where it is, what it holds, and reading it back for inference.

Layout (written by training, read by predict, evaluate, convert and serve):

    checkpoint/
      manifest.json          written when the run starts, updated every epoch
      model.safetensors      the best model by the objective, with config.json
      tokenizer.json ...     tokenizer files
      label_map.json         id2label, the window settings used in training, and the
                             span conventions learned from its annotations
      metrics.json           best-epoch metrics and the per-epoch history
      resolved_config.yaml   the full config of the run
      validation_set.jsonl   the validation documents (spaCy JSONL): conversion's parity set
      training_state/        the last completed epoch, for resuming (safetensors + JSON)

Only safetensors and JSON are ever read: no pickles.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resume_ner.decoding import check_min_span_score
from resume_ner.errors import CheckpointError
from resume_ner.span_conventions import SpanConventions

AZURE_OUTPUT_ENV = "AZURE_ML_OUTPUT_checkpoint"
MANIFEST = "manifest.json"
LABEL_MAP = "label_map.json"
METRICS = "metrics.json"
RESOLVED_CONFIG = "resolved_config.yaml"
STATE_DIR = "training_state"
VALIDATION_SET = "validation_set.jsonl"


def checkpoint_dir(output_dir: str | None, run_dir: Path) -> Path:
    """$AZURE_ML_OUTPUT_checkpoint, else training.output_dir, else <run dir>/checkpoint."""
    chosen = os.environ.get(AZURE_OUTPUT_ENV) or output_dir
    return Path(chosen).expanduser().resolve() if chosen else run_dir / "checkpoint"


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (a reader never sees half a file, even after kill -9)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def update_manifest(folder: Path, **fields: Any) -> dict:
    """Create or update manifest.json; it exists from the first second of a run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    manifest = read_json(path) if path.is_file() else {"created": time.time()}
    manifest.update(fields, updated=time.time())
    write_json(path, manifest)
    return manifest


@dataclass
class InferenceBundle:
    """What inference needs from a checkpoint."""

    folder: Path
    id2label: dict[int, str]
    max_length: int
    stride: int
    word_features: bool = False  # the model reads word classes as token_type_ids
    # Learned in training (resume_ner.span_conventions). Checkpoints written before them
    # have none, and decode as they were validated.
    conventions: SpanConventions = field(default_factory=SpanConventions)
    # Spans scoring under it are dropped (training.min_span_score); 0 for older checkpoints.
    min_span_score: float = 0.0

    @property
    def labels(self) -> list[str]:
        """The entity labels the model predicts (its tags without B-/I-), sorted."""
        return sorted({tag[2:] for tag in self.id2label.values() if tag != "O"})


def read_inference_bundle(folder: str | Path) -> InferenceBundle:
    """Check a checkpoint folder holds a trained model and read its label map and windows."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint={folder}: no such folder. Pass the checkpoint/ folder a training "
            f"run printed at its end (e.g. outputs/<date>/<time>/checkpoint)."
        )
    missing = [
        n for n in ("model.safetensors", "config.json", LABEL_MAP) if not (path / n).is_file()
    ]
    if missing:
        status = ""
        if (path / MANIFEST).is_file():
            manifest = read_json(path / MANIFEST)
            status = f" The manifest says the run is '{manifest.get('status', 'unknown')}'"
            status += f" after {manifest.get('epochs_completed', 0)} completed epoch(s)."
        raise CheckpointError(
            f"checkpoint={folder} holds no trained model yet (missing: "
            f"{', '.join(missing)}).{status} Finish or resume the training run (rerun the "
            f"same command) first."
        )
    return bundle_from_label_map(path, folder)


def bundle_from_label_map(
    path: Path,
    folder: str | Path,
    fix: str = "Restore the file from the run that wrote it, or retrain.",
) -> InferenceBundle:
    """The InferenceBundle of the label_map.json in `path` (a checkpoint's, or a converted
    package's); folder: as the user named it, for messages; fix: what to do if malformed."""
    try:
        label_map = read_json(path / LABEL_MAP)
        word_features = bool(label_map.get("word_features", False))
    except (ValueError, AttributeError) as exc:  # not JSON, or not an object
        raise _malformed(path, exc, fix) from exc
    if word_features:
        _check_word_classes(path, folder)
    try:
        return InferenceBundle(
            folder=path.resolve(),
            id2label={int(k): v for k, v in label_map["id2label"].items()},
            max_length=int(label_map["max_length"]),
            stride=int(label_map["stride"]),
            word_features=word_features,
            conventions=SpanConventions.from_json(label_map.get("span_conventions", {})),
            min_span_score=check_min_span_score(
                label_map.get("min_span_score", 0.0), "min_span_score"
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _malformed(path, exc, fix) from exc


def _malformed(path: Path, exc: Exception, fix: str) -> CheckpointError:
    return CheckpointError(
        f"{path / LABEL_MAP} is malformed ({type(exc).__name__}: {exc}); training writes "
        f"id2label, max_length, stride, word_features, span_conventions and "
        f"min_span_score there. {fix}"
    )


def _check_word_classes(path: Path, folder: str | Path) -> None:
    """A model trained on another set of word classes would read every class id wrongly."""
    from resume_ner.word_features import NUM_CLASSES

    classes = read_json(path / "config.json").get("type_vocab_size")
    if classes != NUM_CLASSES:
        raise CheckpointError(
            f"checkpoint={folder} was trained with {classes} word classes (config.json "
            f"type_vocab_size) but this version of resume-ner has {NUM_CLASSES} (letter "
            f"case x line position). Retrain it with this version, or use the version that "
            f"trained it."
        )

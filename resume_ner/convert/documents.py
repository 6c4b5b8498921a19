"""The documents a conversion runs on: the parity set that checks it and the windows that
static quantization calibrates on.

The parity set is data.path when set; else the validation documents training recorded in
the checkpoint (validation_set.jsonl); else, for checkpoints written before that, the
validation split of the checkpoint's own data config. Calibration uses windows of the
training documents when that config can be read here, else of the parity set.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from resume_ner.convert.parity import ParitySet
from resume_ner.convert.phases import ConversionError

log = logging.getLogger("resume_ner.convert")


def parity_set_of(cfg: Any, checkpoint: Path, labels: set[str]) -> ParitySet:
    """data.path when set; else the validation documents recorded in the checkpoint; else
    the validation split of the checkpoint's own data config (older checkpoints)."""
    from resume_ner.checkpoints import RESOLVED_CONFIG, VALIDATION_SET
    from resume_ner.data.load import load_inputs, load_splits
    from resume_ner.data.report import ValidationReport

    if cfg.data.path or cfg.data.train_path:
        inputs = load_inputs(cfg.data, ValidationReport())
        documents = [doc for docs in inputs.values() for doc in docs]
        return ParitySet.of(documents, labels, f"data.path={cfg.data.path or cfg.data.train_path}")
    recorded = checkpoint / VALIDATION_SET
    if recorded.is_file():
        documents = _read_spacy(recorded)
        return ParitySet.of(documents, labels, f"the checkpoint's validation set ({recorded})")
    data_cfg = _training_data_config(checkpoint)
    if data_cfg is not None:
        try:
            documents = load_splits(data_cfg).val
        except Exception as error:  # a path of another machine: say so and how to fix it
            raise ConversionError(
                f"the checkpoint records no {VALIDATION_SET} and its training data cannot be "
                f"read here ({type(error).__name__}: {error}); give the parity set with "
                f"data.path=FILE (any annotated file; data.format=... if not detected)"
            ) from error
        return ParitySet.of(
            documents, labels, f"the validation split of {checkpoint / RESOLVED_CONFIG}"
        )
    raise ConversionError(
        f"{checkpoint} records no validation set ({VALIDATION_SET} or {RESOLVED_CONFIG}); give "
        f"the parity set with data.path=FILE"
    )


def _read_spacy(path: Path) -> list[Any]:
    from omegaconf import OmegaConf

    from resume_ner.config.schema import DataConfig
    from resume_ner.data.load import load_documents
    from resume_ner.data.report import ValidationReport

    data_cfg = OmegaConf.structured(DataConfig(name="validation_set", path=str(path)))
    data_cfg.format = "spacy"
    return load_documents(path, data_cfg, ValidationReport(), setting="validation set")


def _training_data_config(checkpoint: Path) -> Any | None:
    from omegaconf import OmegaConf

    from resume_ner.checkpoints import RESOLVED_CONFIG

    path = checkpoint / RESOLVED_CONFIG
    if not path.is_file():
        return None
    return OmegaConf.load(path).get("data")


def calibration_batches(
    cfg: Any, checkpoint: Path, bundle: Any, tokenizer: Any, parity_set: ParitySet
) -> Any:
    """A callable giving calibration batches: windows of the training documents when the
    checkpoint's data config can be read here, else of the parity set (noted in the log)."""
    limit = int(cfg.quantize.calibration_windows)

    def batches() -> list[dict]:
        import random

        from resume_ner.inference import pad_batch, padding_id
        from resume_ner.windows import build_windows

        texts, source = _training_texts(checkpoint)
        if not texts:
            texts, source = parity_set.texts, f"the parity set ({parity_set.source})"
        _, windows = build_windows(
            tokenizer,
            texts,
            bundle.max_length,
            bundle.stride,
            label2id=None,
            word_features=bundle.word_features,
        )
        windows = random.Random(0).sample(windows, min(limit, len(windows)))
        log.info("calibrating on %d windows of %s", len(windows), source)
        pad = padding_id(tokenizer)
        return [pad_batch(windows[at : at + 8], pad) for at in range(0, len(windows), 8)]

    return batches


def _training_texts(checkpoint: Path) -> tuple[list[str], str]:
    from resume_ner.data.load import load_splits

    data_cfg = _training_data_config(checkpoint)
    if data_cfg is None:
        return [], ""
    try:
        return [doc.text for doc in load_splits(data_cfg).train], "the training documents"
    except Exception as error:  # elsewhere than where it trained: fall back, say why
        log.info("the training documents cannot be read here (%s)", error)
        return [], ""

"""Building and loading token-classification models: safetensors only, no remote code."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch

from resume_ner.errors import ConfigError

log = logging.getLogger(__name__)

# The same knob has different names across architectures (BERT / DistilBERT / DeBERTa).
_DROPOUT_NAMES = {
    "attention_dropout": ("attention_probs_dropout_prob", "attention_dropout"),
    "hidden_dropout": ("hidden_dropout_prob", "dropout"),
    "classifier_dropout": ("classifier_dropout",),
}


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16/fp16 on CUDA by default, none (fp32) on CPU unless asked."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise ConfigError(f"training.precision={precision}: use auto, bf16, fp16 or fp32")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected here
    hf_logging.disable_progress_bar()  # per-file load/save bars drown the epoch bars


def build_model(
    source: str,
    id2label: dict[int, str],
    model_cfg: Any,
    revision: str | None = None,
) -> torch.nn.Module:
    """A pretrained encoder with a fresh token-classification head for our labels."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    _quiet_transformers()
    config = AutoConfig.from_pretrained(
        source,
        revision=revision,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        trust_remote_code=False,
    )
    for knob, names in _DROPOUT_NAMES.items():
        value = getattr(model_cfg, knob, None)
        if value is None:
            continue
        for name in names:
            if hasattr(config, name):
                setattr(config, name, float(value))
    return AutoModelForTokenClassification.from_pretrained(
        source,
        config=config,
        revision=revision,
        use_safetensors=True,
        trust_remote_code=False,
        attn_implementation=model_cfg.attn_implementation,
    )


def set_head_prior(model: torch.nn.Module, windows: list, num_labels: int) -> bool:
    """Set the token-classification head's bias to the log-frequency of each tag.

    A fresh head predicts every tag alike; starting from the tag prior (mostly O) spares the
    first steps learning it and the encoder the large gradients they send back.
    """
    head = getattr(model, "classifier", None)
    bias = getattr(head, "bias", None)
    if bias is None or bias.shape[0] != num_labels:
        return False
    counts = torch.ones(num_labels)  # add-one: a tag absent from the windows keeps a chance
    for window in windows:
        labels = torch.as_tensor(window.labels)
        counts += torch.bincount(labels[labels >= 0], minlength=num_labels)[:num_labels]
    with torch.no_grad():
        bias.copy_((counts / counts.sum()).log().to(bias))
    return True


def load_trained(
    folder: str | Path, device: torch.device, attn_implementation: str | None = None
) -> torch.nn.Module:
    """A fine-tuned model from a checkpoint folder, in eval mode on `device`
    (attn_implementation: None keeps the one the checkpoint's config names)."""
    from transformers import AutoModelForTokenClassification

    _quiet_transformers()
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForTokenClassification.from_pretrained(
        str(folder), use_safetensors=True, trust_remote_code=False, **extra
    )
    return model.to(device).eval()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_forward(model: torch.nn.Module, device: torch.device, dtype: torch.dtype | None):
    """A numpy-in, numpy-out forward for resume_ner.inference (no grad, autocast)."""
    import numpy as np

    def forward(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode(), autocast(device, dtype):
            logits = model(
                **{name: torch.as_tensor(array, device=device) for name, array in inputs.items()}
            ).logits
        return logits.float().cpu().numpy()

    return forward

"""Parity of a conversion: the same documents through PyTorch, fp32 ONNX and int8 ONNX.

Every backend's windows come from one `build_windows` call and are decoded by the shared
`decode_documents`, exactly as evaluation and the service do, so differences are the
models' own. Measured per backend: entity micro/macro F1 against the gold spans, token
argmax agreement with PyTorch and the largest absolute logit difference (over content
tokens, padding excluded), and milliseconds per window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resume_ner.checkpoints import InferenceBundle
from resume_ner.convert.phases import ConversionError
from resume_ner.inference import Forward, decode_documents, padding_id, softmax, window_logits
from resume_ner.windows import build_windows

REFERENCE = "torch"


class ParityError(ConversionError):
    """A converted model disagrees with PyTorch beyond the configured thresholds."""


@dataclass
class Thresholds:
    """What a conversion must meet (convert.parity)."""

    min_argmax_agreement: float = 0.999  # fp32 ONNX vs PyTorch, share of content tokens
    max_int8_f1_loss: float = 1.0  # entity micro F1, in points (x100) below PyTorch's


@dataclass
class BackendResult:
    """One backend's measurement on the parity set."""

    name: str
    scores: dict[str, Any]
    ms_per_window: float
    argmax_agreement: float = 1.0  # with the reference
    max_abs_logit_diff: float = 0.0
    f1_loss_points: float = 0.0  # reference micro F1 minus this one's, x100

    def to_json(self) -> dict[str, Any]:
        return {
            "micro_f1": round(float(self.scores["f1"]), 4),
            "macro_f1": round(float(self.scores["macro-f1"]), 4),
            "precision": round(float(self.scores["precision"]), 4),
            "recall": round(float(self.scores["recall"]), 4),
            "f1_loss_points": round(self.f1_loss_points, 2),
            "argmax_agreement": round(self.argmax_agreement, 6),
            "max_abs_logit_diff": float(f"{self.max_abs_logit_diff:.3g}"),
            "ms_per_window": round(self.ms_per_window, 2),
        }


@dataclass
class ParitySet:
    """The documents a conversion is checked on, their gold spans and where they came from."""

    texts: list[str]
    gold: list[list[Any]]
    source: str
    set_aside: dict[str, int] = field(default_factory=dict)  # gold labels the model lacks

    @classmethod
    def of(cls, documents: Sequence[Any], labels: set[str], source: str) -> ParitySet:
        """Gold spans of labels the model never learnt are set aside (and counted), as in
        resume_ner.evaluate: they cannot be predicted."""
        from resume_ner.train.metrics import known_gold

        if not documents:
            raise ConversionError(f"the parity set ({source}) holds no documents")
        gold, unknown = known_gold(documents, labels)
        texts = [d.text for d in documents]
        return cls(texts=texts, gold=gold, source=source, set_aside=dict(unknown))


def measure(
    parity_set: ParitySet,
    tokenizer: Any,
    bundle: InferenceBundle,
    forwards: Mapping[str, Callable[[], Forward]],
    batch_size: int,
) -> dict[str, BackendResult]:
    """Run each forward over the parity set's windows; the first is the reference.

    forwards: name -> a function that loads that model's forward. Each is loaded when its
    turn comes and dropped after it, so one model (and one ONNX Runtime session) is in
    memory at a time besides the reference's logits.
    """
    from resume_ner.train.metrics import entity_scores

    encodings, windows = build_windows(
        tokenizer,
        parity_set.texts,
        bundle.max_length,
        bundle.stride,
        label2id=None,
        word_features=bundle.word_features,
    )
    pad = padding_id(tokenizer)
    results: dict[str, BackendResult] = {}
    reference: list[np.ndarray] | None = None
    for name, load in forwards.items():
        forward = load()
        window_logits(windows[:1], forward, pad, 1)  # warm-up: first-run allocations
        start = time.perf_counter()
        logits = window_logits(windows, forward, pad, batch_size)
        seconds = time.perf_counter() - start
        spans = decode_documents(
            parity_set.texts,
            encodings,
            windows,
            [softmax(item) for item in logits],
            bundle.id2label,
            bundle.conventions,
            bundle.min_span_score,
        )
        result = BackendResult(
            name, entity_scores(parity_set.gold, spans), 1000 * seconds / max(1, len(windows))
        )
        if reference is None:
            reference = logits
        else:
            result.argmax_agreement, result.max_abs_logit_diff = compare_logits(reference, logits)
        results[name] = result
        del forward
    first = next(iter(results.values()))
    for result in results.values():
        result.f1_loss_points = 100 * (float(first.scores["f1"]) - float(result.scores["f1"]))
    return results


def compare_logits(
    reference: Sequence[np.ndarray], other: Sequence[np.ndarray]
) -> tuple[float, float]:
    """(share of tokens with the same argmax, largest absolute logit difference)."""
    ref = np.concatenate([np.asarray(item) for item in reference])
    got = np.concatenate([np.asarray(item) for item in other])
    if ref.size == 0:
        return 1.0, 0.0
    agreement = float((ref.argmax(-1) == got.argmax(-1)).mean())
    return agreement, float(np.abs(ref - got).max())


def choose_int8(
    results: Mapping[str, BackendResult], candidates: Sequence[str], max_loss: float
) -> tuple[str, bool]:
    """The first candidate (in preference order) within `max_loss` points of micro F1, else
    the one losing least; and whether it is within the budget."""
    for name in candidates:
        if results[name].f1_loss_points <= max_loss + 1e-9:
            return name, True
    best = min(candidates, key=lambda name: results[name].f1_loss_points)
    return best, False


def failed_checks(
    results: Mapping[str, BackendResult], fp32: str, int8: str, thresholds: Thresholds
) -> list[str]:
    """Each threshold the conversion misses, in words; empty when it passes."""
    failures = []
    agreement = results[fp32].argmax_agreement
    if agreement < thresholds.min_argmax_agreement:
        failures.append(
            f"fp32 ONNX agrees with PyTorch on {100 * agreement:.3f}% of token argmaxes, below "
            f"convert.parity.min_argmax_agreement={thresholds.min_argmax_agreement} "
            f"(largest logit difference {results[fp32].max_abs_logit_diff:.3g})"
        )
    loss = results[int8].f1_loss_points
    if loss > thresholds.max_int8_f1_loss + 1e-9:
        failures.append(
            f"int8 ONNX ({int8}) loses {loss:.2f} points of micro F1 against PyTorch, above "
            f"convert.parity.max_int8_f1_loss={thresholds.max_int8_f1_loss}"
        )
    return failures


def format_table(results: Mapping[str, BackendResult]) -> str:
    """The side-by-side table printed at the end of a conversion."""
    width = max(len("model"), *(len(name) for name in results))
    header = f"{'model':<{width}} {'micro F1':>8} {'macro F1':>8} {'loss':>6} {'argmax':>9} "
    header += f"{'max |dlogit|':>12} {'ms/window':>9}"
    lines = [header]
    for name, result in results.items():
        row = result.to_json()
        lines.append(
            f"{name:<{width}} {row['micro_f1']:>8.4f} {row['macro_f1']:>8.4f} "
            f"{row['f1_loss_points']:>6.2f} {100 * row['argmax_agreement']:>8.3f}% "
            f"{row['max_abs_logit_diff']:>12.3g} {row['ms_per_window']:>9.2f}"
        )
    return "\n".join(lines)

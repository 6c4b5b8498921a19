"""Entity-level scores: exact character-span matching on whole documents.

A predicted entity counts as correct only when a gold entity of the same document has the
same start, the same (exclusive) end and the same label. That is seqeval's *strict* IOB2
mode lifted from token positions to character offsets, so on the same entities the numbers
are identical to `seqeval.metrics.classification_report(..., mode="strict", scheme=IOB2)`:

* per label: precision = tp / predicted, recall = tp / gold, f1 = 2PR / (P + R); a zero
  denominator scores 0 (seqeval's ``zero_division="warn"``);
* micro: the same three from the counts summed over labels;
* macro-f1: the unweighted mean of the per-label F1 over every label seen in the gold *or*
  the predictions (a label only predicted scores 0 and still counts; with no label at all
  seqeval's mean is undefined and this module reports 0.0).

Scoring whole documents, not windows, means an entity split by a window boundary is judged
once, as the decoder reassembled it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class SpanLike(Protocol):
    start: int
    end: int
    label: str


def _keys(spans: Iterable[SpanLike]) -> set[tuple[int, int, str]]:
    return {(int(s.start), int(s.end), str(s.label)) for s in spans}


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _divide(2 * precision * recall, precision + recall)


def known_gold(documents: Sequence[Any], labels: Iterable[str]) -> tuple[list[list[Any]], Counter]:
    """Each document's gold spans of the labels the model knows, and a count of the others.

    A label the model never learnt cannot be predicted: its spans are set aside and named
    (evaluate, conversion parity, benchmarks), not silently scored as misses.
    """
    known = set(labels)
    unknown = Counter(s.label for d in documents for s in d.spans if s.label not in known)
    return [[s for s in d.spans if s.label in known] for d in documents], unknown


def entity_scores(
    gold: Sequence[Iterable[SpanLike]], pred: Sequence[Iterable[SpanLike]]
) -> dict[str, Any]:
    """Micro and macro entity scores of `pred` against `gold`, one list of spans per document.

    Returns ``{"precision", "recall", "f1", "macro-f1", "support", "per_label"}`` where
    ``per_label`` maps each label (sorted) to ``{"precision", "recall", "f1", "support"}``
    and ``support`` counts gold entities. Duplicate spans within a document count once.
    """
    if len(gold) != len(pred):
        raise ValueError(
            f"gold has {len(gold)} documents but pred has {len(pred)}; score the same documents"
        )
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for gold_spans, pred_spans in zip(gold, pred, strict=True):
        gold_keys = _keys(gold_spans)
        pred_keys = _keys(pred_spans)
        n_gold.update(label for _, _, label in gold_keys)
        n_pred.update(label for _, _, label in pred_keys)
        tp.update(label for _, _, label in gold_keys & pred_keys)

    per_label: dict[str, dict[str, float | int]] = {}
    for label in sorted(set(n_gold) | set(n_pred)):
        precision = _divide(tp[label], n_pred[label])
        recall = _divide(tp[label], n_gold[label])
        per_label[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": n_gold[label],
        }

    total_tp, total_gold, total_pred = sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())
    precision = _divide(total_tp, total_pred)
    recall = _divide(total_tp, total_gold)
    macro_f1 = sum(row["f1"] for row in per_label.values()) / len(per_label) if per_label else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "macro-f1": macro_f1,
        "support": total_gold,
        "per_label": per_label,
    }


def document_counts(
    gold: Sequence[Iterable[SpanLike]], pred: Sequence[Iterable[SpanLike]]
) -> list[dict[str, int]]:
    """Per document: gold, predicted and correct entity counts (for a bootstrap over
    documents, scripts/compare_evaluations.py); their sums give entity_scores' micro P/R."""
    counts = []
    for gold_spans, pred_spans in zip(gold, pred, strict=True):
        gold_keys, pred_keys = _keys(gold_spans), _keys(pred_spans)
        counts.append(
            {
                "gold": len(gold_keys),
                "predicted": len(pred_keys),
                "correct": len(gold_keys & pred_keys),
            }
        )
    return counts


def error_kinds(
    gold: Sequence[Iterable[SpanLike]], pred: Sequence[Iterable[SpanLike]]
) -> dict[str, dict[str, int]]:
    """What went wrong, by kind and label, to tell boundary errors from invented entities.

    A wrong prediction is `boundary` when it overlaps a gold span of its label (a fragment
    or an overrun), `label` when it overlaps only gold spans of other labels, `spurious`
    when it overlaps no gold span. A gold span not predicted exactly is `partly_found` when
    some prediction overlaps it, else `missed`. Returns {kind: {label: count}}.
    """
    kinds: dict[str, Counter[str]] = {
        k: Counter() for k in ("boundary", "label", "spurious", "partly_found", "missed")
    }
    for gold_spans, pred_spans in zip(gold, pred, strict=True):
        gold_keys, pred_keys = _keys(gold_spans), _keys(pred_spans)
        for start, end, label in pred_keys - gold_keys:
            overlapping = {g[2] for g in gold_keys if g[0] < end and start < g[1]}
            kind = (
                "spurious" if not overlapping else "boundary" if label in overlapping else "label"
            )
            kinds[kind][label] += 1
        for start, end, label in gold_keys - pred_keys:
            found = any(p[0] < end and start < p[1] for p in pred_keys)
            kinds["partly_found" if found else "missed"][label] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in kinds.items()}


def slugify(label: str) -> str:
    """An MLflow-safe metric-name fragment: "Companies worked at" -> "companies_worked_at"."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _label_slugs(labels: Iterable[str]) -> dict[str, str]:
    """Distinct slugs for distinct labels (a numeric suffix resolves collisions)."""
    slugs: dict[str, str] = {}
    used: set[str] = set()
    for label in sorted(labels):
        base = slugify(label) or "label"
        slug, n = base, 2
        while slug in used:
            slug, n = f"{base}_{n}", n + 1
        used.add(slug)
        slugs[label] = slug
    return slugs


def flat_metrics(scores: dict[str, Any], prefix: str = "val_") -> dict[str, float]:
    """`entity_scores` as flat, MLflow-safe metric names.

    ``{prefix}precision``, ``{prefix}recall``, ``{prefix}f1``, ``{prefix}macro-f1`` and, per
    label, ``{prefix}precision_<slug>``, ``{prefix}recall_<slug>``, ``{prefix}f1_<slug>``.
    """
    flat = {
        f"{prefix}{key}": float(scores[key]) for key in ("precision", "recall", "f1", "macro-f1")
    }
    per_label = scores.get("per_label", {})
    for label, slug in _label_slugs(per_label).items():
        for key in ("precision", "recall", "f1"):
            flat[f"{prefix}{key}_{slug}"] = float(per_label[label][key])
    return flat


def format_table(scores: dict[str, Any], digits: int = 4) -> str:
    """A per-label table (precision, recall, f1, support) with micro and macro rows."""
    per_label = scores.get("per_label", {})
    rows = [
        (label, row["precision"], row["recall"], row["f1"], row["support"])
        for label, row in per_label.items()
    ]
    macro_p = sum(r[1] for r in rows) / len(rows) if rows else 0.0
    macro_r = sum(r[2] for r in rows) / len(rows) if rows else 0.0
    summary = [
        ("micro avg", scores["precision"], scores["recall"], scores["f1"], scores["support"]),
        ("macro avg", macro_p, macro_r, scores["macro-f1"], scores["support"]),
    ]
    width = max([len(r[0]) for r in rows + summary] + [5])
    num = max(digits + 2, 9)
    header = f"{'label':<{width}}  {'precision':>{num}}  {'recall':>{num}}  {'f1':>{num}}  support"
    lines = [header, "-" * len(header)]

    def line(row: tuple) -> str:
        label, p, r, f, support = row
        values = "  ".join(f"{v:>{num}.{digits}f}" for v in (p, r, f))
        return f"{label:<{width}}  {values}  {support:>7}"

    lines += [line(r) for r in rows]
    if rows:
        lines.append("-" * len(header))
    lines += [line(r) for r in summary]
    return "\n".join(lines)

"""`python -m resume_ner.evaluate checkpoint=DIR data.path=FILE [data.format=...]`.

Scores a checkpoint on annotated documents with the metrics of training (exact character
spans, whole documents, the shared windowing and decoding): JSON in the run directory and
a per-label table on stdout.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig

from resume_ner.cli import UsageError, reporting_user_errors, run_dir, run_hydra

RESULT_FILE = "evaluation.json"


@reporting_user_errors
def evaluate_task(cfg: DictConfig) -> float:
    """Evaluate and return the micro F1."""
    if not cfg.checkpoint:
        raise UsageError("evaluate needs checkpoint=DIR (the checkpoint/ folder of a run)")
    from resume_ner.checkpoints import write_json
    from resume_ner.data.document import Span
    from resume_ner.data.load import load_inputs
    from resume_ner.data.report import ValidationReport
    from resume_ner.predictor import Predictor, min_span_score_override
    from resume_ner.train.metrics import (
        document_counts,
        entity_scores,
        error_kinds,
        format_table,
    )

    predictor = Predictor(
        cfg.checkpoint, cfg.device, cfg.batch_size, min_span_score=min_span_score_override(cfg)
    )
    report = ValidationReport()
    documents = [d for docs in load_inputs(cfg.data, report).values() for d in docs]
    if not documents:
        raise UsageError(f"data.path={cfg.data.path} holds no documents to evaluate")
    # Gold labels the model never learnt cannot be predicted: they are set aside and named,
    # not silently scored as misses (map them with data.label_map to count them).
    known = set(predictor.labels)
    unknown = Counter(s.label for d in documents for s in d.spans if s.label not in known)
    gold: list[list[Span]] = [[s for s in d.spans if s.label in known] for d in documents]
    predictions = predictor.predict([d.text for d in documents])
    scores = entity_scores(gold, predictions)
    errors = error_kinds(gold, predictions)
    result = {
        "checkpoint": str(predictor.bundle.folder),
        "data": cfg.data.path or cfg.data.train_path,
        "documents": len(documents),
        "unknown_gold_labels": dict(unknown),
        "validation": report.to_json(),
        **scores,
        "errors": errors,
        # in input order, for scripts/compare_evaluations.py (the hash tells it whether
        # two evaluations scored the same documents)
        "per_document": [
            {"text_sha256": hashlib.sha256(d.text.encode()).hexdigest()[:16], **counts}
            for d, counts in zip(documents, document_counts(gold, predictions), strict=True)
        ],
    }
    out = Path(cfg.output) if cfg.output else run_dir() / RESULT_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(format_table(scores))
    print(
        f"\n{len(documents)} documents: precision {scores['precision']:.4f} recall "
        f"{scores['recall']:.4f} f1 {scores['f1']:.4f} macro-f1 {scores['macro-f1']:.4f}"
    )
    total = {kind: sum(counts.values()) for kind, counts in errors.items()}
    print(
        f"Wrong predictions: {total['boundary']} with a boundary off, {total['label']} with "
        f"the wrong label, {total['spurious']} overlapping no gold span; gold spans "
        f"{total['partly_found']} partly found, {total['missed']} missed (by label: "
        f'"errors" in the JSON)'
    )
    if unknown:
        names = ", ".join(f"{k} ({v})" for k, v in sorted(unknown.items()))
        print(f"Set aside gold spans with labels the model does not know: {names}")
    print(f"Metrics: {out}")
    return float(scores["f1"])


def main() -> None:
    run_hydra(evaluate_task, "evaluate")


if __name__ == "__main__":
    main()

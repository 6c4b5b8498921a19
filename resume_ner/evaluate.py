"""`python -m resume_ner.evaluate checkpoint=DIR data.path=FILE [data.format=...]`.

checkpoint: a training run's checkpoint folder (PyTorch), or a package folder written by
`python -m resume_ner.convert` (ONNX Runtime on the CPU; onnx_model=int8|fp32 picks its
model, threads= its intra-op threads); "backend" in the JSON says which ran.

Scores a checkpoint on annotated documents with the metrics of training (exact character
spans, whole documents, the shared windowing and decoding): JSON in the run directory and
a per-label table on stdout. `min_span_score_sweep=[0.5,0.7]` also scores other span-score
floors from the same predictions.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from resume_ner.cli import run_dir, run_hydra
from resume_ner.errors import ConfigError

RESULT_FILE = "evaluation.json"


def evaluate_task(cfg: DictConfig) -> float:
    """Evaluate and return the micro F1."""
    if not cfg.checkpoint:
        raise ConfigError(
            "evaluate needs checkpoint=DIR: the checkpoint/ folder of a run, or a package "
            "folder written by python -m resume_ner.convert"
        )
    from resume_ner.checkpoints import write_json
    from resume_ner.data.load import load_inputs
    from resume_ner.data.report import ValidationReport
    from resume_ner.predictor import Predictor, min_span_score_override, min_span_score_sweep
    from resume_ner.train.metrics import (
        document_counts,
        entity_scores,
        error_kinds,
        format_table,
        known_gold,
    )

    sweep = min_span_score_sweep(cfg)
    override = min_span_score_override(cfg)
    # Decode once, then finish the spans (the floor, then the repeats: the decoder's last
    # steps) at this run's floor and at each floor of the sweep, as predicting at each would.
    predictor = Predictor(
        cfg.checkpoint,
        cfg.device,
        cfg.batch_size,
        onnx_model=cfg.onnx_model,
        threads=cfg.threads,
    )
    floor = predictor.bundle.min_span_score if override is None else override
    report = ValidationReport()
    documents = [d for docs in load_inputs(cfg.data, report).values() for d in docs]
    if not documents:
        raise ConfigError(f"data.path={cfg.data.path} holds no documents to evaluate")
    # Gold labels the model never learnt are set aside and named (map them with
    # data.label_map to count them).
    gold, unknown = known_gold(documents, predictor.labels)
    texts = [d.text for d in documents]
    unfinished = predictor.predict(texts, finish=False)
    conventions = predictor.bundle.conventions
    predictions = _finished(texts, unfinished, conventions, floor)
    scores = entity_scores(gold, predictions)
    errors = error_kinds(gold, predictions)
    result = {
        "checkpoint": str(predictor.bundle.folder),
        "backend": predictor.backend,
        "data": cfg.data.path or cfg.data.train_path,
        "documents": len(documents),
        "unknown_gold_labels": dict(unknown),
        "validation": report.to_json(),
        "min_span_score": floor,
        **scores,
        "errors": errors,
        # in input order, for scripts/compare_evaluations.py (the hash tells it whether
        # two evaluations scored the same documents)
        "per_document": [
            {"text_sha256": hashlib.sha256(d.text.encode()).hexdigest()[:16], **counts}
            for d, counts in zip(documents, document_counts(gold, predictions), strict=True)
        ],
    }
    if sweep:
        result["min_span_score_sweep"] = [
            _floor_row(value, gold, _finished(texts, unfinished, conventions, value))
            for value in sweep
        ]
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
    if sweep:
        print(f"\nAt other span-score floors (this run's: {floor}):")
        print(_sweep_table(result["min_span_score_sweep"]))
    print(f"Metrics: {out}")
    return float(scores["f1"])


def _finished(
    texts: list[str], unfinished: list[list[Any]], conventions: Any, floor: float
) -> list[list[Any]]:
    from resume_ner.decoding import finish_spans

    return [
        finish_spans(text, spans, conventions, floor)
        for text, spans in zip(texts, unfinished, strict=True)
    ]


def _floor_row(floor: float, gold: list[list[Any]], predictions: list[list[Any]]) -> dict:
    from resume_ner.train.metrics import entity_scores

    scores = entity_scores(gold, predictions)
    return {
        "min_span_score": floor,
        "predicted": sum(len(spans) for spans in predictions),
        **{key: scores[key] for key in ("precision", "recall", "f1", "macro-f1")},
    }


def _sweep_table(rows: list[dict]) -> str:
    header = ("floor", "predicted", "precision", "recall", "f1", "macro-f1")
    lines = [f"{header[0]:>6} " + " ".join(f"{name:>9}" for name in header[1:])]
    for row in rows:
        lines.append(
            f"{row['min_span_score']:>6.2f} {row['predicted']:>9d} {row['precision']:>9.4f} "
            f"{row['recall']:>9.4f} {row['f1']:>9.4f} {row['macro-f1']:>9.4f}"
        )
    return "\n".join(lines)


def main() -> None:
    run_hydra(evaluate_task, "evaluate")


if __name__ == "__main__":
    main()

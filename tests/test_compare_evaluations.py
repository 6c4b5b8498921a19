"""scripts/compare_evaluations.py: micro F1 from per-document counts, a paired bootstrap,
and refusing evaluations of different documents."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from resume_ner.data.document import Span
from resume_ner.train.metrics import document_counts, entity_scores

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_evaluations.py"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"per_document": rows}), encoding="utf-8")
    return path


def _rows(correct: list[int], gold: int = 5, predicted: int = 5) -> list[dict]:
    return [
        {"text_sha256": f"doc{i}", "gold": gold, "predicted": predicted, "correct": c}
        for i, c in enumerate(correct)
    ]


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )


def test_document_counts_add_up_to_the_micro_scores():
    gold = [
        [Span(0, 4, "Name"), Span(10, 14, "Skills")],
        [Span(3, 8, "Degree")],
        [],
    ]
    pred = [
        [Span(0, 4, "Name"), Span(10, 15, "Skills")],
        [Span(3, 8, "Degree"), Span(20, 25, "Degree")],
        [Span(1, 2, "Name")],
    ]
    counts = document_counts(gold, pred)
    assert counts == [
        {"gold": 2, "predicted": 2, "correct": 1},
        {"gold": 1, "predicted": 2, "correct": 1},
        {"gold": 0, "predicted": 1, "correct": 0},
    ]
    scores = entity_scores(gold, pred)
    correct = sum(c["correct"] for c in counts)
    assert scores["precision"] == correct / sum(c["predicted"] for c in counts)
    assert scores["recall"] == correct / sum(c["gold"] for c in counts)


@pytest.mark.slow
def test_identical_evaluations_differ_by_zero(tmp_path):
    rows = _rows([1, 3, 5, 2])
    result = _run(_write(tmp_path / "a.json", rows), _write(tmp_path / "b.json", rows))
    assert result.returncode == 0, result.stderr
    assert "A micro-F1 0.550" in result.stdout  # 2 * 11 / (20 + 20)
    assert "B - A: +0.000, 90% paired bootstrap interval [+0.000, +0.000]" in result.stdout


@pytest.mark.slow
def test_a_better_model_on_every_document_has_an_interval_above_zero(tmp_path):
    a = _write(tmp_path / "a.json", _rows([1, 2, 1, 2, 1, 2]))
    b = _write(tmp_path / "b.json", _rows([2, 5, 3, 4, 2, 5]))
    result = _run(a, b, "--samples", "500")
    assert result.returncode == 0, result.stderr
    # F1 = 2 * correct / (gold + predicted): A 2 * 9 / 60, B 2 * 21 / 60, B - A = 0.4
    assert "B - A: +0.400" in result.stdout
    low, high = map(float, re.search(r"\[([-+.\d]+), ([-+.\d]+)\]", result.stdout).groups())
    assert 0 < low < 0.4 < high


@pytest.mark.slow
def test_refuses_different_documents_or_old_files(tmp_path):
    a = _write(tmp_path / "a.json", _rows([1, 2]))
    other = _rows([1, 2])
    other[1]["text_sha256"] = "another"
    result = _run(a, _write(tmp_path / "b.json", other))
    assert result.returncode == 2
    assert "did not score the same documents" in result.stderr
    (tmp_path / "old.json").write_text(json.dumps({"f1": 0.5}))
    result = _run(a, tmp_path / "old.json")
    assert result.returncode != 0
    assert "has no per-document counts" in result.stderr

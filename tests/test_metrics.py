"""entity_scores agrees with seqeval's strict IOB2 scores on the same entities."""

from __future__ import annotations

import random
import re
import warnings

import pytest

from resume_ner.data.document import Span
from resume_ner.train.metrics import (
    entity_scores,
    error_kinds,
    flat_metrics,
    format_table,
    slugify,
)

seqeval_metrics = pytest.importorskip("seqeval.metrics")
from seqeval.scheme import IOB2  # noqa: E402

LABELS = ["Name", "Skills", "Companies worked at", "Degree"]


def random_tags(rng: random.Random, n: int, labels: list[str]) -> list[str]:
    """A valid IOB2 sequence: random entities (some adjacent, same label included)."""
    tags: list[str] = []
    while len(tags) < n:
        if rng.random() < 0.45:
            tags.append("O")
            continue
        label = rng.choice(labels)
        length = min(rng.randint(1, 4), n - len(tags))
        tags += [f"B-{label}"] + [f"I-{label}"] * (length - 1)
    return tags


def perturb(rng: random.Random, tags: list[str], labels: list[str]) -> list[str]:
    """A prediction near the gold: mostly right, some boundaries/labels/entities wrong."""
    if rng.random() < 0.3:
        return random_tags(rng, len(tags), labels)
    out = list(tags)
    for i in range(len(out)):
        r = rng.random()
        if r < 0.05:
            out[i] = "O"
        elif r < 0.10:
            out[i] = f"B-{rng.choice(labels)}"
    # Repair to valid IOB2: an I- must continue an entity of the same label.
    for i, tag in enumerate(out):
        if tag.startswith("I-") and (i == 0 or out[i - 1] == "O" or out[i - 1][2:] != tag[2:]):
            out[i] = "B-" + tag[2:]
    return out


def tags_to_spans(tags: list[str]) -> list[Span]:
    """Token-index spans (exclusive end) of a valid IOB2 sequence."""
    spans: list[Span] = []
    start = label = None
    for i, tag in enumerate([*tags, "O"]):
        if tag == "O" or tag.startswith("B-"):
            if label is not None:
                spans.append(Span(start, i, label))
            start, label = (i, tag[2:]) if tag != "O" else (None, None)
    return spans


def seqeval_scores(y_true: list[list[str]], y_pred: list[list[str]]) -> dict:
    kw = {"mode": "strict", "scheme": IOB2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval_metrics.classification_report(y_true, y_pred, output_dict=True, **kw)
        return {
            "precision": seqeval_metrics.precision_score(y_true, y_pred, **kw),
            "recall": seqeval_metrics.recall_score(y_true, y_pred, **kw),
            "f1": seqeval_metrics.f1_score(y_true, y_pred, **kw),
            "macro-f1": seqeval_metrics.f1_score(y_true, y_pred, average="macro", **kw),
            "report": report,
        }


def assert_agrees(y_true: list[list[str]], y_pred: list[list[str]]) -> dict:
    ours = entity_scores([tags_to_spans(t) for t in y_true], [tags_to_spans(t) for t in y_pred])
    ref = seqeval_scores(y_true, y_pred)
    for key in ("precision", "recall", "f1", "macro-f1"):
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-9), key
    labels = {k for k in ref["report"] if not k.endswith(" avg")}
    assert set(ours["per_label"]) == labels
    for label in labels:
        for key, ref_key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert ours["per_label"][label][key] == pytest.approx(
                ref["report"][label][ref_key], abs=1e-9
            ), (label, key)
        assert ours["per_label"][label]["support"] == ref["report"][label]["support"]
    assert ours["support"] == sum(len(tags_to_spans(t)) for t in y_true)
    return ours


@pytest.mark.parametrize("seed", range(25))
def test_agrees_with_seqeval_strict_iob2(seed: int) -> None:
    rng = random.Random(seed)
    labels = rng.sample(LABELS, rng.randint(1, len(LABELS)))
    y_true, y_pred = [], []
    for _ in range(rng.randint(1, 12)):
        tags = random_tags(rng, rng.randint(1, 40), labels)
        y_true.append(tags)
        y_pred.append(perturb(rng, tags, LABELS))
    assert_agrees(y_true, y_pred)


def test_no_predictions() -> None:
    y_true = [["B-Name", "I-Name", "O", "B-Skills"], ["O", "B-Degree"]]
    ours = assert_agrees(y_true, [["O"] * 4, ["O"] * 2])
    assert ours["precision"] == ours["recall"] == ours["f1"] == ours["macro-f1"] == 0.0
    assert ours["support"] == 3


def test_no_gold() -> None:
    y_pred = [["B-Name", "O", "B-Skills", "I-Skills"]]
    ours = assert_agrees([["O"] * 4], y_pred)
    assert ours["support"] == 0 and ours["f1"] == 0.0
    assert set(ours["per_label"]) == {"Name", "Skills"}


def test_label_only_in_predictions_counts_in_macro() -> None:
    y_true = [["B-Name", "I-Name", "O", "O"]]
    y_pred = [["B-Name", "I-Name", "O", "B-Degree"]]
    ours = assert_agrees(y_true, y_pred)
    assert ours["per_label"]["Name"]["f1"] == 1.0
    assert ours["per_label"]["Degree"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert ours["macro-f1"] == pytest.approx(0.5)


def test_nothing_at_all() -> None:
    ours = entity_scores([[], []], [[], []])
    assert ours["f1"] == ours["macro-f1"] == 0.0 and ours["per_label"] == {}
    assert "micro avg" in format_table(ours)


def test_character_spans_and_scored_predictions() -> None:
    class Predicted:
        def __init__(self, start: int, end: int, label: str, score: float) -> None:
            self.start, self.end, self.label, self.score = start, end, label, score

    gold = [[Span(0, 10, "Name"), Span(20, 31, "Companies worked at")]]
    pred = [[Predicted(0, 10, "Name", 0.9), Predicted(20, 30, "Companies worked at", 0.8)]]
    ours = entity_scores(gold, pred)
    assert ours["per_label"]["Name"]["f1"] == 1.0
    assert ours["per_label"]["Companies worked at"]["f1"] == 0.0  # off by one character
    assert ours["precision"] == ours["recall"] == 0.5


def test_document_count_must_match() -> None:
    with pytest.raises(ValueError, match="documents"):
        entity_scores([[]], [])


def test_flat_metrics_names_are_mlflow_safe() -> None:
    scores = entity_scores(
        [[Span(0, 3, "Companies worked at"), Span(5, 8, "Name")]],
        [[Span(0, 3, "Companies worked at")]],
    )
    flat = flat_metrics(scores)
    assert flat["val_f1"] == scores["f1"]
    assert flat["val_macro-f1"] == scores["macro-f1"]
    assert flat["val_f1_companies_worked_at"] == 1.0
    assert flat["val_recall_name"] == 0.0
    assert all(isinstance(v, float) for v in flat.values())
    # MLflow's rule for metric names: alphanumerics, underscores, dashes, periods, spaces,
    # colons and slashes.
    assert all(re.fullmatch(r"[\w\-. :/]+", name, flags=re.ASCII) for name in flat)
    assert set(flat_metrics(scores, prefix="test_")) == {
        "test_" + k.removeprefix("val_") for k in flat
    }


def test_slugs() -> None:
    assert slugify("Companies worked at") == "companies_worked_at"
    assert slugify("College Name") == "college_name"
    scores = entity_scores([[Span(0, 1, "A-B"), Span(2, 3, "a b")]], [[]])
    assert {"val_f1_a_b", "val_f1_a_b_2"} <= set(flat_metrics(scores))


def test_format_table() -> None:
    scores = entity_scores(
        [[Span(0, 3, "Companies worked at"), Span(5, 8, "Name")]],
        [[Span(0, 3, "Companies worked at"), Span(9, 12, "Name")]],
    )
    table = format_table(scores)
    lines = table.splitlines()
    assert lines[0].split() == ["label", "precision", "recall", "f1", "support"]
    assert any(line.startswith("Companies worked at") and "1.0000" in line for line in lines)
    assert "macro avg" in table and "micro avg" in table


def test_error_kinds_tell_fragments_from_inventions() -> None:
    gold = [
        [Span(0, 12, "Name"), Span(20, 40, "Designation"), Span(50, 60, "Location")],
        [Span(0, 7, "Companies worked at")],
    ]
    pred = [
        [
            Span(0, 12, "Name"),  # right
            Span(20, 28, "Designation"),  # a fragment of the gold title
            Span(30, 40, "Designation"),  # another fragment
            Span(50, 60, "Companies worked at"),  # right place, wrong label
            Span(70, 80, "Skills"),  # overlaps nothing
        ],
        [],
    ]
    assert error_kinds(gold, pred) == {
        "boundary": {"Designation": 2},
        "label": {"Companies worked at": 1},
        "spurious": {"Skills": 1},
        "partly_found": {"Designation": 1, "Location": 1},
        "missed": {"Companies worked at": 1},
    }
    scores = entity_scores(gold, pred)
    wrong = sum(
        sum(kind.values())
        for k, kind in error_kinds(gold, pred).items()
        if k in ("boundary", "label", "spurious")
    )
    assert wrong == round(5 - scores["precision"] * 5)

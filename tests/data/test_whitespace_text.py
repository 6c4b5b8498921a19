"""Annotated text stored with its whitespace runs collapsed: right offsets, kept spans.

Some Label Studio exports write each result's value.text whitespace-normalised (runs of
spaces, tabs and newlines as one space, edges stripped) while start/end are right. Those
spans are kept at their offsets and counted as whitespace_normalised_text, in every reader
whose annotations carry their text; real shifts are still re-anchored, real mismatches
still dropped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resume_ner.data.load import load_documents
from resume_ner.data.raw import RawRecord, RawSpan
from resume_ner.data.repair import (
    RepairOptions,
    normalise_whitespace,
    repair_record,
    same_up_to_whitespace,
)
from resume_ner.data.report import DEFECTS, ValidationReport

KIND = "whitespace_normalised_text"

# Entities with runs of spaces, newlines, tabs and unicode spaces inside them.
RESUME = (
    "Jane   Doe\n"
    "Senior   Software\nEngineer at Acme\t\tCorp\n"
    "Skills: Python,  SQL and Machine\n\n  Learning\n"
    "Based in Pune\u00a0\u2003India\n"
    "Before that: Globex Corp, then Initech.\n"
)
# (entity as it stands in RESUME, label): each annotated with normalised text.
NORMALISED = [
    ("Jane   Doe", "Name"),
    ("Senior   Software\nEngineer", "Designation"),
    ("Acme\t\tCorp", "Companies worked at"),
    ("Python,  SQL", "Skills"),
    ("Machine\n\n  Learning", "Skills"),
    ("Pune\u00a0\u2003India", "Location"),
]


def _offsets(entity: str) -> tuple[int, int]:
    start = RESUME.index(entity)
    return start, start + len(entity)


def _normalised_results() -> list[tuple[int, int, str, str]]:
    """(start, end, value.text, label) for each entity, its text whitespace-normalised."""
    return [(*_offsets(entity), " ".join(entity.split()), label) for entity, label in NORMALISED]


def _shifted_result() -> tuple[int, int, str, str]:
    """Globex Corp with its offsets three characters late: the text is really elsewhere."""
    start, end = _offsets("Globex Corp")
    return start + 3, end + 3, "Globex Corp", "Companies worked at"


def _wrong_result() -> tuple[int, int, str, str]:
    """Initech's offsets with a text the document does not contain anywhere."""
    start, end = _offsets("Initech")
    return start, end, "Umbrella", "Companies worked at"


def _task(text: str, results: list[tuple[int, int, str, str]], task_id: int) -> dict:
    result = [
        {
            "id": f"r{i}",
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "text": t, "labels": [label]},
        }
        for i, (s, e, t, label) in enumerate(results)
    ]
    return {
        "id": task_id,
        "data": {"text": text},
        "annotations": [{"id": task_id, "result": result, "was_cancelled": False}],
    }


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A Label Studio export: the normalised spans, one shifted span, one wrong span."""
    results = [*_normalised_results(), _shifted_result(), _wrong_result()]
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_task(RESUME, results, 1)], indent=2), encoding="utf-8")
    return path


def _counts(report: ValidationReport, defect: str) -> tuple[int, int, int]:
    count = report.defects[defect]
    return count.found, count.repaired, count.dropped


def _load(path: Path, data_cfg, fmt: str) -> tuple[list, ValidationReport]:
    report = ValidationReport()
    documents = load_documents(path, data_cfg(format=fmt), report)
    return documents, report


def test_normalise_whitespace_collapses_unicode_runs_and_strips():
    assert normalise_whitespace("\t Senior \u00a0 Software\n\nEngineer \u2003") == (
        "Senior Software Engineer"
    )
    assert same_up_to_whitespace("Acme\t\tCorp\n", "Acme Corp")
    assert not same_up_to_whitespace("AcmeCorp", "Acme Corp")  # a run is not nothing
    assert not same_up_to_whitespace("Acme Corp", "Acme Co")


def test_labelstudio_normalised_spans_are_kept_at_their_offsets(export, data_cfg):
    [doc], report = _load(export, data_cfg, "labelstudio")
    kept = {(s.start, s.end, s.label) for s in doc.spans}
    for start, end, annotated, label in _normalised_results():
        assert (start, end, label) in kept
        assert normalise_whitespace(doc.text[start:end]) == annotated
    assert _counts(report, KIND) == (len(NORMALISED), len(NORMALISED), 0)
    occurrences = report.defects[KIND].occurrences
    assert all(o.location == f"{export}#0" for o in occurrences)
    assert "'Senior   Software\\nEngineer'" in occurrences[1].detail


def test_real_shifts_are_reanchored_and_real_mismatches_dropped(export, data_cfg):
    [doc], report = _load(export, data_cfg, "labelstudio")
    texts = [(s.text(doc.text), s.label) for s in doc.spans]
    assert ("Globex Corp", "Companies worked at") in texts  # re-anchored to its real place
    assert not any(label == "Companies worked at" and "Initech" in t for t, label in texts)
    # Only the real shift and the real mismatch are shifted_offsets; nothing else is lost.
    assert _counts(report, "shifted_offsets") == (2, 1, 1)
    assert "Umbrella" in report.defects["shifted_offsets"].occurrences[1].detail
    assert report.spans_read == len(NORMALISED) + 2
    assert report.spans_kept == len(NORMALISED) + 1
    assert report.unrepaired() == 1


def test_dataturks_normalised_point_text_with_inclusive_end(write_jsonl, data_cfg):
    start, end = _offsets("Senior   Software\nEngineer")
    record = {
        "content": RESUME,
        "annotation": [
            {
                "label": ["Designation"],
                # DataTurks ends are inclusive: the last character's index.
                "points": [{"start": start, "end": end - 1, "text": "Senior Software Engineer"}],
            }
        ],
    }
    [doc], report = _load(write_jsonl([record], "turks.jsonl"), data_cfg, "dataturks")
    [span] = doc.spans
    assert (span.start, span.end, span.label) == (start, end, "Designation")
    assert _counts(report, KIND) == (1, 1, 0)
    assert _counts(report, "shifted_offsets") == (0, 0, 0)


def test_padded_offsets_are_trimmed_as_usual():
    text = "x\n Jane   Doe \ny"
    report = ValidationReport()
    record = RawRecord(text, [RawSpan(1, 15, ("Name",), "Jane Doe")], "f.json#0")
    doc = repair_record(record, RepairOptions(), report)
    assert [(s.start, s.end) for s in doc.spans] == [(3, 13)]
    assert _counts(report, KIND) == (1, 1, 0)
    assert _counts(report, "edge_whitespace") == (1, 1, 0)


def test_normalised_text_is_kept_even_where_it_occurs_exactly_nearby():
    # The offsets match up to whitespace, so they are right: no move to the exact copy.
    text = "Senior Engineer, formerly Senior  Engineer"
    report = ValidationReport()
    record = RawRecord(text, [RawSpan(26, 42, ("Designation",), "Senior Engineer")], "f#0")
    doc = repair_record(record, RepairOptions(), report)
    assert [(s.start, s.end) for s in doc.spans] == [(26, 42)]
    assert _counts(report, "shifted_offsets") == (0, 0, 0)


def test_normalised_text_that_is_also_shifted_is_reanchored_across_whitespace_runs():
    # Offsets two characters early (e.g. counted in UTF-16 code units after an emoji), and
    # the text normalised: the nearest whitespace-insensitive occurrence is taken.
    text = "\U0001f600 CV\nSenior   Software\nEngineer at Acme"
    start = text.index("Senior")
    report = ValidationReport()
    raw = RawSpan(start - 2, start + 24, ("Designation",), "Senior Software Engineer")
    doc = repair_record(RawRecord(text, [raw], "f#0"), RepairOptions(), report)
    (span,) = doc.spans
    assert text[span.start : span.end] == "Senior   Software\nEngineer"
    assert _counts(report, "shifted_offsets") == (1, 1, 0)


def test_the_new_kind_is_listed_before_shifted_offsets():
    kinds = list(DEFECTS)
    assert kinds.index(KIND) == kinds.index("shifted_offsets") - 1
    assert ValidationReport().to_dict()["defects"][KIND]["found"] == 0


def _many_tasks(count: int) -> list[dict]:
    """A bigger export of the bad shape: every result normalised, plus one real shift each."""
    tasks = []
    for index in range(count):
        text = f"Resume {index}\n" + RESUME
        shift = len(text) - len(RESUME)
        results = [(s + shift, e + shift, t, label) for s, e, t, label in _normalised_results()]
        s, e, t, label = _shifted_result()
        results.append((s + shift, e + shift, t, label))
        tasks.append(_task(text, results, index + 1))
    return tasks


def test_load_documents_keeps_every_span_of_a_normalised_export(tmp_path, data_cfg):
    path = tmp_path / "many.json"
    path.write_text(json.dumps(_many_tasks(20)), encoding="utf-8")
    documents, report = _load(path, data_cfg, "auto")
    assert report.spans_read == 20 * (len(NORMALISED) + 1)
    assert report.spans_kept >= 0.95 * report.spans_read
    assert report.spans_kept == report.spans_read
    assert _counts(report, KIND) == (20 * len(NORMALISED),) * 2 + (0,)
    assert _counts(report, "shifted_offsets") == (20, 20, 0)
    annotated = {t for _, _, t, _ in [*_normalised_results(), _shifted_result()]}
    for doc in documents:
        for span in doc.spans:
            piece = span.text(doc.text)
            assert piece == piece.strip() and normalise_whitespace(piece) in annotated


@pytest.mark.slow
def test_convert_command_keeps_every_span_and_prints_the_kind(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps(_many_tasks(20)), encoding="utf-8")
    output = tmp_path / "clean.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "resume_ner.data",
            "convert",
            f"data.path={path}",
            f"output={output}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    written = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    spans = sum(len(record["entities"]) for record in written)
    assert spans == 20 * (len(NORMALISED) + 1)
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith(KIND))
    assert row[:4] == [KIND, str(20 * len(NORMALISED)), str(20 * len(NORMALISED)), "0"]
    report = json.loads((tmp_path / "run" / "validation.json").read_text(encoding="utf-8"))
    assert report["defects"][KIND]["repaired"] == 20 * len(NORMALISED)
    assert report["spans"] == {"read": spans, "kept": spans}

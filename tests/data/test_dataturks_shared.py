"""The real DataTurks export in ../shared/data: every defect its README lists is reported,
and every repaired span is exactly the text its annotator meant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resume_ner.config.schema import DataConfig
from resume_ner.data.load import load_documents
from resume_ner.data.readers import read_raw
from resume_ner.data.report import ValidationReport

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared/data/dataturks/train.jsonl"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED.is_file(), reason=f"shared DataTurks file absent: {SHARED}"),
]


@pytest.fixture(scope="module")
def loaded():
    cfg = DataConfig(name="dataturks", format="dataturks", label_map={"UNKNOWN": None})
    report = ValidationReport()
    documents = load_documents(SHARED, cfg, report)
    records = {record.location: record for record in read_raw(SHARED, "dataturks")}
    return records, documents, report


def test_every_repaired_span_is_the_annotators_text_under_their_label(loaded):
    records, documents, _ = loaded
    checked = 0
    for doc in documents:
        doc.validate()
        meant = {
            (raw.text.strip(), label) for raw in records[doc.source].spans for label in raw.labels
        }
        for span in doc.spans:
            text = span.text(doc.text)
            assert text == text.strip(), f"{doc.source}: {span} keeps edge whitespace"
            assert (text, span.label) in meant, f"{doc.source}: {span} {text!r} was not annotated"
            checked += 1
    assert checked > 3000


def test_readme_defects_are_reported(loaded):
    records, _, report = loaded
    defects = report.defects
    assert report.documents_read == 200 and report.spans_read == 3208
    # README: "223 spans whose offsets are shifted".
    assert defects["shifted_offsets"].found == 223
    assert defects["shifted_offsets"].repaired >= 215
    # README: "654 spans padded with whitespace at an edge", counted on content[start:end+1].
    # A shifted span's (wrong) slice is re-anchored, not trimmed, so it is not an
    # edge_whitespace defect; together the two account for the README's number.
    padded = [
        (raw, record.text[raw.start : raw.end])
        for record in records.values()
        for raw in record.spans
        if record.text[raw.start : raw.end] != record.text[raw.start : raw.end].strip()
    ]
    assert len(padded) == 654
    padded_and_shifted = sum(piece.strip() != raw.text.strip() for raw, piece in padded)
    assert defects["edge_whitespace"].found + padded_and_shifted == 654
    assert defects["edge_whitespace"].found == defects["edge_whitespace"].repaired
    # README: 87 overlapping pairs (adjacent pairs on the raw offsets); all pairs are counted
    # here, after trimming, re-anchoring and merging exact duplicates.
    assert 80 <= defects["overlapping_spans"].found <= 120
    assert defects["duplicate_span"].found > 0
    # README: "the stray label UNKNOWN", dropped through the dataturks label_map.
    assert report.label_changes["UNKNOWN"].count == 2 and report.label_changes["UNKNOWN"].to is None
    assert "UNKNOWN" not in report.entities
    assert defects["missing_label"].found == 2  # two annotations with "label": []


@pytest.mark.slow
def test_validate_command_on_the_shared_file(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "resume_ner.data",
            "validate",
            "data=dataturks",
            f"data.path={SHARED}",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "validation.json").read_text(encoding="utf-8"))
    assert report["defects"]["shifted_offsets"]["found"] == 223
    assert report["documents"]["read"] == 200
    assert report["label_map"]["UNKNOWN"] == {"to": None, "count": 2}
    assert "edge_whitespace" in result.stdout and "Companies worked at" in result.stdout

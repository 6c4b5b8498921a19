"""Label Studio exports in the shapes real projects produce: a text field named by the
labelling config (`$resume`, not `$text`), and the JSON-MIN export."""

from __future__ import annotations

import json

from resume_ner.data.load import load_documents
from resume_ner.data.readers import read_raw
from resume_ner.data.readers.detect import detect_format
from resume_ner.data.report import ValidationReport

RESUME = "Jane Doe\nSenior  Software Engineer at Acme Corp\nPune, India\n"
TITLE = "Resume of Jane"
ENTITIES = [("Jane Doe", "Name"), ("Acme Corp", "Companies worked at"), ("Pune", "Location")]


def _values() -> list[dict]:
    values = []
    for entity, label in ENTITIES:
        start = RESUME.index(entity)
        values.append(
            {"start": start, "end": start + len(entity), "text": entity, "labels": [label]}
        )
    return values


def _spans(record) -> list[tuple[str, str]]:
    return [(record.text[s.start : s.end], s.labels[0]) for s in record.spans]


def test_a_renamed_text_field_is_found_by_its_annotations(write_text):
    """<Text value="$resume"/> exports data.resume; a shorter title field sits beside it."""
    task = {
        "id": 7,
        "data": {"title": TITLE, "resume": RESUME, "source": "upload.pdf"},
        "annotations": [{"result": [{"type": "labels", "value": v} for v in _values()]}],
    }
    path = write_text(json.dumps([task]), "export.json")
    assert detect_format(path) == "labelstudio"
    [record] = read_raw(path)
    assert record.text == RESUME
    assert _spans(record) == [(e, label) for e, label in ENTITIES]


def test_the_json_min_export_is_read(write_text, data_cfg):
    tasks = [
        {
            "id": 1,
            "resume": RESUME,
            "label": _values(),
            "annotator": 3,
            "annotation_id": 11,
            "created_at": "2026-01-02T10:00:00.000000Z",
            "updated_at": "2026-01-02T10:05:00.000000Z",
            "lead_time": 42.5,
        },
        {"id": 2, "resume": "Never annotated\n", "annotator": 3},
    ]
    path = write_text(json.dumps(tasks), "export-min.json")
    assert detect_format(path) == "labelstudio"
    first, second = read_raw(path)
    assert first.text == RESUME and _spans(first) == [(e, label) for e, label in ENTITIES]
    assert first.annotated and not second.annotated
    report = ValidationReport()
    documents = load_documents(path, data_cfg(path=str(path)), report)
    assert [len(d.spans) for d in documents] == [3]
    assert report.defects["unannotated_document"].found == 1

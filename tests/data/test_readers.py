"""Readers: each format parsed into RawRecords, malformed input named by file:line / #index."""

from __future__ import annotations

import json

import pytest

from resume_ner.data.raw import DataError, RecordError
from resume_ner.data.readers import detect_format, read_raw

# ---------------------------------------------------------------- DataTurks


def test_dataturks_converts_inclusive_ends_and_keeps_annotator_text(write_jsonl):
    content = "Jane Doe\nPython developer"
    path = write_jsonl(
        [
            {
                "content": content,
                "annotation": [
                    {
                        "label": ["Name"],
                        "points": [{"start": 0, "end": 7, "text": "Jane Doe"}],
                    },
                    {
                        "label": "Skills",  # a bare string is accepted too
                        "points": [
                            {"start": 9, "end": 14, "text": "Python"},
                            {"start": 16, "end": 24, "text": "developer"},
                        ],
                    },
                ],
            }
        ]
    )
    [record] = read_raw(path, "dataturks")
    spans = [(s.start, s.end, s.labels, s.text) for s in record.spans]
    assert spans == [
        (0, 8, ("Name",), "Jane Doe"),
        (9, 15, ("Skills",), "Python"),
        (16, 25, ("Skills",), "developer"),
    ]
    assert content[spans[0][0] : spans[0][1]] == "Jane Doe"
    assert record.location == f"{path}:1"


def test_dataturks_null_annotation_is_an_unannotated_record(write_jsonl):
    path = write_jsonl([{"content": "some text", "annotation": None}])
    [record] = read_raw(path, "dataturks")
    assert record.annotated is False and record.spans == []


def test_dataturks_locations_count_blank_lines(write_jsonl):
    path = write_jsonl([{"content": "a", "annotation": []}, "", {"content": "b", "annotation": []}])
    assert [r.location for r in read_raw(path, "dataturks")] == [f"{path}:1", f"{path}:3"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"content": "abc", "annotation": [', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"annotation": []}', "'content' is missing"),
        ('{"content": "abc", "annotation": {"label": "X"}}', "'annotation' must be a list"),
        (
            '{"content": "abc", "annotation": [{"label": ["X"], "points": [{"start": 0}]}]}',
            "lacks end",
        ),
        (
            '{"content": "abc", "annotation": [{"label": ["X"], '
            '"points": [{"start": "0", "end": 1}]}]}',
            "'start' must be an integer, got '0'",
        ),
        (
            '{"content": "abc", "annotation": [{"label": ["X"], '
            '"points": [{"start": 0, "end": 1.5}]}]}',
            "'end' must be an integer",
        ),
        ('{"content": "abc", "annotation": [{"points": []}]}', "needs 'label'"),
    ],
)
def test_dataturks_malformed_line_names_file_line_and_problem(write_jsonl, line, message):
    good = {"content": "fine", "annotation": []}
    path = write_jsonl([good, line])
    with pytest.raises(RecordError) as caught:
        read_raw(path, "dataturks")
    assert caught.value.location.startswith(f"{path}:2")
    assert message in str(caught.value)


def test_dataturks_skip_invalid_keeps_the_good_records(write_jsonl):
    path = write_jsonl(
        [{"content": "one", "annotation": []}, "{broken", {"content": "two", "annotation": []}]
    )
    errors: list[RecordError] = []
    records = read_raw(path, "dataturks", on_invalid=errors.append)
    assert [r.text for r in records] == ["one", "two"]
    assert [e.location for e in errors] == [f"{path}:2"]


# ---------------------------------------------------------------- Label Studio


def _task(text, *annotations, task_id=1):
    return {"id": task_id, "data": {"text": text}, "annotations": list(annotations)}


def _annotation(*spans, cancelled=False, updated=None):
    result = [
        {"type": "labels", "value": {"start": s, "end": e, "text": t, "labels": [label]}}
        for s, e, t, label in spans
    ]
    annotation = {"result": result, "was_cancelled": cancelled}
    if updated:
        annotation["updated_at"] = updated
    return annotation


def test_labelstudio_skips_cancelled_and_takes_the_latest(write_text):
    text = "Jane Doe, Acme"
    tasks = [
        _task(
            text,
            _annotation((0, 8, "Jane Doe", "Name"), updated="2024-03-02T10:00:00Z"),
            _annotation((10, 14, "Acme", "Companies"), updated="2024-03-01T10:00:00Z"),
            _annotation((0, 4, "Jane", "Wrong"), cancelled=True, updated="2025-01-01T00:00:00Z"),
        )
    ]
    path = write_text(json.dumps(tasks), "export.json")
    [record] = read_raw(path, "labelstudio")
    # The first annotation is the latest non-cancelled one, though not the last in the list.
    assert [(s.start, s.end, s.labels, s.text) for s in record.spans] == [
        (0, 8, ("Name",), "Jane Doe")
    ]
    assert record.location == f"{path}#0" and record.id == "1"


def test_labelstudio_without_timestamps_the_last_wins(write_text):
    tasks = [_task("ab cd", _annotation((0, 2, "ab", "A")), _annotation((3, 5, "cd", "B")))]
    [record] = read_raw(write_text(json.dumps(tasks), "e.json"), "labelstudio")
    assert [s.labels for s in record.spans] == [("B",)]


def test_labelstudio_ignores_relations_and_marks_all_cancelled_unannotated(write_text):
    annotation = _annotation((0, 2, "ab", "A"))
    annotation["result"].append({"type": "relation", "from_id": "x", "to_id": "y"})
    tasks = [
        _task("ab cd", annotation),
        _task("ef", _annotation((0, 2, "ef", "A"), cancelled=True), task_id=2),
    ]
    first, second = read_raw(write_text(json.dumps(tasks), "e.json"), "labelstudio")
    assert len(first.spans) == 1 and first.annotated
    assert second.annotated is False and second.spans == []


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"data": {}, "annotations": []}, "'data' holds no text"),
        (
            {"data": {"text": "ab"}, "annotations": [{"result": [{"value": {"labels": ["A"]}}]}]},
            "lacks start, end",
        ),
        (
            {
                "data": {"text": "ab"},
                "annotations": [
                    {"result": [{"value": {"start": 0, "end": None, "labels": ["A"]}}]}
                ],
            },
            "'end' must be an integer",
        ),
        ("just a string", "a task must be an object"),
    ],
)
def test_labelstudio_malformed_task_names_file_index(write_text, task, message):
    good = _task("ok", _annotation())
    path = write_text(json.dumps([good, task]), "export.json")
    with pytest.raises(RecordError) as caught:
        read_raw(path, "labelstudio")
    assert caught.value.location.startswith(f"{path}#1")
    assert message in str(caught.value)


def test_labelstudio_invalid_json_file_names_the_line(write_text):
    path = write_text('[\n{"data": {"text": "a"}},\n{oops}\n]', "export.json")
    with pytest.raises(RecordError) as caught:
        read_raw(path, "labelstudio")
    assert str(caught.value).startswith(f"{path}:3: invalid JSON")


# ---------------------------------------------------------------- spaCy JSONL


def test_spacy_reads_lists_dicts_and_the_spans_key(write_jsonl):
    path = write_jsonl(
        [
            {"text": "Jane Doe", "entities": [[0, 4, "Name"]], "id": 7},
            {"text": "Acme Corp", "spans": [{"start": 0, "end": 9, "label": "Companies"}]},
        ]
    )
    first, second = read_raw(path, "spacy")
    assert [(s.start, s.end, s.labels, s.text) for s in first.spans] == [(0, 4, ("Name",), None)]
    assert first.id == "7"
    assert [(s.start, s.end, s.labels) for s in second.spans] == [(0, 9, ("Companies",))]
    assert second.location == f"{path}:2"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "abc", "entities": [[0, 2]]}, "must be [start, end, label]"),
        ({"text": "abc", "entities": [[0, 2, 5]]}, "label must be a string"),
        ({"text": "abc", "entities": [["0", 2, "A"]]}, "start must be an integer"),
        ({"text": "abc", "entities": [{"start": 0, "label": "A"}]}, "lacks end"),
        ({"text": "abc", "entities": {"A": [0, 2]}}, "'entities' must be a list"),
        ({"entities": []}, "'text' is missing"),
    ],
)
def test_spacy_malformed_record_names_file_line(write_jsonl, record, message):
    path = write_jsonl([{"text": "ok", "entities": []}, record])
    with pytest.raises(RecordError) as caught:
        read_raw(path, "spacy")
    assert caught.value.location.startswith(f"{path}:2")
    assert message in str(caught.value)


# ---------------------------------------------------------------- CoNLL

CONLL = """\
-DOCSTART- -X- O O

Jane NNP B-Name
Doe NNP I-Name
works VBZ O

at IN O
Acme NNP B-Companies
Corp NNP I-Companies

-DOCSTART- -X- O O

Python I-Skills
and O
SQL B-Skills
Java I-Skills
Go I-Name
"""


def test_conll_rebuilds_text_and_character_spans(write_text):
    path = write_text(CONLL, "data.conll")
    first, second = read_raw(path, "conll")
    assert first.text == "Jane Doe works\nat Acme Corp"
    assert [(first.text[s.start : s.end], s.labels) for s in first.spans] == [
        ("Jane Doe", ("Name",)),
        ("Acme Corp", ("Companies",)),
    ]
    assert first.location == f"{path}:3" and first.notes == []
    assert second.text == "Python and SQL Java Go"
    assert [(second.text[s.start : s.end], s.labels) for s in second.spans] == [
        ("Python", ("Skills",)),
        ("SQL Java", ("Skills",)),
        ("Go", ("Name",)),  # I-Name after I-Skills starts its own span
    ]


def test_conll_orphan_inside_tags_are_noted_with_their_line(write_text):
    path = write_text(CONLL, "data.conll")
    second = read_raw(path, "conll")[1]
    assert [(defect, where) for defect, where, _ in second.notes] == [
        ("bio_orphan_inside", f"{path}:13"),
        ("bio_orphan_inside", f"{path}:17"),
    ]


def test_conll_span_does_not_cross_a_sentence_break(write_text):
    path = write_text("Acme B-Companies\n\nCorp I-Companies\n", "a.conll")
    [record] = read_raw(path, "conll")
    assert [record.text[s.start : s.end] for s in record.spans] == ["Acme", "Corp"]
    assert len(record.notes) == 1


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [("lonely", "expected 'token ... tag'"), ("Jane E-Name", "unknown tag 'E-Name'")],
)
def test_conll_malformed_line_names_file_line_and_skip_drops_that_document(
    write_text, bad_line, message
):
    content = f"-DOCSTART- O\nJane B-Name\n{bad_line}\n-DOCSTART- O\nAcme B-Companies\n"
    path = write_text(content, "bad.conll")
    with pytest.raises(RecordError) as caught:
        read_raw(path, "conll")
    assert caught.value.location == f"{path}:3"
    assert message in str(caught.value)
    errors: list[RecordError] = []
    records = read_raw(path, "conll", on_invalid=errors.append)
    assert [r.text for r in records] == ["Acme"] and len(errors) == 1


# ---------------------------------------------------------------- detection


def test_detect_every_format(write_jsonl, write_text):
    turk = write_jsonl([{"content": "a", "annotation": None}], "t.jsonl")
    spacy = write_jsonl(["{bad first line", {"text": "a", "entities": []}], "s.jsonl")
    studio = write_text(json.dumps([_task("a", _annotation())], indent=2), "ls.json")
    conll = write_text(CONLL, "c.txt")
    assert [detect_format(p) for p in (turk, spacy, studio, conll)] == [
        "dataturks",
        "spacy",
        "labelstudio",
        "conll",
    ]
    # auto reading goes through the detected reader
    assert read_raw(conll)[0].text.startswith("Jane Doe")


def test_undetectable_file_asks_for_data_format(write_text):
    path = write_text("just some prose\nwithout tags at all\n", "notes.txt")
    with pytest.raises(DataError, match=r"Set data\.format"):
        read_raw(path)


def test_unknown_format_name_is_rejected(write_text):
    path = write_text("x O\n", "a.conll")
    with pytest.raises(DataError, match=r"unknown data\.format 'brat'"):
        read_raw(path, "brat")


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "resume.pdf"
    path.write_bytes(b"%PDF-1.4\n\xff\xfe\x00binary")
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_raw(path, "auto")


def test_empty_file_auto_is_an_error_but_explicit_format_reads_nothing(write_text):
    path = write_text("", "empty.jsonl")
    with pytest.raises(DataError, match="is empty"):
        read_raw(path)
    assert read_raw(path, "spacy") == []

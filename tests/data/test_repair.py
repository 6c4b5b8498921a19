"""Validation and repair: every defect class repaired or dropped, counted and located."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resume_ner.data.document import Document, Span
from resume_ner.data.raw import RawRecord, RawSpan
from resume_ner.data.repair import (
    OverlapError,
    RepairOptions,
    dedupe_documents,
    reanchor,
    repair_record,
    repair_records,
)
from resume_ner.data.report import DEFECTS, ValidationReport


def _repair(text, *spans, annotated=True, **options):
    report = ValidationReport()
    record = RawRecord(text, list(spans), "f.jsonl:4", annotated=annotated)
    doc = repair_record(record, RepairOptions(**options), report)
    return doc, report


def _texts(doc):
    return [(s.text(doc.text), s.label) for s in doc.spans]


def _counts(report, defect):
    count = report.defects[defect]
    return count.found, count.repaired, count.dropped


def test_clean_record_has_no_defects():
    doc, report = _repair("Jane Doe", RawSpan(0, 8, ("Name",), "Jane Doe"))
    assert _texts(doc) == [("Jane Doe", "Name")]
    assert all(c.found == 0 for c in report.defects.values())
    assert report.unrepaired() == 0


def test_edge_whitespace_is_trimmed_and_located():
    text = "Name: Jane Doe\nSkills"
    doc, report = _repair(text, RawSpan(5, 15, ("Name",), " Jane Doe\n"))
    assert _texts(doc) == [("Jane Doe", "Name")]
    assert _counts(report, "edge_whitespace") == (1, 1, 0)
    [occurrence] = report.defects["edge_whitespace"].occurrences
    assert occurrence.location == "f.jsonl:4" and "[6:14]" in occurrence.detail


def test_edge_whitespace_without_annotator_text():
    doc, report = _repair("a  Python  b", RawSpan(1, 10, ("Skills",)))
    assert _texts(doc) == [("Python", "Skills")]
    assert _counts(report, "edge_whitespace") == (1, 1, 0)


def test_shifted_span_is_reanchored_to_the_nearest_occurrence():
    # "Java" occurs at 0 and 20; the offsets point near 20 but one character off.
    text = "Java is old.  Also: Java again"
    doc, report = _repair(text, RawSpan(21, 25, ("Skills",), "Java"))
    assert [(s.start, s.end) for s in doc.spans] == [(20, 24)]
    assert _counts(report, "shifted_offsets") == (1, 1, 0)
    assert "-> [20:24]" in report.defects["shifted_offsets"].occurrences[0].detail


def test_shifted_span_with_padded_annotator_text_matches_stripped_text():
    # DataTurks texts carry padding too: compare and re-anchor the stripped text.
    text = "xx\nSenior Engineer\nAcme"
    doc, report = _repair(text, RawSpan(0, 16, ("Designation",), "\nSenior Engineer\n"))
    assert _texts(doc) == [("Senior Engineer", "Designation")]
    assert _counts(report, "shifted_offsets") == (1, 1, 0)
    assert _counts(report, "edge_whitespace") == (0, 0, 0)


def test_shifted_span_is_dropped_when_the_text_is_not_near():
    text = "Java" + " " * 50 + "nothing here"
    doc, report = _repair(text, RawSpan(50, 54, ("Skills",), "Java"), reanchor_window=10)
    assert doc.spans == []
    assert _counts(report, "shifted_offsets") == (1, 0, 1)
    assert report.unrepaired() == 1


def test_reanchor_prefers_the_nearest_and_respects_the_window():
    text = "ab ab ab ab"
    assert reanchor(text, "ab", 7, 100) == 6
    assert reanchor(text, "ab", 4, 100) == 3
    assert reanchor("ab  ab", "ab", 2, 100) == 0  # a tie goes to the earlier occurrence
    assert reanchor(text, "zz", 4, 100) is None
    assert reanchor(text, "ab", 10, 1) == 9


@pytest.mark.parametrize(
    ("span", "defect"),
    [
        (RawSpan(3, 40, ("Name",)), "out_of_bounds"),
        (RawSpan(-1, 3, ("Name",)), "out_of_bounds"),
        (RawSpan(5, 2, ("Name",)), "out_of_bounds"),
        (RawSpan(2, 2, ("Name",)), "empty_span"),
        (RawSpan(4, 5, ("Name",)), "empty_span"),  # whitespace only
        (RawSpan(0, 4, ("Name",), "  "), "empty_span"),  # blank annotated text
        (RawSpan(0, 4, (), "Jane"), "missing_label"),
    ],
)
def test_unusable_spans_are_dropped_and_counted(span, defect):
    doc, report = _repair("Jane Doe", span)
    assert doc.spans == []
    assert _counts(report, defect) == (1, 0, 1)
    assert sum(c.found for c in report.defects.values()) == 1


def test_exact_duplicate_spans_are_merged():
    doc, report = _repair(
        "Acme Corp", RawSpan(0, 4, ("Companies",), "Acme"), RawSpan(0, 4, ("Companies",), "Acme")
    )
    assert _texts(doc) == [("Acme", "Companies")]
    assert _counts(report, "duplicate_span") == (1, 1, 0)
    assert _counts(report, "overlapping_spans") == (0, 0, 0)


OVERLAPPING = [
    RawSpan(0, 4, ("Companies",), "Acme"),  # first, short
    RawSpan(0, 9, ("Companies",), "Acme Corp"),  # longest
    RawSpan(5, 9, ("Skills",), "Corp"),
]


def test_overlap_longest_keeps_the_longer_span_and_counts_pairs():
    doc, report = _repair("Acme Corp ok", *OVERLAPPING, overlap_policy="longest")
    assert _texts(doc) == [("Acme Corp", "Companies")]
    assert _counts(report, "overlapping_spans") == (2, 0, 2)
    details = [o.detail for o in report.defects["overlapping_spans"].occurrences]
    assert all("dropped" in d and "Acme Corp" in d for d in details)


def test_overlap_longest_tie_keeps_the_first_annotated():
    doc, _ = _repair(
        "Oracle", RawSpan(0, 6, ("Skills",), "Oracle"), RawSpan(0, 6, ("Companies",), "Oracle")
    )
    assert _texts(doc) == [("Oracle", "Skills")]


def test_overlap_first_keeps_the_earliest_starting():
    doc, report = _repair("Acme Corp ok", *OVERLAPPING, overlap_policy="first")
    # Both start at 0: the first annotated (the short one) wins, then "Corp" no longer overlaps.
    assert _texts(doc) == [("Acme", "Companies"), ("Corp", "Skills")]
    assert _counts(report, "overlapping_spans") == (2, 0, 2)


def test_overlap_error_names_both_spans_and_the_location():
    with pytest.raises(OverlapError) as caught:
        _repair("Acme Corp ok", *OVERLAPPING, overlap_policy="error")
    message = str(caught.value)
    assert message.startswith("f.jsonl:4: spans overlap")
    assert "Companies [0:4] 'Acme'" in message and "Companies [0:9] 'Acme Corp'" in message


def test_unknown_overlap_policy_is_rejected():
    with pytest.raises(ValueError, match="overlap_policy 'biggest'"):
        RepairOptions(overlap_policy="biggest")


def test_label_map_renames_merges_and_drops_counted_per_old_label():
    text = "Jane Acme Corp Python"
    doc, report = _repair(
        text,
        RawSpan(0, 4, ("Name",), "Jane"),
        RawSpan(5, 9, ("Company",), "Acme"),
        RawSpan(10, 14, ("Companies worked at",), "Corp"),
        RawSpan(15, 21, ("UNKNOWN",), "Python"),
        label_map={"Company": "Companies worked at", "UNKNOWN": None, "Name": "Name"},
    )
    assert _texts(doc) == [
        ("Jane", "Name"),
        ("Acme", "Companies worked at"),
        ("Corp", "Companies worked at"),
    ]
    assert _counts(report, "label_mapped") == (1, 1, 0)
    assert _counts(report, "label_dropped") == (1, 0, 1)
    changes = {old: (c.to, c.count) for old, c in report.label_changes.items()}
    assert changes == {"Company": ("Companies worked at", 1), "UNKNOWN": (None, 1)}


def test_label_merge_can_create_a_duplicate_that_is_merged():
    doc, report = _repair(
        "Acme",
        RawSpan(0, 4, ("Company",), "Acme"),
        RawSpan(0, 4, ("Companies",), "Acme"),
        label_map={"Company": "Companies"},
    )
    assert _texts(doc) == [("Acme", "Companies")]
    assert _counts(report, "duplicate_span") == (1, 1, 0)


def test_multi_label_span_becomes_an_overlap_not_a_silent_choice():
    doc, report = _repair("Oracle", RawSpan(0, 6, ("Skills", "Companies"), "Oracle"))
    assert len(doc.spans) == 1
    assert _counts(report, "overlapping_spans") == (1, 0, 1)


def test_blank_and_unannotated_documents_are_dropped():
    report = ValidationReport()
    records = [
        RawRecord(" \n\t", [RawSpan(0, 1, ("X",))], "f:1"),
        RawRecord("never annotated", [], "f:2", annotated=False),
        RawRecord("kept", [], "f:3"),
    ]
    docs = repair_records(records, RepairOptions(), report)
    assert [d.text for d in docs] == ["kept"]
    assert _counts(report, "empty_document") == (1, 0, 1)
    assert _counts(report, "unannotated_document") == (1, 0, 1)
    assert report.defects["unannotated_document"].occurrences[0].location == "f:2"
    assert report.documents_read == 3 and report.spans_read == 1


def test_reader_notes_are_reported_as_repaired():
    report = ValidationReport()
    record = RawRecord("Go", [RawSpan(0, 2, ("Skills",))], "c.conll:1")
    record.notes.append(("bio_orphan_inside", "c.conll:5", "I-Skills on 'Go' starts a span"))
    repair_records([record], RepairOptions(), report)
    assert _counts(report, "bio_orphan_inside") == (1, 1, 0)
    assert report.defects["bio_orphan_inside"].occurrences[0].location == "c.conll:5"


def _doc(text, *spans, source):
    return Document(text, [Span(*s) for s in spans], source=source)


def test_dedupe_drops_copies_identical_repaired_conflicting_dropped():
    docs = [
        _doc("resume one", (0, 6, "A"), source="f:1"),
        _doc("resume one", (0, 6, "A"), source="f:2"),
        _doc("resume one", (7, 10, "B"), source="f:3"),
        _doc("resume two", source="f:4"),
    ]
    report = ValidationReport()
    kept = dedupe_documents(docs, report, drop=True)
    assert [d.source for d in kept] == ["f:1", "f:4"]
    assert _counts(report, "duplicate_document") == (2, 1, 1)
    occurrences = report.defects["duplicate_document"].occurrences
    assert [o.location for o in occurrences] == ["f:2", "f:3"]
    assert "annotated differently" in occurrences[1].detail


def test_dedupe_off_keeps_copies_but_counts_them():
    docs = [_doc("same", source="f:1"), _doc("same", source="f:2")]
    report = ValidationReport()
    assert len(dedupe_documents(docs, report, drop=False)) == 2
    assert _counts(report, "duplicate_document") == (1, 0, 0)
    assert report.unrepaired() == 1  # kept as is: not a repair


def test_report_json_and_table_carry_counts_and_locations():
    _, report = _repair(
        "Jane Doe ", RawSpan(0, 9, ("Name",), "Jane Doe "), RawSpan(0, 40, ("Name",))
    )
    report.count_kept([Document("Jane Doe ", [Span(0, 8, "Name")])])
    data = json.loads(report.to_json())
    assert set(data["defects"]) == set(DEFECTS)
    assert data["defects"]["edge_whitespace"]["found"] == 1
    assert data["defects"]["out_of_bounds"]["occurrences"][0]["location"] == "f.jsonl:4"
    assert data["entities"] == {"Name": 1} and data["unrepaired"] == 1
    table = report.format_table()
    assert any(line.split()[:4] == ["out_of_bounds", "1", "0", "1"] for line in table.splitlines())
    assert any(line.split() == ["Name", "1"] for line in table.splitlines())


# A span drawn over random text: offsets possibly shifted or padded, the annotator's text
# being what was meant. Whatever repair does, a kept span must be exactly that text.
@st.composite
def _noisy_record(draw):
    words = draw(st.lists(st.sampled_from(["Jane", "Acme", "Java", "SQL", "Pune"]), min_size=3))
    text = draw(st.sampled_from([" ", "\n", "  "])).join(words)
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        meant = text[start:end]
        shift = draw(st.integers(-3, 3))
        spans.append(
            RawSpan(start + shift, end + shift, (draw(st.sampled_from(["A", "B"])),), meant)
        )
    return RawRecord(text, spans, "gen:1")


@settings(max_examples=60, deadline=None)
@given(_noisy_record(), st.sampled_from(["longest", "first"]))
def test_repaired_spans_are_always_the_meant_text(record, policy):
    report = ValidationReport()
    doc = repair_record(record, RepairOptions(overlap_policy=policy), report)
    if doc is None:
        return
    doc.validate()
    meant = {(s.text.strip(), s.labels[0]) for s in record.spans}
    for span in doc.spans:
        assert (span.text(doc.text), span.label) in meant
    outcomes = sum(c.found for c in report.defects.values())
    assert outcomes >= len(record.spans) - len(doc.spans)  # every lost span is accounted for

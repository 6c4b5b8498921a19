"""The seeded synthetic resume generator."""

from __future__ import annotations

import time
from collections import Counter

from fixtures_tokenizers import minilm

from resume_ner.data.synthetic import LABELS, generate
from resume_ner.windows import encode_texts

DATATURKS_LABELS = {
    "Name",
    "Designation",
    "Companies worked at",
    "Skills",
    "Location",
    "College Name",
    "Degree",
    "Email Address",
    "Graduation Year",
    "Years of Experience",
}


def test_deterministic_for_a_seed_and_varied_across_seeds():
    first, again, other = generate(40, seed=3), generate(40, seed=3), generate(40, seed=4)
    assert [(d.text, d.spans) for d in first] == [(d.text, d.spans) for d in again]
    assert [d.text for d in first] != [d.text for d in other]
    assert len({d.text for d in first}) == 40


def test_fast():
    start = time.perf_counter()
    generate(120, seed=7)
    assert time.perf_counter() - start < 1.0


def test_every_dataturks_label_with_exact_valid_spans():
    documents = generate(120, seed=7)
    assert set(LABELS) == DATATURKS_LABELS
    counts = Counter(span.label for doc in documents for span in doc.spans)
    assert set(counts) == DATATURKS_LABELS
    for doc in documents:
        doc.validate()
        assert doc.spans == sorted(doc.spans)
        for span in doc.spans:
            entity = span.text(doc.text)
            assert entity and entity == entity.strip()
        labels = {span.label for span in doc.spans}
        assert {"Name", "Email Address", "Designation", "Skills"} <= labels


def test_surface_forms_vary():
    documents = generate(120, seed=7)
    forms: dict[str, set[str]] = {}
    for doc in documents:
        for span in doc.spans:
            forms.setdefault(span.label, set()).add(span.text(doc.text))
    assert len(forms["Name"]) >= 100
    assert len(forms["Companies worked at"]) >= 150
    assert len(forms["Designation"]) >= 150
    assert len(forms["Location"]) >= 80
    assert len(forms["Skills"]) >= 150
    assert len(forms["College Name"]) >= 80
    assert len(forms["Degree"]) >= 60
    assert len(forms["Email Address"]) == 120


def test_long_fraction_of_documents_exceed_1000_word_pieces():
    documents = generate(60, seed=11, long_fraction=0.2)
    lengths = [len(e) for e in encode_texts(minilm(), [d.text for d in documents])]
    assert sum(n > 1000 for n in lengths) == 12
    short = encode_texts(minilm(), [d.text for d in generate(20, seed=1, long_fraction=0.0)])
    assert max(len(e) for e in short) < 1000


def test_edge_cases():
    assert generate(0, seed=1) == []
    assert len(generate(1, seed=1, long_fraction=1.0)) == 1

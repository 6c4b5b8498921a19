"""Encoding, tags and windows; the encode -> windows -> merge -> decode round trip."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fixtures_tokenizers import bytelevel_bpe, deberta_converted, deberta_spm, minilm
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from resume_ner.data.document import Document, Span
from resume_ner.decoding import decode_spans, merge_windows
from resume_ner.windows import (
    IGNORE_INDEX,
    bio_labels,
    build_windows,
    encode_text,
    special_template,
    token_tags,
    window_ranges,
)

LABELS = ["Name", "Skills", "Companies worked at"]
TAGS = bio_labels(LABELS)
LABEL2ID = {tag: i for i, tag in enumerate(TAGS)}
ID2LABEL = dict(enumerate(TAGS))

TOKENIZERS = {
    "minilm-wordpiece": minilm,
    "deberta-spm": deberta_spm,
    "deberta-slow-converted": deberta_converted,
    "roberta-style-bytelevel-bpe": bytelevel_bpe,
}


def _words(text: str) -> list[str]:
    return text.split()


WORDS = _words(
    """
python java senior software engineer developer manager data science machine learning
bangalore mumbai pune chennai infosys wipro accenture oracle bachelor master university
experience years skills project team client sql spark docker kubernetes aws linux react
rahul sharma priya patel amit kumar john smith maria garcia gmail resume summary josé
münchen naïve x y q zz 2019 2024 10 3.5 c++ node.js b.tech
"""
)
PUNCT = [",", ".", ":", ";", "|", "-", "(", ")", "/", "@", "•", "&", "+", "–"]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", " \n", "\t", " \n  "]


# ----------------------------------------------------------------------------------------
# unit tests


def test_bio_labels_stable_order():
    assert bio_labels(["Skills", "Name"]) == ["O", "B-Name", "I-Name", "B-Skills", "I-Skills"]
    assert bio_labels(["Name", "Skills", "Name"]) == bio_labels(["Skills", "Name"])
    with pytest.raises(ValueError):
        bio_labels(["O"])


@settings(max_examples=60, deadline=None)
@given(
    num_tokens=st.integers(0, 400),
    max_length=st.integers(3, 64),
    num_special=st.integers(0, 2),
    data=st.data(),
)
def test_window_ranges_cover_every_token(num_tokens, max_length, num_special, data):
    capacity = max_length - num_special
    stride = data.draw(st.integers(0, capacity - 1))
    ranges = window_ranges(num_tokens, max_length, stride, num_special)
    if num_tokens == 0:
        assert ranges == []
        return
    assert ranges[0][0] == 0 and ranges[-1][1] == num_tokens
    covered = np.zeros(num_tokens, dtype=int)
    for start, end in ranges:
        assert 0 <= start < end <= num_tokens
        assert end - start <= capacity
        covered[start:end] += 1
    assert covered.min() >= 1
    for (s1, e1), (s2, _) in itertools.pairwise(ranges):
        assert e1 == s1 + capacity  # every window but the last is full
        assert e1 - s2 == stride  # consecutive windows share exactly `stride` tokens
    if num_tokens <= capacity:
        assert ranges == [(0, num_tokens)]


def test_window_ranges_rejects_bad_settings():
    with pytest.raises(ValueError, match="stride"):
        window_ranges(100, 16, 14, 2)
    with pytest.raises(ValueError, match="no room"):
        window_ranges(100, 2, 0, 2)


def test_special_template_from_tokenizer():
    tok = minilm()
    assert special_template(tok) == ([tok.cls_token_id], [tok.sep_token_id])
    spm = deberta_spm()
    assert special_template(spm) == ([spm.cls_token_id], [spm.sep_token_id])


def test_encode_ignores_the_tokenizers_truncation_and_does_not_mutate_it():
    tok = minilm()
    truncation_before = tok.backend_tokenizer.truncation  # tokenizer.json truncates at 128
    text = " ".join(["engineer"] * 600)
    encoding = encode_text(tok, text)
    assert len(encoding) == 600
    assert tok.backend_tokenizer.truncation == truncation_before


def test_short_document_window_matches_the_tokenizers_own_encoding():
    for factory in TOKENIZERS.values():
        tok = factory()
        text = "Rahul Sharma\nSenior Engineer at Infosys, Bangalore"
        _, windows = build_windows(tok, [text], 64, 8)
        assert len(windows) == 1
        assert windows[0].input_ids == list(tok(text)["input_ids"])
        assert windows[0].labels is None


def test_token_tags_label_all_tokens():
    tok = minilm()
    text = "Worked at Infosys Technologies, Pune"
    start = text.index("Infosys")
    spans = [Span(start, start + len("Infosys Technologies"), "Companies worked at")]
    encoding = encode_text(tok, text)
    pieces = tok.convert_ids_to_tokens(encoding.token_ids.tolist())
    assert pieces[:5] == ["worked", "at", "info", "##sy", "##s"]
    first = token_tags(encoding, spans, label_all_tokens=False)
    every = token_tags(encoding, spans, label_all_tokens=True)
    company = "Companies worked at"
    assert first[:6] == ["O", "O", f"B-{company}", None, None, f"I-{company}"]
    assert every[:6] == ["O", "O", f"B-{company}", f"I-{company}", f"I-{company}", f"I-{company}"]
    assert first[-2:] == ["O", "O"]  # "," and "pune"


def test_token_tags_partial_word_overlap_tags_the_whole_word():
    tok = minilm()
    text = "Skills: Python3 and Java"
    spans = [Span(text.index("Python"), text.index("Python") + 6, "Skills")]
    encoding = encode_text(tok, text)
    tags = token_tags(encoding, spans, label_all_tokens=False)
    head = tok.convert_ids_to_tokens(encoding.token_ids.tolist()).index("python")
    assert tags[head] == "B-Skills"


def test_sentencepiece_blank_tokens_and_punctuation_words():
    tok = deberta_spm()
    text = "Worked at  infosys, pune"
    encoding = encode_text(tok, text)
    extents = encoding.word_extents().tolist()
    words = [text[s:e] for s, e in extents]
    assert words == ["Worked", "at", "infosys", ",", "pune"]
    for start, end in encoding.offsets.tolist():  # trimmed: never whitespace at an edge
        assert text[start:end] == text[start:end].strip()


def test_build_windows_labels_and_specials():
    tok = minilm()
    words = ["python"] * 50
    text = " ".join(words)
    doc = Document(text=text, spans=[Span(0, 6, "Skills"), Span(7, 13, "Skills")])
    encodings, windows = build_windows(tok, [doc, Document(""), "  \n "], 16, 4, LABEL2ID)
    assert len(encodings) == 3 and len(encodings[1]) == 0
    assert {w.doc_index for w in windows} == {0}  # empty documents get no window
    # 14 content tokens a window, 10 new per window: [0,14) [10,24) [20,34) [30,44) [40,50)
    assert [(w.token_start, w.token_end) for w in windows][-1] == (40, 50)
    assert len(windows) == 5
    for window in windows:
        assert len(window.input_ids) <= 16
        assert window.input_ids[0] == tok.cls_token_id and window.input_ids[-1] == tok.sep_token_id
        assert window.labels[0] == IGNORE_INDEX and window.labels[-1] == IGNORE_INDEX
        assert window.n_prefix == 1
    assert windows[0].labels[1:4] == [LABEL2ID["B-Skills"], LABEL2ID["B-Skills"], LABEL2ID["O"]]


def test_build_windows_unknown_label_is_an_error():
    doc = Document(text="python", spans=[Span(0, 6, "Hobby")], source="x.jsonl:3")
    with pytest.raises(KeyError, match=r"B-Hobby.*x\.jsonl:3"):
        build_windows(minilm(), [doc], 16, 4, LABEL2ID)


# ----------------------------------------------------------------------------------------
# property test: decode(encode(document)) == spans, across many windows


@st.composite
def documents(draw):
    parts: list[str] = []
    spans: list[Span] = []
    length = 0

    def add(text):
        nonlocal length
        parts.append(text)
        length += len(text)

    if draw(st.booleans()):
        add(draw(st.sampled_from(SEPARATORS)))
    for _ in range(draw(st.integers(1, 45))):
        kind = draw(st.sampled_from(["word", "word", "entity", "punct"]))
        if kind == "punct":
            add(draw(st.sampled_from(PUNCT)))
        elif kind == "word":
            add(draw(st.sampled_from(WORDS)))
        else:
            words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
            glue = draw(st.sampled_from([" ", " ", "-", ".", " & "]))
            entity = glue.join(words)
            if draw(st.booleans()):
                entity = entity.title()
            spans.append(Span(length, length + len(entity), draw(st.sampled_from(LABELS))))
            add(entity)
        if kind != "punct" and draw(st.integers(0, 4)) == 0:
            add(draw(st.sampled_from(PUNCT)))  # punctuation glued to the word: "Infosys,"
        add(draw(st.sampled_from(SEPARATORS)))
    document = Document(text="".join(parts), spans=spans)
    document.validate()
    return document


def one_hot_window_scores(windows, num_classes):
    scores = []
    for window in windows:
        rows = np.full((len(window.input_ids), num_classes), 1.0 / num_classes)
        for position, label in enumerate(window.labels):
            if label != IGNORE_INDEX:
                rows[position] = np.eye(num_classes)[label]
        scores.append(rows)
    return scores


def cuts_a_token(encoding, span):
    starts, ends = encoding.offsets[:, 0], encoding.offsets[:, 1]
    return any(
        ((starts < boundary) & (boundary < ends)).any() for boundary in (span.start, span.end)
    )


@pytest.mark.parametrize("label_all_tokens", [False, True])
@pytest.mark.parametrize("tokenizer_name", list(TOKENIZERS))
@settings(max_examples=40, deadline=None)
@given(document=documents(), max_length=st.integers(16, 24), stride=st.integers(4, 8))
def test_round_trip_returns_the_gold_spans(
    tokenizer_name, label_all_tokens, document, max_length, stride
):
    tok = TOKENIZERS[tokenizer_name]()
    encodings, windows = build_windows(
        tok, [document], max_length, stride, LABEL2ID, label_all_tokens
    )
    encoding = encodings[0]
    assert all(len(w.input_ids) <= max_length for w in windows)
    # A boundary inside one token (an [UNK] covering "é–") cannot round-trip; the coverage
    # report counts those cases on real data.
    assume(not any(cuts_a_token(encoding, s) for s in document.spans))
    probs = merge_windows(len(encoding), windows, one_hot_window_scores(windows, len(TAGS)))
    predicted = decode_spans(document.text, encoding, probs, ID2LABEL)
    assert [(s.start, s.end, s.label) for s in predicted] == [
        (s.start, s.end, s.label) for s in document.spans
    ]
    assert all(s.score == pytest.approx(1.0) for s in predicted)

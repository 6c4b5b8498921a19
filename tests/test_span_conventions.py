"""span_conventions: learning how the annotations write spans (joins, single-line labels,
repeated labels), and the decoder following what was learned."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fixtures_tokenizers import minilm

from resume_ner.checkpoints import LABEL_MAP, read_inference_bundle, write_json
from resume_ner.data.document import Document, Span
from resume_ner.decoding import PredictedSpan, decode_spans, finish_spans
from resume_ner.span_conventions import (
    MIN_SPANS,
    SpanConventions,
    gap_key,
    learn_conventions,
    occurrences,
)
from resume_ner.windows import bio_labels, encode_text

TAGS = bio_labels(["Skills", "Location"])
ID2LABEL = dict(enumerate(TAGS))


def document(text: str, *labelled: tuple[str, str]) -> Document:
    """A document whose spans are the first occurrences of each (substring, label)."""
    spans = []
    for part, label in labelled:
        start = text.index(part)
        spans.append(Span(start, start + len(part), label))
    return Document(text, sorted(spans))


def test_gap_key_allows_spaces_and_one_punctuation_mark_on_one_line():
    assert gap_key("") == ""
    assert gap_key(" \t ") == " "
    assert gap_key("  ,\t") == " , "
    assert gap_key("/") == "/"
    assert gap_key("\n") is None  # another line
    assert gap_key(", -") is None  # two marks
    assert gap_key(" and ") is None  # a word


def test_lists_written_as_one_span_join_and_lists_written_item_by_item_do_not():
    whole = [
        document("Skills: Python, SQL, Azure ML\nPune", ("Python, SQL, Azure ML", "Skills")),
        document("Tools: Java, Spark\n", ("Java, Spark", "Skills")),
    ]
    assert learn_conventions(whole).joins == {"Skills": [" ", ", "]}

    itemised = [
        document(
            "Skills: Python, SQL, Azure ML",
            ("Python", "Skills"),
            ("SQL", "Skills"),
            ("Azure ML", "Skills"),
        ),
        document("Lives in Pune, Maharashtra", ("Pune", "Location"), ("Maharashtra", "Location")),
    ]
    # ", " separates two Skills spans twice and is inside none; " " is inside "Azure ML".
    assert learn_conventions(itemised).joins == {"Skills": [" "]}


def test_a_tie_between_inside_and_between_does_not_join():
    docs = [
        document("a, b", ("a, b", "Skills")),
        document("c, d", ("c", "Skills"), ("d", "Skills")),
    ]
    assert ", " not in learn_conventions(docs).joins.get("Skills", [])


def test_joinable_is_per_label_and_per_gap():
    conventions = SpanConventions(joins={"Skills": [", ", " "]})
    assert conventions.joinable("Skills", ",  ")  # runs of spaces count as one
    assert not conventions.joinable("Skills", " / ")  # a gap never seen inside a span
    assert not conventions.joinable("Location", ", ")  # another label's table
    assert not conventions.joinable("Skills", ",\n")  # across a line break


def test_single_line_labels_are_those_that_almost_never_cross_a_line_break():
    names = [document(f"Asha Rao {k}\nPune", ("Asha Rao", "Name")) for k in range(60)]
    # One Name in 61 crosses a line (1.6%, under 2%); one Skills span in 11 (9%) does.
    names.append(document("Vikas\nSingh", ("Vikas\nSingh", "Name")))
    skills = [document(f"python {k}", ("python", "Skills")) for k in range(10)]
    skills.append(document("java,\nspark", ("java,\nspark", "Skills")))
    # Too few spans to tell: no rule.
    few = [document("Pune", ("Pune", "Location"))]
    assert learn_conventions(names + skills + few).single_line == ["Name"]


def everywhere(text: str, *labelled: tuple[str, str]) -> Document:
    """A document whose spans are every whole-word occurrence of each (substring, label)."""
    spans = [
        Span(start, end, label)
        for part, label in labelled
        for start, end in occurrences(text, part)
    ]
    return Document(text, sorted(spans))


def test_occurrences_are_whole_words_and_case_sensitive():
    text = "Infosys, infosys, Infosys Ltd and NotInfosys; (Infosys)"
    assert [text[s:e] for s, e in occurrences(text, "Infosys")] == ["Infosys"] * 3
    assert [s for s, _ in occurrences(text, "Infosys")] == [0, 18, 47]
    assert list(occurrences(text, "")) == []
    # Punctuation in the phrase is matched literally.
    assert list(occurrences("C++ and C", "C++")) == [(0, 3)]


def test_labels_written_at_every_occurrence_are_repeated_and_others_are_not():
    # Companies labelled wherever they recur; Skills only where first written.
    company = [
        everywhere(f"Infosys {k}\nAt Infosys I led a team. Infosys", ("Infosys", "Companies"))
        for k in range(MIN_SPANS)
    ]
    skills = [document(f"python {k}, then python again", ("python", "Skills")) for k in range(12)]
    learned = learn_conventions(company + skills)
    assert learned.repeated == ["Companies"]
    # Labelled in half the recurrences: not more often than not, so not repeated.
    half = [
        Document(
            text := f"Pune {k} Pune Pune",
            [Span(0, 4, "Location"), Span(text.rindex("Pune"), len(text), "Location")],
        )
        for k in range(MIN_SPANS)
    ]
    assert learn_conventions(half).repeated == []
    # Too few recurrences to tell.
    assert learn_conventions(company[:3]).repeated == []


def test_finish_labels_the_other_occurrences_of_a_repeated_label():
    text = "Infosys, Pune\nWorked at Infosys and Infosys Ltd; infosys; NotInfosys. Pune"
    first = PredictedSpan(0, 7, "Companies", 0.9)
    pune = PredictedSpan(9, 13, "Location", 0.8)
    ltd = PredictedSpan(text.index("Infosys Ltd"), text.index("Infosys Ltd") + 11, "Skills", 0.7)
    conventions = SpanConventions(repeated=["Companies"])
    finished = finish_spans(text, [first, pune, ltd], conventions, min_score=0.5)
    # Whole-word, same-case occurrences that no span covers; Location is not repeated.
    second = text.index("Infosys", 8)
    assert finished == sorted(
        [first, pune, ltd, PredictedSpan(second, second + 7, "Companies", 0.9)]
    )
    # Without the convention, nothing is added; a span under the floor is not repeated.
    assert finish_spans(text, [first, pune, ltd], SpanConventions(), 0.5) == [first, pune, ltd]
    assert finish_spans(text, [first, pune, ltd], conventions, 0.95) == []


def test_the_surer_span_claims_a_recurring_string_first():
    text = "Data Analyst at Acme. Data Analyst"
    low = PredictedSpan(0, 12, "Skills", 0.55)
    high = PredictedSpan(22, 34, "Designation", 0.9)
    conventions = SpanConventions(repeated=["Skills", "Designation"])
    # Each occurrence keeps its own span; neither is relabelled or doubled.
    assert finish_spans(text, [low, high], conventions, 0.5) == [low, high]
    # A third occurrence goes to the surer span's label.
    text3 = text + "; Data Analyst"
    third = PredictedSpan(36, 48, "Designation", 0.9)
    assert finish_spans(text3, [low, high], conventions, 0.5) == [low, high, third]


def test_decoder_repeats_a_predicted_span_across_the_whole_document():
    text = "python, sql\n" + "worked on data pipelines. " * 40 + "python"
    encoding = encode_text(minilm(), text)
    probs = np.full((len(encoding), len(TAGS)), 1e-3)
    heads = encoding.word_heads()
    probs[:, TAGS.index("O")] = 0.9
    probs[heads[0], TAGS.index("B-Skills")] = 0.95
    conventions = SpanConventions(repeated=["Skills"])
    spans = decode_spans(text, encoding, probs, ID2LABEL, conventions, min_score=0.5)
    assert [(s.start, s.end) for s in spans] == [(0, 6), (len(text) - 6, len(text))]
    unfinished = decode_spans(text, encoding, probs, ID2LABEL, conventions, finish=False)
    assert [(s.start, s.end) for s in unfinished] == [(0, 6)]


def fragmented(text: str) -> tuple[object, np.ndarray]:
    """A MiniLM encoding of `text` and probabilities that start a new Skills span at every
    word, with O for punctuation; each word's head gets probability 0.6 + its index / 100."""
    encoding = encode_text(minilm(), text)
    probs = np.full((len(encoding), len(TAGS)), 1e-3)
    extents = encoding.word_extents()
    for word, (head, (start, end)) in enumerate(zip(encoding.word_heads(), extents, strict=True)):
        is_word = re.fullmatch(r"\w+", text[start:end]) is not None
        probs[head, TAGS.index("B-Skills" if is_word else "O")] = 0.6 + word / 100
    return encoding, probs


def test_decoder_joins_split_spans_across_learned_gaps_only():
    text = "python, sql / java\nspark"
    encoding, probs = fragmented(text)
    split = decode_spans(text, encoding, probs, ID2LABEL)
    assert [s.text(text) for s in split] == ["python", "sql", "java", "spark"]

    joined = decode_spans(text, encoding, probs, ID2LABEL, SpanConventions({"Skills": [", "]}))
    # ", " is a join; " / " is not in the table; the line break never joins.
    assert [s.text(text) for s in joined] == ["python, sql", "java", "spark"]
    # The joined span's score is the mean over all its words (0.60 and 0.62; the comma is O).
    assert joined[0] == PredictedSpan(0, 11, "Skills", pytest.approx(0.61))
    # The score floor judges the joined span, not its pieces: "python" alone (0.60) would
    # fall under 0.605, the joined "python, sql" (0.61) stays.
    floored = decode_spans(
        text, encoding, probs, ID2LABEL, SpanConventions({"Skills": [", "]}), min_score=0.605
    )
    assert [s.text(text) for s in floored] == ["python, sql", "java", "spark"]
    unjoined = decode_spans(text, encoding, probs, ID2LABEL, min_score=0.605)
    assert [s.text(text) for s in unjoined] == ["sql", "java", "spark"]


def test_decoder_never_joins_different_labels():
    text = "python, pune"
    encoding = encode_text(minilm(), text)
    probs = np.full((len(encoding), len(TAGS)), 1e-3)
    heads = encoding.word_heads()
    probs[heads[0], TAGS.index("B-Skills")] = 0.9
    probs[heads[1], TAGS.index("O")] = 0.9
    probs[heads[2], TAGS.index("B-Location")] = 0.9
    conventions = SpanConventions({"Skills": [", "], "Location": [", "]})
    spans = decode_spans(text, encoding, probs, ID2LABEL, conventions)
    assert [(s.text(text), s.label) for s in spans] == [("python", "Skills"), ("pune", "Location")]


def test_decoder_ends_single_line_labels_at_a_line_break():
    text = "Vikas Singh\nChandigarh Punjab"
    encoding = encode_text(minilm(), text)
    tags = ["B-Location", "I-Location", "I-Location", "I-Location"]
    probs = np.full((len(encoding), len(TAGS)), 1e-3)
    for head, tag in zip(encoding.word_heads(), tags, strict=True):
        probs[head, TAGS.index(tag)] = 0.9
    one = decode_spans(text, encoding, probs, ID2LABEL)
    assert [s.text(text) for s in one] == [text]
    conventions = SpanConventions(single_line=["Location"])
    two = decode_spans(text, encoding, probs, ID2LABEL, conventions)
    assert [s.text(text) for s in two] == ["Vikas Singh", "Chandigarh Punjab"]
    # Another label is left as the model wrote it.
    skills = SpanConventions(single_line=["Skills"])
    assert decode_spans(text, encoding, probs, ID2LABEL, skills) == one


def test_checkpoint_label_map_carries_the_conventions(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    write_json(tmp_path / "config.json", {})
    label_map = {"id2label": {"0": "O"}, "max_length": 64, "stride": 8}
    write_json(tmp_path / LABEL_MAP, label_map)
    # A checkpoint written before conventions existed decodes as it was validated: none,
    # and no score floor.
    old = read_inference_bundle(tmp_path)
    assert (old.conventions, old.min_span_score) == (SpanConventions(), 0.0)
    learned = SpanConventions(
        joins={"Skills": [", "]}, single_line=["Name"], repeated=["Companies worked at"]
    )
    write_json(
        tmp_path / LABEL_MAP,
        {**label_map, "span_conventions": learned.to_json(), "min_span_score": 0.5},
    )
    new = read_inference_bundle(tmp_path)
    assert (new.conventions, new.min_span_score) == (learned, 0.5)


def test_a_malformed_label_map_is_refused_with_the_file_named(tmp_path):
    from resume_ner.checkpoints import CheckpointError

    (tmp_path / "model.safetensors").write_bytes(b"")
    write_json(tmp_path / "config.json", {})
    label_map = {"id2label": {"0": "O"}, "max_length": 64, "stride": 8}
    write_json(tmp_path / LABEL_MAP, {**label_map, "span_conventions": {"joins": ["Skills"]}})
    with pytest.raises(CheckpointError, match=r"label_map\.json is malformed"):
        read_inference_bundle(tmp_path)
    write_json(tmp_path / LABEL_MAP, {**label_map, "min_span_score": 7})
    with pytest.raises(CheckpointError, match=r"malformed .*min_span_score=7"):
        read_inference_bundle(tmp_path)

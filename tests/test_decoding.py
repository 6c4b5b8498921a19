"""merge_windows, viterbi_tags and decode_spans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fixtures_tokenizers import deberta_spm, minilm

from resume_ner.decoding import PredictedSpan, decode_spans, merge_windows, viterbi_tags
from resume_ner.windows import Window, bio_labels, encode_text

TAGS = bio_labels(["Skills", "Companies worked at"])
ID2LABEL = dict(enumerate(TAGS))
C = len(TAGS)


def window(start, end, n_prefix=1, n_suffix=1):
    n = end - start
    return Window(0, start, end, [0] * (n_prefix + n + n_suffix), None, n_prefix)


def constant_scores(w, cls, rows=None):
    scores = np.zeros((rows or len(w.input_ids), C))
    scores[:, cls] = 1.0
    return scores


def test_merge_takes_each_token_from_its_most_central_window():
    # 30 tokens, windows [0, 20) and [12, 30): they overlap on tokens 12..19.
    first, second = window(0, 20), window(12, 30)
    merged = merge_windows(
        30, [first, second], [constant_scores(first, 1), constant_scores(second, 2)]
    )
    chosen = merged.argmax(axis=1)
    # Token t in the first window: the document start does not count, so distance to its
    # end 19 - t; in the second: min(t - 12, 29 is the document end -> no limit) = t - 12.
    for t in range(30):
        if t < 12:
            assert chosen[t] == 1
        elif t >= 20:
            assert chosen[t] == 2
        else:
            expected = 1 if (19 - t) >= (t - 12) else 2  # ties go to the earlier window
            assert chosen[t] == expected, t
    assert chosen[15] == 1 and chosen[16] == 2


def test_merge_middle_window_wins_over_both_neighbours():
    windows = [window(0, 10), window(6, 16), window(12, 22)]
    scores = [constant_scores(w, k + 1) for k, w in enumerate(windows)]
    chosen = merge_windows(22, windows, scores).argmax(axis=1)
    # Token 8: first window distance to end 1; second window min(2, 7) = 2 -> second.
    assert chosen[8] == 2
    # Token 14: second window min(8, 1) = 1; third window min(2, doc end) = 2 -> third.
    assert chosen[14] == 3
    assert chosen[11] == 2  # only the middle window is deep there
    assert chosen[0] == 1 and chosen[21] == 3


def test_merge_accepts_content_rows_and_padded_input_rows():
    w = window(0, 5, n_prefix=2, n_suffix=1)
    content = np.arange(5 * C, dtype=float).reshape(5, C)
    padded = np.zeros((2 + 5 + 1 + 4, C))  # 2 prefix specials, 1 suffix, 4 padding
    padded[2:7] = content
    assert np.array_equal(merge_windows(5, [w], [content]), content)
    assert np.array_equal(merge_windows(5, [w], [padded]), content)


def test_merge_errors_and_empty_documents():
    assert merge_windows(0, [], [], num_classes=C).shape == (0, C)
    with pytest.raises(ValueError, match="no window"):
        merge_windows(3, [], [])
    with pytest.raises(ValueError, match="in no window"):
        merge_windows(10, [window(0, 5)], [constant_scores(window(0, 5), 0)])


def is_valid_bio(tags):
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_is_the_best_valid_bio_sequence(seed):
    # Against brute force: every tag sequence of 4 words over the 5 tags.
    rng = np.random.default_rng(seed)
    log_probs = np.log(rng.dirichlet(np.full(C, 0.5), size=4))
    best = max(
        (
            path
            for path in itertools.product(range(C), repeat=4)
            if is_valid_bio([TAGS[i] for i in path])
        ),
        key=lambda path: sum(log_probs[k, i] for k, i in enumerate(path)),
    )
    assert viterbi_tags(log_probs, TAGS) == list(best)


def test_viterbi_keeps_an_entity_whole_across_a_doubtful_word():
    # Per-word argmax reads B I O I: two spans. The valid path B I I I scores higher.
    rows = [("B-Skills", 0.9), ("I-Skills", 0.9), ("O", 0.5), ("I-Skills", 0.9)]
    log_probs = np.full((4, C), np.log(0.02))
    for k, (tag, p) in enumerate(rows):
        log_probs[k, TAGS.index(tag)] = np.log(p)
    log_probs[2, TAGS.index("I-Skills")] = np.log(0.45)
    assert [TAGS[i] for i in viterbi_tags(log_probs, TAGS)] == ["B-Skills"] + ["I-Skills"] * 3
    assert viterbi_tags(np.zeros((0, C)), TAGS) == []


def probs_for(encoding, tags_by_token):
    probs = np.full((len(encoding), C), 0.01)
    for index, tag in enumerate(tags_by_token):
        probs[index, TAGS.index(tag)] = 0.9
    return probs / probs.sum(axis=1, keepdims=True)


def test_decode_is_word_level_and_covers_all_sub_tokens():
    tok = minilm()
    text = "Worked at Infosys in Pune"
    encoding = encode_text(tok, text)
    pieces = tok.convert_ids_to_tokens(encoding.token_ids.tolist())
    assert pieces == ["worked", "at", "info", "##sy", "##s", "in", "pune"]
    # The head decides; the continuation sub-tokens' own (contradictory) tags are ignored.
    tags = ["O", "O", "B-Companies worked at", "O", "B-Skills", "O", "O"]
    spans = decode_spans(text, encoding, probs_for(encoding, tags), ID2LABEL)
    assert [(s.start, s.end, s.label) for s in spans] == [(10, 17, "Companies worked at")]
    assert spans[0].text(text) == "Infosys"


def skills_then_company():
    """ "python java , sql" with probabilities that decode to a Skills span scored 0.7 and a
    Companies span scored 0.3: (text, encoding, probs)."""
    text = "python java , sql"
    encoding = encode_text(minilm(), text)
    probs = np.full((4, C), 0.0)
    probs[0, TAGS.index("B-Skills")] = 0.6
    probs[0, TAGS.index("O")] = 0.4
    probs[1, TAGS.index("I-Skills")] = 0.8
    probs[1, TAGS.index("O")] = 0.2
    probs[2, TAGS.index("O")] = 1.0
    # An I- that nothing can precede: the best valid reading starts the entity there.
    probs[3, TAGS.index("I-Companies worked at")] = 0.7
    probs[3, TAGS.index("B-Companies worked at")] = 0.3
    return text, encoding, probs


def test_decode_yields_valid_spans_scored_by_mean_word_probability():
    text, encoding, probs = skills_then_company()
    spans = decode_spans(text, encoding, probs, ID2LABEL)
    assert spans == [
        PredictedSpan(0, 11, "Skills", pytest.approx(0.7)),
        PredictedSpan(14, 17, "Companies worked at", pytest.approx(0.3)),
    ]


def test_min_score_drops_the_spans_scored_under_it_and_keeps_the_rest():
    text, encoding, probs = skills_then_company()
    every = decode_spans(text, encoding, probs, ID2LABEL)
    assert [s.score for s in every] == [pytest.approx(0.7), pytest.approx(0.3)]
    kept = decode_spans(text, encoding, probs, ID2LABEL, min_score=0.5)
    assert kept == every[:1]
    # the floor is inclusive, and 0 keeps everything
    assert decode_spans(text, encoding, probs, ID2LABEL, min_score=0.7) == every[:1]
    assert decode_spans(text, encoding, probs, ID2LABEL, min_score=0.0) == every
    assert decode_spans(text, encoding, probs, ID2LABEL, min_score=0.71) == []


def test_min_span_score_outside_0_1_is_refused_with_the_setting_named():
    from resume_ner.decoding import check_min_span_score

    assert check_min_span_score(0.5, "training.min_span_score") == 0.5
    assert check_min_span_score(1, "x") == 1.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"training\.min_span_score=.*\[0, 1\]"):
            check_min_span_score(bad, "training.min_span_score")


def test_decode_type_change_splits_spans():
    tok = minilm()
    text = "python infosys"
    encoding = encode_text(tok, text)
    tags = ["B-Skills", "B-Companies worked at"]
    spans = decode_spans(text, encoding, probs_for(encoding, tags), ID2LABEL)
    assert [(s.start, s.end, s.label) for s in spans] == [
        (0, 6, "Skills"),
        (7, 14, "Companies worked at"),
    ]


def test_decode_strips_sentencepiece_leading_space():
    tok = deberta_spm()
    text = "Lead  java developer\n  at Infosys ,"
    encoding = encode_text(tok, text)
    tags = ["I-Skills"] * len(encoding)
    spans = decode_spans(text, encoding, probs_for(encoding, tags), ID2LABEL)
    assert [s.text(text) for s in spans] == ["Lead  java developer\n  at Infosys ,"]
    word_spans = decode_spans(
        text,
        encoding,
        probs_for(encoding, ["B-Skills"] * len(encoding)),
        ID2LABEL,
    )
    assert [s.text(text) for s in word_spans] == ["Lead", "java", "developer", "at", "Infosys", ","]


def test_decode_empty_document():
    tok = minilm()
    encoding = encode_text(tok, "   ")
    assert decode_spans("   ", encoding, np.zeros((0, C)), ID2LABEL) == []

"""From per-window class probabilities back to character spans (numpy only, no torch).

1. `merge_windows`: one probability row per content token, each taken from the window in
   which the token is most central.
2. `decode_spans`: word-level decoding (each word's head sub-token decides its tag, the span
   covers every sub-token of its words), `repair_bio`, character spans trimmed of
   whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from resume_ner.windows import DocumentEncoding, Window


@dataclass(frozen=True, order=True)
class PredictedSpan:
    start: int
    end: int  # exclusive
    label: str
    score: float

    def text(self, document_text: str) -> str:
        return document_text[self.start : self.end]


def _content_rows(window: Window, scores: np.ndarray) -> np.ndarray:
    n = window.num_content
    if scores.shape[0] == n:
        return scores
    if scores.shape[0] < window.n_prefix + n:
        raise ValueError(
            f"window [{window.token_start}, {window.token_end}) needs {n} content rows or "
            f"{window.n_prefix + n}+ input rows, got scores of shape {scores.shape}"
        )
    return scores[window.n_prefix : window.n_prefix + n]


def merge_windows(
    num_tokens: int,
    windows: Sequence[Window],
    window_scores: Sequence[np.ndarray],
    *,
    num_classes: int | None = None,
) -> np.ndarray:
    """Per-token class scores [num_tokens, C] of one document from its windows' scores.

    `window_scores[k]` holds one row per input position of `windows[k]` (as the model
    returns them, trailing padding allowed) or one row per content token. Each token takes
    its row from the window where it is most central: the largest min(distance to the
    window's first token, distance to its last token), where a window edge that is also the
    document's edge does not count (the token has all the context there is on that side).
    Ties go to the earlier window.
    """
    if len(windows) != len(window_scores):
        raise ValueError(f"{len(windows)} windows but {len(window_scores)} score arrays")
    if not windows:
        if num_tokens:
            raise ValueError(f"{num_tokens} tokens but no window covers them")
        return np.zeros((0, num_classes or 0), dtype=np.float32)
    classes = window_scores[0].shape[-1]
    merged = np.zeros((num_tokens, classes), dtype=np.result_type(*window_scores))
    best = np.full(num_tokens, -1, dtype=np.int64)
    big = num_tokens + 1
    for window, scores in zip(windows, window_scores, strict=True):
        rows = _content_rows(window, np.asarray(scores))
        start, end = window.token_start, window.token_end
        if not 0 <= start <= end <= num_tokens:
            raise ValueError(f"window [{start}, {end}) outside a document of {num_tokens} tokens")
        positions = np.arange(start, end)
        from_start = positions - start if start > 0 else np.full(end - start, big)
        to_end = end - 1 - positions if end < num_tokens else np.full(end - start, big)
        centrality = np.minimum(from_start, to_end)
        better = centrality > best[start:end]
        merged[start:end][better] = rows[better]
        best[start:end][better] = centrality[better]
    missing = np.flatnonzero(best < 0)
    if missing.size:
        raise ValueError(f"tokens {missing[:10].tolist()}... are in no window")
    return merged


def repair_bio(tags: Sequence[str]) -> list[str]:
    """Valid BIO: an I-X that follows O, the start, or another type becomes B-X."""
    repaired: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        repaired.append(tag)
        previous = tag
    return repaired


def decode_spans(
    text: str,
    encoding: DocumentEncoding,
    token_probs: np.ndarray,
    id2label: Mapping[int, str],
) -> list[PredictedSpan]:
    """Character spans from per-token probabilities, decided word by word.

    score: the mean, over the span's words, of the probability of the tag the model
    predicted for the word (before BIO repair).
    """
    num_words = encoding.num_words
    if num_words == 0:
        return []
    heads = encoding.word_heads()
    head_probs = np.asarray(token_probs)[heads]
    predicted = head_probs.argmax(axis=-1)
    confidence = head_probs[np.arange(num_words), predicted]
    tags = repair_bio([id2label[int(i)] for i in predicted])
    extents = encoding.word_extents().tolist()
    confidence = confidence.tolist()

    spans: list[PredictedSpan] = []
    label: str | None = None
    start = end = 0
    scores: list[float] = []

    def close() -> None:
        if label is not None and scores:
            s, e = start, end
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                spans.append(PredictedSpan(int(s), int(e), label, float(np.mean(scores))))

    for word in range(num_words):
        tag = tags[word]
        word_start, word_end = extents[word]
        if tag == "O" or tag.startswith("B-") or (label is not None and tag[2:] != label):
            close()
            label, scores = None, []
        if tag == "O":
            continue
        if label is None:
            label, start, end = tag[2:], word_start, word_end
            scores = []
        if word_start >= 0:  # a blank-only word adds no characters
            start = word_start if start < 0 else start
            end = max(end, word_end)
        scores.append(confidence[word])
    close()
    return spans

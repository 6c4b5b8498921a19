"""From per-window class probabilities back to character spans (numpy only, no torch).

1. `merge_windows`: one probability row per content token, each taken from the window in
   which the token is most central.
2. `decode_spans`: word-level decoding. Each word's head sub-token carries its class
   probabilities; `viterbi_tags` picks the most probable valid BIO sequence over the words
   (an I-X only after B-X or I-X), so one doubtful word inside an entity does not cut it
   in two the way a per-word argmax does; a span covers every sub-token of its words and
   is trimmed of whitespace. The span conventions learned from the training annotations
   (resume_ner.span_conventions) then decide two kinds of boundary: neighbouring spans of
   one label that the annotators write as one are joined, and a label they never continue
   across a line break ends there.
3. `finish_spans`: a span whose score is under `min_score` is dropped (the tagger itself
   rates it more likely not to be that entity); then, for the labels the annotators label
   at every occurrence (the repeated labels of the conventions), each kept span's string is
   labelled wherever else it occurs as whole words and no span is yet.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from resume_ner.errors import ConfigError
from resume_ner.span_conventions import SpanConventions, occurrences
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


_IMPOSSIBLE = -1e9


def bio_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Log-scores (0 or impossible) of BIO transitions [from, to] and of each first tag."""
    inside = [label[2:] if label.startswith("I-") else None for label in labels]
    entity = [label[2:] if label != "O" else None for label in labels]
    transitions = np.zeros((len(labels), len(labels)))
    for to, kind in enumerate(inside):
        if kind is not None:
            transitions[[entity[source] != kind for source in range(len(labels))], to] = _IMPOSSIBLE
    first = np.where([kind is not None for kind in inside], _IMPOSSIBLE, 0.0)
    return transitions, first


def viterbi_tags(log_probs: np.ndarray, labels: Sequence[str]) -> list[int]:
    """The most probable tag sequence [N] under `log_probs` [N, C] that is valid BIO."""
    num_steps = log_probs.shape[0]
    if num_steps == 0:
        return []
    transitions, first = bio_transitions(labels)
    score = log_probs[0] + first
    backpointers = np.zeros((num_steps, len(labels)), dtype=np.int64)
    for step in range(1, num_steps):
        candidates = score[:, None] + transitions
        backpointers[step] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[step]
    path = [int(score.argmax())]
    for step in range(num_steps - 1, 0, -1):
        path.append(int(backpointers[step, path[-1]]))
    return path[::-1]


def check_min_span_score(value: float, setting: str) -> float:
    """`value` as a float; ConfigError naming `setting` when it is not a score in [0, 1]."""
    score = float(value)
    if not 0.0 <= score <= 1.0:
        raise ConfigError(
            f"{setting}={value}: give a span score in [0, 1]. 0 keeps every span; 0.5, the "
            f"default, drops the spans the model rates more likely wrong than right."
        )
    return score


def decode_spans(
    text: str,
    encoding: DocumentEncoding,
    token_probs: np.ndarray,
    id2label: Mapping[int, str],
    conventions: SpanConventions | None = None,
    min_score: float = 0.0,
    finish: bool = True,
) -> list[PredictedSpan]:
    """Character spans from per-token probabilities, decided word by word (Viterbi, BIO).

    conventions: the span conventions learned in training; None applies none.
    score: the mean, over the span's words, of the probability of each word's decoded tag.
    finish: end with `finish_spans` (the floor, then the repeats); False returns the spans
    before it, for a caller that finishes them at several floors.
    """
    num_words = encoding.num_words
    if num_words == 0:
        return []
    labels = [id2label[i] for i in range(len(id2label))]
    head_probs = np.asarray(token_probs, dtype=np.float64)[encoding.word_heads()]
    # The floor keeps log finite: a zero probability stays possible, only very unlikely.
    predicted = viterbi_tags(np.log(np.maximum(head_probs, 1e-12)), labels)
    confidence = head_probs[np.arange(num_words), predicted]
    tags = [labels[i] for i in predicted]
    extents = encoding.word_extents().tolist()
    confidence = confidence.tolist()

    # (start, end, label, the confidence of each word) of each span so far
    pieces: list[tuple[int, int, str, list[float]]] = []
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
            if s >= e:
                return
            if conventions is not None and pieces and pieces[-1][2] == label:
                prev_start, prev_end, _, prev_scores = pieces[-1]
                if conventions.joinable(label, text[prev_end:s]):
                    pieces[-1] = (prev_start, e, label, prev_scores + scores)
                    return
            pieces.append((s, e, label, scores))

    single_line = set(conventions.single_line) if conventions is not None else set()
    for word in range(num_words):
        tag = tags[word]
        word_start, word_end = extents[word]
        # A single-line label's span ends at a line break, even where the model continues it.
        if (
            tag.startswith("I-")
            and tag[2:] in single_line
            and 0 <= end <= word_start
            and "\n" in text[end:word_start]
        ):
            tag = "B-" + tag[2:]
        if tag == "O" or tag.startswith("B-"):  # Viterbi tags are valid BIO
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
    spans = [PredictedSpan(int(s), int(e), lab, float(np.mean(sc))) for s, e, lab, sc in pieces]
    return finish_spans(text, spans, conventions, min_score) if finish else spans


def finish_spans(
    text: str,
    spans: Sequence[PredictedSpan],
    conventions: SpanConventions | None,
    min_score: float,
) -> list[PredictedSpan]:
    """The decoder's last steps: the span-score floor, then the repeated labels."""
    kept = [span for span in spans if span.score >= min_score]
    repeated = set(conventions.repeated) if conventions is not None else set()
    if not repeated:
        return kept
    # The surest span claims a recurring string first; a repeat never overlaps a span.
    taken = sorted((span.start, span.end) for span in kept)
    repeats: list[PredictedSpan] = []
    for span in sorted(kept, key=lambda s: (-s.score, s.start)):
        if span.label not in repeated:
            continue
        for start, end in occurrences(text, span.text(text)):
            if not _overlaps(taken, start, end):
                insort(taken, (start, end))
                repeats.append(PredictedSpan(start, end, span.label, span.score))
    return sorted(kept + repeats)


def _overlaps(sorted_extents: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps any of the sorted, non-overlapping extents."""
    at = bisect_left(sorted_extents, (start, end))
    return any(s < end and start < e for s, e in sorted_extents[max(at - 1, 0) : at + 1])

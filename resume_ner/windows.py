"""Whole-document encoding, BIO tags from character spans, and sliding windows.

One code path for training, evaluation, ONNX parity and serving: numpy and plain Python
only (no torch here).

- A document is tokenized ONCE, without special tokens and without truncation
  (`encode_text`); windows are slices of that token sequence, so a token has the same id
  and offsets in every window that holds it.
- Words: the tokenizer's pre-tokenization words, refined so that the same notion holds for
  WordPiece, sentencepiece and byte-level BPE alike: a word also ends at whitespace
  (sentencepiece tokenizers built with `Metaspace(split=False)` report one "word" per
  text) and every punctuation-only token is a word of its own (BERT's pre-tokenizer already
  does that; DeBERTa-v3's does not, and "Infosys," would otherwise be one word, so a
  predicted span could never stop before the comma).
- Blank tokens (only whitespace, e.g. a lone sentencepiece "▁") belong to the next word
  but are never labelled (None / -100) and never decide anything when decoding.
- Offsets are trimmed to the non-whitespace characters of each token (sentencepiece
  offsets include the leading space); a blank token gets an empty (end, end) offset.
- Windows (`window_ranges`): each holds at most max_length - num_special content tokens and
  consecutive windows share `stride` tokens (Hugging Face `return_overflowing_tokens`
  semantics); num_special is the number of special tokens the tokenizer's own template
  adds to one sequence ([CLS] ... [SEP]: 2), read from the tokenizer (`special_template`).
- An empty document (no tokens, e.g. "" or whitespace only) gets NO window: nothing to
  train on, nothing to predict; the decoders return [] for it.
"""

from __future__ import annotations

import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resume_ner.data.document import Document, Span
from resume_ner.errors import ConfigError
from resume_ner.word_features import word_classes

IGNORE_INDEX = -100


def bio_labels(entity_labels: Sequence[str]) -> list[str]:
    """["O", "B-X", "I-X", ...] for the entity labels, sorted (so the order is stable)."""
    labels = ["O"]
    for label in sorted(set(entity_labels)):
        if not label or label == "O":
            raise ValueError(f"invalid entity label {label!r}")
        labels += [f"B-{label}", f"I-{label}"]
    return labels


@dataclass(eq=False)
class DocumentEncoding:
    """The content tokens of one document (no special tokens)."""

    token_ids: np.ndarray  # int64 [N]
    offsets: np.ndarray  # int64 [N, 2]: character (start, end), trimmed of whitespace
    word_ids: np.ndarray  # int64 [N]: word index per token, 0..num_words-1, non-decreasing
    blank: np.ndarray  # bool [N]: token is whitespace only (never labelled)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_words(self) -> int:
        return int(self.word_ids[-1]) + 1 if len(self.word_ids) else 0

    def word_heads(self) -> np.ndarray:
        """Index of each word's head: its first non-blank token (first token if all blank)."""
        n = len(self.token_ids)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        # Blank tokens sort after the non-blank tokens of their word.
        key = self.word_ids * 2 * (n + 1) + self.blank * (n + 1) + np.arange(n)
        order = np.argsort(key, kind="stable")
        words = self.word_ids[order]
        first = np.ones(n, dtype=bool)
        first[1:] = words[1:] != words[:-1]
        heads = np.full(self.num_words, -1, dtype=np.int64)
        heads[words[first]] = order[first]
        return heads

    def word_extents(self) -> np.ndarray:
        """Character (start, end) of each word over its non-blank tokens ([-1, -1] if none)."""
        extents = np.full((self.num_words, 2), -1, dtype=np.int64)
        solid = ~self.blank
        if solid.any():
            words = self.word_ids[solid]
            starts = np.full(self.num_words, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(starts, words, self.offsets[solid, 0])
            ends = np.full(self.num_words, -1, dtype=np.int64)
            np.maximum.at(ends, words, self.offsets[solid, 1])
            present = ends >= 0
            extents[present, 0] = starts[present]
            extents[present, 1] = ends[present]
        return extents


# ---------------------------------------------------------------------------------------
# Encoding


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char)[0] in "PS"


_BACKENDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _backend(tokenizer: Any) -> Any:
    """The tokenizer's `tokenizers.Tokenizer`, without truncation or padding.

    A copy is made (once per tokenizer) when the shared backend has truncation or padding
    switched on, so that encoding never mutates a tokenizer other threads may be using.
    """
    backend = tokenizer.backend_tokenizer
    if backend.truncation is None and backend.padding is None:
        return backend
    cached = _BACKENDS.get(tokenizer)
    if cached is None or cached[0] is not backend:
        import copy

        clean = copy.deepcopy(backend)
        clean.no_truncation()
        clean.no_padding()
        cached = (backend, clean)
        _BACKENDS[tokenizer] = cached
    return cached[1]


def _from_tokenizers_encoding(text: str, encoding: Any) -> DocumentEncoding:
    ids = encoding.ids
    raw_words = encoding.word_ids
    n = len(ids)
    offsets: list[tuple[int, int]] = []
    blank = [False] * n
    punct = [False] * n
    for index, (raw_start, raw_end) in enumerate(encoding.offsets):
        start, end = raw_start, raw_end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            blank[index] = True
            start = end = raw_end
        else:
            piece = text[start:end]
            punct[index] = not piece.isalnum() and all(_is_punctuation(c) for c in piece)
        offsets.append((start, end))

    word_ids = [0] * n
    word = -1
    pending: list[int] = []  # blank tokens waiting for the next word
    prev = -1  # previous non-blank token
    for index in range(n):
        if blank[index]:
            pending.append(index)
            continue
        new_word = (
            prev < 0
            or raw_words[index] != raw_words[prev]
            or punct[index]
            or punct[prev]
            or (
                offsets[index][0] > offsets[prev][1]
                and any(c.isspace() for c in text[offsets[prev][1] : offsets[index][0]])
            )
        )
        if new_word:
            word += 1
        for blank_index in pending:
            word_ids[blank_index] = word
        pending.clear()
        word_ids[index] = word
        prev = index
    for blank_index in pending:  # trailing blanks join the last word (or form word 0)
        word_ids[blank_index] = max(word, 0)
    return DocumentEncoding(
        token_ids=np.asarray(ids, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.int64).reshape(n, 2),
        word_ids=np.asarray(word_ids, dtype=np.int64),
        blank=np.asarray(blank, dtype=bool),
    )


def encode_text(tokenizer: Any, text: str) -> DocumentEncoding:
    """Tokenize a whole document once: content tokens, trimmed offsets, refined words."""
    encoding = _backend(tokenizer).encode(text, add_special_tokens=False)
    return _from_tokenizers_encoding(text, encoding)


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> list[DocumentEncoding]:
    """`encode_text` for many documents (the tokenizer's batch encoder runs in parallel)."""
    if not texts:
        return []
    encodings = _backend(tokenizer).encode_batch(list(texts), add_special_tokens=False)
    return [_from_tokenizers_encoding(t, e) for t, e in zip(texts, encodings, strict=True)]


# ---------------------------------------------------------------------------------------
# Tags


def word_tags(encoding: DocumentEncoding, spans: Sequence[Span]) -> list[str]:
    """BIO tag per word: a word overlapping a span is B- if it is the span's first word.

    A word overlapping two spans belongs to the first; a span that overlaps no word (only
    whitespace, or characters the tokenizer drops) is lost.
    """
    extents = encoding.word_extents().tolist()
    tags = ["O"] * encoding.num_words
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    span_index = 0
    current = -1  # span index of the previous word's tag (to tell B from I)
    for word in range(encoding.num_words):
        start, end = extents[word]
        if start < 0:
            continue
        while span_index < len(ordered) and ordered[span_index].end <= start:
            span_index += 1
        if span_index < len(ordered) and ordered[span_index].start < end:
            span = ordered[span_index]
            tags[word] = ("I-" if current == span_index else "B-") + span.label
            current = span_index
    return tags


def token_tags(
    encoding: DocumentEncoding, spans: Sequence[Span], label_all_tokens: bool
) -> list[str | None]:
    """BIO tag per content token (None: ignored by the loss).

    The head of each word (its first non-blank sub-token) gets the word's tag. With
    label_all_tokens=False the other sub-tokens get None; with True they get the word's tag,
    I-X for the continuation of a B-X word. Blank tokens always get None.
    """
    tags_of_words = word_tags(encoding, spans)
    heads = encoding.word_heads().tolist()
    blank = encoding.blank.tolist()
    out: list[str | None] = [None] * len(encoding)
    for index, word in enumerate(encoding.word_ids.tolist()):
        if blank[index]:
            continue
        tag = tags_of_words[word]
        if index == heads[word]:
            out[index] = tag
        elif label_all_tokens:
            out[index] = "I-" + tag[2:] if tag.startswith("B-") else tag
    return out


# ---------------------------------------------------------------------------------------
# Windows


def window_ranges(
    num_tokens: int, max_length: int, stride: int, num_special: int
) -> list[tuple[int, int]]:
    """Content-token ranges [start, end) of the sliding windows over a document.

    Each window holds at most max_length - num_special content tokens; each starts `stride`
    tokens before the previous one ends (the last may be shorter); together they cover every
    token. No tokens: no window.
    """
    capacity = max_length - num_special
    if capacity < 1:
        raise ConfigError(
            f"max_length={max_length} leaves no room for content next to {num_special} "
            f"special tokens"
        )
    if not 0 <= stride < capacity:
        raise ConfigError(
            f"stride={stride} must be >= 0 and smaller than the {capacity} content tokens a "
            f"window holds (max_length={max_length} minus {num_special} special tokens)"
        )
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < num_tokens:
        end = min(start + capacity, num_tokens)
        ranges.append((start, end))
        if end == num_tokens:
            break
        start = end - stride
    return ranges


def special_template(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence ([CLS] / [SEP], <s> / </s>)."""
    probe = "hello world"
    content = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    if not content:
        raise ValueError(f"the tokenizer encodes {probe!r} to nothing")
    for at in range(len(full) - len(content) + 1):
        if full[at : at + len(content)] == content:
            return full[:at], full[at + len(content) :]
    raise ValueError(
        "cannot locate the content tokens inside the tokenizer's special-token template"
    )


@dataclass(eq=False)
class Window:
    doc_index: int
    token_start: int  # content-token range [token_start, token_end) of the document
    token_end: int
    input_ids: list[int]  # prefix specials + content tokens + suffix specials
    labels: list[int] | None  # per input position, -100 at specials and ignored tokens
    n_prefix: int  # content token i of the window sits at input position i + n_prefix
    # token_type_ids carrying each token's word class (resume_ner.word_features), or None
    type_ids: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_content(self) -> int:
        return self.token_end - self.token_start


def build_windows(
    tokenizer: Any,
    documents: Sequence[Document] | Sequence[str],
    max_length: int,
    stride: int,
    label2id: dict[str, int] | None = None,
    label_all_tokens: bool = False,
    word_features: bool = False,
) -> tuple[list[DocumentEncoding], list[Window]]:
    """Encode every document once and cut it into windows (labels only with label2id,
    token_type_ids holding word classes only with word_features)."""
    prefix, suffix = special_template(tokenizer)
    num_special = len(prefix) + len(suffix)
    texts = [d if isinstance(d, str) else d.text for d in documents]
    encodings = encode_texts(tokenizer, texts)
    windows: list[Window] = []
    for doc_index, (document, encoding) in enumerate(zip(documents, encodings, strict=True)):
        label_ids: list[int] | None = None
        if label2id is not None and isinstance(document, Document):
            tags = token_tags(encoding, document.spans, label_all_tokens)
            label_ids = []
            for tag in tags:
                if tag is None:
                    label_ids.append(IGNORE_INDEX)
                elif tag in label2id:
                    label_ids.append(label2id[tag])
                else:
                    where = f" ({document.source})" if document.source else ""
                    raise KeyError(
                        f"tag {tag!r} of document {doc_index}{where} is not in the label "
                        f"set {sorted(label2id)}"
                    )
        token_ids = encoding.token_ids.tolist()
        classes = None
        if word_features:
            by_word = word_classes(texts[doc_index], encoding.word_extents())
            classes = by_word[encoding.word_ids].tolist()
        for start, end in window_ranges(len(encoding), max_length, stride, num_special):
            labels = None
            if label_ids is not None:
                labels = (
                    [IGNORE_INDEX] * len(prefix)
                    + label_ids[start:end]
                    + [IGNORE_INDEX] * len(suffix)
                )
            windows.append(
                Window(
                    doc_index=doc_index,
                    token_start=start,
                    token_end=end,
                    input_ids=prefix + token_ids[start:end] + suffix,
                    labels=labels,
                    n_prefix=len(prefix),
                    type_ids=None
                    if classes is None
                    else [0] * len(prefix) + classes[start:end] + [0] * len(suffix),
                )
            )
    return encodings, windows

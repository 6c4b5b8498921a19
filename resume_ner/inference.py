"""Framework-neutral prediction: texts in, character spans out.

`forward` is whatever runs the model: a torch module, an ONNX Runtime session, a remote
call. It takes a dict of int64 [B, T] arrays, input_ids and attention_mask, plus
token_type_ids when the model reads word classes (resume_ner.word_features), and returns logits
(float [B, T, C]). Evaluation, ONNX parity checks and the web service all go through
`predict_texts`, so they window, merge and decode identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from resume_ner.decoding import PredictedSpan, decode_spans, merge_windows
from resume_ner.span_conventions import SpanConventions
from resume_ner.windows import DocumentEncoding, Window, build_windows

Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def pad_batch(windows: Sequence[Window], pad_token_id: int) -> dict[str, np.ndarray]:
    """The model inputs (int64 [B, T]) of some windows, padded on the right to the longest:
    input_ids, attention_mask, and token_type_ids when the windows carry them."""
    width = max(len(w.input_ids) for w in windows)
    input_ids = np.full((len(windows), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(windows), width), dtype=np.int64)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if windows[0].type_ids is not None:
        inputs["token_type_ids"] = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        input_ids[row, : len(window.input_ids)] = window.input_ids
        attention_mask[row, : len(window.input_ids)] = 1
        if "token_type_ids" in inputs:
            inputs["token_type_ids"][row, : len(window.input_ids)] = window.type_ids
    return inputs


def window_logits(
    windows: Sequence[Window], forward: Forward, pad_token_id: int, batch_size: int
) -> list[np.ndarray]:
    """The logits (float32 [content tokens, classes]) of each window, in the order of
    `windows`; batches group windows of similar length, to pad little."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids), reverse=True)
    results: list[np.ndarray | None] = [None] * len(windows)
    for at in range(0, len(order), batch_size):
        chosen = order[at : at + batch_size]
        batch = [windows[k] for k in chosen]
        inputs = pad_batch(batch, pad_token_id)
        logits = np.asarray(forward(inputs), dtype=np.float32)
        if logits.ndim != 3 or logits.shape[:2] != inputs["input_ids"].shape:
            raise ValueError(
                f"forward returned logits of shape {logits.shape} for inputs of shape "
                f"{inputs['input_ids'].shape}; expected [batch, length, classes]"
            )
        for row, k in enumerate(chosen):
            window = windows[k]
            results[k] = logits[row, window.n_prefix : window.n_prefix + window.num_content]
    return results  # type: ignore[return-value]


def window_probabilities(
    windows: Sequence[Window], forward: Forward, pad_token_id: int, batch_size: int
) -> list[np.ndarray]:
    """Class probabilities per content token of each window, in the order of `windows`."""
    return [softmax(logits) for logits in window_logits(windows, forward, pad_token_id, batch_size)]


def padding_id(tokenizer: Any) -> int:
    """The id that pads a batch: the pad token's, else the end token's, else 0."""
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else 0


def decode_documents(
    texts: Sequence[str],
    encodings: Sequence[DocumentEncoding],
    windows: Sequence[Window],
    probabilities: Sequence[np.ndarray],
    id2label: Mapping[int, str],
    conventions: SpanConventions | None = None,
    min_score: float = 0.0,
    finish: bool = True,
) -> list[list[PredictedSpan]]:
    """Merge each document's window probabilities and decode them into spans."""
    per_doc: list[list[int]] = [[] for _ in texts]
    for k, window in enumerate(windows):
        per_doc[window.doc_index].append(k)
    results: list[list[PredictedSpan]] = []
    for doc_index, (text, encoding) in enumerate(zip(texts, encodings, strict=True)):
        ks = per_doc[doc_index]
        if not ks:
            results.append([])
            continue
        token_probs = merge_windows(
            len(encoding), [windows[k] for k in ks], [probabilities[k] for k in ks]
        )
        results.append(
            decode_spans(text, encoding, token_probs, id2label, conventions, min_score, finish)
        )
    return results


def predict_texts(
    texts: Sequence[str],
    tokenizer: Any,
    forward: Forward,
    id2label: Mapping[int, str],
    max_length: int,
    stride: int,
    batch_size: int,
    word_features: bool = False,
    conventions: SpanConventions | None = None,
    min_score: float = 0.0,
    finish: bool = True,
) -> list[list[PredictedSpan]]:
    """Predicted spans for each text, in the order of `texts` (word_features: the model reads
    word classes as token_type_ids; conventions: the span conventions learned in training;
    min_score: the lowest span score kept; all as the checkpoint's label map says; finish:
    see `decoding.decode_spans`)."""
    texts = list(texts)
    if not texts:
        return []
    encodings, windows = build_windows(
        tokenizer, texts, max_length, stride, label2id=None, word_features=word_features
    )
    probabilities = window_probabilities(windows, forward, padding_id(tokenizer), batch_size)
    return decode_documents(
        texts, encodings, windows, probabilities, id2label, conventions, min_score, finish
    )

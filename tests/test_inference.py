"""predict_texts with a fake model that returns the gold tags of the windows it is given."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tokenizers import deberta_spm, minilm

from resume_ner.data.synthetic import LABELS, generate
from resume_ner.inference import predict_texts
from resume_ner.windows import IGNORE_INDEX, bio_labels, build_windows

TAGS = bio_labels(LABELS)
LABEL2ID = {tag: i for i, tag in enumerate(TAGS)}
ID2LABEL = dict(enumerate(TAGS))


class GoldForward:
    """forward(inputs) -> logits: one-hot gold tags, looked up per window."""

    def __init__(self, tokenizer, documents, max_length, stride):
        _, windows = build_windows(tokenizer, documents, max_length, stride, LABEL2ID)
        self.lookup: dict[tuple[int, ...], list[int]] = {}
        for window in windows:
            key = tuple(window.input_ids)
            assert self.lookup.setdefault(key, window.labels) == window.labels
        self.pad_token_id = tokenizer.pad_token_id
        self.batches: list[tuple[int, int]] = []

    def __call__(self, inputs):
        assert set(inputs) == {"input_ids", "attention_mask"}
        input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
        assert input_ids.dtype == np.int64 and attention_mask.dtype == np.int64
        assert input_ids.shape == attention_mask.shape
        self.batches.append(input_ids.shape)
        logits = np.zeros((*input_ids.shape, len(TAGS)), dtype=np.float32)
        for row, (ids, mask) in enumerate(zip(input_ids, attention_mask, strict=True)):
            length = int(mask.sum())
            assert mask[:length].all() and not mask[length:].any()
            assert (ids[length:] == self.pad_token_id).all()
            labels = self.lookup[tuple(ids[:length].tolist())]
            for position, label in enumerate(labels):
                if label != IGNORE_INDEX:
                    logits[row, position, label] = 12.0
        return logits


@pytest.mark.parametrize("tokenizer_factory", [minilm, deberta_spm], ids=["minilm", "spm"])
def test_predict_texts_recovers_gold_spans_in_input_order(tokenizer_factory):
    tokenizer = tokenizer_factory()
    documents = generate(10, seed=5, long_fraction=0.3)
    max_length, stride, batch_size = 64, 16, 4
    forward = GoldForward(tokenizer, documents, max_length, stride)
    texts = [d.text for d in documents]
    results = predict_texts(texts, tokenizer, forward, ID2LABEL, max_length, stride, batch_size)
    assert len(results) == len(documents)
    for document, spans in zip(documents, results, strict=True):
        assert [(s.start, s.end, s.label) for s in spans] == [
            (s.start, s.end, s.label) for s in document.spans
        ]
        assert all(0.99 < s.score <= 1.0 for s in spans)
    assert all(rows <= batch_size for rows, _ in forward.batches)
    assert sum(rows for rows, _ in forward.batches) > len(documents)  # long docs: many windows
    widths = [width for _, width in forward.batches]
    assert widths == sorted(widths, reverse=True)  # sorted by length, dynamic padding
    assert max(widths) == max_length


def test_predict_texts_empty_inputs_and_empty_texts():
    tokenizer = minilm()
    documents = generate(2, seed=9)
    forward = GoldForward(tokenizer, documents, 128, 16)
    texts = ["", documents[1].text, "   \n", documents[0].text]
    results = predict_texts(texts, tokenizer, forward, ID2LABEL, 128, 16, 8)
    assert results[0] == [] and results[2] == []
    assert [(s.start, s.end, s.label) for s in results[1]] == [
        (s.start, s.end, s.label) for s in documents[1].spans
    ]
    assert predict_texts([], tokenizer, forward, ID2LABEL, 128, 16, 8) == []


def test_forward_with_wrong_shape_is_an_error():
    def bad_forward(inputs):
        return np.zeros((inputs["input_ids"].shape[0], 3))

    with pytest.raises(ValueError, match="expected \\[batch, length, classes\\]"):
        predict_texts(["python developer"], minilm(), bad_forward, ID2LABEL, 32, 8, 2)


def test_word_features_are_sent_as_token_type_ids():
    tokenizer = minilm()
    seen = []

    def forward(inputs):
        seen.append(inputs)
        return np.zeros((*inputs["input_ids"].shape, len(TAGS)), dtype=np.float32)

    text = "Worked at INFOSYS\npune"
    predict_texts([text], tokenizer, forward, ID2LABEL, 32, 8, 2, word_features=True)
    (inputs,) = seen
    pieces = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    assert pieces == ["[CLS]", "worked", "at", "info", "##sy", "##s", "pune", "[SEP]"]
    # 3 * line + case: "Worked" starts the document (4), "INFOSYS" is all capitals (2),
    # "pune" starts a line (3).
    assert inputs["token_type_ids"][0].tolist() == [0, 4, 0, 2, 2, 2, 3, 0]
    predict_texts([text], tokenizer, forward, ID2LABEL, 32, 8, 2)
    assert "token_type_ids" not in seen[-1]

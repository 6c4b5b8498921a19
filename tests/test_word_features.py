"""Word classes (letter case, line breaks) as token-type ids: classes, when they switch on,
and the grown embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_tokenizers import minilm

from resume_ner.errors import ConfigError
from resume_ner.windows import encode_text
from resume_ner.word_features import (
    NUM_CLASSES,
    add_feature_embeddings,
    use_word_features,
    word_classes,
)


def classes_of(text: str) -> list[tuple[str, int, int]]:
    """(word, line class, case class) per word."""
    encoding = encode_text(minilm(), text)
    extents = encoding.word_extents()
    return [
        (text[start:end], int(c) // 3, int(c) % 3)
        for (start, end), c in zip(extents.tolist(), word_classes(text, extents), strict=True)
    ]


def test_word_classes_carry_case_and_line_position():
    text = "Rahul Sharma\nTCS - iOS developer\n\nB.Tech 2019 X"
    assert classes_of(text) == [
        ("Rahul", 1, 1),  # the document's first word starts a line
        ("Sharma", 0, 1),
        ("TCS", 1, 2),
        ("-", 0, 0),
        ("iOS", 0, 0),
        ("developer", 0, 0),
        ("B", 2, 1),  # after a blank line
        (".", 0, 0),
        ("Tech", 0, 1),
        ("2019", 0, 0),
        ("X", 0, 1),
    ]


def test_every_sub_token_takes_its_word_class():
    from resume_ner.windows import build_windows

    tokenizer = minilm()
    text = "worked at\nINFOSYS"
    _, (window,) = build_windows(tokenizer, [text], 32, 8, word_features=True)
    pieces = tokenizer.convert_ids_to_tokens(window.input_ids)
    assert pieces == ["[CLS]", "worked", "at", "info", "##sy", "##s", "[SEP]"]
    assert window.type_ids == [0, 3, 0, 5, 5, 5, 0]
    _, (plain,) = build_windows(tokenizer, [text], 32, 8)
    assert plain.type_ids is None


def test_word_features_need_token_type_embeddings():
    from transformers import BertConfig, DebertaV2Config, DistilBertConfig

    assert use_word_features("auto", BertConfig())
    assert not use_word_features("auto", DistilBertConfig())
    assert not use_word_features("auto", DebertaV2Config(type_vocab_size=0))
    assert use_word_features("on", BertConfig())
    assert not use_word_features("off", BertConfig())
    with pytest.raises(ConfigError, match=r"model\.word_features=on needs token-type embeddings"):
        use_word_features("on", DistilBertConfig())
    with pytest.raises(ConfigError, match=r"model\.word_features=yes: use one of auto, on, off"):
        use_word_features("yes", BertConfig())


def test_grown_embeddings_start_as_the_pretrained_model_and_round_trip(tmp_path):
    import torch
    from transformers import AutoModelForTokenClassification, BertConfig

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3,
    )  # fmt: skip
    model = AutoModelForTokenClassification.from_config(config).eval()
    ids = torch.randint(5, 100, (2, 7))
    types = torch.randint(0, NUM_CLASSES, (2, 7))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        add_feature_embeddings(model)
        # Every new row starts as row 0: any classes give the pretrained outputs.
        assert torch.allclose(model(input_ids=ids, token_type_ids=types).logits, before)
        model.base_model.embeddings.token_type_embeddings.weight[types[0, 0]] += 1.0  # trained
        trained = model(input_ids=ids, token_type_ids=types).logits
    assert model.config.type_vocab_size == NUM_CLASSES == 9
    assert not torch.allclose(trained, before)

    model.save_pretrained(str(tmp_path), safe_serialization=True)
    reloaded = AutoModelForTokenClassification.from_pretrained(
        str(tmp_path), use_safetensors=True
    ).eval()
    with torch.no_grad():
        again = reloaded(input_ids=ids, token_type_ids=types).logits
    np.testing.assert_allclose(again.numpy(), trained.numpy(), atol=1e-6)

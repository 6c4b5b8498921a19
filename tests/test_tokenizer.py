"""load_tokenizer / ensure_fast: fast tokenizers only, converted when needed, clear errors."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from fixtures_tokenizers import (
    deberta_converted,
    deberta_spm,
    minilm,
    sentencepiece_folder,
    slow_deberta,
)

from resume_ner.tokenizer import TokenizerError, ensure_fast, load_tokenizer

SENTENCES = [
    "Rahul Sharma, Senior Software Engineer at Infosys (Bangalore).",
    "skills : python | java | sql - 5 years",
    "  leading spaces and   runs of spaces\nand newlines  ",
]


def test_bundled_minilm_is_fast_wordpiece():
    tok = minilm()
    assert tok.is_fast
    assert tok.backend_tokenizer.model.__class__.__name__ == "WordPiece"
    encoding = tok.backend_tokenizer.encode("Infosys", add_special_tokens=False)
    assert encoding.offsets[0] == (0, 4)


def test_sentencepiece_deberta_folder_loads_as_fast():
    tok = deberta_spm()
    assert tok.is_fast and type(tok).__name__.startswith("DebertaV2Tokenizer")
    assert tok.backend_tokenizer.model.__class__.__name__ == "Unigram"
    slow = slow_deberta()
    for sentence in SENTENCES[:2]:
        assert list(tok(sentence)["input_ids"]) == list(slow(sentence)["input_ids"])


def test_slow_tokenizer_is_converted_to_fast():
    slow = slow_deberta()
    assert not slow.is_fast
    fast = deberta_converted()
    assert fast.is_fast
    assert fast.cls_token == "[CLS]" and fast.sep_token == "[SEP]" and fast.pad_token == "[PAD]"
    for sentence in SENTENCES[:2]:
        assert list(fast(sentence)["input_ids"]) == list(slow(sentence)["input_ids"])
        assert fast(sentence, return_offsets_mapping=True)["offset_mapping"]
    assert ensure_fast(fast) is fast


def test_slow_tokenizer_without_converter_is_a_clear_error():
    slow = slow_deberta(name="MysteryTokenizer")
    with pytest.raises(TokenizerError) as caught:
        ensure_fast(slow, "acme/mystery-model")
    message = str(caught.value)
    assert "acme/mystery-model" in message and "MysteryTokenizer" in message
    assert "tokenizer.json" in message and "sentencepiece" in message


def test_folder_without_vocabulary_is_refused(tmp_path):
    # transformers 5.x builds a DeBERTa tokenizer of 7 special tokens from such a folder.
    folder = tmp_path / "no-vocab"
    folder.mkdir()
    for name in ("tokenizer_config.json", "config.json"):
        shutil.copy(Path(sentencepiece_folder()) / name, folder / name)
    with pytest.raises(TokenizerError, match="unknown tokens only"):
        load_tokenizer(str(folder))


def test_failed_sentencepiece_conversion_is_a_clear_error(tmp_path, monkeypatch):
    # The module, not the function of the same name that `transformers` also exports
    # (which one `import transformers.convert_slow_tokenizer as x` binds depends on order).
    convert = importlib.import_module("transformers.convert_slow_tokenizer")

    def missing(self, *args, **kwargs):
        raise ImportError("protobuf is not installed (simulated)")

    monkeypatch.setattr(convert.SentencePieceExtractor, "__init__", missing)
    folder = tmp_path / "spm"
    shutil.copytree(sentencepiece_folder(), folder)
    with pytest.raises(TokenizerError) as caught:
        load_tokenizer(str(folder))
    message = str(caught.value)
    assert str(folder) in message
    assert "sentencepiece" in message and "protobuf" in message and "tokenizer.json" in message


def test_missing_model_is_a_tokenizer_error(tmp_path):
    with pytest.raises(TokenizerError, match="Cannot load the tokenizer"):
        load_tokenizer(str(tmp_path / "does-not-exist"))


def test_never_trusts_remote_code(monkeypatch):
    from transformers import AutoTokenizer

    seen = {}
    real = AutoTokenizer.from_pretrained

    def spy(name, **kwargs):
        seen.update(kwargs)
        return real(name, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", spy)
    load_tokenizer(sentencepiece_folder(), revision=None)
    assert seen["trust_remote_code"] is False and seen["use_fast"] is True

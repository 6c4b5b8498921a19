"""Load a *fast* tokenizer: character offsets, which span alignment needs, exist only there.

transformers 5.x builds every tokenizer on the `tokenizers` backend and converts a
sentencepiece model (e.g. DeBERTa-v3's spm.model) itself, through the same
convert_slow_tokenizer machinery (it needs the sentencepiece and protobuf packages).
transformers 4.x may still hand back a slow tokenizer; `ensure_fast` converts that one.

A tokenizer that cannot be had as a working fast tokenizer raises `TokenizerError`, with
the model, the reason and the fix. It never degrades silently: a tokenizer that maps plain
English to unknown tokens only (transformers 5.x builds one when a folder has neither
tokenizer.json nor spm.model) is refused too, since it would train and predict all-O.
"""

from __future__ import annotations

from typing import Any

from resume_ner.errors import TokenizerError

_PROBE = "John Smith is a Senior Software Engineer at Acme Corp in New York since 2019."

_FIX = (
    "Install the packages the conversion needs (`pip install sentencepiece protobuf`), or "
    "provide a fast-tokenizer file: save the tokenizer with a fast tokenizer somewhere it "
    "works (`AutoTokenizer.from_pretrained(...).save_pretrained(folder)` writes "
    "tokenizer.json) and point model.pretrained at that folder."
)

_SPECIAL_NAMES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def load_tokenizer(name_or_path: str, revision: str | None = None) -> Any:
    """A fast (offset-capable) tokenizer for `name_or_path`, never with remote code."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, revision=revision, use_fast=True, trust_remote_code=False
        )
    except Exception as error:  # transformers raises ValueError, OSError, ImportError...
        raise TokenizerError(
            f"Cannot load the tokenizer of {name_or_path!r}"
            f"{f' (revision {revision})' if revision else ''}: {type(error).__name__}: {error}. "
            f"If the model ships only a sentencepiece model (spm.model, *.model), transformers "
            f"must convert it to a fast tokenizer and needs sentencepiece and protobuf for it. "
            f"{_FIX}"
        ) from error
    tokenizer = ensure_fast(tokenizer, name_or_path)
    check_vocabulary(tokenizer, name_or_path)
    return tokenizer


def load_saved_fast_tokenizer(folder: str) -> Any:
    """The fast tokenizer a package saved (tokenizer.json with its config), loaded as
    PreTrainedTokenizerFast: the same ids and offsets as load_tokenizer, without
    AutoTokenizer's model-config machinery, which imports torch (transformers 5); the
    service runs on ONNX Runtime alone."""
    from pathlib import Path

    if not (Path(folder) / "tokenizer.json").is_file():
        return load_tokenizer(folder)
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(folder)
    except Exception as error:  # a damaged tokenizer.json or config
        raise TokenizerError(
            f"Cannot load the tokenizer saved in {folder}: {type(error).__name__}: {error}. "
            f"Convert the checkpoint again (python -m resume_ner.convert)."
        ) from error


def ensure_fast(tokenizer: Any, name: str | None = None) -> Any:
    """`tokenizer` itself when it is fast, else its conversion into a fast tokenizer."""
    if getattr(tokenizer, "is_fast", False) and hasattr(tokenizer, "backend_tokenizer"):
        return tokenizer
    name = name or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import convert_slow_tokenizer

    try:
        backend = convert_slow_tokenizer(tokenizer)
    except Exception as error:
        raise TokenizerError(
            f"The tokenizer of {name!r} is a slow {type(tokenizer).__name__}, which has no "
            f"character offsets, and converting it to a fast tokenizer failed "
            f"({type(error).__name__}: {error}). Span alignment needs offsets, so training "
            f"and prediction cannot proceed with it. {_FIX}"
        ) from error

    specials = {
        f"{key}_token": str(value)
        for key in _SPECIAL_NAMES
        if (value := getattr(tokenizer, f"{key}_token", None)) is not None
    }
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=getattr(tokenizer, "model_max_length", None) or int(1e30),
        padding_side=getattr(tokenizer, "padding_side", "right"),
        name_or_path=getattr(tokenizer, "name_or_path", name),
        **specials,
    )
    slow_ids = list(tokenizer(_PROBE)["input_ids"])
    fast_ids = list(fast(_PROBE)["input_ids"])
    if slow_ids != fast_ids:
        raise TokenizerError(
            f"The fast tokenizer converted from the slow {type(tokenizer).__name__} of {name!r} "
            f"does not reproduce it on a plain sentence (slow {slow_ids} != fast {fast_ids}); "
            f"a model fine-tuned through it would see different ids. {_FIX}"
        )
    return fast


def check_vocabulary(tokenizer: Any, name: str | None = None) -> None:
    """Raise unless a plain English sentence maps to at least one known token."""
    name = name or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    ids = tokenizer.backend_tokenizer.encode(_PROBE, add_special_tokens=False).ids
    unk = tokenizer.unk_token_id
    if not ids or all(i == unk for i in ids):
        raise TokenizerError(
            f"The tokenizer of {name!r} maps ordinary text to unknown tokens only (vocabulary of "
            f"{len(tokenizer)} entries): its vocabulary file is missing or unreadable (no "
            f"tokenizer.json, vocab.txt or sentencepiece model that transformers could use). "
            f"Training with it would learn nothing but 'O'. {_FIX}"
        )

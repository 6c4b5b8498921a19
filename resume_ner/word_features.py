"""Letter case and line layout as an input feature, through the token-type embeddings.

Two things a resume's reader sees and a WordPiece encoder does not:

- letter case: the bundled MiniLM is uncased, so "Infosys", "INFOSYS" and "infosys" reach it
  as the same ids, while names, companies and titles are capitalised and degrees are often
  in capitals (spaCy's NER gets this through its SHAPE feature);
- line breaks: tokenizers drop whitespace, newlines included, so "Vikas Singh\\nChandigarh"
  reads as one phrase and a predicted Name runs on into the Location on the next line.

Each word gets a class, given to every sub-token of the word (a word as resume_ner.windows
defines it: "INFOSYS" is info/##sy/##s, all three the same class):

    class = 3 * line + case
    case: 0 no capital letter, 1 capitalised (first letter upper: "Infosys", "B"; "iOS" is
          0), 2 all capitals, two letters or more ("TCS", "MBA")
    line: 0 on the same line as the previous word, 1 first word of a line (and of the
          document), 2 first word after a blank line

Special tokens get 0. The classes enter as token_type_ids, which a single-segment tagger
never uses otherwise: the token-type embeddings grow to NUM_CLASSES rows, all starting as
the pretrained row 0, so training starts from exactly the pretrained model, and the
checkpoint stays a plain AutoModelForTokenClassification (config type_vocab_size=9).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resume_ner.errors import ConfigError

NUM_CLASSES = 9
MODES = ("auto", "on", "off")


def _case(word: str) -> int:
    letters = [c for c in word if c.isalpha()]
    if not letters or not letters[0].isupper():
        return 0
    return 2 if len(letters) > 1 and all(c.isupper() for c in letters) else 1


def word_classes(text: str, extents: np.ndarray) -> np.ndarray:
    """The class (int64 [W]) of each word, from its characters and the whitespace before it.

    extents: [W, 2] character (start, end) per word; a blank word's (-1, -1) gets 0.
    """
    classes = np.zeros(len(extents), dtype=np.int64)
    previous_end = None
    for index, (start, end) in enumerate(extents.tolist()):
        if start < 0:
            continue
        if previous_end is None:
            line = 1
        else:
            newlines = text.count("\n", previous_end, start)
            line = 2 if newlines >= 2 else newlines
        classes[index] = 3 * line + _case(text[start:end])
        previous_end = end
    return classes


def has_type_embeddings(model_config: Any) -> bool:
    return int(getattr(model_config, "type_vocab_size", 0) or 0) > 0


def use_word_features(mode: str, model_config: Any) -> bool:
    """Resolve model.word_features: auto is on when the encoder has token-type embeddings."""
    if mode not in MODES:
        raise ConfigError(f"model.word_features={mode}: use one of {', '.join(MODES)}")
    if mode == "off":
        return False
    possible = has_type_embeddings(model_config)
    if mode == "on" and not possible:
        raise ConfigError(
            f"model.word_features=on needs token-type embeddings, and "
            f"{model_config.model_type} has none (type_vocab_size=0); use "
            f"model.word_features=auto or off"
        )
    return possible


def add_feature_embeddings(model: Any) -> None:
    """Grow the token-type embeddings to NUM_CLASSES rows, every row a copy of row 0."""
    import torch

    embeddings = getattr(model.base_model, "embeddings", None)
    old = getattr(embeddings, "token_type_embeddings", None)
    if old is None:
        raise ValueError(f"{type(model).__name__} has no token_type_embeddings to carry features")
    new = torch.nn.Embedding(NUM_CLASSES, old.embedding_dim).to(old.weight)
    with torch.no_grad():
        # Row 0, "first segment", is the only one a tagger ever saw; the old row 1 ("second
        # segment") would shift the classes that land on it from the first step.
        new.weight[:] = old.weight[0]
    embeddings.token_type_embeddings = new
    model.config.type_vocab_size = NUM_CLASSES

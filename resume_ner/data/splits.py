"""Deterministic train/val/test splits by fractions and a seed.

The shuffle ranks documents by a SHA-256 of (seed, position, text) rather than using
`random`, so the same input gives the same split on every machine and Python version.
"""

from __future__ import annotations

import hashlib

from resume_ner.data.document import Document
from resume_ner.errors import ConfigError


def _rank(seed: int, index: int, document: Document) -> str:
    key = f"{seed}\0{index}\0{document.text}".encode()
    return hashlib.sha256(key).hexdigest()


def seeded_order(documents: list[Document], seed: int) -> list[int]:
    """Indices of the documents in a seeded, platform-independent shuffled order."""
    return sorted(range(len(documents)), key=lambda i: _rank(seed, i, documents[i]))


def split_sizes(total: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(val, test) document counts: rounded, at least 1 where a fraction is > 0 and the
    documents allow it, always leaving at least one training document."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"data.split.{name} must be in [0, 1), got {fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"data.split.val_fraction + test_fraction must be < 1, got "
            f"{val_fraction} + {test_fraction}"
        )
    val = round(total * val_fraction)
    test = round(total * test_fraction)
    if val_fraction > 0 and val == 0 and total >= 2:
        val = 1
    if test_fraction > 0 and test == 0 and total - val >= 2:
        test = 1
    # Never empty the training set: give back from test first, then val.
    while val + test >= total and test > 0:
        test -= 1
    while val + test >= total and val > 0:
        val -= 1
    return val, test


def split_documents(
    documents: list[Document], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Document], list[Document], list[Document]]:
    """(train, val, test); each keeps the documents' original relative order."""
    val_size, test_size = split_sizes(len(documents), val_fraction, test_fraction)
    order = seeded_order(documents, seed)
    val_ids = set(order[:val_size])
    test_ids = set(order[val_size : val_size + test_size])
    train = [d for i, d in enumerate(documents) if i not in val_ids and i not in test_ids]
    val = [d for i, d in enumerate(documents) if i in val_ids]
    test = [d for i, d in enumerate(documents) if i in test_ids]
    return train, val, test

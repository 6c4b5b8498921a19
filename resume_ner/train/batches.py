"""Length-grouped batches with dynamic padding over the training windows.

An epoch's order depends only on (seed, epoch), never on the global RNG, so a resumed run
replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from resume_ner.windows import IGNORE_INDEX

MEGABATCH_FACTOR = 50  # as Hugging Face's LengthGroupedSampler: sort within 50 batches


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Window indices for each (effective) batch of one epoch."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * MEGABATCH_FACTOR
        order = [
            i
            for start in range(0, len(order), mega)
            for i in sorted(order[start : start + mega], key=lambda j: -lengths[j])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def micro_batches(batch: list[int], micro_batch: int) -> Iterator[list[int]]:
    for start in range(0, len(batch), micro_batch):
        yield batch[start : start + micro_batch]


def collate(
    input_ids: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]] | None,
    pad_token_id: int,
) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence of the batch (not to max_length)."""
    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, seq in enumerate(input_ids):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        lab = torch.full((len(labels), width), IGNORE_INDEX, dtype=torch.long)
        for row, seq in enumerate(labels):
            lab[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        out["labels"] = lab
    return out
